package doctor

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/minidisk/minidisk/efi/uki"
	"github.com/minidisk/minidisk/rootfs"
)

// UKI facts: a Unified Kernel Image (UAPI group specification) is a PE
// file with a .linux section; systemd-stub passes .cmdline as the command
// line and .initrd as the initrd (LINUX_EFI_INITRD_MEDIA_GUID).
const maxCmdlineSection = 64 << 10

// checkUKI diagnoses BOOTX64.EFI when it is a UKI and reports whether it
// was one (false: not a UKI, the caller goes on with its own checks).
func (d *diag) checkUKI(pf *uki.File, data []byte) bool {
	if !pf.IsUKI() {
		return false
	}
	var secs []string
	for _, s := range pf.Sections {
		secs = append(secs, fmt.Sprintf("%s %#x+%d", s.Name, s.VirtualAddress, s.Size()))
	}
	stub := pf.StubVersion()
	if stub == "" {
		stub = "no .sdmagic: not a systemd stub"
	}
	d.add(Finding{ID: IDUEFIUKI, Area: AreaUEFI, Severity: Info,
		Title:    bootX64Path + " is a unified kernel image (UKI)",
		Evidence: fmt.Sprintf("stub %s; sections %s", stub, strings.Join(secs, ", "))})

	release := d.checkUKILinux(pf)
	cmdline, hasCmdline := d.checkUKICmdline(pf)
	d.checkUKIInitrd(pf, data, release, cmdline, hasCmdline)
	return true
}

// ukiSection returns a section's bytes from data (Open has checked they
// lie inside it), or why it cannot.
func ukiSection(pf *uki.File, data []byte, name string) ([]byte, bool, error) {
	s, ok := pf.Section(name)
	if !ok {
		return nil, false, nil
	}
	if _, err := pf.Open(s); err != nil {
		return nil, true, err
	}
	if s.Size() == 0 {
		return nil, true, nil
	}
	return data[s.Offset : int64(s.Offset)+s.Size()], true, nil
}

// checkUKILinux checks that .linux is an x86-64 EFI-stub bzImage (the stub
// starts it through its PE entry) and returns its release.
func (d *diag) checkUKILinux(pf *uki.File) string {
	s, _ := pf.Section(".linux")
	sr, err := pf.Open(s)
	var k *uki.KernelInfo
	if err == nil {
		k, err = uki.InspectKernel(sr, sr.Size())
	}
	if err != nil {
		d.add(Finding{ID: IDUEFIUKILinuxNotEFI, Area: AreaUEFI, Severity: Error,
			Title:    "the UKI's .linux is not an x86-64 EFI-stub kernel",
			Evidence: fmt.Sprintf(".linux (%d bytes at file offset %#x): %v; systemd-stub cannot start it (\"Bad kernel image\")", s.Size(), s.Offset, err),
			Fix:      "rebuild the UKI with an EFI-stub bzImage (CONFIG_EFI_STUB=y; a distro's /boot/vmlinuz-*): minidisk uki OUT.efi --kernel VMLINUZ"})
		return ""
	}
	d.add(Finding{ID: IDUEFIUKILinuxOK, Area: AreaUEFI, Severity: OK,
		Title:    "the UKI's .linux is an x86-64 EFI-stub kernel",
		Evidence: fmt.Sprintf("%s, boot protocol %d.%02d, %d bytes", orUnknown(k.Release), k.Protocol>>8, k.Protocol&0xff, s.Size())})
	return k.Release
}

func orUnknown(s string) string {
	if s == "" {
		return "version unknown"
	}
	return s
}

