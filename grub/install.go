package grub

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/minidisk/minidisk/disk"
)

// ReadWriterAt is a disk image: Install reads it fully before writing.
type ReadWriterAt interface {
	io.ReaderAt
	io.WriterAt
}

// BlockMapper gives the physical data-block numbers (filesystem blocks,
// in file order) of a file inside the ext2 filesystem. It is needed only
// when stage2 must be patched in place: the stage1 → stage2 blocklist path,
// or a config path different from the one built into stage2.
type BlockMapper interface {
	FileBlocks(name string) ([]uint32, error)
}

// Defaults used by GRUB's setup when /boot/grub/stage1 exists.
const (
	DefaultStage2Path = "/boot/grub/stage2"
	DefaultConfigPath = "/boot/grub/menu.lst"
)

// InstallOptions says where GRUB goes; the zero value is `setup (hd0)`
// after `root (hd0,0)`.
type InstallOptions struct {
	PartitionIndex int    // 0 → (hd0,0)
	Stage2Path     string // "" → /boot/grub/stage2
	ConfigPath     string // "" → /boot/grub/menu.lst
	// FS, when set, is the partition's filesystem: Install checks that the
	// stage files are there and are the same build it is writing.
	FS fs.FS
	// Blocks, when set, locates stage2's sectors (see BlockMapper).
	Blocks BlockMapper
	// ForceBlocklist skips embedding: stage1 loads stage2 through a
	// blocklist, as setup does when no stage1.5 fits. Needs Blocks.
	ForceBlocklist bool
	// Name is the image's name in error messages.
	Name string
}

// Install modes.
const (
	ModeEmbedded  = "stage1.5 embedded after the MBR"
	ModeBlocklist = "stage1 loads stage2 through a blocklist"
)

// SectorWrite is one contiguous write Install made.
type SectorWrite struct {
	LBA   uint64 `json:"lba"`
	Count int    `json:"count"`
	What  string `json:"what"`
}

// Patch is one field Install set, for the "what it did and why" report.
type Patch struct {
	Where  string `json:"where"`  // "MBR", "stage1.5 sector 1", "stage2 sector 1", ...
	Offset int    `json:"offset"` // byte offset within that sector
	Field  string `json:"field"`
	Value  string `json:"value"`
	Why    string `json:"why"`
}

// InstallReport says what Install wrote.
type InstallReport struct {
	Mode           string        `json:"mode"`
	Why            string        `json:"why"`
	Partition      string        `json:"partition"` // "(hd0,0)"
	PartitionStart uint32        `json:"partition_start"`
	Stage15LBA     uint32        `json:"stage1_5_lba,omitempty"` // first embedded sector (embedded mode)
	Stage15Sectors int           `json:"stage1_5_sectors"`
	Stage2Sector   uint64        `json:"next_stage_lba"` // what stage1 loads first
	Writes         []SectorWrite `json:"writes"`
	Patches        []Patch       `json:"patches"`
	Warnings       []string      `json:"warnings,omitempty"`
}

// String renders the report for the CLI.
func (r *InstallReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "GRUB Legacy installed for %s (partition starts at sector %d): %s\n", r.Partition, r.PartitionStart, r.Mode)
	if r.Why != "" {
		fmt.Fprintf(&b, "  why: %s\n", r.Why)
	}
	for _, w := range r.Writes {
		fmt.Fprintf(&b, "  wrote sectors %d..%d: %s\n", w.LBA, w.LBA+uint64(w.Count)-1, w.What)
	}
	for _, p := range r.Patches {
		fmt.Fprintf(&b, "  %s +0x%03X %s = %s (%s)\n", p.Where, p.Offset, p.Field, p.Value, p.Why)
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "  warning: %s\n", w)
	}
	return b.String()
}

