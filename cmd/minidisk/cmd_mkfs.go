package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"time"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/rootfs"
	"github.com/minidisk/minidisk/rootfs/ext2"
	"github.com/urfave/cli/v2"
)

func mkfsCommand() *cli.Command {
	return &cli.Command{
		Name:      "mkfs",
		Usage:     "make an empty ext2 filesystem (root and lost+found) in the image's Linux partition, with the aligned block count",
		ArgsUsage: "IMG",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "block-size", Value: 1024, Usage: "ext2 block size: 1024, 2048 or 4096"},
			&cli.IntFlag{Name: "inode-size", Value: 128, Usage: "inode size: 128 (what GRUB Legacy reads) or 256"},
			&cli.StringFlag{Name: "label", Usage: "volume label (up to 16 bytes)"},
			&cli.BoolFlag{Name: "force", Usage: "replace an existing ext2 filesystem in the partition"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "IMG [--block-size 1024] [--inode-size 128] [--label L]"); err != nil {
				return err
			}
			img := c.Args().First()
			size, err := imageSize(img)
			if err != nil {
				return err
			}
			f, err := os.OpenFile(img, os.O_RDWR, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			l, err := disk.ReadLayout(f, size, c.Int("block-size"), ext2.HoldsFilesystem(f))
			if err != nil {
				return fmt.Errorf("%s: %v", img, err)
			}
			now, ok, err := rootfs.SourceDateEpoch()
			if err != nil {
				return err
			}
			if !ok {
				now = time.Now().UTC().Truncate(time.Second)
			}
			opt := ext2.Options{
				BlockSize: c.Int("block-size"), InodeSize: c.Int("inode-size"),
				Blocks: l.AlignedBlocks(), Label: c.String("label"), Time: now,
			}
			tree := rootfs.New(now)
			if _, err := ext2.Plan(tree, opt); err != nil {
				return fmt.Errorf("%s: partition %d: %v", img, l.Partition.Index, err)
			}
			off := l.OffsetBytes()
			var magic [2]byte
			if _, err := f.ReadAt(magic[:], off+ext2.SuperblockOffset+0x38); err == nil &&
				binary.LittleEndian.Uint16(magic[:]) == ext2.Magic && !c.Bool("force") {
				return fmt.Errorf("%s: partition %d already holds an ext2 filesystem; use --force to replace it", img, l.Partition.Index)
			}
			if err := ext2.ClearRegion(f, off, l.PartitionBytes()); err != nil {
				return err
			}
			st, err := ext2.Write(f, off, tree, opt)
			if err != nil {
				return fmt.Errorf("%s: %v", img, err)
			}
			if err := f.Close(); err != nil {
				return fmt.Errorf("%s: %v", img, err)
			}
			fmt.Fprintf(c.App.Writer, "%s: ext2 at byte %d: %d blocks of %d bytes, %d groups, %d inodes of %d bytes, %d free blocks, UUID %x-%x-%x-%x-%x\n",
				img, off, st.Blocks, st.BlockSize, st.Groups, st.Inodes, st.InodeSize, st.FreeBlocks, st.UUID[:4], st.UUID[4:6], st.UUID[6:8], st.UUID[8:10], st.UUID[10:])
			return nil
		},
	}
}
