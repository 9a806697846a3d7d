package initramfs

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/minidisk/minidisk/kernel"
	"github.com/minidisk/minidisk/kmod"
	"github.com/minidisk/minidisk/rootfs"
)

// RootFSTarget is the filesystem every minidisk root has (ext2: GRUB
// Legacy reads nothing newer).
const RootFSTarget = "ext2"

// Plan is what a kernel needs to mount an ext2 root on a target disk, and
// whether an initramfs must provide it.
type Plan struct {
	Kernel  string // the kernel file
	Release string // "6.1.0-57-cloud-amd64"
	Target  string // disk target (see kmod.DiskTargets), e.g. "ide"
	// Needed is true when some driver or the filesystem is a module: the
	// kernel cannot mount its root without an initramfs that loads it.
	Needed bool
	// Reasons say, one line each, why an initramfs is (or is not) needed,
	// e.g. "ata_piix is a module in this kernel: loaded from the initramfs".
	Reasons    []string
	ModulesDir string   // the modules tree used; "" when none was needed
	Modules    []Module // what the initramfs loads, in order
	Drivers    []string // the target's own driver modules (named when root does not appear)
	RootFSType string   // the type /init mounts the root with: ext4 when ext4 serves ext2
	// Config is where the kernel's configuration came from ("" when none
	// was read): the embedded IKCONFIG or a config-RELEASE file beside it.
	Config string

	configRead bool          // config() has looked beside the kernel
	cfgBeside  kernel.Config // what it found
	configSrc  string
}

// KernelError is a kernel that cannot boot the image, even with an
// initramfs; the message says why and what to do.
type KernelError struct {
	Kernel string
	Reason string
	Fix    string
}

func (e *KernelError) Error() string { return e.Kernel + ": " + e.Reason + "; " + e.Fix }

// configSymbols are the options that put a target's drivers in the
// kernel, for a kernel with a config but no modules tree.
var configSymbols = map[string][][]string{
	// Each inner list is one driver: any one of its symbols =y serves it.
	"ide":    {{"ATA_PIIX"}, {"BLK_DEV_SD"}},
	"ahci":   {{"SATA_AHCI"}, {"BLK_DEV_SD"}},
	"virtio": {{"VIRTIO_PCI"}, {"VIRTIO_BLK"}},
	"nvme":   {{"BLK_DEV_NVME"}},
	"usb":    {{"USB_XHCI_PCI", "USB_EHCI_PCI"}, {"USB_STORAGE"}, {"BLK_DEV_SD"}},
	"ext2":   {{"EXT2_FS", "EXT4_USE_FOR_EXT2"}},
}

// builtinFeatures are kernel.Info.Builtin's names for a target's drivers,
// used when the kernel has neither a config nor a modules tree (the
// tinyconfig kernels of `minidisk kernel`): the driver's own strings in
// the decompressed image say it is built in. sd_mod has no such string;
// libata's disks need it and the legacy profile enables both.
var builtinFeatures = map[string][]string{
	"ide":  {"ata_piix"},
	"ahci": {"ahci"},
	"ext2": {"ext2"},
}

// CheckKernel decides whether kernelPath needs an initramfs to mount an
// ext2 root on target, and resolves the modules it must load from
// modulesDir ("" finds the tree beside the kernel, else
// /lib/modules/RELEASE). A kernel that cannot mount the root even with an
// initramfs is a *KernelError (or a kmod error: another release's tree, a
// target the kernel lacks, a damaged module).
func CheckKernel(kernelPath, modulesDir, target string) (*Plan, error) {
	if target == "" {
		target = "ide"
	}
	if !isDiskTarget(target) {
		return nil, fmt.Errorf("--for %s: not a disk target (known: %s)", target, strings.Join(kmod.DiskTargets(), ", "))
	}
	hdr, err := kernel.InspectHeaderFile(kernelPath)
	if err != nil {
		return nil, fmt.Errorf("--kernel %w", err)
	}
	p := &Plan{Kernel: kernelPath, Release: hdr.Release(), Target: target, RootFSType: "ext2"}
	dir := modulesDir
	if dir == "" && p.Release != "" {
		dir, _ = kmod.FindTree(kernelPath, p.Release)
	}
	if dir != "" {
		return p, p.fromTree(dir, modulesDir != "")
	}
	return p, p.fromImage()
}