// installJob is one Install resolved from its InstallOptions: what the
// planners (planEmbedded, planBlocklist, planStage2ConfigPatch,
// stage2Sectors) read. They only read img; Install does every write.
type installJob struct {
	img        io.ReaderAt
	name       string // the image's name, in errors
	st         *Stages
	part       disk.Partition // the partition GRUB is set up for: root (hd0,part.Index-1)
	stage2Path string         // absolute inside the partition
	configPath string         // absolute inside the partition
	blocks     BlockMapper    // block numbers of files in the filesystem; nil when unknown
	mbr        []byte         // sector 0 as read before the install
	rep        *InstallReport // filled in as the plan is made
}

type pendingWrite struct {
	lba  uint64
	data []byte
	what string
}

// Install writes GRUB Legacy to img as `root (hd0,N)` / `setup (hd0)` does:
// stage1 into the MBR (keeping its BPB bytes, disk signature and partition
// table), e2fs_stage1_5 into sectors 1.. with its blocklist, install
// partition, stage2 path and config path set. Everything is checked before
// the first byte is written; on error the image is unchanged.
func Install(img ReadWriterAt, st *Stages, opt InstallOptions) (*InstallReport, error) {
	if st == nil {
		return nil, errors.New("no GRUB stage files (FindStages first)")
	}
	if err := st.Validate(); err != nil {
		return nil, err
	}
	name := opt.Name
	if name == "" {
		name = "image"
	}
	stage2Path := opt.Stage2Path
	if stage2Path == "" {
		stage2Path = DefaultStage2Path
	}
	configPath := opt.ConfigPath
	if configPath == "" {
		configPath = DefaultConfigPath
	}
	for _, p := range []string{stage2Path, configPath} {
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " \x00") {
			return nil, fmt.Errorf("%q: GRUB paths must be absolute inside the partition, without spaces", p)
		}
	}
	if opt.PartitionIndex < 0 {
		return nil, fmt.Errorf("partition index %d: GRUB Legacy numbers partitions from 0 ((hd0,0) is partition 1)", opt.PartitionIndex)
	}

	mbr := make([]byte, sectorSize)
	if _, err := img.ReadAt(mbr, 0); err != nil {
		return nil, fmt.Errorf("%s: cannot read the MBR: %w", name, err)
	}
	table, err := readPartitions(img)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (partition the image first: minidisk part)", name, err)
	}
	p, ok := partitionByIndex(table, opt.PartitionIndex)
	if !ok || disk.IsExtended(p.Type) {
		return nil, fmt.Errorf("%s: partition %d is empty; there is no ext2 partition to install GRUB for (partition the image first)", name, opt.PartitionIndex+1)
	}
	for _, q := range table.Partitions {
		if q.Start == 0 {
			return nil, fmt.Errorf("%s: partition %d starts at sector 0, over the MBR (recreate it at sector 2048)", name, q.Index)
		}
	}
	end := make([]byte, 1)
	if _, err := img.ReadAt(end, (int64(p.Start)+int64(p.Sectors))*sectorSize-1); err != nil {
		return nil, fmt.Errorf("%s: partition %d (sectors %d..%d) runs past the end of the image: %w", name, p.Index, p.Start, p.End(), err)
	}
	if _, err := readExt2(img, p, name); err != nil {
		return nil, err
	}
	if opt.FS != nil {
		if err := checkStagesInFS(opt.FS, st, stage2Path, name); err != nil {
			return nil, err
		}
	}

	rep := &InstallReport{
		Partition:      PartitionName(sameDriveAsStage15, grubPartition(p.Index-1)),
		PartitionStart: uint32(p.Start),
		Stage15Sectors: st.Stage15Sectors(),
	}
	if opt.FS != nil {
		if _, err := fs.Stat(opt.FS, strings.TrimPrefix(configPath, "/")); err != nil {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s is not in the filesystem: GRUB will stop at its prompt (write it with minidisk grub config)", configPath))
		}
	}

	// embed_func refuses when any used partition starts within the
	// stage1.5's sectors: it needs sectors 1..N free.
	n15 := uint32(st.Stage15Sectors())
	var blocker *disk.Partition
	for i, q := range table.Partitions {
		if !q.Logical && q.Start-1 < uint64(n15) {
			blocker = &table.Partitions[i]
			break
		}
	}
	job := &installJob{img: img, name: name, st: st, part: p, stage2Path: stage2Path, configPath: configPath, blocks: opt.Blocks, mbr: mbr, rep: rep}
	var writes []pendingWrite
	switch {
	case blocker == nil && !opt.ForceBlocklist:
		writes, err = job.planEmbedded()
	case opt.Blocks == nil:
		if opt.ForceBlocklist {
			return nil, fmt.Errorf("%s: the stage2 blocklist install needs the block numbers of %s in the filesystem (no block map available)", name, stage2Path)
		}
		return nil, fmt.Errorf("%s: partition %d starts at sector %d, so sectors 1..%d are not free for the %d-sector e2fs_stage1_5 (recreate the partition at sector 2048, or install stage1 → stage2 by blocklist, which needs the filesystem's block map)", name, blocker.Index, blocker.Start, n15, n15)
	default:
		if blocker != nil {
			rep.Why = fmt.Sprintf("partition %d starts at sector %d: no room for the %d-sector stage1.5 in sectors 1..%d", blocker.Index, blocker.Start, n15, n15)
		} else {
			rep.Why = "requested (--force-blocklist)"
		}
		writes, err = job.planBlocklist()
	}
	if err != nil {
		return nil, err
	}
	// The MBR goes last: until it is written the old boot code stays in
	// charge, so an interrupted install leaves the image as it booted.
	sort.SliceStable(writes, func(i, j int) bool { return writes[i].lba != 0 && writes[j].lba == 0 })
	for _, w := range writes {
		if _, err := img.WriteAt(w.data, int64(w.lba)*sectorSize); err != nil {
			return nil, fmt.Errorf("%s: writing sector %d (%s): %w", name, w.lba, w.what, err)
		}
		rep.Writes = append(rep.Writes, SectorWrite{LBA: w.lba, Count: len(w.data) / sectorSize, What: w.what})
	}
	return rep, nil
}

