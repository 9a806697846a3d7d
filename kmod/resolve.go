package kmod

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// need is one driver a target requires.
type need struct {
	module   string // name or alias, looked up as modprobe would
	symbol   string // the Kconfig symbol that builds it, for messages
	role     string
	optional bool // included when the kernel has it; its absence is no refusal
}

type target struct {
	name  string
	kind  string // "disk" or "filesystem"
	needs []need
}

// The drivers each target needs, named for QEMU's devices and for real
// hardware of the same class. sd_mod makes /dev/sdX of any SCSI-like disk
// (libata, usb-storage, uas).
var targets = []target{
	{"ide", "disk", []need{
		{"ata_piix", "ATA_PIIX", "disk controller (Intel PIIX IDE, QEMU's default -drive if=ide)", false},
		{"sd_mod", "BLK_DEV_SD", "disk driver (/dev/sda)", false}}},
	{"ahci", "disk", []need{
		{"ahci", "SATA_AHCI", "disk controller (AHCI SATA, QEMU q35's default)", false},
		{"sd_mod", "BLK_DEV_SD", "disk driver (/dev/sda)", false}}},
	{"virtio", "disk", []need{
		{"virtio_pci", "VIRTIO_PCI", "virtio PCI transport", false},
		{"virtio_blk", "VIRTIO_BLK", "disk driver (/dev/vda, -drive if=virtio)", false}}},
	{"nvme", "disk", []need{
		{"nvme", "BLK_DEV_NVME", "disk controller and driver (/dev/nvme0n1)", false}}},
	{"usb", "disk", []need{
		{"xhci_pci", "USB_XHCI_PCI", "USB 3 host controller", false},
		{"ehci_pci", "USB_EHCI_PCI", "USB 2 host controller", false},
		{"usb_storage", "USB_STORAGE", "USB mass storage (a flashed stick)", false},
		{"uas", "USB_UAS", "USB attached SCSI", false},
		{"sd_mod", "BLK_DEV_SD", "disk driver (/dev/sda)", false}}},
	// fs/ext4/super.c registers ext4 as "ext2" too under
	// CONFIG_EXT4_USE_FOR_EXT2 (MODULE_ALIAS_FS("ext2")), so "ext2" is
	// looked up as modprobe would: the ext2 module, else whoever aliases it.
	{"ext2", "filesystem", []need{
		{"ext2", "EXT2_FS or EXT4_USE_FOR_EXT2", "root filesystem", false}}},
	{"ext4", "filesystem", []need{
		{"ext4", "EXT4_FS", "root filesystem", false}}},
	// vfat loads its default codepage and iocharset tables at mount time
	// (fs/fat/inode.c load_nls; FAT_DEFAULT_CODEPAGE=437, Debian's
	// FAT_DEFAULT_IOCHARSET="ascii", upstream's "iso8859-1"), through
	// request_module, which an initramfs without modprobe cannot answer.
	{"vfat", "filesystem", []need{
		{"vfat", "VFAT_FS", "filesystem (FAT)", false},
		{"nls_cp437", "NLS_CODEPAGE_437", "vfat's default codepage 437", true},
		{"nls_ascii", "NLS_ASCII", "vfat's default iocharset on Debian (ascii)", true},
		{"nls_iso8859_1", "NLS_ISO8859_1", "vfat's default iocharset upstream (iso8859-1)", true}}},
}

// Targets returns the target names Resolve accepts, disks first.
func Targets() []string {
	out := make([]string, len(targets))
	for i, t := range targets {
		out[i] = t.name
	}
	return out
}

// DiskTargets returns the hardware targets (not filesystems).
func DiskTargets() []string {
	var out []string
	for _, t := range targets {
		if t.kind == "disk" {
			out = append(out, t.name)
		}
	}
	return out
}

// TargetModules returns the module names a target asks for (before
// dependencies), or nil for an unknown target.
func TargetModules(name string) []string {
	for _, t := range targets {
		if t.name == name {
			var out []string
			for _, n := range t.needs {
				out = append(out, n.module)
			}
			return out
		}
	}
	return nil
}

