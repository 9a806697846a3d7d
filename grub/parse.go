package grub

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/minidisk/minidisk/disk"
)

// Stage 1 fields (GRUB 0.97 stage1/stage1.h: STAGE1_*), offsets in the MBR.
const (
	stage1BPBStart      = 0x03  // STAGE1_BPBSTART: BIOS parameter block, kept from the old sector
	stage1BPBEnd        = 0x3E  // STAGE1_BPBEND
	stage1VersionOff    = 0x3E  // STAGE1_VER_MAJ_OFFS: COMPAT_VERSION major, minor
	stage1BootDriveOff  = 0x40  // STAGE1_BOOT_DRIVE: 0xFF = the drive the BIOS booted from
	stage1ForceLBAOff   = 0x41  // STAGE1_FORCE_LBA
	stage1Stage2AddrOff = 0x42  // STAGE1_STAGE2_ADDRESS: load address of the next stage
	stage1Stage2SectOff = 0x44  // STAGE1_STAGE2_SECTOR: LBA of the next stage's first sector
	stage1Stage2SegOff  = 0x48  // STAGE1_STAGE2_SEGMENT
	stage1DriveCheckOff = 0x4B  // STAGE1_BOOT_DRIVE_CHECK: 2-byte jump, NOPed for hard disks
	stage1NTMagicOff    = 0x1B8 // STAGE1_WINDOWS_NT_MAGIC: disk signature, start of what is kept
	stage1PartEnd       = 0x1FE // STAGE1_PARTEND: end of the partition table
	compatMajor         = 3     // COMPAT_VERSION_MAJOR
	compatMinor         = 2     // COMPAT_VERSION_MINOR
	stage1JumpOpcode    = 0xEB  // stage1 starts with "jmp after_BPB"
	stage1JumpOffset    = 0x48  // ... to 0x4A
	nopOpcode           = 0x90
	stage2IDStage2      = 0 // STAGE2_ID_STAGE2
	stage2IDE2fsStage15 = 2 // STAGE2_ID_E2FS_STAGE1_5
	stage15MaxBytes     = 63 * sectorSize
	maxBlocklistCount   = 0xFFFF
	stage15LoadAddress  = 0x2000 // install_func: installaddr for a stage1.5
	stage2LoadAddress   = 0x8000 // install_func: installaddr for a stage2
	blocklistEntrySize  = 8      // BOOTSEC_LISTSIZE: {u32 start, u16 count, u16 segment}
	blocklistFirstOff   = sectorSize - blocklistEntrySize
	maxBlocklistEntries = 48
	hardDiskDriveBit    = 0x80
	sameDriveAsStage15  = 0xFF // install_func: stage2 on the boot drive is not pinned to a drive number
	wholeDiskPartition  = 0xFFFFFF
	unusedSubPartitions = 0xFFFF // bits 0..15 of GRUB's partition number: no BSD sub-partition
)

// Stage 2 / stage 1.5 header (stage2/asm.S, relative to the second sector;
// stage2/shared.h: STAGE2_*).
const (
	stage2VersionOff    = 0x06 // STAGE2_VER_MAJ_OFFS
	stage2InstallPart   = 0x08 // STAGE2_INSTALLPART
	stage2SavedEntryOff = 0x0C // STAGE2_SAVED_ENTRYNO
	stage2IDOff         = 0x10 // STAGE2_STAGE2_ID
	stage2ForceLBAOff   = 0x11 // STAGE2_FORCE_LBA
	stage2VersionStrOff = 0x12 // STAGE2_VER_STR_OFFS: "0.97\0", then config_file
	stage2StringEnd     = 0x70 // main+0x70: code resumes; config_file must end before it
)

// The blocklist entry's fields (stage2/start.S: .long start, .word count,
// .word segment), relative to the entry.
const (
	blocklistStartOff   = 0
	blocklistCountOff   = 4
	blocklistSegmentOff = 6
)

// Stage1Layout is where GRUB Legacy stage1's fields lie in the MBR, at the
// offsets ParseStage1 reads and Install patches (the stage1* constants).
// For a view that shows the bytes (explain); read-only.
var Stage1Layout = struct {
	Jump           disk.Field // "jmp after_BPB; nop": EB 48 90
	BPB            disk.Field // STAGE1_BPBSTART..STAGE1_BPBEND: kept from the old sector
	Version        disk.Field // COMPAT_VERSION major, minor
	BootDrive      disk.Field
	ForceLBA       disk.Field
	Stage2Address  disk.Field
	Stage2Sector   disk.Field
	Stage2Segment  disk.Field
	BootDriveCheck disk.Field // a 2-byte jump, NOPed for hard disks
}{
	Jump:           disk.Field{Offset: 0, Size: stage1BPBStart},
	BPB:            disk.Field{Offset: stage1BPBStart, Size: stage1BPBEnd - stage1BPBStart},
	Version:        disk.Field{Offset: stage1VersionOff, Size: 2},
	BootDrive:      disk.Field{Offset: stage1BootDriveOff, Size: 1},
	ForceLBA:       disk.Field{Offset: stage1ForceLBAOff, Size: 1},
	Stage2Address:  disk.Field{Offset: stage1Stage2AddrOff, Size: 2},
	Stage2Sector:   disk.Field{Offset: stage1Stage2SectOff, Size: 4},
	Stage2Segment:  disk.Field{Offset: stage1Stage2SegOff, Size: 2},
	BootDriveCheck: disk.Field{Offset: stage1DriveCheckOff, Size: 2},
}