// grubPartition is GRUB's partition number for a primary partition:
// bits 16..23 the slice, bits 0..15 0xFFFF (no BSD sub-partition).
func grubPartition(index int) uint32 { return uint32(index)<<16 | unusedSubPartitions }

func checkStagesInFS(fsys fs.FS, st *Stages, stage2Path, name string) error {
	dir := path.Dir(stage2Path)
	for _, f := range []struct {
		file string
		want []byte
	}{
		{path.Join(dir, Stage1Name), st.Stage1},
		{stage2Path, st.Stage2},
		{path.Join(dir, E2fsStage15Name), st.E2fsStage15},
	} {
		same, err := sameFile(fsys, strings.TrimPrefix(f.file, "/"), f.want, f.file == stage2Path)
		if err != nil {
			return fmt.Errorf("%s: %s is not in the filesystem; GRUB's setup needs it there (copy stage1, stage2 and e2fs_stage1_5 into %s)", name, f.file, dir)
		}
		if !same {
			return fmt.Errorf("%s: %s in the filesystem differs from %s; stage1.5 would load a stage2 of another build (copy the same GRUB files into the image)", name, f.file, st.Dir)
		}
	}
	return nil
}

// sameFile reports whether the file holds exactly want, compared as it is
// read (no copy of the file in memory). With installedStage2, a stage2
// installed by blocklist also matches: it carries its own patched
// blocklist, install partition and config_file in its first two sectors,
// and the rest must be the same build.
func sameFile(fsys fs.FS, name string, want []byte, installedStage2 bool) (bool, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	if fi.Size() != int64(len(want)) {
		return false, nil
	}
	var buf [8 << 10]byte
	off := 0
	for off < len(want) {
		n, err := io.ReadFull(f, buf[:min(len(buf), len(want)-off)])
		if err != nil {
			return false, err
		}
		got := buf[:n]
		if off == 0 && installedStage2 && len(want) > 2*sectorSize && !bytes.Equal(got[:2*sectorSize], want[:2*sectorSize]) {
			in, err := ParseStage15(got)
			if err != nil || in.ID != stage2IDStage2 {
				return false, nil
			}
			got, off = got[2*sectorSize:], 2*sectorSize
		}
		if !bytes.Equal(got, want[off:off+len(got)]) {
			return false, nil
		}
		off += len(got)
	}
	return true, nil
}

