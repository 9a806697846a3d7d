package doctor

import (
	"fmt"

	"github.com/minidisk/minidisk/rootfs/ext2"
	"path"
	"strings"
)

// SYSLINUX facts (syslinux 6.04, core/fs/lib/loadconfig.c and
// com32/elflink/ldlinux): the boot sector loads ldlinux.sys, which needs
// ldlinux.c32 from the same directory ("Failed to load ldlinux.c32");
// the configuration is searched in the install directory, then
// /boot/syslinux, /syslinux and /, as extlinux.conf then syslinux.cfg.
var syslinuxSearchDirs = []string{"/boot/syslinux", "/syslinux", "/"}

var syslinuxInstallDirs = []string{"/boot/extlinux", "/boot/syslinux", "/extlinux", "/syslinux", "/"}

const maxSyslinuxConfig = 1 << 20

// SyslinuxInfo is what doctor found of SYSLINUX/EXTLINUX.
type SyslinuxInfo struct {
	Filesystem string `json:"filesystem"`
	Directory  string `json:"directory,omitempty"`
	ConfigPath string `json:"config_path,omitempty"`
	Label      string `json:"label,omitempty"`
	Kernel     string `json:"kernel,omitempty"`
	Append     string `json:"append,omitempty"`
	Initrd     string `json:"initrd,omitempty"`
}

