package main

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/internal/atomicfile"
	"github.com/minidisk/minidisk/rootfs"
	"github.com/minidisk/minidisk/rootfs/ext2"
	"github.com/urfave/cli/v2"
)

func mkfsCommand() *cli.Command {
	return &cli.Command{
		Name:        "mkfs",
		Usage:       "make an empty ext2 filesystem (root and lost+found) in the image's Linux partition, with the aligned block count",
		ArgsUsage:   "IMG",
		Description: editsImageNote,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "block-size", Value: 1024, Usage: "ext2 block size: 1024, 2048 or 4096"},
			&cli.IntFlag{Name: "inode-size", Value: 128, Usage: "inode size: 128 (what GRUB Legacy reads) or 256"},
			&cli.StringFlag{Name: "label", Usage: "volume label (up to 16 bytes)"},
			&cli.StringFlag{Name: "blocks", Value: "aligned", Usage: "block count: aligned (fits the partition), naive (what mke2fs picks without a count, to watch trap 2 happen: runs past the partition when it ends before the image), or a number"},
			&cli.BoolFlag{Name: "force", Usage: "replace an existing ext2 filesystem in the partition"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "IMG [--block-size 1024] [--inode-size 128] [--label L] [--blocks aligned|naive|N]"); err != nil {
				return err
			}
			img := c.Args().First()
			bs, is := c.Int("block-size"), c.Int("inode-size")
			if bs != 1024 && bs != 2048 && bs != 4096 {
				return usagef("--block-size %d: give 1024, 2048 or 4096", bs)
			}
			if is != 128 && is != 256 {
				return usagef("--inode-size %d: give 128 (what GRUB Legacy reads) or 256", is)
			}
			if len(c.String("label")) > 16 {
				return usagef("--label %q: at most 16 bytes", c.String("label"))
			}
			if v := c.String("blocks"); v != "aligned" && v != "naive" {
				if n, err := strconv.ParseUint(v, 10, 64); err != nil || n == 0 {
					return usagef("--blocks %q: give aligned, naive or a block count above 0", v)
				}
			}
			size, err := imageSize(img)
			if err != nil {
				return err
			}
			f, err := atomicfile.Edit(img)
			if err != nil {
				return err
			}
			defer f.Abort()
			l, err := disk.ReadLayout(f, size, bs, ext2.HoldsFilesystem(f))
			if err != nil {
				return fmt.Errorf("%s: %w", img, err)
			}
			blocks, warning, err := mkfsBlocks(c.String("blocks"), l)
			if err != nil {
				return err
			}
			now, ok, err := rootfs.SourceDateEpoch()
			if err != nil {
				return err
			}
			if !ok {
				now = time.Now().UTC().Truncate(time.Second)
			}
			opt := ext2.Options{
				BlockSize: bs, InodeSize: is,
				Blocks: blocks, Label: c.String("label"), Time: now,
			}
			tree := rootfs.New(now)
			if _, err := ext2.Plan(tree, opt); err != nil {
				return fmt.Errorf("%s: partition %d: %w", img, l.Partition.Index, err)
			}
			off := l.OffsetBytes()
			var magic [2]byte
			if _, err := f.ReadAt(magic[:], off+ext2.SuperblockOffset+0x38); err == nil &&
				binary.LittleEndian.Uint16(magic[:]) == ext2.Magic && !c.Bool("force") {
				return fmt.Errorf("%s: partition %d already holds an ext2 filesystem; use --force to replace it", img, l.Partition.Index)
			}
			fsBytes := int64(blocks) * int64(bs)
			if err := ext2.ClearRegion(f.File, off, max(l.PartitionBytes(), min(fsBytes, size-off))); err != nil {
				return fmt.Errorf("%s: %w", img, err)
			}
			st, err := ext2.Write(f.File, off, tree, opt)
			if err != nil {
				return fmt.Errorf("%s: %w", img, err)
			}
			if err := f.Commit(); err != nil {
				return err
			}
			if warning != "" {
				fmt.Fprintln(c.App.ErrWriter, "minidisk: warning:", warning)
			}
			fmt.Fprintf(c.App.Writer, "%s: ext2 at byte %d: %s of %d bytes, %s, %s of %d bytes, %s, UUID %s\n",
				img, off, plural(int(st.Blocks), "block"), st.BlockSize, plural(int(st.Groups), "group"), plural(int(st.Inodes), "inode"), st.InodeSize,
				plural(int(st.FreeBlocks), "free block"), formatUUID(st.UUID))
			return nil
		},
	}
}

// mkfsBlocks reads --blocks: the aligned count (the default), the count
// mke2fs takes without one (the broken image of the 2007 demo, with a
// warning), or a number.
func mkfsBlocks(v string, l *disk.Layout) (blocks uint64, warning string, err error) {
	switch v {
	case "aligned":
		return l.AlignedBlocks(), "", nil
	case "naive":
		blocks = l.NaiveBlocks()
	default:
		n, perr := strconv.ParseUint(v, 10, 64)
		if perr != nil || n == 0 {
			return 0, "", usagef("--blocks %q: give aligned, naive or a block count above 0", v)
		}
		blocks = n
	}
	if limit := uint64(l.DiskBytes()-l.OffsetBytes()) / uint64(l.BlockSize); blocks > limit {
		return 0, "", usagef("--blocks %d: the image holds only %d blocks of %d bytes after the partition's start", blocks, limit, l.BlockSize)
	}
	if c := l.CapacityBlocks(); blocks > c {
		warning = fmt.Sprintf("%d blocks is %d more than partition %d holds (%d): this image will fail with GRUB \"Error 24\" once files land past the partition end; `minidisk doctor` finds it, `minidisk create` refuses it",
			blocks, blocks-c, l.Partition.Index, c)
	}
	return blocks, warning, nil
}
