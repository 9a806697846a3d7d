package doctor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/minidisk/minidisk/kmod"
	"github.com/minidisk/minidisk/rootfs"
	"github.com/minidisk/minidisk/rootfs/cpio"
)

// maxInitrdBytes bounds the initrd doctor reads (a distribution initramfs
// is 30-70 MB; minidisk's is 1.5 MB).
const maxInitrdBytes = 256 << 20

// diskDriver is one driver the kernel needs to see the root disk, and how
// to tell it is built in: its config symbol, or a string of its code that
// is in the kernel image only when it is built in (a module's strings live
// in its .ko).
type diskDriver struct {
	module string
	symbol string
	marker string
}

// diskDrivers are the drivers behind a root= device name, for the disks
// minidisk images boot from (kmod's targets ide, virtio, nvme).
func diskDrivers(root string) (string, []diskDriver) {
	switch {
	case strings.HasPrefix(root, "/dev/sd"):
		return "ide", []diskDriver{
			// drivers/ata/ata_piix.c DRV_NAME, the pci_driver's name.
			{"ata_piix", "ATA_PIIX", "ata_piix\x00"},
			// drivers/scsi/sd.c sd_probe(): "Attached SCSI %sdisk\n".
			{"sd_mod", "BLK_DEV_SD", "Attached SCSI "},
		}
	case strings.HasPrefix(root, "/dev/vd"):
		return "virtio", []diskDriver{
			// drivers/virtio/virtio_pci_common.c: .name = "virtio-pci".
			{"virtio_pci", "VIRTIO_PCI", "virtio-pci\x00"},
			// drivers/block/virtio_blk.c: .driver.name = KBUILD_MODNAME.
			{"virtio_blk", "VIRTIO_BLK", "virtio_blk\x00"},
		}
	case strings.HasPrefix(root, "/dev/nvme"):
		return "nvme", []diskDriver{{"nvme", "BLK_DEV_NVME", "nvme\x00"}}
	}
	return "", nil
}

