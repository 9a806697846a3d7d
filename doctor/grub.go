package doctor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/minidisk/minidisk/grub"
	"github.com/minidisk/minidisk/rootfs/ext2"
)

// GRUB Legacy facts (GRUB 0.97 stage1/stage1.h, stage2/shared.h; the
// field offsets are checked against the GRUB shell's own install in
// grub/oracle_test.go).
const (
	stage15LoadAddress = grub.Stage15LoadAddress
	stage2LoadAddress  = grub.Stage2LoadAddress
	defaultConfig      = grub.DefaultConfigPath
	defaultStage2      = grub.DefaultStage2Path
	maxConfigBytes     = 1 << 20
	maxStageSectors    = 1024 // stage2 is 234 sectors; any blocklist longer is bogus
)

// checkGRUB follows the boot chain the BIOS takes: stage1 in the MBR, the
// stage it loads (stage1.5 in the gap, or stage2 by blocklist), stage2 in
// the filesystem, the menu, and the files the menu names.
func (d *diag) checkGRUB() {
	if d.rep.Boot.Loader != LoaderGRUBLegacy {
		return
	}
	info := &GRUBInfo{}
	d.rep.GRUB = info
	configPath, stage2Path := defaultConfig, defaultStage2
	s1, s1err := grub.ParseStage1(d.mbr)
	switch {
	case s1 == nil: // identify saw stage1 here; cannot happen
		return
	case s1err != nil:
		d.add(Finding{ID: IDGRUBStage1Version, Area: AreaGRUB, Severity: Error,
			Title: "the MBR's GRUB stage1 is not GRUB 0.97's", Evidence: s1err.Error(),
			Fix: "reinstall: printf 'root (hd0,0)\\nsetup (hd0)\\n' | grub --batch --device-map=MAP"})
	default:
		info.Stage1 = true
		info.Stage2Sector, info.Stage2Address = s1.Stage2Sector, s1.Stage2Address
		if c, s2 := d.checkNextStage(s1, info); c != "" {
			configPath, stage2Path = c, s2
		}
	}
	if d.fs == nil {
		if d.rootSB != nil {
			d.checkGRUBFilesystem(d.rootSB)
		}
		return
	}
	d.checkGRUBPartitionType()
	d.checkGRUBFilesystem(d.fs.sb)
	d.checkStage2File(stage2Path)
	d.checkMenu(configPath)
}