// StageHeaderLayout is where the header of a stage1.5 or stage2 lies in
// its second sector, at the offsets ParseStage15 reads and Install patches
// (the stage2* constants). Strings holds the NUL-terminated version string,
// then a stage2's config_file or a stage1.5's stage2 device (4 bytes) and
// path; code resumes at its end. Read-only.
var StageHeaderLayout = struct {
	Version, InstallPartition, SavedEntry, StageID, ForceLBA, Strings disk.Field
}{
	Version:          disk.Field{Offset: stage2VersionOff, Size: 2},
	InstallPartition: disk.Field{Offset: stage2InstallPart, Size: 4},
	SavedEntry:       disk.Field{Offset: stage2SavedEntryOff, Size: 4},
	StageID:          disk.Field{Offset: stage2IDOff, Size: 1},
	ForceLBA:         disk.Field{Offset: stage2ForceLBAOff, Size: 1},
	Strings:          disk.Field{Offset: stage2VersionStrOff, Size: stage2StringEnd - stage2VersionStrOff},
}

// BlocklistEntryLayout is one entry of the blocklist that ends a stage's
// first sector (BOOTSEC_LISTSIZE, 8 bytes: Segment's end): the first entry
// is the sector's last 8 bytes, each further one 8 bytes below, as
// ParseStage15 reads them. Read-only.
var BlocklistEntryLayout = struct{ Start, Count, Segment disk.Field }{
	Start:   disk.Field{Offset: blocklistStartOff, Size: 4},
	Count:   disk.Field{Offset: blocklistCountOff, Size: 2},
	Segment: disk.Field{Offset: blocklistSegmentOff, Size: 2},
}

var stageIDNames = []string{"stage2", "ffs_stage1_5", "e2fs_stage1_5", "fat_stage1_5", "minix_stage1_5", "reiserfs_stage1_5", "vstafs_stage1_5", "jfs_stage1_5", "xfs_stage1_5", "iso9660_stage1_5", "ufs2_stage1_5"}

func stageIDName(id byte) string {
	if int(id) < len(stageIDNames) {
		return stageIDNames[id]
	}
	return "unknown"
}

// Stage1Info is what a GRUB Legacy stage1 in an MBR says.
type Stage1Info struct {
	VersionMajor, VersionMinor byte
	BootDrive                  byte   // 0xFF: use the BIOS boot drive
	ForceLBA                   bool   // always use LBA reads
	Stage2Address              uint16 // 0x2000 stage1.5, 0x8000 stage2
	Stage2Sector               uint32 // LBA of the next stage's first sector
	Stage2Segment              uint16
	DriveCheckNOPed            bool // hard-disk install (boot drive check replaced by NOPs)
	BootSignature              bool // 55 AA at 0x1FE
}

// ParseStage1 reads the stage1 fields of an MBR (at least 512 bytes). It
// fails when the sector does not hold GRUB Legacy's stage1.
func ParseStage1(mbr []byte) (*Stage1Info, error) {
	if len(mbr) < sectorSize {
		return nil, fmt.Errorf("sector is %d bytes, want 512", len(mbr))
	}
	if mbr[0] != stage1JumpOpcode || mbr[1] != stage1JumpOffset {
		return nil, errors.New("no GRUB Legacy stage1 (boot code does not start with GRUB's jmp 0x4A)")
	}
	in := &Stage1Info{
		VersionMajor:    mbr[stage1VersionOff],
		VersionMinor:    mbr[stage1VersionOff+1],
		BootDrive:       mbr[stage1BootDriveOff],
		ForceLBA:        mbr[stage1ForceLBAOff] != 0,
		Stage2Address:   binary.LittleEndian.Uint16(mbr[stage1Stage2AddrOff:]),
		Stage2Sector:    binary.LittleEndian.Uint32(mbr[stage1Stage2SectOff:]),
		Stage2Segment:   binary.LittleEndian.Uint16(mbr[stage1Stage2SegOff:]),
		DriveCheckNOPed: mbr[stage1DriveCheckOff] == nopOpcode && mbr[stage1DriveCheckOff+1] == nopOpcode,
		BootSignature:   mbr[510] == 0x55 && mbr[511] == 0xAA,
	}
	if in.VersionMajor != compatMajor || in.VersionMinor != compatMinor {
		return in, fmt.Errorf("stage1 version %d.%d, GRUB 0.97 writes %d.%d", in.VersionMajor, in.VersionMinor, compatMajor, compatMinor)
	}
	return in, nil
}

