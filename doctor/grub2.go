package doctor

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/ulikunitz/xz/lzma"
)

// GRUB 2 (i386-pc) facts, from grub-core/boot/i386/pc/{boot,diskboot,
// startup_raw}.S and include/grub/offsets.h, checked against Debian's
// grub-pc-bin 2.06 images and a core.img from its grub-mkimage:
//   - boot.img's kernel_sector (u64 at 0x5C) is the LBA of core.img's
//     first sector, diskboot.img;
//   - diskboot.img ends with a blocklist growing down from 0x1F4: entries of
//     {start u64, count u16, segment u16}, a zero count ends it; the first
//     entry's segment is 0x0820 (the rest of core.img loads at 0x8200);
//   - core.img's second sector starts lzma_decompress.img, whose header
//     holds the compressed size (u32 at 0x08) and the uncompressed size (u32
//     at 0x0C); the LZMA stream (lc=3 lp=0 pb=2, 64 KiB dictionary, no
//     header: util/mkimage.c) follows the decompressor;
//   - the decompressed kernel carries a module area ("mimg", u32 offset 12,
//     u32 size) of {type u32, size u32} objects: 0 a module (ELF, named by
//     its .modname section), 2 the embedded config, 3 the prefix.
const (
	grub2BlocklistTop    = 0x1f4
	grub2BlocklistEntry  = 12
	grub2CoreSegment     = 0x0820
	grub2DecompHeader    = 0x200
	grub2MaxCoreSectors  = 2048 // 1 MiB; Debian's core.img is 60 sectors
	grub2MaxUncompressed = 1 << 20
	grub2ObjModule       = 0
	grub2ObjConfig       = 2
	grub2ObjPrefix       = 3
	grub2MaxConfigBytes  = 1 << 20
	grub2MaxStreamTries  = 8
)

// lzma_decompress.img sizes seen (Debian 2.06: 2848 bytes); other
// versions are found by trying the stream start.
var grub2DecompressorSizes = []int{2848}

// grub2Core is what core.img says.
type grub2Core struct {
	Sectors []uint64 // first and last sector
	Prefix  string
	Config  string
	Modules []string
}

// GRUB2Info is where GRUB 2's pieces are, for the report.
type GRUB2Info struct {
	KernelSector uint64   `json:"kernel_sector"`
	CoreSectors  uint64   `json:"core_sectors"`
	Prefix       string   `json:"prefix,omitempty"`
	Modules      []string `json:"modules,omitempty"`
	ConfigPath   string   `json:"config_path,omitempty"`
	Kernel       string   `json:"kernel,omitempty"`
	KernelArgs   string   `json:"kernel_args,omitempty"`
	Initrd       string   `json:"initrd,omitempty"`
}