// checkNextStage reads the stage stage1 loads and checks it; it returns the
// config and stage2 paths the stage names ("" when unknown).
func (d *diag) checkNextStage(s1 *grub.Stage1Info, info *GRUBInfo) (config, stage2 string) {
	sec := uint64(s1.Stage2Sector)
	if sec+2 > d.rep.DiskSectors {
		d.add(Finding{ID: IDGRUBStage2SectorOutside, Area: AreaGRUB, Severity: Error,
			Title:    "stage1 loads a sector past the end of the image",
			Evidence: fmt.Sprintf("stage2_sector = %d, the image has %d sectors: GRUB prints \"Read Error\" or hangs after \"GRUB \"", sec, d.rep.DiskSectors),
			Fix:      "reinstall GRUB with setup (hd0)"})
		return "", ""
	}
	b := make([]byte, 2*sectorSize)
	if err := readFull(d.r, b, int64(sec)*sectorSize); err != nil {
		d.add(Finding{ID: IDGRUBStage2SectorOutside, Area: AreaGRUB, Severity: Error, Title: "the stage stage1 loads cannot be read", Evidence: err.Error()})
		return "", ""
	}
	st, err := grub.ParseStage15(b)
	if err != nil {
		where := "the gap before the first partition"
		if p := d.partitionAt(sec); p != nil {
			where = fmt.Sprintf("partition %d", p.Index)
		}
		d.add(Finding{ID: IDGRUBStage2SectorWrong, Area: AreaGRUB, Severity: Error,
			Title: "stage1 points at a sector that holds no GRUB stage",
			Evidence: fmt.Sprintf("stage2_sector = %d (in %s) holds no GRUB 0.97 stage header (%v): the sectors were overwritten after setup (re-partitioning, a filesystem written over the gap, or stage2 moved)",
				sec, where, err),
			Fix: "run setup (hd0) again after the last write to the image"})
		return "", ""
	}
	info.Stage15Kind = st.Kind
	wantAddr := uint16(stage15LoadAddress)
	if st.ID == 0 {
		wantAddr = stage2LoadAddress
	}
	if s1.Stage2Address != wantAddr {
		d.add(Finding{ID: IDGRUBStageAddressMismatch, Area: AreaGRUB, Severity: Error,
			Title:    "stage1's load address does not match the stage it loads",
			Evidence: fmt.Sprintf("stage1 loads sector %d at 0x%04X, but that sector holds a %s, which runs at 0x%04X", sec, s1.Stage2Address, st.Kind, wantAddr),
			Fix:      "reinstall GRUB with setup (hd0)"})
	}
	// The blocklist: the rest of the stage, sector runs loaded by the
	// stage's first sector.
	first := d.firstPartitionStart()
	total := uint64(1)
	embedded := sec < first
	var bad []string
	for _, r := range st.Blocklist {
		s, e := uint64(r.Start), uint64(r.Start)+uint64(r.Count)-1
		total += uint64(r.Count)
		if e >= d.rep.DiskSectors {
			bad = append(bad, fmt.Sprintf("sectors %d..%d lie past the image end (%d sectors)", s, e, d.rep.DiskSectors))
			continue
		}
		if embedded {
			if p := d.partitionOverlapping(s, e); p != nil {
				bad = append(bad, fmt.Sprintf("sectors %d..%d overlap partition %d (sectors %d..%d)", s, e, p.Index, p.Start, p.End()))
			} else if s == 0 {
				bad = append(bad, "the blocklist includes sector 0 (the MBR)")
			}
		}
	}
	if embedded {
		info.Stage15Sectors = []uint64{sec, sec + total - 1}
		if sec+total-1 >= first {
			bad = append(bad, fmt.Sprintf("the stage occupies sectors %d..%d but the first partition starts at sector %d: the gap holds only %d sectors", sec, sec+total-1, first, first-1))
		}
	}
	if total > maxStageSectors {
		bad = append(bad, fmt.Sprintf("the blocklist adds up to %d sectors, more than any GRUB stage", total))
	}
	if len(bad) > 0 {
		d.add(Finding{ID: IDGRUBBlocklistOutsideGap, Area: AreaGRUB, Severity: Error,
			Title:    fmt.Sprintf("the %s's blocklist points outside the gap", st.Kind),
			Evidence: strings.Join(bad, "; "),
			Fix:      "leave at least 20 free sectors before the first partition (start at 63 or 2048) and run setup (hd0) again"})
	} else if embedded {
		d.add(Finding{ID: IDGRUBStage15OK, Area: AreaGRUB, Severity: OK,
			Title:    fmt.Sprintf("stage1 loads an embedded %s", st.Kind),
			Evidence: fmt.Sprintf("stage1: stage2_sector %d at 0x%04X; %s (%s) in sectors %d..%d, before the first partition at %d", sec, s1.Stage2Address, st.Kind, st.VersionString, sec, sec+total-1, first)})
	}
	if st.ID == 0 && len(bad) == 0 && !embedded {
		d.add(Finding{ID: IDGRUBStage2BlocklistOK, Area: AreaGRUB, Severity: OK,
			Title:    "stage1 loads stage2 directly (no stage1.5)",
			Evidence: fmt.Sprintf("stage1: stage2_sector %d at 0x%04X, %d sectors by blocklist inside the partition", sec, s1.Stage2Address, total)})
	}
	if st.ID == 0 {
		// stage1 loads stage2 directly (install without a stage1.5): the
		// blocklist must still be where the file's blocks are.
		d.checkStage2Blocklist(sec, st)
		return st.ConfigPath, ""
	}
	// A stage1.5 reads stage2 from a filesystem: its kind must match the
	// partition it is told to use.
	part := int((st.Stage2Device >> 16) & 0xFF)
	info.ConfigPath = st.ConfigPath
	if d.fs != nil && d.fs.part.Index != 0 {
		if part != 0xFF && part != d.fs.part.Index-1 {
			d.add(Finding{ID: IDGRUBInstallPartition, Area: AreaGRUB, Severity: Error,
				Title: "the stage1.5 looks for stage2 on another partition",
				Evidence: fmt.Sprintf("the %s reads %s on GRUB partition %d = partition %d, but the root filesystem is partition %d: GRUB stops with \"Error 17\" or \"Error 15\"",
					st.Kind, st.Stage2Path, part, part+1, d.fs.part.Index),
				Fix: fmt.Sprintf("run root (hd0,%d) then setup (hd0) in the GRUB shell", d.fs.part.Index-1)})
		}
	}
	if p := d.partitionByGRUBNumber(part); p != nil {
		c := d.sniff(int64(p.Start) * sectorSize)
		wantKind := map[content]string{contentExt2: "e2fs_stage1_5", contentFAT: "fat_stage1_5"}[c]
		if wantKind != "" && wantKind != st.Kind {
			d.add(Finding{ID: IDGRUBStage15FSMismatch, Area: AreaGRUB, Severity: Error,
				Title:    "the stage1.5 cannot read the partition's filesystem",
				Evidence: fmt.Sprintf("embedded stage is %s, partition %d holds %s (needs %s): GRUB stops with \"Error 17: Cannot mount selected partition\"", st.Kind, p.Index, c, wantKind),
				Fix:      "run setup (hd0) again so GRUB embeds the stage1.5 for this filesystem"})
		}
	}
	return st.ConfigPath, st.Stage2Path
}

