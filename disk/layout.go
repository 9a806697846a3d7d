package disk

import (
	"fmt"
)

// Where the first partition starts, in sectors.
const (
	// LegacyStart is sector 63: head 1 of cylinder 0 with 63 sectors per
	// track, where DOS-era fdisk put the first partition. The 62 sectors
	// after the MBR are the gap GRUB Legacy embeds its stage1.5 in.
	LegacyStart = 63
	// AlignedStart is 1 MiB (sector 2048), what fdisk and parted use since
	// 2010 so that partitions line up with 4 KiB sectors and SSD pages.
	AlignedStart = 2048
)

// PageSize is the x86 page size. mke2fs, when it sizes a filesystem from its
// device, rounds the block count down to a multiple of PageSize/BlockSize
// (misc/mke2fs.c), and the 2007 recipe does the same by hand, so a 1 KiB-block
// filesystem always has a multiple of 4 blocks.
const PageSize = 4096

// LayoutOptions describe the disk a user asks for. Zero values mean the
// defaults of the 2007 recipe.
type LayoutOptions struct {
	DiskBytes     int64    // image size in bytes; a multiple of 512
	Start         uint64   // first sector of the partition; 0 = 63 (or 2048 with Align1MiB)
	Align1MiB     bool     // start at 1 MiB instead of sector 63
	CylinderAlign bool     // end on the last whole cylinder, as 2007-era fdisk did
	PartBytes     int64    // partition size; 0 = up to the end (or the last cylinder)
	Geometry      Geometry // zero = 255/63
	BlockSize     int      // filesystem block size; 0 = 1024
	NoBootFlag    bool     // leave the partition without the active flag
}

// Partition is one partition, in 512-byte sectors: an MBR primary or
// logical partition, or a GPT entry.
type Partition struct {
	Index    int      // as Linux numbers it: 1..4 primary, 5.. logical (/dev/sda5); GPT slot 1..
	Start    uint64   // first sector (LBA)
	Sectors  uint64   // length
	Type     byte     // MBR type, 0x83 Linux; 0 for a GPT entry
	Bootable bool     // MBR 0x80 "active" flag SeaBIOS and the MBR code look for; GPT "legacy BIOS bootable"
	Logical  bool     // inside an extended partition (described by an EBR)
	TypeGUID [16]byte // GPT partition type, on-disk byte order; zero for MBR
}

// End is the last sector of the partition (inclusive, as fdisk prints it).
func (p Partition) End() uint64 { return p.Start + p.Sectors - 1 }

// Layout is a disk with one partition and the filesystem that fills it: the
// numbers every step of the recipe needs.
type Layout struct {
	DiskSectors uint64
	Geometry    Geometry
	Partition   Partition
	BlockSize   int
	// FromTable: the partition was read from an image's partition table
	// (ReadLayout), not planned from options.
	FromTable bool
}

// TypeLinux is the MBR partition type of a Linux native filesystem.
const TypeLinux = 0x83

// maxMBRSectors is the largest count a 32-bit MBR field holds (2 TiB disks).
const maxMBRSectors = 1<<32 - 1