// ParseTargets splits a comma-separated --for value and checks the names.
func ParseTargets(s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if findTarget(f) == nil {
			return nil, fmt.Errorf("--for %s: unknown target %q (known: %s)", s, f, strings.Join(Targets(), ", "))
		}
		out = append(out, f)
	}
	return out, nil
}

func findTarget(name string) *target {
	for i := range targets {
		if targets[i].name == name {
			return &targets[i]
		}
	}
	return nil
}

// Module is one entry of a closure.
type Module struct {
	Name    string   `json:"name"`
	Path    string   `json:"path,omitempty"` // relative to the tree's Dir; "" when built in
	Builtin bool     `json:"builtin"`        // built into the kernel: nothing to load
	Why     []string `json:"why"`            // first reason first: "target ide: disk controller (...)", "needed by sd_mod"
}

// Closure is what to load, in load order: every module comes after the
// modules in its depends= and its softdep pre: list, and before its
// softdep post: list.
type Closure struct {
	Dir     string   `json:"modules_dir"`
	Version string   `json:"version"`
	Targets []string `json:"targets,omitempty"`
	Names   []string `json:"names,omitempty"`
	Modules []Module `json:"modules"` // built-in ones included (Builtin true) where they were needed
}

// Load returns the modules to load (built-ins left out), in order.
func (c *Closure) Load() []Module {
	var out []Module
	for _, m := range c.Modules {
		if !m.Builtin {
			out = append(out, m)
		}
	}
	return out
}

// Find returns the closure's entry for module name, or nil.
func (c *Closure) Find(name string) *Module {
	name = Normalize(name)
	for i := range c.Modules {
		if c.Modules[i].Name == name {
			return &c.Modules[i]
		}
	}
	return nil
}

// Serves reports whether the kernel can drive target: each required
// driver is a module of the tree or built in. The second result names
// what is missing.
func (t *Tree) Serves(targetName string) (bool, []string) {
	tg := findTarget(targetName)
	if tg == nil {
		return false, []string{"unknown target " + targetName}
	}
	var missing []string
	for _, n := range tg.needs {
		if n.optional {
			continue
		}
		if _, err := t.Lookup(n.module); err != nil {
			missing = append(missing, fmt.Sprintf("%s (CONFIG_%s)", n.module, n.symbol))
		}
	}
	return len(missing) == 0, missing
}

// Resolve returns the closure of the targets' drivers (see Targets) and of
// the named modules (names or aliases, as modprobe takes them), in load
// order, deterministic for the same tree and arguments.
//
// Errors: a target the kernel cannot serve is a *TargetError (naming the
// flavour or config that can); a name or depends= entry found nowhere a
// *NotFoundError; a module built for another release a
// *VersionMismatchError; unreadable modules *NotELFError, *TruncatedError
// or *CorruptError. A softdep that matches nothing is skipped, as modprobe
// skips it.
func (t *Tree) Resolve(targetNames, names []string) (*Closure, error) {
	r := &resolution{t: t, state: map[string]int{}, why: map[string][]string{}}
	c := &Closure{Dir: t.Dir, Version: t.Version, Targets: targetNames, Names: names, Modules: []Module{}}
	type root struct {
		m   Match
		why string
	}
	var roots []root
	for _, tn := range targetNames {
		tg := findTarget(tn)
		if tg == nil {
			return nil, fmt.Errorf("unknown target %q (known: %s)", tn, strings.Join(Targets(), ", "))
		}
		var missing []string
		for _, n := range tg.needs {
			ms, err := t.Lookup(n.module)
			if err != nil {
				var nf *NotFoundError
				if !errors.As(err, &nf) {
					return nil, err
				}
				if !n.optional {
					missing = append(missing, fmt.Sprintf("%s (CONFIG_%s)", n.module, n.symbol))
				}
				continue
			}
			for _, m := range ms {
				why := fmt.Sprintf("target %s: %s", tn, n.role)
				if m.Via != "" {
					why += " (" + n.module + " is " + m.Name + "'s " + m.Via + ")"
				}
				roots = append(roots, root{m, why})
			}
		}
		if len(missing) > 0 {
			return nil, &TargetError{Target: tn, Missing: missing, Tree: t.Dir, Hint: t.refusalHint(tn)}
		}
	}
	for _, n := range names {
		ms, err := t.Lookup(n)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			why := "asked for"
			if m.Via != "" {
				why = "asked for as " + m.Via
			}
			roots = append(roots, root{m, why})
		}
	}
	for _, rt := range roots {
		r.because(rt.m.Name, rt.why)
		if err := r.visit(rt.m.Name, rt.m.Builtin); err != nil {
			return nil, err
		}
	}
	for _, name := range r.order {
		m := Module{Name: name, Why: r.why[name]}
		if p, ok := t.files[name]; ok {
			m.Path = p
		} else {
			m.Builtin = true
		}
		c.Modules = append(c.Modules, m)
	}
	return c, nil
}