// checkStage2Blocklist compares a directly loaded stage2's blocklist with
// the blocks of /boot/grub/stage2 in the filesystem: writing the file again
// (cp, a new GRUB package) moves it, and the MBR still points at the old
// sectors.
func (d *diag) checkStage2Blocklist(sec uint64, st *grub.Stage15Info) {
	if d.fs == nil {
		return
	}
	blocks, err := d.fs.fs.FileBlocks(defaultStage2)
	if err != nil || len(blocks) == 0 {
		return
	}
	spb := uint64(d.fs.fs.BlockSize() / sectorSize)
	base := uint64(d.fs.base / sectorSize)
	want := base + uint64(blocks[0])*spb
	if want != sec {
		d.add(Finding{ID: IDGRUBStage2Moved, Area: AreaGRUB, Severity: Error,
			Title:    "stage1 points at old sectors of stage2",
			Evidence: fmt.Sprintf("stage1 loads sector %d, but %s now starts at sector %d (block %d): the file was rewritten after setup", sec, defaultStage2, want, blocks[0]),
			Fix:      "run setup (hd0) again after copying stage2"})
	}
}

func (d *diag) firstPartitionStart() uint64 {
	first := d.rep.DiskSectors
	for _, p := range d.rep.Partitions {
		first = min(first, p.Start)
	}
	return first
}

func (d *diag) partitionAt(sec uint64) *PartitionInfo {
	return d.partitionOverlapping(sec, sec)
}

func (d *diag) partitionOverlapping(s, e uint64) *PartitionInfo {
	for i, p := range d.rep.Partitions {
		if s <= p.End() && p.Start <= e {
			return &d.rep.Partitions[i]
		}
	}
	return nil
}

// partitionByGRUBNumber maps GRUB's 0-based primary partition number.
func (d *diag) partitionByGRUBNumber(n int) *PartitionInfo {
	for i, p := range d.rep.Partitions {
		if p.Index == n+1 {
			return &d.rep.Partitions[i]
		}
	}
	return nil
}

