package doctor

import (
	"fmt"
	"io"
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
	if d.fs == nil {
		return
	}
	p := ""
	if d.menu != nil && d.rep.GRUB != nil && d.rep.GRUB.Kernel != "" {
		dev, rest, hasDev := parseDevice(d.rep.GRUB.Kernel)
		if hasDev && dev.Partition != d.fs.part.Index-1 {
			return
		}
		p = rest
	} else {
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
	f, err := d.fs.fs.Open(fsName(p))
	if err != nil {
		return // reported by the menu check
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return
	}
	ra, ok := f.(io.ReaderAt)
	if !ok || fi.Size() > maxKernelBytes {
		return
	}
	info, err := kernel.Inspect(ra, fi.Size())
	if err != nil {
		d.add(Finding{ID: "kernel-invalid", Area: AreaKernel, Severity: Error,
			Title:    fmt.Sprintf("%s is not a bootable kernel", p),
			Evidence: fmt.Sprintf("%s (%d bytes): %v; GRUB says \"Error 13: Invalid or unsupported executable format\"", p, fi.Size(), err),
			Fix:      "copy arch/x86/boot/bzImage (not vmlinux) to " + p})
		return
	}
	ver := info.Version
	if ver == "" {
		ver = "(no version string)"
	}
	if !info.LoadedHigh {
		d.add(Finding{ID: "kernel-not-bzimage", Area: AreaKernel, Severity: Warning,
			Title:    fmt.Sprintf("%s is a zImage, not a bzImage", p),
			Evidence: fmt.Sprintf("loadflags %#x: the kernel loads below 1 MiB and must be smaller than 512 KiB", info.LoadFlags),
			Fix:      "build with make bzImage"})
	}
	missing := 0
	for _, need := range []struct{ feature, what, panic string }{
		{"ext2", "the ext2 filesystem", "VFS: Unable to mount root fs on unknown-block(8,1)"},
		{"ata", "an IDE/SATA disk driver (ata_piix or ahci)", "VFS: Cannot open root device \"sda1\" or unknown-block(0,0)"},
	} {
		ok, ev := info.Builtin(need.feature)
		if ok {
			continue
		}
		missing++
		d.add(Finding{ID: "kernel-no-" + need.feature, Area: AreaKernel, Severity: Warning,
			Title:    fmt.Sprintf("the kernel may not have %s built in", need.what),
			Evidence: fmt.Sprintf("%s %s: %s; without it: \"%s\"", p, ver, ev, need.panic),
			Fix:      fmt.Sprintf("enable CONFIG_%s=y (not m) and rebuild (`minidisk kernel build` does)", map[string]string{"ext2": "EXT2_FS", "ata": "ATA_PIIX"}[need.feature])})
	}
	if old, why := oldForLibata(info.Version); old && d.cmdline != nil && strings.HasPrefix(d.cmdline["root"], "/dev/sd") {
		d.add(Finding{ID: "kernel-old-ide", Area: AreaKernel, Severity: Info,
			Title:    "an old kernel: the disk may be hda, not sda",
			Evidence: why})
	}
	if missing == 0 {
		d.add(Finding{ID: "kernel-ok", Area: AreaKernel, Severity: OK,
			Title:    "the kernel is a bzImage with ext2 and ATA built in",
			Evidence: fmt.Sprintf("%s: %s, boot protocol %d.%02d, %d bytes, %s payload", p, ver, info.Protocol>>8, info.Protocol&0xFF, info.Size, info.Compression)})
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