// checkModules judges a modular kernel (a distribution kernel whose disk
// driver is a module): nothing can load the module before the root is
// mounted unless an initrd does, and that initrd must hold the modules, in
// the kernel's version, and an executable /init.
func (d *diag) checkModules() {
	info := d.kernelInfo
	if info == nil || d.cmdline == nil {
		return
	}
	release := info.Release()
	target, drivers := diskDrivers(d.cmdline["root"])
	if target == "" {
		return
	}
	var modular, evidence []string
	if info.Config == nil && info.Vmlinux() != nil {
		// Without a config, a missing driver is a module only in a kernel
		// that loads modules: kernel/module/kmod.c's modprobe_path
		// (CONFIG_MODPROBE_PATH, "/sbin/modprobe") exists only with
		// CONFIG_MODULES. A kernel without it lacks the driver outright,
		// which checkKernel reports.
		if !bytes.Contains(info.Vmlinux(), []byte("/sbin/modprobe\x00")) {
			return
		}
		evidence = append(evidence, "the kernel loads modules (\"/sbin/modprobe\" in it)")
	}
	for _, drv := range drivers {
		switch {
		case info.Config != nil:
			v := info.Config[drv.symbol]
			if v != "y" {
				modular = append(modular, drv.module)
				if v == "" {
					v = "unset"
				}
				evidence = append(evidence, fmt.Sprintf("CONFIG_%s=%s", drv.symbol, v))
			}
		case info.Vmlinux() != nil && info.DecompressError == "":
			// Without a config the strings decide, led by the controller
			// driver (the first): only when it is absent are the others
			// judged by their strings too, so an unusual build of a driver
			// whose message differs cannot raise an error on its own.
			vm := info.Vmlinux()
			if !bytes.Contains(vm, []byte(drivers[0].marker)) && !bytes.Contains(vm, []byte(drv.marker)) {
				modular = append(modular, drv.module)
				evidence = append(evidence, fmt.Sprintf("no %q in the decompressed kernel", strings.TrimSuffix(drv.marker, "\x00")))
			}
		default:
			return // cannot tell; checkKernel says so
		}
	}
	if len(modular) == 0 {
		return
	}
	initrdFS, initrdPath := d.initrdFile()
	if initrdPath == "" {
		d.add(Finding{ID: IDModuleNoInitrd, Area: AreaKernel, Severity: Error,
			Title: fmt.Sprintf("%s: a module in this kernel, and there is no initrd to load it", strings.Join(modular, ", ")),
			Evidence: fmt.Sprintf("%s %s: %s not built in (%s); root=%s needs them before the root is mounted, so the kernel panics: \"VFS: Cannot open root device %q or unknown-block(0,0)\"",
				d.kernelPath, release, strings.Join(modular, ", "), strings.Join(evidence, ", "), d.cmdline["root"], strings.TrimPrefix(d.cmdline["root"], "/dev/")),
			Fix: fmt.Sprintf("minidisk rootfs add %s --kernel VMLINUZ --modules DIR --for %s (adds /boot/initrd.img with the modules and GRUB's initrd line), or use a kernel with them built in (minidisk kernel --profile legacy)", d.opt.Name, target)})
		return
	}
	entries, data, err := readInitrd(initrdFS, initrdPath)
	if err != nil {
		d.add(Finding{ID: IDInitrdUnreadable, Area: AreaKernel, Severity: Error,
			Title:    fmt.Sprintf("the initrd %s cannot be read", initrdPath),
			Evidence: err.Error(),
			Fix:      fmt.Sprintf("rebuild it: minidisk initramfs --kernel VMLINUZ --for %s OUT, or minidisk rootfs add %s --kernel VMLINUZ", target, d.opt.Name)})
		return
	}
	bad := 0
	if h, ok := entries["/init"]; !ok {
		bad++
		d.add(Finding{ID: IDInitrdInitMissing, Area: AreaKernel, Severity: Error,
			Title:    "the initrd has no /init",
			Evidence: fmt.Sprintf("%s: no /init among its %d entries; the kernel then mounts root= itself, which needs %s built in", initrdPath, len(entries), strings.Join(modular, ", ")),
			Fix:      fmt.Sprintf("rebuild it: minidisk initramfs --kernel VMLINUZ --for %s OUT", target)})
	} else if h.Type != rootfs.TypeReg && h.Type != rootfs.TypeSymlink || h.Type == rootfs.TypeReg && h.Mode&0o111 == 0 {
		bad++
		d.add(Finding{ID: IDInitrdInitNotExecutable, Area: AreaKernel, Severity: Error,
			Title:    "the initrd's /init is not executable",
			Evidence: fmt.Sprintf("%s: /init is a %v with mode %04o; the kernel says \"Failed to execute /init (error -13)\"", initrdPath, h.Type, h.Mode),
			Fix:      fmt.Sprintf("rebuild it: minidisk initramfs --kernel VMLINUZ --for %s OUT", target)})
	}
	// The modules in the initrd, by name, and what they need.
	have := map[string]string{} // module name → path in the initrd
	var vermagic []string
	needs := map[string][]string{} // module → its depends=
	for _, name := range sortedNames(entries) {
		h := entries[name]
		if h.Type != rootfs.TypeReg || !strings.HasSuffix(name, ".ko") {
			continue
		}
		mod := kmod.Normalize(strings.TrimSuffix(path.Base(name), ".ko"))
		have[mod] = name
		mi, err := kmod.ParseModInfo(data[name])
		if err != nil {
			vermagic = append(vermagic, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		if rel := mi.Release(); release != "" && rel != release {
			vermagic = append(vermagic, fmt.Sprintf("%s: vermagic %q", name, strings.TrimSpace(mi.Vermagic)))
		}
		needs[mod] = mi.Depends
	}
	var missing []string
	for _, m := range modular {
		if _, ok := have[m]; !ok {
			missing = append(missing, m)
		}
	}
	for _, mod := range sortedNames(needs) {
		for _, dep := range needs[mod] {
			if _, ok := have[dep]; !ok && !contains(missing, dep) {
				missing = append(missing, dep+" (needed by "+mod+")")
			}
		}
	}
	if len(missing) > 0 {
		bad++
		d.add(Finding{ID: IDInitrdModuleMissing, Area: AreaKernel, Severity: Error,
			Title:    fmt.Sprintf("the initrd lacks %s", strings.Join(missing, ", ")),
			Evidence: fmt.Sprintf("%s holds %d modules (%s); %s %s has %s as modules (%s), so root=%s never appears", initrdPath, len(have), strings.Join(sortedNames(have), ", "), d.kernelPath, release, strings.Join(modular, ", "), strings.Join(evidence, ", "), d.cmdline["root"]),
			Fix:      fmt.Sprintf("rebuild it with the whole closure: minidisk initramfs --kernel VMLINUZ --for %s OUT (`minidisk modules --for %s` lists it)", target, target)})
	}
	if len(vermagic) > 0 {
		bad++
		d.add(Finding{ID: IDInitrdModuleVermagic, Area: AreaKernel, Severity: Error,
			Title:    fmt.Sprintf("the initrd's modules are not for kernel %s", release),
			Evidence: strings.Join(vermagic, "; ") + fmt.Sprintf("; the kernel is %s and refuses them (insmod: \"Invalid module format\")", release),
			Fix:      fmt.Sprintf("rebuild it from this kernel's modules: minidisk initramfs --kernel VMLINUZ --modules lib/modules/%s --for %s OUT", release, target)})
	}
	if bad == 0 {
		d.add(Finding{ID: IDInitrdModulesOK, Area: AreaKernel, Severity: OK,
			Title:    fmt.Sprintf("the initrd loads %s for this kernel", strings.Join(modular, ", ")),
			Evidence: fmt.Sprintf("%s: /init and %d modules of %s (%s)", initrdPath, len(have), release, strings.Join(sortedNames(have), ", "))})
	}
}

// initrdFile returns the filesystem and path of the boot entry's first
// initrd, or "" when the entry has none.
func (d *diag) initrdFile() (fs.FS, string) {
	if d.target != nil && len(d.target.Initrds) > 0 && d.target.loaderFS != nil {
		return d.target.loaderFS.fsys, d.target.Initrds[0]
	}
	if d.fs != nil && d.rep.GRUB != nil && d.rep.GRUB.Initrd != "" {
		_, rest, _ := parseDevice(d.rep.GRUB.Initrd)
		return d.fs.fs, rest
	}
	return nil, ""
}

// readInitrd reads a (compressed) newc initrd: its headers by path, and
// the contents of /init and the .ko files.
func readInitrd(fsys fs.FS, p string) (map[string]*rootfs.Header, map[string][]byte, error) {
	f, err := fsys.Open(fsName(p))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", p, err)
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxInitrdBytes))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", p, err)
	}
	r, comp, err := cpio.Decompress(bytes.NewReader(raw))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", p, err)
	}
	cr := cpio.NewReader(newArchiveBudget(len(raw)).reader(r))
	entries := map[string]*rootfs.Header{}
	data := map[string][]byte{}
	for {
		h, err := cr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s (%s newc archive): %w", p, comp, err)
		}
		entries[h.Name] = h
		if h.Type == rootfs.TypeReg && (h.Name == "/init" || strings.HasSuffix(h.Name, ".ko")) && h.Size <= maxInitrdBytes {
			b, err := io.ReadAll(io.LimitReader(cr, h.Size))
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %s: %w", p, h.Name, err)
			}
			data[h.Name] = b
		}
	}
	if len(entries) == 0 {
		return nil, nil, fmt.Errorf("%s: an empty archive", p)
	}
	return entries, data, nil
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