// checkSyslinux follows SYSLINUX/EXTLINUX in partition p (Index 0: the
// whole image): ldlinux.sys and ldlinux.c32, the configuration, the
// default label's kernel and initrd.
func (d *diag) checkSyslinux(p PartitionInfo) {
	info := &SyslinuxInfo{}
	d.rep.Syslinux = info
	lfs, err := d.openLoaderFS(p)
	if lfs != nil {
		info.Filesystem = lfs.kind
	}
	if err != nil || lfs.fsys == nil {
		d.add(Finding{ID: IDSyslinuxUnchecked, Area: AreaSyslinux, Severity: Info,
			Title:    fmt.Sprintf("SYSLINUX's filesystem in %s cannot be read by doctor: its files are unchecked", partName(p)),
			Evidence: fmt.Sprintf("%v", err)})
		return
	}
	dir := ""
	for _, c := range syslinuxInstallDirs {
		if _, _, err := statCaseless(lfs, path.Join(c, "ldlinux.sys")); err == nil {
			dir = c
			break
		}
	}
	if dir == "" {
		d.add(Finding{ID: IDSyslinuxLdlinuxMissing, Area: AreaSyslinux, Severity: Error,
			Title:    "the SYSLINUX boot sector is there, ldlinux.sys is not",
			Evidence: fmt.Sprintf("no ldlinux.sys in %s on %s: the boot sector prints \"Boot error\"", strings.Join(syslinuxInstallDirs, ", "), lfs.name()),
			Fix:      "reinstall: extlinux --install /boot/extlinux (ext2/3/4, mounted) or syslinux --install (FAT)"})
		return
	}
	info.Directory = dir
	if _, _, err := statCaseless(lfs, path.Join(dir, "ldlinux.c32")); err != nil {
		d.add(Finding{ID: IDSyslinuxLdlinuxMissing, Area: AreaSyslinux, Severity: Error,
			Title:    fmt.Sprintf("%s is missing", path.Join(dir, "ldlinux.c32")),
			Evidence: fmt.Sprintf("ldlinux.sys is in %s, ldlinux.c32 is not: SYSLINUX 5+ prints \"Failed to load ldlinux.c32\" and stops", dir),
			Fix:      "reinstall with the same SYSLINUX version (extlinux --install / syslinux --install copy both)"})
		return
	}
	var text []byte
	for _, sd := range append([]string{dir}, syslinuxSearchDirs...) {
		for _, name := range []string{"extlinux.conf", "syslinux.cfg"} {
			c := path.Join(sd, name)
			if b, err := readLoaderFile(lfs, c, maxSyslinuxConfig); err == nil {
				text, info.ConfigPath = b, c
				break
			}
		}
		if info.ConfigPath != "" {
			break
		}
	}
	if info.ConfigPath == "" {
		d.add(Finding{ID: IDSyslinuxConfigMissing, Area: AreaSyslinux, Severity: Error,
			Title:    "no SYSLINUX configuration file",
			Evidence: fmt.Sprintf("no extlinux.conf or syslinux.cfg in %s, /boot/syslinux, /syslinux or / on %s: SYSLINUX waits at the boot: prompt", dir, lfs.name()),
			Fix:      fmt.Sprintf("write %s: DEFAULT linux / LABEL linux / LINUX /boot/vmlinuz / APPEND root=/dev/sda1", path.Join(dir, "extlinux.conf"))})
		return
	}
	cfgDir := path.Dir(info.ConfigPath)
	e, why := parseSyslinuxConfig(string(text))
	if e == nil {
		d.add(Finding{ID: IDSyslinuxNoDefault, Area: AreaSyslinux, Severity: Error,
			Title:    fmt.Sprintf("%s boots no kernel", info.ConfigPath),
			Evidence: why,
			Fix:      "add DEFAULT linux and LABEL linux with LINUX /boot/vmlinuz and APPEND root=/dev/sda1"})
		return
	}
	info.Label, info.Kernel, info.Append, info.Initrd = e.Label, e.Kernel, e.Append, strings.Join(e.Initrds, ",")
	where := fmt.Sprintf("%s line %d (LABEL %s)", info.ConfigPath, e.Line, e.Label)
	missing := false
	if sb := d.readSuperblock(int64(p.Start) * sectorSize); sb != nil && sb.FeatureIncompat&ext2.FeatureIncompatExtents != 0 && sb.BlockSize() == 1024 {
		// Measured in the corpus: Debian bookworm's SYSLINUX 6.04 loads
		// ldlinux.sys (extlinux records its sectors) but then fails on every
		// file of an extent-mapped filesystem with 1 KiB blocks (ext4, and
		// ext2 with -O extents, as mke2fs makes small filesystems).
		missing = true
		d.add(Finding{ID: IDSyslinuxFSExtents, Area: AreaSyslinux, Severity: Error,
			Title:    fmt.Sprintf("SYSLINUX cannot read files on this %s filesystem (extents, 1 KiB blocks)", lfs.kind),
			Evidence: fmt.Sprintf("%s: s_feature_incompat %#x has extents, block size %d: SYSLINUX 6.04 prints \"Loading %s... failed: I/O error\" and stops at boot:", lfs.name(), sb.FeatureIncompat, sb.BlockSize(), e.Kernel),
			Fix:      "make the /boot filesystem ext2/ext3 (mke2fs -t ext3) or with 4 KiB blocks, or put the kernel on a FAT partition"})
	}
	resolve := func(f string) string {
		if strings.HasPrefix(f, "/") {
			return f
		}
		return path.Join(cfgDir, f) // relative to the working directory: the config's
	}
	for i, f := range append([]string{e.Kernel}, e.Initrds...) {
		what, id := "kernel", IDSyslinuxKernelMissing
		if i > 0 {
			what, id = "initrd", IDSyslinuxInitrdMissing
		}
		fp := resolve(f)
		if _, _, err := statCaseless(lfs, fp); err != nil {
			missing = true
			d.add(Finding{ID: id, Area: AreaSyslinux, Severity: Error,
				Title:    fmt.Sprintf("the %s %s cannot be loaded", what, fp),
				Evidence: fmt.Sprintf("%s: %s on %s: %s (SYSLINUX: \"Could not find kernel image\")", where, f, lfs.name(), errText(err)),
				Fix:      fmt.Sprintf("copy the %s to %s, or fix the path in %s", what, fp, info.ConfigPath)})
		}
	}
	initrds := make([]string, len(e.Initrds))
	for i, f := range e.Initrds {
		initrds[i] = resolve(f)
	}
	d.target = &bootTarget{Loader: LoaderSyslinux, Where: where, Kernel: resolve(e.Kernel), Initrds: initrds, Cmdline: e.Append, loaderFS: lfs}
	if d.rep.Boot.VBRPart == 0 {
		d.rep.Boot.Summary += fmt.Sprintf("; ldlinux.sys in %s, config %s", dir, info.ConfigPath)
	} else {
		d.rep.Boot.Summary += fmt.Sprintf(" → ldlinux.sys in %s, config %s", dir, info.ConfigPath)
	}
	if !missing {
		d.add(Finding{ID: IDSyslinuxOK, Area: AreaSyslinux, Severity: OK,
			Title:    "SYSLINUX chain is complete",
			Evidence: fmt.Sprintf("%s; %s: LINUX %s APPEND %s", d.rep.Boot.Summary, where, e.Kernel, e.Append)})
	}
}