// stage1Sector builds sector 0 as install_func does: stage1's code with the
// old sector's BPB (0x03..0x3D) and its disk signature + partition table
// (0x1B8..0x1FD) kept, the boot signature from stage1.
func stage1Sector(old []byte, st *Stages, nextLBA uint32, loadAddr uint16, rep *InstallReport) []byte {
	s := append([]byte(nil), st.Stage1...)
	copy(s[stage1BPBStart:stage1BPBEnd], old[stage1BPBStart:stage1BPBEnd])
	copy(s[stage1NTMagicOff:stage1PartEnd], old[stage1NTMagicOff:stage1PartEnd])
	s[stage1BootDriveOff] = sameDriveAsStage15
	s[stage1ForceLBAOff] = 0
	// The drive check jumps over "use DL from the BIOS" only for floppies
	// built with a fixed drive; install_func NOPs it for hard disks.
	s[stage1DriveCheckOff], s[stage1DriveCheckOff+1] = nopOpcode, nopOpcode
	binary.LittleEndian.PutUint16(s[stage1Stage2AddrOff:], loadAddr)
	binary.LittleEndian.PutUint32(s[stage1Stage2SectOff:], nextLBA)
	binary.LittleEndian.PutUint16(s[stage1Stage2SegOff:], loadAddr>>4)
	rep.Patches = append(rep.Patches,
		Patch{"MBR", stage1BPBStart, "BPB", "kept from the old sector", "install_func keeps bytes 0x03..0x3D"},
		Patch{"MBR", stage1NTMagicOff, "disk signature + partition table", "kept from the old sector", "0x1B8..0x1FD belong to the disk"},
		Patch{"MBR", stage1BootDriveOff, "boot_drive", "0xFF", "boot from the drive the BIOS booted"},
		Patch{"MBR", stage1DriveCheckOff, "boot drive check", "90 90", "hard-disk install"},
		Patch{"MBR", stage1Stage2AddrOff, "stage2_address", fmt.Sprintf("0x%04X", loadAddr), "load address of the next stage"},
		Patch{"MBR", stage1Stage2SectOff, "stage2_sector", fmt.Sprint(nextLBA), "LBA of the next stage's first sector"},
		Patch{"MBR", stage1Stage2SegOff, "stage2_segment", fmt.Sprintf("0x%04X", loadAddr>>4), "segment of the next stage"},
	)
	return s
}

// clearBlocklist zeroes the existing entries of a stage's first sector the
// way install_func does, refusing lists that do not look like GRUB's.
func clearBlocklist(first []byte) error {
	for i := sectorSize - 4; binary.LittleEndian.Uint32(first[i:]) != 0; i -= blocklistEntrySize {
		if i < 4 || int32(binary.LittleEndian.Uint32(first[i-4:])) < 0 ||
			binary.LittleEndian.Uint16(first[i:]) >= 0xA00 || binary.LittleEndian.Uint16(first[i+2:]) == 0 {
			return errors.New("its first sector's blocklist is malformed (not a GRUB 0.97 stage?)")
		}
		binary.LittleEndian.PutUint32(first[i:], 0)
		binary.LittleEndian.PutUint32(first[i-4:], 0)
	}
	return nil
}