type resolution struct {
	t     *Tree
	state map[string]int // 1 visiting, 2 done
	order []string
	why   map[string][]string
}

func (r *resolution) because(name, why string) {
	for _, w := range r.why[name] {
		if w == why {
			return
		}
	}
	r.why[name] = append(r.why[name], why)
}

// visit adds name after what it needs (depth first, in the order the
// module lists them). A module reached again while it is being visited
// (a softdep cycle) is not followed: kmod marks it visited the same way.
func (r *resolution) visit(name string, builtin bool) error {
	if r.state[name] != 0 {
		return nil
	}
	r.state[name] = 1
	if builtin {
		r.state[name] = 2
		r.order = append(r.order, name)
		return nil
	}
	mi, err := r.t.ModInfo(name)
	if err != nil {
		return err
	}
	if rel := mi.Release(); rel != "" && rel != r.t.Version {
		return &VersionMismatchError{File: filepath.Join(r.t.Dir, filepath.FromSlash(r.t.files[name])), Kernel: r.t.Version, Found: rel}
	}
	if err := r.soft(name, mi.SoftPre, "pre"); err != nil {
		return err
	}
	for _, d := range mi.Depends {
		if _, ok := r.t.files[d]; !ok {
			if r.t.IsBuiltin(d) {
				continue
			}
			return r.t.notFound(d, name)
		}
		r.because(d, "needed by "+name)
		if err := r.visit(d, false); err != nil {
			return err
		}
	}
	r.state[name] = 2
	r.order = append(r.order, name)
	return r.soft(name, mi.SoftPost, "post")
}

func (r *resolution) soft(name string, deps []string, when string) error {
	for _, s := range deps {
		ms, err := r.t.Lookup(s)
		if err != nil {
			continue // modprobe ignores a softdep it cannot find
		}
		for _, m := range ms {
			if m.Builtin {
				continue // nothing to load; modprobe prints nothing for it either
			}
			why := fmt.Sprintf("soft dependency (%s) of %s", when, name)
			if m.Via != "" {
				why += " via " + m.Via
			}
			r.because(m.Name, why)
			if err := r.visit(m.Name, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// refusalHint says which kernel can serve a target this one cannot.
func (t *Tree) refusalHint(targetName string) string {
	var serves []string
	for _, tg := range targets {
		if tg.kind != "disk" {
			continue
		}
		if ok, _ := t.Serves(tg.name); ok {
			serves = append(serves, tg.name)
		}
	}
	other := "none"
	if len(serves) > 0 {
		other = strings.Join(serves, ", ")
	}
	if strings.HasSuffix(t.Version, "-cloud-amd64") {
		return fmt.Sprintf("Debian's cloud flavour carries only cloud hardware drivers: use the generic flavour (minidisk kernel --debian --flavour amd64), or a target this kernel serves (--for %s)", other)
	}
	var syms []string
	for _, n := range findTarget(targetName).needs {
		if !n.optional {
			syms = append(syms, "CONFIG_"+n.symbol)
		}
	}
	sort.Strings(syms)
	return fmt.Sprintf("use a kernel built with %s (=y or =m), or a target this kernel serves (--for %s)", strings.Join(syms, ", "), other)
}