// PlanLayout computes the layout for opt, or says which option to change.
func PlanLayout(opt LayoutOptions) (*Layout, error) {
	g := opt.Geometry
	if g == (Geometry{}) {
		g = DefaultGeometry
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	bs := opt.BlockSize
	if bs == 0 {
		bs = 1024
	}
	if bs != 1024 && bs != 2048 && bs != 4096 {
		return nil, fmt.Errorf("block size %d: ext2 here supports 1024, 2048 or 4096", bs)
	}
	if opt.DiskBytes <= 0 || opt.DiskBytes%SectorSize != 0 {
		return nil, fmt.Errorf("disk size %d bytes is not a positive whole number of 512-byte sectors", opt.DiskBytes)
	}
	disk := uint64(opt.DiskBytes / SectorSize)
	start := opt.Start
	switch {
	case start != 0 && opt.Align1MiB:
		return nil, fmt.Errorf("give either --start or --align 1MiB, not both")
	case opt.Align1MiB:
		start = AlignedStart
	case start == 0:
		start = LegacyStart
	}
	if start < 1 {
		return nil, fmt.Errorf("partition start 0 would overwrite the MBR; start at 63 or 2048")
	}
	if start >= disk {
		return nil, fmt.Errorf("partition start %d is beyond the %d-sector disk; grow --size", start, disk)
	}
	end := disk // exclusive
	if opt.CylinderAlign {
		if opt.PartBytes != 0 {
			return nil, fmt.Errorf("give either --cylinder-align or --part-size, not both")
		}
		cyl := g.CylinderSectors()
		end = disk / cyl * cyl
		if end <= start {
			return nil, fmt.Errorf("a %d-sector disk has no whole cylinder (%d sectors with %s geometry) after sector %d; drop --cylinder-align or grow --size",
				disk, cyl, g, start)
		}
	}
	if opt.PartBytes != 0 {
		if opt.PartBytes < 0 || opt.PartBytes%SectorSize != 0 {
			return nil, fmt.Errorf("partition size %d bytes is not a whole number of 512-byte sectors", opt.PartBytes)
		}
		want := uint64(opt.PartBytes / SectorSize)
		if start+want > disk {
			return nil, fmt.Errorf("partition of %d sectors from sector %d ends past the %d-sector disk; shrink --part-size or grow --size",
				want, start, disk)
		}
		end = start + want
	}
	sectors := end - start
	if sectors > maxMBRSectors || start > maxMBRSectors {
		return nil, fmt.Errorf("partition beyond 2 TiB cannot be described by an MBR; use a smaller --size")
	}
	l := &Layout{
		DiskSectors: disk,
		Geometry:    g,
		Partition:   Partition{Index: 1, Start: start, Sectors: sectors, Type: TypeLinux, Bootable: !opt.NoBootFlag},
		BlockSize:   bs,
	}
	if l.AlignedBlocks() == 0 {
		return nil, fmt.Errorf("partition of %d sectors holds no %d-byte filesystem blocks; grow --size", sectors, bs)
	}
	return l, nil
}

// DiskBytes is the image size.
func (l *Layout) DiskBytes() int64 { return int64(l.DiskSectors) * SectorSize }

// OffsetBytes is where the partition, and so the filesystem, starts in the
// image file: what `dd seek=`, `losetup -o` and `mount -o offset=` need.
func (l *Layout) OffsetBytes() int64 { return int64(l.Partition.Start) * SectorSize }

// PartitionBytes is the partition's length.
func (l *Layout) PartitionBytes() int64 { return int64(l.Partition.Sectors) * SectorSize }

// PartitionKiB is the partition size in 1 KiB units: the "Blocks" column of
// `fdisk -l -u` (a trailing "+" there means half a KiB more).
func (l *Layout) PartitionKiB() uint64 { return l.Partition.Sectors / 2 }

// BlockMultiple is the number of filesystem blocks per page (4 for 1 KiB
// blocks): block counts are rounded down to a multiple of it.
func (l *Layout) BlockMultiple() uint64 {
	m := uint64(PageSize / l.BlockSize)
	if m == 0 {
		return 1
	}
	return m
}

// CapacityBlocks is how many whole filesystem blocks the partition holds.
func (l *Layout) CapacityBlocks() uint64 {
	return uint64(l.PartitionBytes()) / uint64(l.BlockSize)
}

// AlignedBlocks is the block count to give mke2fs: the partition's capacity
// rounded down to BlockMultiple. It never reaches past the partition.
func (l *Layout) AlignedBlocks() uint64 {
	return l.CapacityBlocks() / l.BlockMultiple() * l.BlockMultiple()
}

// NaiveBlocks is what mke2fs picks when it is run on the image from the
// partition offset with no block count: everything to the end of the image
// file, rounded the same way. When the partition ends before the image does
// (cylinder alignment, --part-size), this is larger than the partition.
func (l *Layout) NaiveBlocks() uint64 {
	rest := uint64(l.DiskBytes()-l.OffsetBytes()) / uint64(l.BlockSize)
	return rest / l.BlockMultiple() * l.BlockMultiple()
}

// OffsetNaiveBlocks is what today's `mke2fs -E offset=OFFSET IMG` makes
// without a block count: mke2fs sizes the whole file in 4 KiB units, then
// subtracts offset / block size (rounded down) and does not round the
// result again. On the 2007 disk (8 MiB, offset 32256) that is
// 8192 − 31 = 8161 blocks, one more than the loop-device route, and the
// filesystem's last block ends 512 bytes past the end of the file, which
// mke2fs grows (measured with e2fsprogs 1.47.0; oracle_test.go runs it).
func (l *Layout) OffsetNaiveBlocks() uint64 {
	bs := uint64(l.BlockSize)
	return uint64(l.DiskBytes())/PageSize*PageSize/bs - uint64(l.OffsetBytes())/bs
}

// OffsetNaiveGrowthBytes is by how much `mke2fs -E offset=` without a
// count lengthens the image file (0 when its filesystem ends inside it).
func (l *Layout) OffsetNaiveGrowthBytes() int64 {
	end := l.OffsetBytes() + int64(l.OffsetNaiveBlocks())*int64(l.BlockSize)
	return max(0, end-l.DiskBytes())
}

// Overrun is by how many blocks the naive filesystem runs past the partition
// end (0 when it fits): the blocks GRUB reports as "Error 24: Attempt to
// access block outside partition" and the kernel as "attempt to access beyond
// end of device".
func (l *Layout) Overrun() uint64 {
	if n, c := l.NaiveBlocks(), l.CapacityBlocks(); n > c {
		return n - c
	}
	return 0
}

// GapSectors is the number of free sectors between the MBR and the
// partition: room for GRUB Legacy's stage1.5 (e2fs_stage1_5 needs 19 sectors).
func (l *Layout) GapSectors() uint64 { return l.Partition.Start - 1 }

// TailSectors is the unpartitioned space after the partition.
func (l *Layout) TailSectors() uint64 { return l.DiskSectors - l.Partition.Start - l.Partition.Sectors }