// checkGRUBPartitionType: GRUB 0.97's ext2fs_mount (stage2/fsys_ext2fs.c)
// refuses a hard-disk partition whose type is not 0x83 (or 0xFD, Linux
// RAID) before it reads the superblock; the GRUB shell says "Filesystem
// type unknown, partition type 0xc" and "Error 17: Cannot mount selected
// partition".
func (d *diag) checkGRUBPartitionType() {
	p := d.fs.part
	if p.Index == 0 || p.Type == typeLinux || p.Type == 0xfd {
		return
	}
	d.add(Finding{ID: IDGRUBPartitionType, Area: AreaGRUB, Severity: Error,
		Title:    fmt.Sprintf("GRUB Legacy will not mount partition %d: its type is 0x%02X, not 83", p.Index, p.Type),
		Evidence: fmt.Sprintf("partition %d holds ext2 but has type 0x%02X; GRUB 0.97 reads ext2 only from type 0x83 (or 0xFD) partitions: \"Filesystem type unknown, partition type 0x%x\", \"Error 17: Cannot mount selected partition\"", p.Index, p.Type, p.Type),
		Fix:      fmt.Sprintf("sfdisk --part-type IMG %d 83", p.Index)})
}

// checkGRUBFilesystem flags filesystem features stock GRUB 0.97's ext2
// reader (stage2/fsys_ext2fs.c) does not understand.
func (d *diag) checkGRUBFilesystem(sb *ext2.Superblock) {
	build, buildEv := d.grubBuild()
	if build != grubBuildUnknown {
		d.add(Finding{ID: IDGRUBBuild, Area: AreaGRUB, Severity: Info,
			Title:    map[string]string{grubBuildPatched: "GRUB Legacy build: distribution-patched 0.97 (Debian 0.97-80 style)", grubBuildUpstream: "GRUB Legacy build: upstream 0.97"}[build],
			Evidence: buildEv})
	}
	if sz := sb.InodeSizeOrDefault(); sz != 128 {
		if build == grubBuildPatched {
			d.add(Finding{ID: IDGRUBInodeSize, Area: AreaGRUB, Severity: Info,
				Title:    fmt.Sprintf("%d-byte inodes: this GRUB Legacy build reads them", sz),
				Evidence: fmt.Sprintf("s_inode_size = %d; upstream GRUB 0.97 reads only 128-byte inodes, but the installed stage2 is a distribution-patched build (%s), which reads larger ones", sz, buildEv)})
		} else {
			d.add(Finding{ID: IDGRUBInodeSize, Area: AreaGRUB, Severity: Error,
				Title:    fmt.Sprintf("%d-byte inodes: stock GRUB Legacy cannot read this filesystem", sz),
				Evidence: fmt.Sprintf("s_inode_size = %d; GRUB 0.97's ext2 reader assumes 128-byte inodes and reads the wrong inode (\"Error 2: Bad file or directory type\" or \"Error 15: File not found\"); only distribution-patched GRUBs cope (%s)", sz, buildEv),
				Fix:      "recreate the filesystem with mke2fs -I 128 (minidisk does)"})
		}
	}
	// grub owns what GRUB 0.97 can read (grub.CheckFilesystem); the inode
	// size is judged above by the installed build.
	if bad := grub.UnreadableFeatures(sb.FeatureIncompat); len(bad) > 0 && sb.RevLevel >= 1 {
		d.add(Finding{ID: IDGRUBFSFeatures, Area: AreaGRUB, Severity: Error,
			Title:    "the filesystem uses ext4 features GRUB Legacy cannot read",
			Evidence: fmt.Sprintf("incompatible features %s (s_feature_incompat %#x): GRUB 0.97 reads classic ext2/ext3 only", strings.Join(bad, ", "), sb.FeatureIncompat),
			Fix:      "recreate it as ext2: mke2fs -t ext2 -I 128 (no -t ext4)"})
	}
}

