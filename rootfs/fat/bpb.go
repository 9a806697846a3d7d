// Package fat reads FAT12, FAT16 and FAT32 filesystems, read-only, as an
// io/fs.FS: the BIOS parameter block, FAT cluster chains (bounded, so a
// looping or overlong chain is an error, not a hang), VFAT long file names
// (with their checksum checked against the short name, as Windows and
// Linux do) and 8.3 short names with the Windows NT lowercase bits. Names
// are looked up case-insensitively, as firmware, SYSLINUX and the Linux
// vfat driver do; listings give the names as stored.
//
// Open reads a filesystem at an offset of an io.ReaderAt; Probe tells
// cheaply whether bytes at an offset start one, with its label and serial
// number. Layout facts follow Microsoft's "FAT: General Overview of On-Disk
// Format" (fatgen103) and the Linux kernel's fs/fat.
package fat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrCorrupt is wrapped by errors about inconsistent on-disk structures.
var ErrCorrupt = errors.New("corrupt FAT filesystem")

var le = binary.LittleEndian

// Byte offsets of the boot sector's fields, the one place they are
// written down (fatgen103, "Boot Sector and BPB"; the spec's names in the
// comments, with the field's size in bytes). parseBPB reads them all; the
// ones a writer that patches a boot sector (efi) or a view that shows it
// (explain) needs are exported.
const (
	offsetOEMName           = 0x03 // BS_OEMName, 8
	OffsetBytesPerSector    = 0x0B // BPB_BytsPerSec, 2
	OffsetSectorsPerCluster = 0x0D // BPB_SecPerClus, 1
	OffsetReservedSectors   = 0x0E // BPB_RsvdSecCnt, 2
	OffsetNumFATs           = 0x10 // BPB_NumFATs, 1
	OffsetRootEntries       = 0x11 // BPB_RootEntCnt, 2
	OffsetTotalSectors16    = 0x13 // BPB_TotSec16, 2
	offsetMedia             = 0x15 // BPB_Media, 1
	OffsetFATSize16         = 0x16 // BPB_FATSz16, 2
	offsetSectorsPerTrack   = 0x18 // BPB_SecPerTrk, 2
	offsetHeads             = 0x1A // BPB_NumHeads, 2
	OffsetHiddenSectors     = 0x1C // BPB_HiddSec, 4
	OffsetTotalSectors32    = 0x20 // BPB_TotSec32, 4

	// FAT32 only.
	OffsetFATSize32    = 0x24 // BPB_FATSz32, 4
	OffsetExtFlags     = 0x28 // BPB_ExtFlags, 2
	OffsetFSVersion    = 0x2A // BPB_FSVer, 2: 0.0 is the only version defined
	OffsetRootCluster  = 0x2C // BPB_RootClus, 4
	offsetFSInfoSector = 0x30 // BPB_FSInfo, 2
	offsetBackupBoot   = 0x32 // BPB_BkBootSec, 2

	// The extended boot record follows the BPB: at OffsetExtBoot16 on
	// FAT12/16, at OffsetExtBoot32 on FAT32. Its fields (ext*) are
	// relative to its start.
	OffsetExtBoot16  = 0x24
	OffsetExtBoot32  = 0x40
	extDriveNumber   = 0  // BS_DrvNum, 1
	extBootSignature = 2  // BS_BootSig, 1: 0x29 when the next three are present
	ExtVolumeID      = 3  // BS_VolID, 4
	extVolumeLabel   = 7  // BS_VolLab, 11
	extFSType        = 18 // BS_FilSysType, 8
)

// The FAT type follows from the count of data clusters alone (fatgen103,
// "FAT Type Determination": below 4085 FAT12, below 65525 FAT16, else
// FAT32). Linux decides FAT32 by BPB_FATSz16 being 0 instead, whatever the
// count, so it mounts a "FAT32" below MinFAT32Clusters that UEFI firmware
// refuses (EDK2's FatOpenDevice: EFI_VOLUME_CORRUPTED).
const (
	MinFAT16Clusters = 4085
	MinFAT32Clusters = 65525
)

// extBootRecordPresent, as BS_BootSig, says BS_VolID, BS_VolLab and
// BS_FilSysType are present.
const extBootRecordPresent = 0x29

// BPB is the BIOS parameter block of a FAT boot sector, with the extended
// fields of FAT12/16 or FAT32 as the type requires. Each field lies at the
// offset (or, in the extended boot record, ext) constant of its name.
type BPB struct {
	OEMName           string
	BytesPerSector    uint16
	SectorsPerCluster uint8
	ReservedSectors   uint16
	NumFATs           uint8
	RootEntries       uint16 // FAT12/16 fixed root directory entries
	TotalSectors16    uint16
	Media             uint8
	FATSize16         uint16
	SectorsPerTrack   uint16
	Heads             uint16
	HiddenSectors     uint32 // the partition's start LBA (as formatted)
	TotalSectors32    uint32
	// FAT32 only.
	FATSize32    uint32
	ExtFlags     uint16 // bit 7 set = only FAT (bits 0..3) is active
	FSVersion    uint16 // major in the high byte; 0.0 is the only one defined
	RootCluster  uint32
	FSInfoSector uint16
	BackupBoot   uint16
	// Extended boot record, when its boot signature 0x29 is present.
	DriveNumber uint8
	VolumeID    uint32
	VolumeLabel string // 11 bytes, trailing spaces removed
	FSType      string // "FAT12   " etc., informational only
}

