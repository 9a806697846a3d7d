package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/rootfs/ext2"
	"github.com/urfave/cli/v2"
)

// layoutFlags are the partition-layout options shared by part, plan, create.
func layoutFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "align", Usage: "partition alignment: 1MiB starts at sector 2048 (default: sector 63, the 2007 layout)"},
		&cli.Uint64Flag{Name: "start", Usage: "first sector of the partition (default 63)"},
		&cli.BoolFlag{Name: "cylinder-align", Usage: "end the partition on the last whole cylinder, as 2007-era fdisk did"},
		&cli.StringFlag{Name: "part-size", Usage: "partition size (e.g. 6M); default: to the end of the image"},
		&cli.StringFlag{Name: "geometry", Value: "255/63", Usage: "CHS geometry heads/sectors-per-track"},
		&cli.BoolFlag{Name: "no-boot-flag", Usage: "do not mark the partition bootable"},
		&cli.IntFlag{Name: "block-size", Value: 1024, Usage: "ext2 block size: 1024, 2048 or 4096"},
	}
}

// layoutOptions reads the layout flags; diskBytes comes from --size or the image.
func layoutOptions(c *cli.Context, diskBytes int64) (disk.LayoutOptions, error) {
	opt := disk.LayoutOptions{
		DiskBytes:     diskBytes,
		Start:         c.Uint64("start"),
		CylinderAlign: c.Bool("cylinder-align"),
		NoBootFlag:    c.Bool("no-boot-flag"),
		BlockSize:     c.Int("block-size"),
	}
	if c.IsSet("start") && opt.Start == 0 {
		return opt, usagef("--start 0: sector 0 is the MBR; give the partition's first sector, 1 or more (63 is the 2007 layout, 2048 is 1 MiB)")
	}
	if c.IsSet("start") && c.IsSet("align") {
		return opt, usagef("--start and --align both place the partition: give one")
	}
	if bs := opt.BlockSize; bs != 1024 && bs != 2048 && bs != 4096 {
		return opt, usagef("--block-size %d: give 1024, 2048 or 4096", bs)
	}
	switch a := c.String("align"); a {
	case "":
	case "1MiB", "1M", "1m", "1mib", "2048s":
		opt.Align1MiB = true
	default:
		return opt, usagef("--align %q: only 1MiB is supported (omit it for the sector-63 layout)", a)
	}
	if c.IsSet("part-size") {
		n, err := sizeFlag(c, "part-size")
		if err != nil {
			return opt, err
		}
		opt.PartBytes = n
	}
	g, err := disk.ParseGeometry(c.String("geometry"))
	if err != nil {
		return opt, usagef("--geometry: %v", err)
	}
	opt.Geometry = g
	return opt, nil
}

// imageSize returns the size of an existing image, with an error naming the
// step that makes it.
func imageSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if os.IsNotExist(err) {
		return 0, fmt.Errorf("%s: no such image; make it first with `minidisk image create %s --size 12M`", path, path)
	}
	if err != nil {
		return 0, err
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("%s: not a regular file (minidisk writes image files; use `minidisk flash` for devices)", path)
	}
	return fi.Size(), nil
}

// needArgs checks the positional argument count.
func needArgs(c *cli.Context, n int, usage string) error {
	if c.NArg() != n {
		return usagef("usage: %s %s", c.Command.HelpName, usage)
	}
	return nil
}

// readImageLayout reads the partition table of an existing image (as mkfs
// does) and, when the partition holds an ext2 filesystem, says how its
// block count compares with the partition.
func readImageLayout(img string, blockSize int) (*disk.Layout, string, error) {
	size, err := imageSize(img)
	if err != nil {
		return nil, "", err
	}
	f, err := os.Open(img)
	if err != nil {
		return nil, "", fmt.Errorf("%s: cannot read it: %w", img, errors.Unwrap(err))
	}
	defer f.Close()
	l, err := disk.ReadLayout(f, size, blockSize, ext2.HoldsFilesystem(f))
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w (or plan a new layout with `minidisk plan --size SIZE`)", img, err)
	}
	return l, ext2Note(f, l), nil
}

// superblockAt decodes, with ext2's Unmarshal, the superblock of a
// filesystem starting at byte off of r. readable is false when not even
// its first 64 bytes (s_blocks_count, s_log_block_size, s_magic: all these
// notes use) can be read; a shorter read is zero-padded. sb is nil when
// s_magic is not 0xEF53.
func superblockAt(r io.ReaderAt, off int64) (sb *ext2.Superblock, readable bool) {
	raw := make([]byte, ext2.SuperblockSize)
	if n, _ := r.ReadAt(raw, off+ext2.SuperblockOffset); n < 64 {
		return nil, false
	}
	sb = new(ext2.Superblock)
	if sb.Unmarshal(raw) != nil {
		return nil, true
	}
	return sb, true
}

// ext2Note describes the ext2 filesystem already in the partition, from
// its superblock.
func ext2Note(f *os.File, l *disk.Layout) string {
	sb, readable := superblockAt(f, l.OffsetBytes())
	if !readable {
		return ""
	}
	if sb == nil {
		return fmt.Sprintf("No ext2 filesystem in partition %d yet: `minidisk mkfs IMG` makes one with %d blocks.", l.Partition.Index, l.AlignedBlocks())
	}
	blocks := uint64(sb.BlocksCount)
	bs := uint64(1024) << min(sb.LogBlockSize, 6)
	capacity := uint64(l.PartitionBytes()) / bs
	if blocks > capacity {
		return fmt.Sprintf("The ext2 filesystem in partition %d has %d blocks of %d bytes: %d more than the partition holds (%d). It will fail once files land past the end; `minidisk doctor IMG` shows which.",
			l.Partition.Index, blocks, bs, blocks-capacity, capacity)
	}
	return fmt.Sprintf("The ext2 filesystem in partition %d has %d blocks of %d bytes: it fits (the partition holds %d).", l.Partition.Index, blocks, bs, capacity)
}

// sizeFlag reads a size flag (--size, --part-size): a positive size as
// truncate and qemu-img write it.
func sizeFlag(c *cli.Context, name string) (int64, error) {
	s := c.String(name)
	n, err := disk.ParseSize(s)
	if err != nil {
		return 0, usagef("--%s: %v", name, err)
	}
	if n <= 0 {
		return 0, usagef("--%s %q: give a size above zero (e.g. 8M)", name, s)
	}
	if n%disk.SectorSize != 0 {
		down := n / disk.SectorSize
		return 0, usagef("--%s %s is %s: not a whole number of 512-byte sectors; give %ds (%d bytes) or %ds (%d bytes)",
			name, s, disk.DescribeSize(n), down, down*disk.SectorSize, down+1, (down+1)*disk.SectorSize)
	}
	return n, nil
}
