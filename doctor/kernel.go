package doctor

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/minidisk/minidisk/kernel"
)

// maxKernelBytes bounds the kernel doctor inspects (a distribution bzImage
// is about 12 MB).
const maxKernelBytes = 256 << 20

// checkKernel inspects the kernel the menu boots: a bzImage, its version,
// and whether the drivers needed to mount an ext2 root on an IDE disk are
// built in (a module cannot be loaded before the root is mounted).
func (d *diag) checkKernel() {
	if d.target != nil {
		d.cmdline = parseCmdline(d.target.Cmdline)
		d.initrd = len(d.target.Initrds) > 0
		d.checkTargetCmdline()
	}
	var kfs fs.FS
	p := ""
	switch {
	case d.target != nil && d.target.loaderFS != nil:
		kfs = d.target.loaderFS.fsys
		_, p, _ = statCaseless(d.target.loaderFS, d.target.Kernel)
		p = "/" + p
	case d.fs == nil:
		return
	case d.menu != nil && d.rep.GRUB != nil && d.rep.GRUB.Kernel != "":
		kfs = d.fs.fs
		dev, rest, hasDev := parseDevice(d.rep.GRUB.Kernel)
		if hasDev && dev.Partition != d.fs.part.Index-1 {
			return
		}
		p = rest
	default:
		kfs = d.fs.fs
		for _, c := range []string{"/boot/vmlinuz", "/vmlinuz", "/boot/bzImage"} {
			if _, err := d.fs.fs.Stat(fsName(c)); err == nil {
				p = c
				break
			}
		}
		if p == "" {
			return
		}
	}
	f, err := kfs.Open(fsName(p))
	if err != nil {
		return // reported by the loader's check
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > maxKernelBytes {
		return
	}
	ra, ok := f.(io.ReaderAt)
	if !ok {
		b, err := io.ReadAll(io.LimitReader(f, maxKernelBytes))
		if err != nil {
			return
		}
		ra = bytes.NewReader(b)
	}
	// A distribution kernel's config file beside it answers what is built
	// in without decompressing tens of megabytes.
	info, err := kernel.InspectHeader(ra, fi.Size())
	cfgFile := ""
	if err == nil && info.Version != "" {
		rel := info.Release()
		places := []fs.FS{kfs}
		if d.fs != nil && d.fs.fs != nil {
			places = append(places, d.fs.fs) // the root filesystem's /boot
		}
	search:
		for _, where := range places {
			for _, c := range []string{path.Join(path.Dir(p), "config-"+rel), "/boot/config-" + rel} {
				if b, err := fs.ReadFile(where, fsName(c)); err == nil {
					info.Config, cfgFile = parseKernelConfig(b), c
					break search
				}
			}
		}
	}
	if cfgFile == "" && err == nil {
		cfgFile = d.hostKernelConfig(ra, fi.Size(), info)
	}
	if cfgFile == "" {
		info, err = kernel.Inspect(ra, fi.Size())
	}
	if err != nil {
		d.add(Finding{ID: IDKernelInvalid, Area: AreaKernel, Severity: Error,
			Title:    fmt.Sprintf("%s is not a bootable kernel", p),
			Evidence: fmt.Sprintf("%s (%d bytes): %v; GRUB says \"Error 13: Invalid or unsupported executable format\"", p, fi.Size(), err),
			Fix:      "copy arch/x86/boot/bzImage (not vmlinux) to " + p})
		return
	}
	d.kernelInfo, d.kernelPath = info, p
	ver := info.Version
	if ver == "" {
		ver = "(no version string)"
	}
	if !info.LoadedHigh {
		d.add(Finding{ID: IDKernelNotBzimage, Area: AreaKernel, Severity: Warning,
			Title:    fmt.Sprintf("%s is a zImage, not a bzImage", p),
			Evidence: fmt.Sprintf("loadflags %#x: the kernel loads below 1 MiB and must be smaller than 512 KiB", info.LoadFlags),
			Fix:      "build with make bzImage"})
	}
	missing := 0
	fsFeature, fsWhat := "ext2", "the ext2 filesystem"
	if d.fs != nil && d.fs.sb != nil && ext2Kind(d.fs.sb) == "ext4" || d.rootSB != nil && ext2Kind(d.rootSB) == "ext4" {
		fsFeature, fsWhat = "ext4", "the ext4 filesystem"
	}
	for _, need := range []struct {
		id                   ID
		feature, what, panic string
	}{
		{IDKernelNoExt2, fsFeature, fsWhat, "VFS: Unable to mount root fs on unknown-block(8,1)"},
		{IDKernelNoATA, "ata", "an IDE/SATA disk driver (ata_piix or ahci)", "VFS: Cannot open root device \"sda1\" or unknown-block(0,0)"},
	} {
		ok, ev := info.Builtin(need.feature)
		if ok {
			continue
		}
		if d.initrd {
			// A module in the initramfs can provide it; the initramfs
			// checks judge that.
			continue
		}
		missing++
		sev := Warning
		if need.id == IDKernelNoExt2 && info.Config != nil {
			// The kernel's own config says so: no guess about strings.
			sev = Error
		}
		d.add(Finding{ID: need.id, Area: AreaKernel, Severity: sev,
			Title:    fmt.Sprintf("the kernel may not have %s built in", need.what),
			Evidence: fmt.Sprintf("%s %s: %s; without it: \"%s\"", p, ver, ev, need.panic),
			Fix:      fmt.Sprintf("enable CONFIG_%s=y (not m) and rebuild (`minidisk kernel --profile legacy` does), or boot it with an initramfs that loads the module", map[string]string{"ext2": "EXT2_FS", "ext4": "EXT4_FS", "ata": "ATA_PIIX"}[need.feature])})
	}
	if old, why := oldForLibata(info.Version); old && d.cmdline != nil && strings.HasPrefix(d.cmdline["root"], "/dev/sd") {
		d.add(Finding{ID: IDKernelOldIDE, Area: AreaKernel, Severity: Info,
			Title:    "an old kernel: the disk may be hda, not sda",
			Evidence: why})
	}
	if missing == 0 {
		d.add(Finding{ID: IDKernelOK, Area: AreaKernel, Severity: OK,
			Title:    "the kernel is a bzImage with ext2 and ATA built in",
			Evidence: fmt.Sprintf("%s: %s, boot protocol %d.%02d, %d bytes, %s payload", p, ver, info.Protocol>>8, info.Protocol&0xFF, info.Size, info.Compression)})
	}
}

// hostKernelConfig gives info the config of a host kernel named in
// Options.HostKernels that is byte-identical to the image's (same size,
// same bytes, compared as they stream: no hash to compute), read from the
// file beside it (kernel.ConfigBeside), and says where it came from; ""
// when none applies.
func (d *diag) hostKernelConfig(ra io.ReaderAt, size int64, info *kernel.Info) string {
	for _, h := range d.opt.HostKernels {
		fi, err := os.Stat(h)
		if err != nil || fi.Size() != size {
			continue
		}
		f, err := os.Open(h)
		if err != nil {
			continue
		}
		same, err := sameBytes(io.NewSectionReader(ra, 0, size), f)
		f.Close()
		if err != nil || !same {
			continue
		}
		cfg, from, err := kernel.ConfigBeside(h)
		if err != nil || cfg == nil {
			continue
		}
		info.Config = cfg
		return from + " (beside the host file this kernel was copied from)"
	}
	return ""
}

// sameBytes reports whether a and b hold the same bytes, reading both in
// 32 KiB pieces (small buffers: fresh memory costs more than read calls).
func sameBytes(a, b io.Reader) (bool, error) {
	const piece = 32 << 10
	ba, bb := make([]byte, piece), make([]byte, piece)
	for {
		na, ea := io.ReadFull(a, ba)
		nb, eb := io.ReadFull(b, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		aEnd := ea == io.EOF || ea == io.ErrUnexpectedEOF
		bEnd := eb == io.EOF || eb == io.ErrUnexpectedEOF
		switch {
		case ea != nil && !aEnd:
			return false, ea
		case eb != nil && !bEnd:
			return false, eb
		case aEnd || bEnd:
			return aEnd && bEnd, nil
		}
	}
}

// oldForLibata reports kernels before 2.6.19, whose default IDE driver
// named the disk hda (libata's ata_piix took over later).
func oldForLibata(version string) (bool, string) {
	f := strings.FieldsFunc(version, func(r rune) bool { return r == '.' || r == '-' || r == ' ' })
	if len(f) < 3 {
		return false, ""
	}
	a, e1 := strconv.Atoi(f[0])
	b, e2 := strconv.Atoi(f[1])
	c, e3 := strconv.Atoi(f[2])
	if e1 != nil || e2 != nil || e3 != nil {
		return false, ""
	}
	if a < 2 || (a == 2 && (b < 6 || (b == 6 && c < 19))) {
		return true, fmt.Sprintf("Linux %d.%d.%d predates libata's ata_piix as the usual IDE driver; with CONFIG_IDE the disk is /dev/hda", a, b, c)
	}
	return false, ""
}

// parseKernelConfig reads a .config ("CONFIG_X=y" lines) into the form
// kernel.Info.Config has: names without CONFIG_.
func parseKernelConfig(b []byte) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if ok && strings.HasPrefix(k, "CONFIG_") {
			m[strings.TrimPrefix(k, "CONFIG_")] = strings.Trim(v, "\"")
		}
	}
	return m
}