// TotalSectors is TotalSectors16, or TotalSectors32 when that is 0.
func (b *BPB) TotalSectors() uint32 {
	if b.TotalSectors16 != 0 {
		return uint32(b.TotalSectors16)
	}
	return b.TotalSectors32
}

// FATSize is the sectors per FAT: FATSize16, or FATSize32 when that is 0.
func (b *BPB) FATSize() uint32 {
	if b.FATSize16 != 0 {
		return uint32(b.FATSize16)
	}
	return b.FATSize32
}

// SerialString is the volume ID as blkid and root=UUID= spell it:
// "1234-ABCD".
func (b *BPB) SerialString() string {
	return fmt.Sprintf("%04X-%04X", b.VolumeID>>16, b.VolumeID&0xFFFF)
}

// geometry is what the layout arithmetic derives from a BPB.
type geometry struct {
	fatType     int    // 12, 16 or 32
	sectorSize  int64  // bytes
	clusterSize int64  // bytes
	fatStart    int64  // byte offset of the active FAT
	fatBytes    int64  // bytes of one FAT
	rootStart   int64  // FAT12/16: byte offset of the fixed root directory
	rootEntries int64  // FAT12/16
	dataStart   int64  // byte offset of cluster 2
	clusters    uint32 // data clusters: valid cluster numbers are 2..clusters+1
	// countOfClusters is fatgen103's CountofClusters: data sectors over
	// sectors per cluster, before clusters is capped to the FAT's entries.
	countOfClusters uint32
	totalSectors    uint32
}

