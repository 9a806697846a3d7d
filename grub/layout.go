package grub

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/rootfs/ext2"
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

// readExt2 reads the superblock of the partition's filesystem and checks
// that stock GRUB 0.97's e2fs_stage1_5 and stage2 can read it
// (CheckFilesystem) and that it fits its partition. name prefixes errors.
func readExt2(r io.ReaderAt, p disk.Partition, name string) (*ext2.Superblock, error) {
	b := make([]byte, ext2.SuperblockSize)
	off := int64(p.Start)*sectorSize + ext2.SuperblockOffset
	if _, err := r.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("%s: partition %d (sector %d): cannot read the ext2 superblock: %w", name, p.Index, p.Start, err)
	}
	sb := new(ext2.Superblock)
	if err := sb.Unmarshal(b); err != nil || sb.Magic != ext2.Magic {
		return nil, fmt.Errorf("%s: partition %d (sector %d) holds no ext2 filesystem (no magic 0xEF53 in its superblock; make it with mke2fs -t ext2 -I 128)", name, p.Index, p.Start)
	}
	if err := CheckFilesystem(sb); err != nil {
		return nil, fmt.Errorf("%s: partition %d: %w", name, p.Index, err)
	}
	if bytes := uint64(sb.BlocksCount) * uint64(sb.BlockSize()); bytes > p.Sectors*sectorSize {
		return nil, fmt.Errorf("%s: partition %d: the ext2 filesystem (%d bytes) is larger than its partition (%d bytes); GRUB would fail with Error 24 (resize the filesystem to fit)", name, p.Index, bytes, p.Sectors*sectorSize)
	}
	return sb, nil
}