// checkStage2File checks that the stage2 the stage1.5 loads is there and is
// a stage2.
func (d *diag) checkStage2File(p string) {
	if p == "" {
		return
	}
	b, err := d.readHead(p, 2*sectorSize)
	if err != nil {
		d.add(Finding{ID: IDGRUBStage2Missing, Area: AreaGRUB, Severity: Error,
			Title:    fmt.Sprintf("%s cannot be read", p),
			Evidence: fmt.Sprintf("the stage1.5 loads %s from %s: %v", p, partName(d.fs.part), errText(err)),
			Fix:      fmt.Sprintf("copy GRUB's stage2 to %s (Debian's grub-legacy has it in /usr/lib/grub/x86_64-pc; `minidisk rootfs add` copies it) and run setup (hd0) again: `minidisk grub install IMG`", p)})
		return
	}
	st, err := grub.ParseStage15(b)
	if err != nil || st.ID != 0 {
		kind := "not a GRUB stage"
		if err == nil {
			kind = "a " + st.Kind
		}
		d.add(Finding{ID: IDGRUBStage2Invalid, Area: AreaGRUB, Severity: Error,
			Title:    fmt.Sprintf("%s is not GRUB 0.97's stage2", p),
			Evidence: fmt.Sprintf("%s is %s", p, kind),
			Fix:      fmt.Sprintf("copy stage2 from the grub-legacy package to %s", p)})
	}
}

// readHead reads the first n bytes (or fewer, for a short file) of a file in
// the root filesystem, following symlinks.
func (d *diag) readHead(p string, n int) ([]byte, error) {
	f, err := d.fs.fs.Open(strings.TrimPrefix(path.Clean("/"+p), "/"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, n)
	m, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b[:m], nil
}

func fsName(p string) string { return strings.TrimPrefix(path.Clean("/"+p), "/") }

// errText shortens errors for evidence; past-the-partition reads get the
// GRUB message the user sees.
func errText(err error) string {
	switch {
	case errors.Is(err, ext2.ErrPastPartitionEnd):
		return err.Error() + " (GRUB: \"Error 24: Attempt to access block outside partition\")"
	case errors.Is(err, fs.ErrNotExist):
		return "no such file (GRUB: \"Error 15: File not found\")"
	}
	return err.Error()
}

// describeLink says where a path's symlinks lead, for evidence.
func (d *diag) describeLink(p string) string {
	name := fsName(p)
	fi, err := d.fs.fs.Lstat(name)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return ""
	}
	t, err := d.fs.fs.ReadLink(name)
	if err != nil {
		return ""
	}
	return fmt.Sprintf(" (%s is a symlink to %s)", p, t)
}