// checkUKICmdline checks .cmdline: present (firmware passes no command
// line to \EFI\BOOT\BOOTX64.EFI), one line of printable text, a console=
// so the boot is visible where the user looks.
func (d *diag) checkUKICmdline(pf *uki.File) (string, bool) {
	b, err := pf.ReadSection(".cmdline", maxCmdlineSection)
	if _, ok := pf.Section(".cmdline"); !ok {
		d.add(Finding{ID: IDUEFIUKICmdlineMissing, Area: AreaUEFI, Severity: Warning,
			Title:    "the UKI has no .cmdline",
			Evidence: "the kernel gets only what the firmware passes, and it passes nothing to \\EFI\\BOOT\\BOOTX64.EFI: no console=, no root=",
			Fix:      "rebuild with a command line: minidisk uki OUT.efi --kernel VMLINUZ --cmdline 'console=ttyS0'"})
		return "", false
	}
	if err != nil {
		d.add(Finding{ID: IDUEFIUKICmdlineBad, Area: AreaUEFI, Severity: Error,
			Title: "the UKI's .cmdline cannot be read", Evidence: err.Error(),
			Fix: "rebuild the UKI"})
		return "", true
	}
	line := strings.TrimRight(string(b), "\x00\n")
	for i, c := range []byte(line) {
		if c < 0x20 || c > 0x7e {
			d.add(Finding{ID: IDUEFIUKICmdlineBad, Area: AreaUEFI, Severity: Error,
				Title:    "the UKI's .cmdline is not one line of printable text",
				Evidence: fmt.Sprintf("byte %d is %#02x in %q", i, c, line),
				Fix:      "rebuild with a printable command line (--cmdline 'console=ttyS0 ...')"})
			return line, true
		}
	}
	var consoles []string
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, "console="); ok {
			consoles = append(consoles, v)
		}
	}
	if len(consoles) == 0 {
		d.add(Finding{ID: IDUEFIUKICmdlineNoConsole, Area: AreaUEFI, Severity: Warning,
			Title:    "the UKI's command line names no console",
			Evidence: fmt.Sprintf(".cmdline is %q: the kernel and /init speak on the first VGA console only; a serial console (QEMU -nographic, a headless board) stays silent", line),
			Fix:      "add console=ttyS0 (serial) and/or console=tty0 (screen; the last one named gets /dev/console)"})
	} else {
		d.add(Finding{ID: IDUEFIUKICmdlineOK, Area: AreaUEFI, Severity: OK,
			Title:    "the UKI's command line names its console",
			Evidence: fmt.Sprintf(".cmdline %q: /dev/console is %s", line, consoles[len(consoles)-1])})
	}
	return line, true
}