// checkTargetCmdline checks root= of a GRUB 2 or SYSLINUX command line
// (GRUB Legacy's menu has its own check, checkRootArg): without an initrd,
// the kernel itself must find the root, and it knows device names and
// PARTUUID= only.
func (d *diag) checkTargetCmdline() {
	t := d.target
	root, has := d.cmdline["root"]
	switch {
	case !has && !d.initrd:
		d.add(Finding{ID: IDKernelRootMissing, Area: AreaKernel, Severity: Error,
			Title:    "the kernel command line has no root=",
			Evidence: fmt.Sprintf("%s: %q: without an initrd the kernel panics \"VFS: Unable to mount root fs on unknown-block(0,0)\"", t.Where, t.Cmdline),
			Fix:      "add root=/dev/sdaN (the root partition) to the command line"})
	case has && !d.initrd && (strings.HasPrefix(root, "UUID=") || strings.HasPrefix(root, "LABEL=")):
		d.add(Finding{ID: IDKernelRootUUID, Area: AreaKernel, Severity: Error,
			Title:    fmt.Sprintf("root=%s needs an initramfs", root),
			Evidence: fmt.Sprintf("%s: root=%s with no initrd: the kernel itself resolves only device names and PARTUUID=", t.Where, root),
			Fix:      "use root=/dev/sdaN or root=PARTUUID=..., or load an initrd"})
	}
}