// checkMenu reads the config file and the default entry's files.
func (d *diag) checkMenu(configPath string) {
	if configPath == "" {
		configPath = defaultConfig
	}
	d.rep.GRUB.ConfigPath = configPath
	dev, p, hasDev := parseDevice(configPath)
	if hasDev && dev.Partition >= 0 && d.fs.part.Index != 0 && dev.Partition != d.fs.part.Index-1 {
		d.add(Finding{ID: IDGRUBConfigOtherPartition, Area: AreaGRUB, Severity: Warning,
			Title:    "GRUB's config file is on another partition",
			Evidence: fmt.Sprintf("stage2 reads %s; the root filesystem is partition %d; doctor did not check that partition", configPath, d.fs.part.Index)})
		return
	}
	f, err := d.fs.fs.Open(fsName(p))
	var text []byte
	if err == nil {
		text, err = io.ReadAll(io.LimitReader(f, maxConfigBytes))
		f.Close()
	}
	if err != nil {
		d.add(Finding{ID: IDGRUBConfigMissing, Area: AreaGRUB, Severity: Error,
			Title:    fmt.Sprintf("GRUB's menu %s cannot be read", p),
			Evidence: fmt.Sprintf("%s%s: %s; GRUB drops to the grub> prompt instead of booting", p, d.describeLink(p), errText(err)),
			Fix:      fmt.Sprintf("write the menu: %s (or grub.conf with ln -s grub.conf %s)", p, p)})
		return
	}
	m := parseMenu(string(text))
	d.menu = m
	if len(m.Entries) == 0 {
		d.add(Finding{ID: IDGRUBMenuEmpty, Area: AreaGRUB, Severity: Error,
			Title:    fmt.Sprintf("%s has no boot entry", p),
			Evidence: fmt.Sprintf("%d bytes%s, no \"title\" line: GRUB shows the grub> prompt", len(text), d.describeLink(p)),
			Fix:      "add: title Linux / root (hd0,0) / kernel /boot/vmlinuz root=/dev/sda1 rw"})
		return
	}
	idx := m.Default
	if idx < 0 || idx >= len(m.Entries) {
		d.add(Finding{ID: IDGRUBDefaultOutOfRange, Area: AreaGRUB, Severity: Warning,
			Title:    fmt.Sprintf("default %d names no entry", m.Default),
			Evidence: fmt.Sprintf("%s line %d: default %d, but there are %d entries (0..%d); GRUB falls back to entry 0", p, m.DefaultLine, m.Default, len(m.Entries), len(m.Entries)-1),
			Fix:      "set default 0"})
		idx = 0
	}
	e := m.Entries[idx]
	d.rep.GRUB.Kernel, d.rep.GRUB.KernelArgs, d.rep.GRUB.Initrd = e.Kernel, e.Args, e.Initrd
	d.initrd = e.Initrd != ""
	d.cmdline = parseCmdline(e.Args)
	where := fmt.Sprintf("%s line %d (entry %d, %q)", p, e.Line, idx, e.Title)
	// root (hdX,Y) must name the partition that holds the files.
	rootDev := grubDevice{Disk: "hd0", Partition: d.fs.part.Index - 1}
	if e.Root != "" {
		rd, _, ok := parseDevice(e.Root)
		if !ok {
			d.add(Finding{ID: IDGRUBRootMismatch, Area: AreaGRUB, Severity: Error,
				Title:    "the entry's root device cannot be parsed",
				Evidence: fmt.Sprintf("%s: root %s", where, e.Root),
				Fix:      fmt.Sprintf("root %s", grubDevice{Disk: "hd0", Partition: d.fs.part.Index - 1})})
		} else {
			rootDev = rd
			d.checkRootDevice(where, rd)
		}
	}
	if e.Kernel == "" {
		d.add(Finding{ID: IDGRUBKernelMissing, Area: AreaGRUB, Severity: Error,
			Title:    "the boot entry has no kernel line",
			Evidence: where + ": no \"kernel\" command (GRUB: \"Error 8: Kernel must be loaded before booting\")",
			Fix:      "add: kernel /boot/vmlinuz root=/dev/sda1 rw"})
	} else {
		d.checkMenuFile(where, "kernel", e.Kernel, rootDev)
	}
	if e.Initrd != "" {
		d.checkMenuFile(where, "initrd", e.Initrd, rootDev)
	}
	d.checkRootArg(where, e)
	if !d.hasArea(AreaGRUB, Error, Warning) {
		d.add(Finding{ID: IDGRUBOK, Area: AreaGRUB, Severity: OK,
			Title:    "GRUB Legacy chain is complete",
			Evidence: fmt.Sprintf("%s%s: %s %s %s", p, d.describeLink(p), e.Root, e.Kernel, e.Args)})
	}
}

// checkRootDevice compares a GRUB device with the root partition.
func (d *diag) checkRootDevice(where string, rd grubDevice) {
	want := grubDevice{Disk: "hd0", Partition: d.fs.part.Index - 1}
	switch {
	case rd.Disk != "hd0":
		d.add(Finding{ID: IDGRUBRootMismatch, Area: AreaGRUB, Severity: Error,
			Title:    fmt.Sprintf("root %s is not this disk", rd),
			Evidence: fmt.Sprintf("%s: root %s; booting from this disk makes it hd0", where, rd),
			Fix:      fmt.Sprintf("root %s", want)})
	case rd.Partition != want.Partition:
		other := "which does not exist"
		if p := d.partitionByGRUBNumber(rd.Partition); p != nil {
			other = fmt.Sprintf("partition %d, type 0x%02X", p.Index, p.Type)
		}
		d.add(Finding{ID: IDGRUBRootMismatch, Area: AreaGRUB, Severity: Error,
			Title:    fmt.Sprintf("root %s is not the partition with the files", rd),
			Evidence: fmt.Sprintf("%s: root %s is %s, but the root filesystem is partition %d = %s (GRUB numbers partitions from 0): GRUB stops with \"Error 22: No such partition\" or \"Error 17\"", where, rd, other, d.fs.part.Index, want),
			Fix:      fmt.Sprintf("root %s", want)})
	}
}