// fillBlocklist writes the sectors (absolute LBAs, in load order, starting
// with the stage's second sector) as runs, like disk_read_blocklist_func:
// each new run takes the next lower 8-byte slot, and the slot below it must
// be free so the list stays terminated. addr is where the second sector loads.
func fillBlocklist(first []byte, sectors []uint64, addr uint32) ([]BlockRun, error) {
	var runs []BlockRun
	list := sectorSize + 4 // install_func's installlist, one slot above the top
	for _, s := range sectors {
		if s > 0xFFFFFFFF {
			return nil, fmt.Errorf("sector %d is beyond the 32-bit LBA a blocklist holds", s)
		}
		if n := len(runs); n == 0 || uint64(runs[n-1].Start)+uint64(runs[n-1].Count) != s || runs[n-1].Count == 0xFFFF {
			list -= blocklistEntrySize
			if list-8 < 0 || binary.LittleEndian.Uint32(first[list-8:]) != 0 {
				return nil, fmt.Errorf("stage2 is in too many pieces for its first-sector blocklist (%d runs fit); defragment it or use the embedded stage1.5", len(runs))
			}
			runs = append(runs, BlockRun{Start: uint32(s), Segment: uint16(addr >> 4)})
			binary.LittleEndian.PutUint32(first[list-4:], uint32(s))
			binary.LittleEndian.PutUint16(first[list+2:], uint16(addr>>4))
		}
		runs[len(runs)-1].Count++
		binary.LittleEndian.PutUint16(first[list:], runs[len(runs)-1].Count)
		addr += sectorSize
	}
	return runs, nil
}

// configLocation is where config_file starts in a stage header sector: just
// after the NUL of the version string.
func configLocation(h []byte) (int, error) {
	i := bytes.IndexByte(h[stage2VersionStrOff:stage2StringEnd], 0)
	if i < 0 {
		return 0, errors.New("version string not terminated")
	}
	return stage2VersionStrOff + i + 1, nil
}

func (j *installJob) planEmbedded() ([]pendingWrite, error) {
	j.rep.Mode = ModeEmbedded
	j.rep.Why = fmt.Sprintf("sectors 1..%d before the first partition are free", j.st.Stage15Sectors())
	n := j.st.Stage15Sectors()
	const embedLBA = 1 // embed_func puts the stage1.5 right after the MBR
	s15 := make([]byte, n*sectorSize)
	copy(s15, j.st.E2fsStage15)
	first, hdr := s15[:sectorSize], s15[sectorSize:2*sectorSize]
	if err := clearBlocklist(first); err != nil {
		return nil, fmt.Errorf("%s/%s: %w", j.st.Dir, E2fsStage15Name, err)
	}
	var rest []uint64
	for i := 1; i < n; i++ {
		rest = append(rest, uint64(embedLBA+i))
	}
	runs, err := fillBlocklist(first, rest, stage15LoadAddress+sectorSize)
	if err != nil {
		return nil, err
	}
	// The 'p' flag: the install partition, and the stage2 location as
	// device (0xFF = same drive) + "PATH CONFIG", as install_func writes it.
	hdr[stage2ForceLBAOff] = 0
	// install_func sets install_partition to the partition of the file it
	// installs, here the embedded sectors "(hd0)1+N": the whole disk.
	// The stage2's own partition goes into the device word below.
	binary.LittleEndian.PutUint32(hdr[stage2InstallPart:], wholeDiskPartition)
	part := grubPartition(j.part.Index - 1)
	loc, err := configLocation(hdr)
	if err != nil {
		return nil, fmt.Errorf("%s/%s: %w", j.st.Dir, E2fsStage15Name, err)
	}
	text := j.stage2Path + " " + j.configPath
	if loc+4+len(text)+1 > stage2StringEnd {
		return nil, fmt.Errorf("%q: stage2 and config paths are too long for the stage1.5 header (%d bytes fit)", text, stage2StringEnd-loc-4-1)
	}
	device := uint32(sameDriveAsStage15)<<24 | part
	binary.LittleEndian.PutUint32(hdr[loc:], device)
	copy(hdr[loc+4:], text+"\x00")
	j.rep.Stage15LBA = embedLBA
	j.rep.Stage2Sector = embedLBA
	writes := []pendingWrite{{0, stage1Sector(j.mbr, j.st, embedLBA, stage15LoadAddress, j.rep), "stage1 (MBR boot code)"}}
	writes = append(writes, pendingWrite{embedLBA, s15, fmt.Sprintf("%s (%d bytes, %d sectors)", E2fsStage15Name, len(j.st.E2fsStage15), n)})
	j.rep.Patches = append(j.rep.Patches,
		Patch{"stage1.5 sector 1", blocklistFirstOff, "blocklist", fmt.Sprint(runs), "the rest of the stage1.5"},
		Patch{"stage1.5 sector 2", stage2InstallPart, "install_partition", fmt.Sprintf("0x%08X", wholeDiskPartition), "the stage1.5 was read from the whole disk, (hd0)1+N"},
		Patch{"stage1.5 sector 2", loc, "stage2 device", fmt.Sprintf("0x%08X", device), "stage2 is on the boot drive, " + j.rep.Partition},
		Patch{"stage1.5 sector 2", loc + 4, "stage2 path and config", text, "stage1.5 loads stage2 by this path"},
	)
	// install_func then writes the config path into stage2's own second
	// sector (in the filesystem). With stage2's built-in path that write
	// changes nothing; otherwise stage2 must be patched in place.
	w, err := j.planStage2ConfigPatch()
	if err != nil {
		return nil, err
	}
	if w != nil {
		writes = append(writes, *w)
	}
	return writes, nil
}