func isDiskTarget(t string) bool {
	for _, d := range kmod.DiskTargets() {
		if d == t {
			return true
		}
	}
	return false
}

// fromTree decides with the kernel's modules tree: its modules.builtin
// says what is built in, the module files what can be loaded.
func (p *Plan) fromTree(dir string, given bool) error {
	t, err := kmod.Open(dir, p.Release)
	if err != nil {
		return err
	}
	p.ModulesDir = t.Dir
	if !t.HasBuiltinList() {
		// Without modules.builtin a built-in driver looks like a missing one.
		p.Reasons = append(p.Reasons, t.Dir+" has no modules.builtin: drivers without a module file are taken as built in")
	}
	// The root filesystem: the kernel's config answers at once; looking
	// "ext2" up as an alias reads every module's .modinfo (0.2 s for
	// Debian's 1,121 modules), so that is the fallback.
	cfg, cfgSrc := p.config()
	targets := []string{p.Target, RootFSTarget}
	var fsNote string
	switch {
	case cfg != nil && cfg["EXT2_FS"] == "y":
		targets, fsNote = targets[:1], "ext2 is built into this kernel (CONFIG_EXT2_FS=y)"
	case cfg != nil && cfg["EXT2_FS"] != "m" && cfg["EXT4_FS"] == "y" && cfg["EXT4_USE_FOR_EXT2"] == "y":
		targets, fsNote = targets[:1], "ext2 (ext4) is built into this kernel (CONFIG_EXT4_USE_FOR_EXT2=y)"
		p.RootFSType = "ext4"
	}
	c, err := t.Resolve(targets, nil)
	if err != nil {
		return err
	}
	names := kmod.TargetModules(p.Target)
	if fsNote == "" {
		if ms, err := t.Lookup(RootFSTarget); err == nil && len(ms) > 0 && ms[0].Name == "ext4" {
			p.RootFSType = "ext4"
		}
		names = append(names, RootFSTarget)
	}
	for _, name := range names {
		m := c.Find(name)
		if m == nil && name == RootFSTarget {
			m = c.Find(p.RootFSType)
		}
		if m == nil {
			continue
		}
		label := name
		if m.Name != name {
			label = name + " (" + m.Name + ")"
		}
		if m.Builtin {
			p.Reasons = append(p.Reasons, label+" is built into this kernel")
			continue
		}
		p.Drivers = append(p.Drivers, m.Name)
		p.Reasons = append(p.Reasons, label+" is a module in this kernel: loaded from the initramfs")
	}
	if fsNote != "" {
		p.Reasons = append(p.Reasons, fsNote)
	}
	for _, m := range c.Load() {
		p.Modules = append(p.Modules, Module{Name: m.Name, File: filepath.Join(t.Dir, filepath.FromSlash(m.Path)), Rel: m.Path, Why: strings.Join(m.Why, "; ")})
	}
	p.Needed = len(p.Modules) > 0
	if !p.Needed {
		return nil
	}
	if cfg != nil && cfg["BLK_DEV_INITRD"] != "y" {
		return &KernelError{Kernel: p.Kernel,
			Reason: fmt.Sprintf("%s is a module, but the kernel has no initramfs support (CONFIG_BLK_DEV_INITRD is not set in %s), so nothing can load it before the root is mounted", p.Drivers[0], cfgSrc),
			Fix:    "use a kernel with the driver built in (minidisk kernel --profile legacy) or one with CONFIG_BLK_DEV_INITRD=y (minidisk kernel --debian)"}
	}
	p.Config = cfgSrc
	return nil
}