// checkMenuFile checks that a file the menu names exists and can be read
// within the partition.
func (d *diag) checkMenuFile(where, what, file string, root grubDevice) {
	dev, p, hasDev := parseDevice(file)
	if hasDev {
		d.checkRootDevice(where+" ("+what+" path)", dev)
		if dev.Partition != d.fs.part.Index-1 {
			return
		}
	} else if root.Partition != d.fs.part.Index-1 {
		return // already reported: root points elsewhere
	}
	if strings.Contains(p, "+") && !strings.Contains(p, "/") {
		return // a blocklist ("300+1"), not a file
	}
	id := IDGRUBKernelMissing
	if what == "initrd" {
		id = IDGRUBInitrdMissing
	}
	fi, err := d.fs.fs.Stat(fsName(p))
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s is a %v, not a regular file", p, fi.Mode().Type())
	}
	if err == nil {
		// Read the last byte: a file whose blocks lie past the partition
		// end fails here as GRUB's read does.
		var f fs.File
		if f, err = d.fs.fs.Open(fsName(p)); err == nil {
			if ra, ok := f.(io.ReaderAt); ok && fi.Size() > 0 {
				_, err = ra.ReadAt(make([]byte, 1), fi.Size()-1)
				if errors.Is(err, io.EOF) {
					err = nil
				}
			}
			f.Close()
		}
	}
	if err != nil {
		d.add(Finding{ID: id, Area: AreaGRUB, Severity: Error,
			Title:    fmt.Sprintf("the %s %s cannot be loaded", what, p),
			Evidence: fmt.Sprintf("%s: %s %s%s: %s", where, what, file, d.describeLink(p), errText(err)),
			Fix:      fmt.Sprintf("copy the %s to %s in %s, or fix the path in the menu", what, p, partName(d.fs.part))})
	}
}

// checkRootArg checks the kernel's root= against the partition.
func (d *diag) checkRootArg(where string, e menuEntry) {
	root, ok := d.cmdline["root"]
	want := d.fs.part.Index
	if !ok {
		if e.Initrd != "" {
			return // the initrd decides where the root is
		}
		d.add(Finding{ID: IDKernelRootMissing, Area: AreaGRUB, Severity: Error,
			Title:    "the kernel line has no root=",
			Evidence: fmt.Sprintf("%s: %q: without an initrd the kernel panics \"VFS: Unable to mount root fs on unknown-block(0,0)\"", where, e.Args),
			Fix:      fmt.Sprintf("add root=/dev/sda%d rw to the kernel line", want)})
		return
	}
	disk, num := splitDevName(root)
	switch {
	case strings.HasPrefix(root, "/dev/hd") && num != 0:
		sev, ev := Warning, ""
		ev = fmt.Sprintf("%s: root=%s is the old IDE driver's name (CONFIG_IDE, removed in Linux 5.14); kernels with libata (ATA_PIIX) call the first disk sda: \"VFS: Cannot open root device \\\"%s\\\"\"",
			where, root, strings.TrimPrefix(root, "/dev/"))
		if num != want {
			sev = Error
			ev += fmt.Sprintf("; it also names partition %d, the root filesystem is partition %d", num, want)
		}
		d.add(Finding{ID: IDKernelRootHD, Area: AreaGRUB, Severity: sev,
			Title:    fmt.Sprintf("root=%s uses the old IDE name", root),
			Evidence: ev,
			Fix:      fmt.Sprintf("root=/dev/sda%d for a libata kernel (keep hda only for a pre-5.14 kernel with CONFIG_IDE)", want)})
	case (disk == "/dev/sda" || disk == "/dev/vda" || disk == "/dev/xvda") && num != 0 && num != want:
		d.add(Finding{ID: IDKernelRootPartition, Area: AreaGRUB, Severity: Error,
			Title:    fmt.Sprintf("root=%s names partition %d, the root filesystem is partition %d", root, num, want),
			Evidence: fmt.Sprintf("%s: root=%s; the filesystem is in partition %d: \"VFS: Cannot open root device\" or the wrong filesystem", where, root, want),
			Fix:      fmt.Sprintf("root=%s%d", disk, want)})
	case disk == "/dev/vda" || disk == "/dev/xvda":
		d.add(Finding{ID: IDKernelRootVirtio, Area: AreaGRUB, Severity: Warning,
			Title:    fmt.Sprintf("root=%s is a virtio disk name", root),
			Evidence: fmt.Sprintf("%s: %s needs CONFIG_VIRTIO_BLK and QEMU's if=virtio; an IDE disk (the BIOS's hd0) is sda", where, root),
			Fix:      fmt.Sprintf("root=/dev/sda%d for -drive ...,if=ide", want)})
	case strings.HasPrefix(root, "UUID="):
		u := d.fs.sb.UUID
		got := fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
		if !strings.EqualFold(strings.TrimPrefix(root, "UUID="), got) {
			d.add(Finding{ID: IDKernelRootUUID, Area: AreaGRUB, Severity: Error,
				Title:    "root=UUID= does not match the filesystem",
				Evidence: fmt.Sprintf("%s: %s, the filesystem's UUID is %s; also, UUID= needs an initramfs (the kernel alone understands PARTUUID= only)", where, root, got),
				Fix:      fmt.Sprintf("root=/dev/sda%d", want)})
		} else if e.Initrd == "" {
			d.add(Finding{ID: IDKernelRootUUID, Area: AreaGRUB, Severity: Error,
				Title:    "root=UUID= needs an initramfs",
				Evidence: fmt.Sprintf("%s: %s with no initrd: the kernel itself resolves only /dev names and PARTUUID=", where, root),
				Fix:      fmt.Sprintf("root=/dev/sda%d", want)})
		}
	}
}