// stage2Header returns stage2's second sector as install_func leaves it:
// force_lba 0 and config_file set.
func stage2Header(st *Stages, configPath string) ([]byte, int, error) {
	h := append([]byte(nil), st.Stage2[sectorSize:2*sectorSize]...)
	h[stage2ForceLBAOff] = 0
	loc, err := configLocation(h)
	if err != nil {
		return nil, 0, fmt.Errorf("%s/%s: %w", st.Dir, Stage2Name, err)
	}
	if loc+len(configPath)+1 > stage2StringEnd {
		return nil, 0, fmt.Errorf("%q: config path too long for stage2's header (%d bytes fit)", configPath, stage2StringEnd-loc-1)
	}
	copy(h[loc:], configPath+"\x00")
	return h, loc, nil
}

func (j *installJob) planStage2ConfigPatch() (*pendingWrite, error) {
	h, loc, err := stage2Header(j.st, j.configPath)
	if err != nil {
		return nil, err
	}
	if bytes.Equal(h, j.st.Stage2[sectorSize:2*sectorSize]) {
		return nil, nil
	}
	if j.blocks == nil {
		return nil, fmt.Errorf("%s: config path %s differs from the one built into stage2 (%s); patching stage2 in place needs the filesystem's block map (use %s)", j.name, j.configPath, cString(j.st.Stage2[sectorSize+loc:sectorSize+stage2StringEnd]), DefaultConfigPath)
	}
	secs, err := j.stage2Sectors()
	if err != nil {
		return nil, err
	}
	j.rep.Patches = append(j.rep.Patches, Patch{"stage2 sector 2", loc, "config_file", j.configPath, "stage2 reads its menu from here"})
	return &pendingWrite{secs[1], h, "stage2's second sector (config_file) inside the filesystem"}, nil
}