// checkGRUB2 follows boot.img (in the MBR, or in partition vbrPart's boot
// sector) to core.img, its prefix, grub.cfg and the default entry's files.
func (d *diag) checkGRUB2(boot []byte, vbrPart PartitionInfo) {
	info := &GRUB2Info{KernelSector: binary.LittleEndian.Uint64(boot[grub2KernelSectorOff:])}
	d.rep.GRUB2 = info
	ks := info.KernelSector
	if ks == 0 || ks >= d.rep.DiskSectors {
		d.add(Finding{ID: IDGRUB2CoreMissing, Area: AreaGRUB2, Severity: Error,
			Title:    "boot.img points at no core.img",
			Evidence: fmt.Sprintf("kernel_sector = %d, the image has %d sectors: boot.img prints \"Read Error\" or \"Geom Error\"", ks, d.rep.DiskSectors),
			Fix:      "reinstall: grub-install --target=i386-pc --boot-directory=MNT/boot /dev/LOOP"})
		return
	}
	first := make([]byte, sectorSize)
	_ = readFull(d.r, first, int64(ks)*sectorSize)
	runs, ok := grub2Blocklist(first)
	if !ok {
		d.add(Finding{ID: IDGRUB2CoreMissing, Area: AreaGRUB2, Severity: Error,
			Title:    "the sector boot.img loads is not GRUB 2's diskboot.img",
			Evidence: fmt.Sprintf("sector %d has no diskboot.img blocklist (segment 0x0820 at 0x1FE): core.img was overwritten after grub-install (a partition or filesystem written over the gap?)", ks),
			Fix:      "run grub-install again after the last write to the image"})
		return
	}
	core := append([]byte(nil), first...)
	total := uint64(1)
	var bad []string
	embedded := vbrPart.Index == 0
	gapEnd := d.firstPartitionStart()
	bbp := d.biosBootPartition()
	for _, r := range runs {
		s, e := r[0], r[0]+r[1]-1
		total += r[1]
		switch {
		case e >= d.rep.DiskSectors:
			bad = append(bad, fmt.Sprintf("sectors %d..%d lie past the image end (%d sectors)", s, e, d.rep.DiskSectors))
			continue
		case bbp != nil && (s < bbp.Start || e > bbp.End()):
			bad = append(bad, fmt.Sprintf("sectors %d..%d lie outside the BIOS boot partition %d (%d..%d)", s, e, bbp.Index, bbp.Start, bbp.End()))
		case bbp == nil && embedded && d.rep.Scheme == SchemeMBR && e >= gapEnd:
			if p := d.partitionOverlapping(s, e); p != nil {
				bad = append(bad, fmt.Sprintf("sectors %d..%d overlap partition %d (sectors %d..%d)", s, e, p.Index, p.Start, p.End()))
			}
		}
		if total <= grub2MaxCoreSectors {
			b := make([]byte, r[1]*sectorSize)
			if readFull(d.r, b, int64(s)*sectorSize) == nil {
				core = append(core, b...)
			}
		}
	}
	info.CoreSectors = total
	if total > grub2MaxCoreSectors {
		bad = append(bad, fmt.Sprintf("the blocklist adds up to %d sectors, more than any core.img", total))
	}
	where := fmt.Sprintf("core.img in sectors %d..%d", ks, ks+total-1)
	if bbp != nil {
		where += fmt.Sprintf(" (BIOS boot partition %d)", bbp.Index)
	} else if embedded && ks+total-1 < gapEnd {
		where += " (the gap before the first partition)"
	}
	d.rep.Boot.Summary = fmt.Sprintf("GRUB 2: boot.img in %s → %s", map[bool]string{true: "the MBR", false: fmt.Sprintf("partition %d's boot sector", vbrPart.Index)}[embedded], where)
	if len(bad) > 0 {
		d.add(Finding{ID: IDGRUB2CoreOutside, Area: AreaGRUB2, Severity: Error,
			Title:    "core.img's blocklist points outside the space GRUB 2 embedded it in",
			Evidence: strings.Join(bad, "; ") + ": the partition's data overwrote core.img, or the image was cut",
			Fix:      "leave 1 MiB before the first partition (or a BIOS boot partition on GPT) and run grub-install again"})
		return
	}
	c, why := grub2ParseCore(core)
	if c == nil {
		d.add(Finding{ID: IDGRUB2Unchecked, Area: AreaGRUB2, Severity: Info,
			Title:    "core.img was found but not decoded: its prefix and grub.cfg are unchecked",
			Evidence: where + ": " + why})
		return
	}
	info.Prefix, info.Modules = c.Prefix, c.Modules
	d.rep.Boot.Summary += ", prefix " + c.Prefix
	d.followGRUB2Prefix(c, info)
}

// grub2Blocklist reads diskboot.img's blocklist: {start, count} runs.
func grub2Blocklist(b []byte) ([][2]uint64, bool) {
	var runs [][2]uint64
	for off := grub2BlocklistTop; off >= 0x100; off -= grub2BlocklistEntry {
		start := binary.LittleEndian.Uint64(b[off:])
		n := uint64(binary.LittleEndian.Uint16(b[off+8:]))
		seg := binary.LittleEndian.Uint16(b[off+10:])
		if off == grub2BlocklistTop && seg != grub2CoreSegment {
			return nil, false
		}
		if n == 0 {
			break
		}
		runs = append(runs, [2]uint64{start, n})
	}
	return runs, true
}