// syslinuxEntry is the label SYSLINUX boots.
type syslinuxEntry struct {
	Label   string
	Line    int
	Kernel  string
	Append  string
	Initrds []string
}

// parseSyslinuxConfig reads DEFAULT, UI/MENU, LABEL, LINUX/KERNEL, APPEND,
// INITRD (syslinux.cfg(5)): keywords are case-insensitive; DEFAULT names a
// label (or, when no label has that name, a kernel command line); without
// DEFAULT, a menu (UI menu.c32) starts at the first label. INITRD and
// "initrd=" in APPEND name initrds, comma-separated. Includes are not
// followed.
func parseSyslinuxConfig(text string) (*syslinuxEntry, string) {
	var labels []syslinuxEntry
	def, globalAppend := "", ""
	ui := false
	var cur *syslinuxEntry
	for n, raw := range strings.Split(text, "\n") {
		if n >= maxGRUB2Lines {
			break
		}
		line := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		kw, rest, _ := strings.Cut(line, " ")
		if i := strings.IndexByte(line, '\t'); i >= 0 && (i < len(kw)) {
			kw, rest = line[:i], line[i+1:]
		}
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(kw) {
		case "DEFAULT":
			def = rest
		case "UI":
			ui = true
		case "LABEL":
			labels = append(labels, syslinuxEntry{Label: rest, Line: n + 1, Append: globalAppend})
			cur = &labels[len(labels)-1]
		case "LINUX", "KERNEL":
			if cur != nil {
				cur.Kernel = strings.Fields(rest + " ")[0]
			}
		case "APPEND":
			if cur != nil {
				cur.Append = rest
			} else {
				globalAppend = rest
			}
		case "INITRD":
			if cur != nil {
				cur.Initrds = append(cur.Initrds, strings.Split(rest, ",")...)
			}
		}
	}
	var e *syslinuxEntry
	switch {
	case def != "":
		name := strings.Fields(def)[0]
		for i := range labels {
			if strings.EqualFold(labels[i].Label, name) {
				e = &labels[i]
			}
		}
		if e == nil {
			f := strings.Fields(def)
			e = &syslinuxEntry{Label: "(DEFAULT)", Kernel: f[0], Append: strings.Join(f[1:], " ")}
		}
	case ui && len(labels) > 0, len(labels) == 1:
		e = &labels[0]
	case len(labels) > 1:
		e = &labels[0] // no DEFAULT: SYSLINUX waits at boot: for a label; the first is the usual pick
	default:
		return nil, "no DEFAULT and no LABEL: SYSLINUX waits at the boot: prompt"
	}
	if e.Kernel == "" {
		return nil, fmt.Sprintf("LABEL %s has no LINUX/KERNEL line", e.Label)
	}
	var args []string
	for _, f := range strings.Fields(e.Append) {
		if v, ok := strings.CutPrefix(f, "initrd="); ok {
			e.Initrds = append(e.Initrds, strings.Split(v, ",")...)
			continue
		}
		args = append(args, f)
	}
	e.Append = strings.Join(args, " ")
	return e, ""
}