// stage2Sectors maps stage2's file sectors to absolute image LBAs and checks
// that the first two hold the expected stage2 (so a stale block map cannot
// make Install overwrite file data).
func (j *installJob) stage2Sectors() ([]uint64, error) {
	fsInfo, err := readExt2(j.img, j.part, j.name)
	if err != nil {
		return nil, err
	}
	blocks, err := j.blocks.FileBlocks(j.stage2Path)
	if err != nil {
		return nil, fmt.Errorf("%s: block map of %s: %w", j.name, j.stage2Path, err)
	}
	perBlock := fsInfo.BlockSize() / sectorSize
	n := (len(j.st.Stage2) + sectorSize - 1) / sectorSize
	if len(blocks)*perBlock < n {
		return nil, fmt.Errorf("%s: %s has %d blocks, too few for the %d-byte stage2", j.name, j.stage2Path, len(blocks), len(j.st.Stage2))
	}
	secs := make([]uint64, n)
	for i := range secs {
		b := blocks[i/perBlock]
		if b == 0 || b >= fsInfo.BlocksCount {
			return nil, fmt.Errorf("%s: %s: block %d is outside the filesystem (sparse or stale block map)", j.name, j.stage2Path, b)
		}
		secs[i] = uint64(j.part.Start) + uint64(b)*uint64(perBlock) + uint64(i%perBlock)
	}
	head := make([]byte, 2*sectorSize)
	for i := 0; i < 2; i++ {
		if _, err := j.img.ReadAt(head[i*sectorSize:(i+1)*sectorSize], int64(secs[i])*sectorSize); err != nil {
			return nil, fmt.Errorf("%s: reading %s: %w", j.name, j.stage2Path, err)
		}
	}
	if in, err := ParseStage15(head); err != nil || in.ID != stage2IDStage2 {
		return nil, fmt.Errorf("%s: the blocks given for %s do not hold a GRUB stage2 (stale block map?)", j.name, j.stage2Path)
	}
	return secs, nil
}

func (j *installJob) planBlocklist() ([]pendingWrite, error) {
	j.rep.Mode = ModeBlocklist
	secs, err := j.stage2Sectors()
	if err != nil {
		return nil, err
	}
	if secs[0] > 0xFFFFFFFF {
		return nil, fmt.Errorf("%s: stage2 starts beyond the 32-bit LBA stage1 holds", j.name)
	}
	// GRUB patches the on-disk copy; it must be the build we are given.
	head := make([]byte, 2*sectorSize)
	for i := 0; i < 2; i++ {
		if _, err := j.img.ReadAt(head[i*sectorSize:(i+1)*sectorSize], int64(secs[i])*sectorSize); err != nil {
			return nil, fmt.Errorf("%s: reading %s: %w", j.name, j.stage2Path, err)
		}
	}
	first := head[:sectorSize]
	if err := clearBlocklist(first); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", j.name, j.stage2Path, err)
	}
	runs, err := fillBlocklist(first, secs[1:], stage2LoadAddress+sectorSize)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", j.name, j.stage2Path, err)
	}
	hdr := head[sectorSize:]
	hdr[stage2ForceLBAOff] = 0
	part := grubPartition(j.part.Index - 1)
	binary.LittleEndian.PutUint32(hdr[stage2InstallPart:], part)
	loc, err := configLocation(hdr)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", j.name, j.stage2Path, err)
	}
	// setup's fallback command line ends in a space after the config
	// path, and install_func copies the rest of the line verbatim: GRUB
	// writes "/boot/grub/menu.lst " (stage2 stops the name at the space).
	text := j.configPath + " "
	if loc+len(text)+1 > stage2StringEnd {
		return nil, fmt.Errorf("%q: config path too long for stage2's header (%d bytes fit)", j.configPath, stage2StringEnd-loc-2)
	}
	copy(hdr[loc:], text+"\x00")
	j.rep.Stage2Sector = secs[0]
	writes := []pendingWrite{
		{0, stage1Sector(j.mbr, j.st, uint32(secs[0]), stage2LoadAddress, j.rep), "stage1 (MBR boot code)"},
		{secs[0], first, "stage2's first sector (blocklist) inside the filesystem"},
		{secs[1], hdr, "stage2's second sector (install partition, config_file) inside the filesystem"},
	}
	j.rep.Patches = append(j.rep.Patches,
		Patch{"stage2 sector 1", blocklistFirstOff, "blocklist", fmt.Sprintf("%d runs %v", len(runs), runs), "the rest of stage2, from the filesystem's block map"},
		Patch{"stage2 sector 2", stage2InstallPart, "install_partition", fmt.Sprintf("0x%08X", part), "root " + j.rep.Partition},
		Patch{"stage2 sector 2", loc, "config_file", j.configPath, "stage2 reads its menu from here"},
	)
	return writes, nil
}
