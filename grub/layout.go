package grub

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/minidisk/minidisk/disk"
)

// readPartitions reads the image's partition table through package disk,
// which owns the MBR format; GRUB Legacy installs on MBR disks only.
func readPartitions(r io.ReaderAt) (*disk.PartitionTable, error) {
	t, err := disk.ReadPartitions(r, imageSize(r))
	if errors.Is(err, disk.ErrNoTable) {
		return nil, errors.New("no MBR partition table (no 55 AA at byte 510)")
	}
	if err != nil {
		return nil, err
	}
	if t.Scheme != disk.SchemeMBR {
		return nil, fmt.Errorf("the disk has a %s partition table; GRUB Legacy installs on an MBR disk", t.Scheme)
	}
	return t, nil
}

// imageSize is the image's length when r can tell it (an *os.File), else
// the largest size, so only the reads themselves bound the table.
func imageSize(r io.ReaderAt) int64 {
	if st, ok := r.(interface{ Stat() (os.FileInfo, error) }); ok {
		if fi, err := st.Stat(); err == nil && fi.Mode().IsRegular() {
			return fi.Size()
		}
	}
	return math.MaxInt64
}

// partitionByIndex returns the partition GRUB calls (hd0,index): Linux's
// number index+1 (0..3 primary, 4.. logical, as GRUB 0.97 numbers them).
func partitionByIndex(t *disk.PartitionTable, index int) (disk.Partition, bool) {
	for _, p := range t.Partitions {
		if p.Index == index+1 {
			return p, true
		}
	}
	return disk.Partition{}, false
}

// ext2 superblock fields GRUB Legacy's e2fs stage depends on (offsets in the
// superblock, which starts 1024 bytes into the partition).
const (
	ext2SuperOff          = 1024
	ext2MagicOff          = 56
	ext2Magic             = 0xEF53
	ext2BlocksCountOff    = 4
	ext2LogBlockSizeOff   = 24
	ext2RevLevelOff       = 76
	ext2InodeSizeOff      = 88
	ext2FeatureIncompatOf = 96
	ext2GoodOldInodeSize  = 128
	// Incompatible features GRUB 0.97's fsys_ext2fs.c handles: it reads
	// directory entries with a file type byte, ignores the journal (a
	// needs-recovery flag only means the journal is not replayed), and
	// locates group tables wherever the descriptors say (flex_bg).
	incompatFiletype = 0x0002
	incompatRecover  = 0x0004
	incompatFlexBG   = 0x0200
)

var incompatNames = map[uint32]string{
	0x0001: "compression", 0x0008: "journal_dev", 0x0010: "meta_bg", 0x0040: "extent",
	0x0080: "64bit", 0x0100: "mmp", 0x0400: "ea_inode", 0x1000: "dirdata",
	0x2000: "metadata_csum_seed", 0x4000: "large_dir", 0x8000: "inline_data", 0x10000: "encrypt", 0x20000: "casefold",
}

// ext2Info is what Install checks about the filesystem GRUB will read.
type ext2Info struct {
	BlockSize  uint32
	Blocks     uint32
	InodeSize  uint16
	Incompat   uint32
	RevLevel   uint32
	BytesTotal uint64
}

// readExt2 checks that the partition holds an ext2 filesystem that stock
// GRUB 0.97's e2fs_stage1_5 and stage2 can read. name prefixes errors.
func readExt2(r io.ReaderAt, p disk.Partition, name string) (*ext2Info, error) {
	sb := make([]byte, 1024)
	off := int64(p.Start)*sectorSize + ext2SuperOff
	if _, err := r.ReadAt(sb, off); err != nil {
		return nil, fmt.Errorf("%s: partition %d (sector %d): cannot read the ext2 superblock: %w", name, p.Index, p.Start, err)
	}
	if binary.LittleEndian.Uint16(sb[ext2MagicOff:]) != ext2Magic {
		return nil, fmt.Errorf("%s: partition %d (sector %d) holds no ext2 filesystem (no magic 0xEF53 in its superblock; make it with mke2fs -t ext2 -I 128)", name, p.Index, p.Start)
	}
	log := binary.LittleEndian.Uint32(sb[ext2LogBlockSizeOff:])
	if log > 2 {
		return nil, fmt.Errorf("%s: partition %d: ext2 block size 2^(10+%d) is beyond what GRUB Legacy reads (use -b 1024, 2048 or 4096)", name, p.Index, log)
	}
	in := &ext2Info{
		BlockSize: 1024 << log,
		Blocks:    binary.LittleEndian.Uint32(sb[ext2BlocksCountOff:]),
		RevLevel:  binary.LittleEndian.Uint32(sb[ext2RevLevelOff:]),
		InodeSize: ext2GoodOldInodeSize,
	}
	in.BytesTotal = uint64(in.Blocks) * uint64(in.BlockSize)
	if in.RevLevel >= 1 {
		in.InodeSize = binary.LittleEndian.Uint16(sb[ext2InodeSizeOff:])
		in.Incompat = binary.LittleEndian.Uint32(sb[ext2FeatureIncompatOf:])
	}
	if in.InodeSize != ext2GoodOldInodeSize {
		return nil, fmt.Errorf("%s: partition %d: ext2 has %d-byte inodes; stock GRUB Legacy 0.97 reads only 128-byte inodes (make the filesystem with mke2fs -I 128)", name, p.Index, in.InodeSize)
	}
	if bad := in.Incompat &^ (incompatFiletype | incompatRecover | incompatFlexBG); bad != 0 {
		var names []string
		for bit := uint32(1); bit != 0; bit <<= 1 {
			if bad&bit != 0 {
				n := incompatNames[bit]
				if n == "" {
					n = fmt.Sprintf("0x%x", bit)
				}
				names = append(names, n)
			}
		}
		return nil, fmt.Errorf("%s: partition %d: filesystem uses %s, which GRUB Legacy 0.97 cannot read (make a plain ext2: mke2fs -t ext2 -I 128)", name, p.Index, strings.Join(names, ", "))
	}
	if in.BytesTotal > uint64(p.Sectors)*sectorSize {
		return nil, fmt.Errorf("%s: partition %d: the ext2 filesystem (%d bytes) is larger than its partition (%d bytes); GRUB would fail with Error 24 (resize the filesystem to fit)", name, p.Index, in.BytesTotal, uint64(p.Sectors)*sectorSize)
	}
	return in, nil
}