// splitDevName splits "/dev/sda1" into "/dev/sda" and 1 (0: no number).
func splitDevName(s string) (string, int) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	if i == len(s) || len(s)-i > 3 {
		return s, 0
	}
	n := 0
	for _, c := range s[i:] {
		n = n*10 + int(c-'0')
	}
	return s[:i], n
}

// GRUB Legacy builds doctor tells apart.
const (
	grubBuildUnknown  = ""
	grubBuildUpstream = "upstream"
	grubBuildPatched  = "patched"
)

// grubBuild identifies the installed GRUB Legacy build from its stage2:
// Debian's 0.97-80 (and Fedora's) carry the graphics/splashimage patch and
// the patch that reads s_inode_size, so 256-byte inodes (ext3's default)
// work; upstream 0.97 has neither. The splashimage strings are the marker
// (Debian's /usr/lib/grub/x86_64-pc/stage2 has "Failed to set splash image
// and/or graphics mode").
func (d *diag) grubBuild() (string, string) {
	if d.fs == nil {
		return grubBuildUnknown, "stage2 not read"
	}
	found, err := fileContains(d.fs.fs, fsName(defaultStage2), []byte("splashimage"))
	if err != nil {
		return grubBuildUnknown, "stage2 not read"
	}
	if found {
		return grubBuildPatched, fmt.Sprintf("%s has the splashimage command of Debian's 0.97-80 patch set", defaultStage2)
	}
	return grubBuildUpstream, fmt.Sprintf("%s has no distribution patch markers", defaultStage2)
}

// fileContains reports whether the file holds token, reading it in pieces
// (a stage2 is 100+ KB; nothing needs it whole).
func fileContains(fsys fs.FS, name string, token []byte) (bool, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return false, err
	}
	defer f.Close()
	buf := make([]byte, 16<<10)
	keep := 0 // bytes of the previous piece kept, for a token across pieces
	for {
		n, err := f.Read(buf[keep:])
		if n > 0 {
			if bytes.Contains(buf[:keep+n], token) {
				return true, nil
			}
			end := keep + n
			keep = min(len(token)-1, end)
			copy(buf, buf[end-keep:end])
		}
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
}