// fromImage decides without a modules tree: every driver must be built in,
// as the kernel's config (embedded, or config-RELEASE beside it) or its
// decompressed image says.
func (p *Plan) fromImage() error {
	var searched string
	if p.Release != "" {
		_, err := kmod.FindTree(p.Kernel, p.Release)
		var nf *kmod.TreeNotFoundError
		if errors.As(err, &nf) {
			searched = strings.Join(nf.Searched, ", ")
		}
	}
	noTree := func(what, evidence string) error {
		fix := "give --modules DIR (the lib/modules/" + p.Release + " directory that came with this kernel), or use a kernel with it built in (minidisk kernel --profile legacy)"
		if p.Release == "" {
			fix = "use a kernel with it built in (minidisk kernel --profile legacy)"
		}
		reason := fmt.Sprintf("%s is not built into this kernel (%s) and no modules tree was given", what, evidence)
		if searched != "" {
			reason += " or found (searched " + searched + ")"
		}
		return &KernelError{Kernel: p.Kernel, Reason: reason, Fix: fix}
	}
	cfg, src := p.config()
	if cfg != nil {
		p.Config = src
		for _, tg := range []string{p.Target, RootFSTarget} {
			for _, alts := range configSymbols[tg] {
				ok := false
				var states []string
				for _, s := range alts {
					v := cfg[s]
					if v == "y" {
						ok = true
					}
					if v == "" {
						v = "unset"
					}
					states = append(states, "CONFIG_"+s+"="+v)
				}
				if !ok {
					return noTree("CONFIG_"+alts[0], strings.Join(states, ", ")+" in "+src)
				}
			}
		}
		if cfg["EXT2_FS"] != "y" && cfg["EXT4_USE_FOR_EXT2"] == "y" {
			p.RootFSType = "ext4"
		}
		p.Reasons = append(p.Reasons, fmt.Sprintf("the %s disk drivers and ext2 are built into this kernel (%s): no initramfs", p.Target, src))
		return nil
	}
	info, err := kernel.InspectFile(p.Kernel)
	if err != nil {
		return fmt.Errorf("--kernel %w", err)
	}
	feats, ok := builtinFeatures[p.Target]
	if !ok {
		return noTree("the "+p.Target+" disk driver", "the kernel has no embedded config to tell")
	}
	for _, f := range append(feats, "ext2") {
		in, evidence := info.Builtin(f)
		if in {
			continue
		}
		if info.Vmlinux() == nil {
			// The payload could not be read: say so, do not guess.
			p.Reasons = append(p.Reasons, fmt.Sprintf("cannot tell whether %s is built in (%s): assumed built in", f, evidence))
			continue
		}
		return noTree(f, evidence)
	}
	p.Reasons = append(p.Reasons, fmt.Sprintf("%s and ext2 are built into this kernel: no initramfs", strings.Join(feats, ", ")))
	return nil
}

// config returns the kernel's configuration from the file beside it, by
// kernel.ConfigBeside's rule (Debian's config-RELEASE, or the "config"
// minidisk's kernel cache keeps beside a bzImage), read and parsed once
// per Plan; nil when there is none. The embedded IKCONFIG would need the
// payload decompressed, so it is read only by fromImage through
// kernel.InspectFile.
func (p *Plan) config() (kernel.Config, string) {
	if !p.configRead {
		p.configRead = true
		if cfg, src, err := kernel.ConfigBeside(p.Kernel); err == nil && cfg != nil {
			p.cfgBeside, p.configSrc = cfg, src
		}
	}
	return p.cfgBeside, p.configSrc
}

// ForKernel builds the initramfs a modular kernel needs to mount an ext2
// root on target (see CheckKernel for modulesDir): BusyBox (busybox, or
// "" for BusyBoxForInitramfs's choice), the module closure, and the /init
// of ModularTree. It builds one even when everything is built in (then
// /init only mounts the root and switch_roots), for callers such as a UKI
// that always carry an initramfs.
func ForKernel(kernelPath, modulesDir, target, busybox string) (*rootfs.Tree, *Plan, error) {
	p, err := CheckKernel(kernelPath, modulesDir, target)
	if err != nil {
		return nil, nil, err
	}
	t, err := p.Tree(ModularOptions{BusyBox: busybox})
	return t, p, err
}

// Tree builds the plan's initramfs; o's Release, Modules, Drivers and
// RootFSType are filled in from the plan.
func (p *Plan) Tree(o ModularOptions) (*rootfs.Tree, error) {
	o.Release = p.Release
	if o.Release == "" {
		o.Release = "unknown"
	}
	o.Modules, o.Drivers, o.RootFSType = p.Modules, p.Drivers, p.RootFSType
	return ModularTree(o)
}

// ModulePaths returns where the plan's modules are in the initramfs.
func (p *Plan) ModulePaths() []string {
	var out []string
	for _, m := range p.Modules {
		rel := m.Rel
		if rel == "" {
			rel = filepath.Base(m.File)
		}
		out = append(out, path.Join("/lib/modules", p.Release, stripCompression(rel)))
	}
	return out
}