// checkUKIInitrd checks .initrd: a readable (compressed) newc archive
// with an executable /init and /dev/console; an /init that mounts root=
// needs root= on the command line and modules of the kernel's release.
func (d *diag) checkUKIInitrd(pf *uki.File, data []byte, release, cmdline string, hasCmdline bool) {
	hasRootArg := false
	for _, f := range strings.Fields(cmdline) {
		hasRootArg = hasRootArg || strings.HasPrefix(f, "root=")
	}
	b, ok, err := ukiSection(pf, data, ".initrd")
	switch {
	case !ok && !hasRootArg:
		d.add(Finding{ID: IDUEFIUKIInitrdMissing, Area: AreaUEFI, Severity: Error,
			Title:    "the UKI has no .initrd and its command line no root=",
			Evidence: fmt.Sprintf(".cmdline %q: the kernel has neither an initramfs to run nor a root to mount (\"VFS: Unable to mount root fs\"), unless an initramfs is linked into it", cmdline),
			Fix:      "rebuild with an initramfs: minidisk uki OUT.efi --kernel VMLINUZ --initrd auto"})
		return
	case !ok:
		d.add(Finding{ID: IDUEFIUKIInitrdMissing, Area: AreaUEFI, Severity: Warning,
			Title:    "the UKI has no .initrd",
			Evidence: "without an initramfs the kernel must mount root= itself, with its drivers built in; a distro kernel's disk drivers are modules",
			Fix:      "rebuild with an initramfs: minidisk uki OUT.efi --kernel VMLINUZ --initrd auto"})
		return
	case err != nil:
		d.add(Finding{ID: IDUEFIUKIInitrdUnreadable, Area: AreaUEFI, Severity: Error,
			Title: "the UKI's .initrd cannot be read", Evidence: err.Error(), Fix: "rebuild the UKI"})
		return
	}
	entries, init, readable := readArchive(b, newArchiveBudget(len(b)))
	if !readable {
		d.add(Finding{ID: IDUEFIUKIInitrdUnreadable, Area: AreaUEFI, Severity: Error,
			Title:    "the UKI's .initrd is not a readable cpio archive",
			Evidence: fmt.Sprintf("%d bytes starting % x: not a newc cpio, plain or gzip/xz/zstd-compressed (the kernel says \"Initramfs unpacking failed\")", len(b), b[:min(len(b), 6)]),
			Fix:      "rebuild it with minidisk initramfs (or cpio -H newc | gzip)"})
		return
	}
	where := fmt.Sprintf("the UKI's .initrd (%d entries)", len(entries))
	h, has := entries["/init"]
	switch {
	case !has:
		d.add(Finding{ID: IDUEFIInitMissing, Area: AreaUEFI, Severity: Error,
			Title:    "the UKI's initramfs has no /init",
			Evidence: where + ", no /init: the kernel looks for a root= device instead and panics (\"VFS: Unable to mount root fs\")",
			Fix:      "add /init (a #!/bin/sh script, or a link to busybox) to the initramfs, or build one: --initrd auto"})
	case h.Type != rootfs.TypeReg && h.Type != rootfs.TypeSymlink:
		d.add(Finding{ID: IDUEFIInitBadFormat, Area: AreaUEFI, Severity: Error, Title: "/init in the UKI's initramfs is not a file",
			Evidence: "/init is a " + h.Type.String() + " in " + where, Fix: "make /init a program or script"})
	case h.Type == rootfs.TypeReg && h.Mode&0o111 == 0:
		d.add(Finding{ID: IDUEFIInitNotExecutable, Area: AreaUEFI, Severity: Error,
			Title:    "/init in the UKI's initramfs is not executable",
			Evidence: fmt.Sprintf("mode %04o in %s: the kernel cannot run it (\"Failed to execute /init (error -13)\")", h.Mode, where),
			Fix:      "chmod 755 init before packing the cpio"})
	case h.Type == rootfs.TypeReg && initramfsExec(entries, init) != "":
		d.add(Finding{ID: IDUEFIInitBadFormat, Area: AreaUEFI, Severity: Error,
			Title: "/init in the UKI's initramfs cannot run", Evidence: initramfsExec(entries, init) + " (" + where + ")",
			Fix: "make /init a static x86-64 program or a script whose interpreter is in the archive"})
	default:
		d.add(Finding{ID: IDUEFIInitOK, Area: AreaUEFI, Severity: OK, Title: "the UKI's initramfs has an executable /init", Evidence: where})
	}
	d.checkConsoleHeader(AreaUEFI, "the UKI's initramfs", true, func() (*rootfs.Header, error) {
		if h, ok := entries["/dev/console"]; ok {
			return h, nil
		}
		return nil, fs.ErrNotExist
	})

	// An /init that mounts the real root reads root= from the command line
	// (minidisk's modular /init, like initramfs-tools', switch_roots).
	mountsRoot := bytes.Contains(init, []byte("switch_root")) || bytes.Contains(init, []byte("root=")) || hasEntry(entries, "/newroot")
	if mountsRoot && hasCmdline && !hasRootArg {
		d.add(Finding{ID: IDUEFIUKICmdlineNoRoot, Area: AreaUEFI, Severity: Error,
			Title:    "the initramfs mounts a root, but the command line names none",
			Evidence: fmt.Sprintf("/init switch_roots to root= (it has /newroot or reads root=), and .cmdline %q has no root=", cmdline),
			Fix:      "add root=/dev/sda1 (the root partition) to --cmdline"})
	}
	// Modules for another kernel cannot load (vermagic): the initramfs'
	// /lib/modules/RELEASE must be the kernel's release.
	var rels []string
	for name, h := range entries {
		if rel, ok := strings.CutPrefix(name, "/lib/modules/"); ok && h.Type == rootfs.TypeDir && !strings.Contains(rel, "/") {
			rels = append(rels, rel)
		}
	}
	if release != "" && len(rels) > 0 {
		found := false
		for _, r := range rels {
			found = found || r == release
		}
		if !found {
			d.add(Finding{ID: IDUEFIUKIModulesRelease, Area: AreaUEFI, Severity: Error,
				Title:    "the initramfs carries modules of another kernel",
				Evidence: fmt.Sprintf("/lib/modules/%s in the initrd, but .linux is %s: insmod refuses them (\"invalid module format\") and the root never appears", strings.Join(rels, ", "), release),
				Fix:      "rebuild the initramfs for this kernel: minidisk uki OUT.efi --kernel VMLINUZ --initrd auto --cmdline '... root=/dev/sda1'"})
		}
	}
}

func hasEntry(entries map[string]*rootfs.Header, name string) bool {
	_, ok := entries[path.Clean(name)]
	return ok
}