// parseBPB decodes and validates sector 0 (at least 512 bytes).
func parseBPB(s []byte) (*BPB, *geometry, error) {
	if len(s) < 512 {
		return nil, nil, fmt.Errorf("fat: boot sector of %d bytes", len(s))
	}
	b := &BPB{
		OEMName:           strings.TrimRight(string(s[offsetOEMName:offsetOEMName+8]), " \x00"),
		BytesPerSector:    le.Uint16(s[OffsetBytesPerSector:]),
		SectorsPerCluster: s[OffsetSectorsPerCluster],
		ReservedSectors:   le.Uint16(s[OffsetReservedSectors:]),
		NumFATs:           s[OffsetNumFATs],
		RootEntries:       le.Uint16(s[OffsetRootEntries:]),
		TotalSectors16:    le.Uint16(s[OffsetTotalSectors16:]),
		Media:             s[offsetMedia],
		FATSize16:         le.Uint16(s[OffsetFATSize16:]),
		SectorsPerTrack:   le.Uint16(s[offsetSectorsPerTrack:]),
		Heads:             le.Uint16(s[offsetHeads:]),
		HiddenSectors:     le.Uint32(s[OffsetHiddenSectors:]),
		TotalSectors32:    le.Uint32(s[OffsetTotalSectors32:]),
	}
	bps := int64(b.BytesPerSector)
	if bps < 512 || bps > 4096 || bps&(bps-1) != 0 {
		return nil, nil, fmt.Errorf("fat: %d bytes per sector (want 512, 1024, 2048 or 4096)", bps)
	}
	spc := int64(b.SectorsPerCluster)
	if spc == 0 || spc&(spc-1) != 0 {
		return nil, nil, fmt.Errorf("fat: %d sectors per cluster (want a power of two)", spc)
	}
	if b.ReservedSectors == 0 {
		return nil, nil, fmt.Errorf("fat: no reserved sectors (the boot sector is one)")
	}
	if b.NumFATs == 0 {
		return nil, nil, fmt.Errorf("fat: no FAT copies")
	}
	if b.Media != 0xF0 && b.Media < 0xF8 {
		return nil, nil, fmt.Errorf("fat: media byte %#02x invalid (0xF0 or 0xF8..0xFF)", b.Media)
	}
	ext := s[OffsetExtBoot16:]
	if b.FATSize16 == 0 {
		// FAT32: the Linux kernel (fs/fat/inode.c) decides the type by the
		// 16-bit FAT size being 0, whatever the cluster count.
		b.FATSize32 = le.Uint32(s[OffsetFATSize32:])
		b.ExtFlags = le.Uint16(s[OffsetExtFlags:])
		b.FSVersion = le.Uint16(s[OffsetFSVersion:])
		b.RootCluster = le.Uint32(s[OffsetRootCluster:])
		b.FSInfoSector = le.Uint16(s[offsetFSInfoSector:])
		b.BackupBoot = le.Uint16(s[offsetBackupBoot:])
		ext = s[OffsetExtBoot32:]
	}
	if ext[extBootSignature] == extBootRecordPresent {
		b.DriveNumber = ext[extDriveNumber]
		b.VolumeID = le.Uint32(ext[ExtVolumeID:])
		b.VolumeLabel = strings.TrimRight(string(ext[extVolumeLabel:extVolumeLabel+11]), " \x00")
		b.FSType = string(ext[extFSType : extFSType+8])
	}
	g := &geometry{sectorSize: bps, clusterSize: bps * spc, totalSectors: b.TotalSectors()}
	fatSz := int64(b.FATSize())
	if fatSz == 0 || g.totalSectors == 0 {
		return nil, nil, fmt.Errorf("fat: FAT size %d or total sectors %d is zero", fatSz, g.totalSectors)
	}
	rootSecs := (int64(b.RootEntries)*DirEntrySize + bps - 1) / bps
	meta := int64(b.ReservedSectors) + int64(b.NumFATs)*fatSz + rootSecs
	if meta >= int64(g.totalSectors) {
		return nil, nil, fmt.Errorf("fat: reserved, FAT and root directory sectors (%d) fill all %d sectors", meta, g.totalSectors)
	}
	g.clusters = uint32((int64(g.totalSectors) - meta) / spc)
	g.countOfClusters = g.clusters
	switch {
	case b.FATSize16 == 0:
		g.fatType = 32
		if b.RootEntries != 0 {
			return nil, nil, fmt.Errorf("fat: FAT32 with %d fixed root entries", b.RootEntries)
		}
	case g.clusters < MinFAT16Clusters:
		g.fatType = 12
	default:
		g.fatType = 16
	}
	// The FAT must have an entry for every cluster, or cluster numbers the
	// BPB allows would index past it.
	entriesInFAT := fatSz * bps * 8 / int64(g.fatType)
	if g.fatType == 32 {
		entriesInFAT = fatSz * bps / 4
	}
	if int64(g.clusters)+2 > entriesInFAT {
		g.clusters = uint32(max(entriesInFAT-2, 0))
	}
	if g.fatType == 32 && g.clusters > 0x0FFFFFF5 {
		g.clusters = 0x0FFFFFF5
	}
	if g.clusters == 0 {
		return nil, nil, fmt.Errorf("fat: no data clusters")
	}
	active := int64(0)
	if g.fatType == 32 && b.ExtFlags&0x80 != 0 {
		active = int64(b.ExtFlags & 0x0F)
		if active >= int64(b.NumFATs) {
			return nil, nil, fmt.Errorf("fat: active FAT %d of %d", active, b.NumFATs)
		}
	}
	g.fatBytes = fatSz * bps
	g.fatStart = int64(b.ReservedSectors)*bps + active*g.fatBytes
	g.rootStart = (int64(b.ReservedSectors) + int64(b.NumFATs)*fatSz) * bps
	g.rootEntries = int64(b.RootEntries)
	g.dataStart = meta * bps
	if g.fatType == 32 && (b.RootCluster < 2 || b.RootCluster > g.clusters+1) {
		return nil, nil, fmt.Errorf("fat: FAT32 root cluster %d outside 2..%d: %w", b.RootCluster, g.clusters+1, ErrCorrupt)
	}
	return b, g, nil
}

// ProbeResult is what Probe learns from a boot sector.
type ProbeResult struct {
	Type   int    // 12, 16 or 32
	Label  string // the BPB volume label ("NO NAME" as mkfs.vfat writes when unset)
	Serial string // the volume ID as "1234-ABCD" (what blkid calls its UUID)
	Bytes  int64  // total sectors × sector size
	BPB    *BPB
}

// Probe reports whether the bytes at off of r start a FAT filesystem: one
// 512-byte read whose BIOS parameter block must be consistent, and either
// an x86 jump at byte 0 (EB xx or E9 xx xx, as every formatter writes) or a
// "FAT" type string. The 55 AA signature is not required (Linux does not
// require it either), so a boot sector is told from an MBR by its BPB.
func Probe(r io.ReaderAt, off int64) (ProbeResult, bool) {
	if off < 0 {
		return ProbeResult{}, false
	}
	var s [512]byte
	if n, _ := r.ReadAt(s[:], off); n != len(s) {
		return ProbeResult{}, false
	}
	b, g, err := parseBPB(s[:])
	if err != nil {
		return ProbeResult{}, false
	}
	if s[0] != 0xEB && s[0] != 0xE9 && !strings.HasPrefix(b.FSType, "FAT") {
		return ProbeResult{}, false
	}
	return ProbeResult{Type: g.fatType, Label: b.VolumeLabel, Serial: b.SerialString(),
		Bytes: int64(g.totalSectors) * g.sectorSize, BPB: b}, true
}