// grub2ParseCore decompresses core.img's kernel and reads its prefix,
// embedded config and module names.
func grub2ParseCore(core []byte) (*grub2Core, string) {
	if len(core) < grub2DecompHeader+0x20 {
		return nil, "core.img is shorter than its headers"
	}
	csize := int(binary.LittleEndian.Uint32(core[grub2DecompHeader+0x08:]))
	usize := int64(binary.LittleEndian.Uint32(core[grub2DecompHeader+0x0c:]))
	if csize <= 0 || usize <= 0 || usize > grub2MaxUncompressed || csize > len(core) {
		return nil, fmt.Sprintf("compressed size %d, uncompressed size %d do not fit a %d-byte core.img (not an LZMA core, or another GRUB version)", csize, usize, len(core))
	}
	try := func(start int) []byte {
		if start+csize > len(core) || core[start] != 0 {
			return nil
		}
		var hdr [13]byte
		hdr[0] = 0x5d // lc=3, lp=0, pb=2
		binary.LittleEndian.PutUint32(hdr[1:], 1<<16)
		binary.LittleEndian.PutUint64(hdr[5:], uint64(usize))
		r, err := lzma.NewReader(io.MultiReader(bytes.NewReader(hdr[:]), bytes.NewReader(core[start:start+csize])))
		if err != nil {
			return nil
		}
		out, err := io.ReadAll(io.LimitReader(r, usize))
		if err != nil || int64(len(out)) != usize {
			return nil
		}
		return out
	}
	var kern []byte
	for _, n := range grub2DecompressorSizes {
		if kern = try(grub2DecompHeader + n); kern != nil {
			break
		}
	}
	// Another GRUB version's decompressor: the stream starts with a zero
	// byte after it. A bounded number of candidates, so that a hostile
	// core.img cannot make doctor decode megabytes again and again.
	for start, tries := grub2DecompHeader+0x400, 0; kern == nil && tries < grub2MaxStreamTries && start < min(len(core)-csize, grub2DecompHeader+0x2000); start++ {
		if core[start] == 0 {
			tries++
			kern = try(start)
		}
	}
	if kern == nil {
		return nil, "its LZMA payload could not be decompressed"
	}
	c := &grub2Core{}
	for i := 0; ; {
		j := bytes.Index(kern[i:], []byte("mimg"))
		if j < 0 {
			return nil, "no module area (\"mimg\") in the decompressed kernel"
		}
		i += j
		if i+12 <= len(kern) && binary.LittleEndian.Uint32(kern[i+4:]) == 12 {
			size := int(binary.LittleEndian.Uint32(kern[i+8:]))
			end := min(i+size, len(kern))
			for p := i + 12; p+8 <= end; {
				t := binary.LittleEndian.Uint32(kern[p:])
				n := int(binary.LittleEndian.Uint32(kern[p+4:]))
				if n < 8 || p+n > end {
					break
				}
				body := kern[p+8 : p+n]
				switch t {
				case grub2ObjPrefix:
					c.Prefix = cString(body)
				case grub2ObjConfig:
					c.Config = cString(body)
				case grub2ObjModule:
					if name := grub2ModName(body); name != "" {
						c.Modules = append(c.Modules, name)
					}
				}
				p += n
			}
			sort.Strings(c.Modules)
			return c, ""
		}
		i++
	}
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// grub2ModName reads a module's name from its .modname section.
func grub2ModName(b []byte) string {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return ""
	}
	s := f.Section(".modname")
	if s == nil {
		return ""
	}
	data, err := s.Data()
	if err != nil {
		return ""
	}
	return cString(data)
}

// biosBootPartition returns the GPT BIOS boot partition (type EF02), or nil.
func (d *diag) biosBootPartition() *PartitionInfo {
	for i := range d.parts {
		if d.parts[i].GPTType == "BIOS boot" {
			return &d.parts[i]
		}
	}
	return nil
}

// grub2Device parses a GRUB 2 device "(hd0,msdos1)", "(,gpt2)", "(hd0)"
// and returns the partition number as Linux numbers it (msdos5 = sda5),
// 0 for the whole disk; ok is false for devices doctor cannot map
// (another disk, a variable, an LVM or RAID name).
func grub2Device(dev string) (part int, ok bool) {
	dev = strings.Trim(dev, "()")
	disk, rest, hasPart := strings.Cut(dev, ",")
	if disk != "" && disk != "hd0" {
		return 0, false
	}
	if !hasPart {
		return 0, true
	}
	rest, _, _ = strings.Cut(rest, ",") // nested BSD labels: the outer one
	for _, p := range []string{"msdos", "gpt", ""} {
		if strings.HasPrefix(rest, p) {
			n, err := strconv.Atoi(strings.TrimPrefix(rest, p))
			if err == nil && n > 0 {
				return n, true
			}
		}
	}
	return 0, false
}

// splitGRUB2Path splits "(hd0,msdos1)/boot/grub" into device and path.
func splitGRUB2Path(s string) (dev, p string) {
	if strings.HasPrefix(s, "(") {
		if i := strings.IndexByte(s, ')'); i > 0 {
			return s[:i+1], s[i+1:]
		}
	}
	return "", s
}