// BlockRun is one blocklist entry: Count sectors from LBA Start, loaded at
// Segment:0.
type BlockRun struct {
	Start   uint32
	Count   uint16
	Segment uint16
}

// String shows a run as GRUB's loader reads it.
func (r BlockRun) String() string {
	return fmt.Sprintf("%d sectors from LBA %d at segment 0x%04X", r.Count, r.Start, r.Segment)
}

// Stage15Info is what the first two sectors of a stage1.5 or stage2 say.
type Stage15Info struct {
	ID                         byte
	Kind                       string // "e2fs_stage1_5", "stage2", ...
	VersionMajor, VersionMinor byte
	Blocklist                  []BlockRun // sectors 2.. of the stage, as the first sector loads them
	InstallPartition           uint32     // bits 16..23: primary partition (0xFF: whole disk)
	ForceLBA                   bool
	VersionString              string
	// Stage 1.5 only: where stage2 is. Stage2Device's top byte is the
	// drive (0xFF: the boot drive), bits 16..23 the partition.
	Stage2Device uint32
	Stage2Path   string
	// ConfigPath: for a stage2 its config_file; for a stage1.5 the text
	// after the stage2 path (setup writes "STAGE2 CONFIG").
	ConfigPath string
}

// ParseStage15 reads the header of a stage1.5 or stage2 from its first two
// sectors (at least 1024 bytes). It never panics on arbitrary input.
func ParseStage15(b []byte) (*Stage15Info, error) {
	if len(b) < 2*sectorSize {
		return nil, fmt.Errorf("%d bytes, need the first two sectors (1024)", len(b))
	}
	h := b[sectorSize : 2*sectorSize]
	in := &Stage15Info{
		ID:               h[stage2IDOff],
		Kind:             stageIDName(h[stage2IDOff]),
		VersionMajor:     h[stage2VersionOff],
		VersionMinor:     h[stage2VersionOff+1],
		InstallPartition: binary.LittleEndian.Uint32(h[stage2InstallPart:]),
		ForceLBA:         h[stage2ForceLBAOff] != 0,
	}
	if in.VersionMajor != compatMajor || in.VersionMinor != compatMinor {
		return in, fmt.Errorf("no GRUB 0.97 stage header (version bytes %d.%d, want %d.%d)", in.VersionMajor, in.VersionMinor, compatMajor, compatMinor)
	}
	in.Blocklist = parseBlocklist(b[:sectorSize])
	strs := h[stage2VersionStrOff:stage2StringEnd]
	nul := bytes.IndexByte(strs, 0)
	if nul < 0 {
		return in, errors.New("version string not terminated")
	}
	in.VersionString = string(strs[:nul])
	rest := strs[nul+1:]
	if in.ID == stage2IDStage2 {
		// setup's blocklist install leaves "PATH " (the rest of its
		// command line); GRUB's file name ends at the first space.
		in.ConfigPath, _, _ = strings.Cut(cString(rest), " ")
		return in, nil
	}
	if len(rest) < 4 {
		return in, errors.New("no room for the stage2 device")
	}
	in.Stage2Device = binary.LittleEndian.Uint32(rest)
	path := cString(rest[4:])
	if i := strings.IndexByte(path, ' '); i >= 0 {
		in.Stage2Path, in.ConfigPath = path[:i], strings.TrimLeft(path[i+1:], " ")
	} else {
		in.Stage2Path = path
	}
	return in, nil
}

// parseBlocklist reads entries downward from 0x1F8 until a zero count, as
// the stage's own loader (stage2/start.S) does.
func parseBlocklist(first []byte) []BlockRun {
	var runs []BlockRun
	for off := blocklistFirstOff; off >= 0 && len(runs) < maxBlocklistEntries; off -= blocklistEntrySize {
		r := BlockRun{
			Start:   binary.LittleEndian.Uint32(first[off+blocklistStartOff:]),
			Count:   binary.LittleEndian.Uint16(first[off+blocklistCountOff:]),
			Segment: binary.LittleEndian.Uint16(first[off+blocklistSegmentOff:]),
		}
		if r.Count == 0 {
			break
		}
		runs = append(runs, r)
	}
	return runs
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return string(b[:i])
	}
	return string(b)
}

// PartitionName renders GRUB's partition number as GRUB writes it, e.g.
// 0x00FFFF → "(hd0,0)" for drive 0x80.
func PartitionName(drive byte, part uint32) string {
	d := "hd0"
	if drive != sameDriveAsStage15 {
		if drive&hardDiskDriveBit != 0 {
			d = fmt.Sprintf("hd%d", drive&^hardDiskDriveBit)
		} else {
			d = fmt.Sprintf("fd%d", drive)
		}
	}
	p := (part >> 16) & 0xFF
	if p == 0xFF {
		return "(" + d + ")"
	}
	return fmt.Sprintf("(%s,%d)", d, p)
}