// followGRUB2Prefix finds the partition the prefix names, checks the
// modules directory and grub.cfg there, and follows the default entry.
func (d *diag) followGRUB2Prefix(c *grub2Core, info *GRUB2Info) {
	dev, dir := splitGRUB2Path(c.Prefix)
	part, ok := grub2Device(dev)
	if uuid := grub2SearchUUID(c.Config); uuid != "" {
		if p := d.partitionByFSUUID(uuid); p != nil {
			part, ok = p.Index, true
		} else {
			d.add(Finding{ID: IDGRUB2PrefixMissing, Area: AreaGRUB2, Severity: Error,
				Title:    "core.img searches for a filesystem UUID no partition has",
				Evidence: fmt.Sprintf("embedded config %q: no filesystem with UUID %s: GRUB stops at \"grub rescue>\"", strings.TrimSpace(c.Config), uuid),
				Fix:      "run grub-install again (the filesystem was recreated since)"})
			return
		}
	}
	if !ok || (dev == "" && c.Config == "") {
		d.add(Finding{ID: IDGRUB2Unchecked, Area: AreaGRUB2, Severity: Info,
			Title:    "core.img's prefix does not name a partition doctor can map: grub.cfg unchecked",
			Evidence: fmt.Sprintf("prefix %q, embedded config %q", c.Prefix, c.Config)})
		return
	}
	var p PartitionInfo
	if part > 0 {
		pp := d.partitionByIndex(part)
		if pp == nil {
			d.add(Finding{ID: IDGRUB2PrefixMissing, Area: AreaGRUB2, Severity: Error,
				Title:    fmt.Sprintf("core.img's prefix names partition %d, which does not exist", part),
				Evidence: fmt.Sprintf("prefix %s: GRUB stops at \"grub rescue>\" (\"error: no such partition\")", c.Prefix),
				Fix:      "run grub-install again with --boot-directory on the partition that holds /boot"})
			return
		}
		p = *pp
	}
	lfs, err := d.openLoaderFS(p)
	if err != nil || lfs == nil || lfs.fsys == nil {
		d.add(Finding{ID: IDGRUB2Unchecked, Area: AreaGRUB2, Severity: Info,
			Title:    fmt.Sprintf("the prefix's filesystem in %s cannot be read by doctor: grub.cfg unchecked", partName(p)),
			Evidence: fmt.Sprintf("prefix %s: %v", c.Prefix, err)})
		return
	}
	if need := grub2FSModule(lfs.kind); need != "" && len(c.Modules) > 0 && !contains(c.Modules, need) {
		d.add(Finding{ID: IDGRUB2ModuleMissing, Area: AreaGRUB2, Severity: Error,
			Title:    fmt.Sprintf("core.img has no %s module: it cannot read the %s prefix", need, lfs.kind),
			Evidence: fmt.Sprintf("modules in core.img: %s; prefix %s is on %s: GRUB stops at \"grub rescue>\" (\"unknown filesystem\")", strings.Join(c.Modules, " "), c.Prefix, lfs.name()),
			Fix:      "grub-install (or grub-mkimage) with --modules=\"part_msdos " + need + "\""})
		return
	}
	if dir == "" {
		dir = "/"
	}
	platformDir := strings.TrimSuffix(dir, "/") + "/i386-pc"
	if !contains(c.Modules, "normal") {
		if _, _, err := statCaseless(lfs, platformDir+"/normal.mod"); err != nil {
			d.add(Finding{ID: IDGRUB2NormalMissing, Area: AreaGRUB2, Severity: Error,
				Title:    fmt.Sprintf("%s/normal.mod is missing: GRUB stops at \"grub rescue>\"", platformDir),
				Evidence: fmt.Sprintf("prefix %s on %s; core.img does not contain normal, and it cannot be loaded: %s", c.Prefix, lfs.name(), errText(err)),
				Fix:      "run grub-install again with --boot-directory pointing at this partition's /boot (it copies the modules)"})
			return
		}
	}
	cfgPath := strings.TrimSuffix(dir, "/") + "/grub.cfg"
	info.ConfigPath = cfgPath
	text, err := readLoaderFile(lfs, cfgPath, grub2MaxConfigBytes)
	if err != nil {
		d.add(Finding{ID: IDGRUB2ConfigMissing, Area: AreaGRUB2, Severity: Error,
			Title:    fmt.Sprintf("%s cannot be read: GRUB shows the grub> prompt", cfgPath),
			Evidence: fmt.Sprintf("%s on %s: %s", cfgPath, lfs.name(), errText(err)),
			Fix:      fmt.Sprintf("write %s (grub-mkconfig -o %s, or by hand: menuentry 'Linux' { linux /boot/vmlinuz root=/dev/sda1 }", cfgPath, cfgPath)})
		return
	}
	e := parseGRUB2Config(string(text))
	if e == nil || e.Kernel == "" {
		d.add(Finding{ID: IDGRUB2NoEntry, Area: AreaGRUB2, Severity: Error,
			Title:    fmt.Sprintf("%s boots no kernel", cfgPath),
			Evidence: fmt.Sprintf("%d bytes, no menuentry with a linux command: GRUB shows an empty menu or the grub> prompt", len(text)),
			Fix:      "add: menuentry 'Linux' { linux /boot/vmlinuz root=/dev/sda1 console=ttyS0 }"})
		return
	}
	info.Kernel, info.KernelArgs = e.Kernel, e.Args
	if len(e.Initrds) > 0 {
		info.Initrd = strings.Join(e.Initrds, " ")
	}
	where := fmt.Sprintf("%s line %d", cfgPath, e.Line)
	if e.Title != "" {
		where += fmt.Sprintf(" (menuentry %q)", e.Title)
	}
	// The files are read from $root: a device in the path, else the root
	// set in the entry, else the prefix's partition.
	filesFS := lfs
	if e.Root != "" {
		if n, ok := grub2Device(e.Root); ok && n != p.Index {
			if pp := d.partitionByIndex(n); pp != nil {
				if other, err := d.openLoaderFS(*pp); err == nil && other.fsys != nil {
					filesFS = other
				}
			}
		}
	}
	if e.SearchUUID != "" {
		if pp := d.partitionByFSUUID(e.SearchUUID); pp != nil && pp.Index != filesFS.part.Index {
			if other, err := d.openLoaderFS(*pp); err == nil && other.fsys != nil {
				filesFS = other
			}
		}
	}
	missing := false
	for _, f := range append([]string{e.Kernel}, e.Initrds...) {
		what, id := "kernel", IDGRUB2KernelMissing
		if f != e.Kernel {
			what, id = "initrd", IDGRUB2InitrdMissing
		}
		dev, fp := splitGRUB2Path(f)
		fsys := filesFS
		if dev != "" {
			if n, ok := grub2Device(dev); ok && n != fsys.part.Index {
				if pp := d.partitionByIndex(n); pp != nil {
					if other, err := d.openLoaderFS(*pp); err == nil && other.fsys != nil {
						fsys = other
					}
				}
			}
		}
		fi, _, err := statCaseless(fsys, fp)
		if err == nil && !fi.Mode().IsRegular() {
			err = fmt.Errorf("not a regular file")
		}
		if err != nil {
			missing = true
			d.add(Finding{ID: id, Area: AreaGRUB2, Severity: Error,
				Title:    fmt.Sprintf("the %s %s cannot be loaded", what, fp),
				Evidence: fmt.Sprintf("%s: %s %s on %s: %s (GRUB: \"error: file '%s' not found\")", where, what, f, fsys.name(), errText(err), fp),
				Fix:      fmt.Sprintf("copy the %s to %s on %s, or fix the path in %s", what, fp, partName(fsys.part), cfgPath)})
		}
	}
	d.target = &bootTarget{Loader: LoaderGRUB2, Where: where, Kernel: e.Kernel, Initrds: e.Initrds, Cmdline: e.Args, loaderFS: filesFS}
	if !missing {
		d.add(Finding{ID: IDGRUB2OK, Area: AreaGRUB2, Severity: OK,
			Title:    "GRUB 2 chain is complete",
			Evidence: fmt.Sprintf("%s; %s: linux %s %s", d.rep.Boot.Summary, where, e.Kernel, e.Args)})
	}
}

// grub2FSModule names the GRUB 2 module that reads a filesystem kind.
func grub2FSModule(kind string) string {
	switch {
	case strings.HasPrefix(kind, "ext"):
		return "ext2"
	case strings.HasPrefix(kind, "FAT"):
		return "fat"
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// grub2SearchUUID finds "search ... --fs-uuid UUID" or "search.fs_uuid
// UUID" in an embedded config.
func grub2SearchUUID(cfg string) string {
	for _, line := range strings.Split(cfg, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == "search.fs_uuid" && len(f) > 1:
			return strings.Trim(f[1], "'\"")
		case f[0] == "search":
			for i := 1; i < len(f)-1; i++ {
				if f[i] == "--fs-uuid" || f[i] == "-u" {
					for _, a := range f[i+1:] {
						if !strings.HasPrefix(a, "-") {
							return strings.Trim(a, "'\"")
						}
					}
				}
			}
		}
	}
	return ""
}

// grub2Entry is the default entry of a grub.cfg.
type grub2Entry struct {
	Title      string
	Line       int
	Root       string // set root=...
	SearchUUID string
	Kernel     string
	Args       string
	Initrds    []string
}

// maxGRUB2Lines bounds parsing of a hostile grub.cfg.
const maxGRUB2Lines = 20000

// parseGRUB2Config reads the entry GRUB 2 boots by default: the one "set
// default=" names (a number or a title), else the first menuentry; commands
// outside any menuentry (a config that boots directly with linux + boot)
// count as an entry of their own when there is no menuentry. It does not
// run the script language; variables other than default are not expanded.
func parseGRUB2Config(text string) *grub2Entry {
	var entries []grub2Entry
	var top grub2Entry
	top.Line = 1
	def := ""
	depth := 0 // braces of the current menuentry
	var cur *grub2Entry
	for n, raw := range strings.Split(text, "\n") {
		if n >= maxGRUB2Lines {
			break
		}
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := grub2Words(line)
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == "menuentry" && cur == nil:
			title := ""
			if len(f) > 1 {
				title = f[1]
			}
			entries = append(entries, grub2Entry{Title: title, Line: n + 1})
			cur = &entries[len(entries)-1]
			depth = strings.Count(line, "{") - strings.Count(line, "}")
			if depth <= 0 && strings.Contains(line, "}") {
				cur = nil
			}
			continue
		case f[0] == "submenu":
			continue
		}
		e := cur
		if e == nil {
			e = &top
			if strings.HasPrefix(f[0], "set") && len(f) > 1 && strings.HasPrefix(f[1], "default=") {
				def = strings.Trim(strings.TrimPrefix(f[1], "default="), "'\"")
			}
			if strings.HasPrefix(line, "default=") {
				def = strings.Trim(strings.TrimPrefix(line, "default="), "'\"")
			}
		}
		switch f[0] {
		case "linux", "linux16", "linuxefi":
			if len(f) > 1 {
				e.Kernel, e.Args = f[1], strings.Join(f[2:], " ")
				if cur == nil {
					top.Line = n + 1
				}
			}
		case "initrd", "initrd16", "initrdefi":
			e.Initrds = append(e.Initrds, f[1:]...)
		case "search", "search.fs_uuid":
			if u := grub2SearchUUID(line); u != "" {
				e.SearchUUID = u
			}
		case "set":
			if len(f) > 1 && strings.HasPrefix(f[1], "root=") {
				e.Root = strings.Trim(strings.TrimPrefix(f[1], "root="), "'\"")
			}
		}
		if cur != nil {
			depth += strings.Count(line, "{") - strings.Count(line, "}")
			if depth <= 0 {
				cur = nil
			}
		}
	}
	if len(entries) == 0 {
		if top.Kernel == "" {
			return nil
		}
		return &top
	}
	idx := 0
	if v, err := strconv.Atoi(def); err == nil && v >= 0 && v < len(entries) {
		idx = v
	} else if def != "" {
		for i, e := range entries {
			if e.Title == def {
				idx = i
			}
		}
	}
	e := entries[idx]
	if e.Root == "" {
		e.Root = top.Root
	}
	if e.SearchUUID == "" {
		e.SearchUUID = top.SearchUUID
	}
	return &e
}

// grub2Words splits a grub.cfg line into words, honouring single and double
// quotes (GRUB's script lexer), dropping a trailing "{".
func grub2Words(line string) []string {
	var out []string
	var b strings.Builder
	in := byte(0)
	has := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case in != 0 && c == in:
			in = 0
		case in != 0:
			b.WriteByte(c)
		case c == '\'' || c == '"':
			in, has = c, true
		case c == ' ' || c == '\t':
			if b.Len() > 0 || has {
				out = append(out, b.String())
				b.Reset()
				has = false
			}
		case c == '{' && b.Len() == 0 && !has:
		default:
			b.WriteByte(c)
		}
	}
	if b.Len() > 0 || has {
		out = append(out, b.String())
	}
	return out
}
