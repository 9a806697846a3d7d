package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/internal/atomicfile"
	"github.com/minidisk/minidisk/rootfs/ext2"
	"github.com/urfave/cli/v2"
)

func partCommand() *cli.Command {
	return &cli.Command{
		Name:        "part",
		Usage:       "write the MBR partition table: one bootable Linux (83) partition; boot code in bytes 0..439 is kept",
		Description: editsImageNote,
		ArgsUsage:   "IMG",
		Flags: append(layoutFlags(),
			&cli.StringFlag{Name: "disk-id", Usage: "disk signature, 1 to 8 hex digits (default: keep the existing one, else derived from the layout)"},
			&cli.BoolFlag{Name: "force", Usage: "write the new table even when it moves a partition that holds a filesystem (the filesystem is then lost)"},
		),
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "IMG [--align 1MiB | --start N] [--cylinder-align | --part-size SIZE]"); err != nil {
				return err
			}
			img := c.Args().First()
			size, err := imageSize(img)
			if err != nil {
				return err
			}
			opt, err := layoutOptions(c, size)
			if err != nil {
				return err
			}
			l, err := disk.PlanLayout(opt)
			if err != nil {
				return fmt.Errorf("%s: %w", img, err)
			}
			var id uint64
			if c.IsSet("disk-id") {
				v := strings.TrimPrefix(strings.ToLower(c.String("disk-id")), "0x")
				if id, err = strconv.ParseUint(v, 16, 32); err != nil || id == 0 {
					return usagef("--disk-id %q: give 1 to 8 hex digits, not zero (e.g. 0x1a2b3c4d)", c.String("disk-id"))
				}
			}
			f, err := atomicfile.Edit(img)
			if err != nil {
				return err
			}
			defer f.Abort()
			if err := keepsFilesystem(f.File, size, l, img, c.Bool("force")); err != nil {
				return err
			}
			got, err := disk.WritePartitionTable(f.File, l, uint32(id))
			if err != nil {
				return fmt.Errorf("%s: %w", img, err)
			}
			if err := f.Commit(); err != nil {
				return err
			}
			p := l.Partition
			fmt.Fprintf(c.App.Writer, "%s: partition 1, type 83, %s, sectors %d..%d (%d sectors, %d KiB), CHS %v..%v, disk id 0x%08x\n",
				img, map[bool]string{true: "bootable", false: "not bootable"}[p.Bootable], p.Start, p.End(), p.Sectors,
				l.PartitionKiB(), l.Geometry.CHS(p.Start), l.Geometry.CHS(p.End()), got)
			fmt.Fprintf(c.App.Writer, "filesystem offset %d bytes; make it %d blocks of %d bytes (`minidisk plan %s` explains)\n",
				l.OffsetBytes(), l.AlignedBlocks(), l.BlockSize, img)
			return nil
		},
	}
}

// keepsFilesystem refuses, without force, a new table that would orphan
// the filesystem of the current one: a Linux partition holding ext2 (magic
// 0xEF53 at byte 1080 of the partition) that the new table does not keep
// at the same start and length.
func keepsFilesystem(img io.ReaderAt, size int64, l *disk.Layout, name string, force bool) error {
	old, err := disk.ReadLayout(img, size, 0, ext2.HoldsFilesystem(img))
	if err != nil || force {
		return nil // no table with a Linux partition: nothing to lose
	}
	sb, _ := superblockAt(img, old.OffsetBytes())
	if sb == nil {
		return nil
	}
	// s_blocks_count × 1024 << s_log_block_size: the bytes the filesystem
	// needs from its start.
	fsBytes := int64(sb.BlocksCount) * (1024 << min(sb.LogBlockSize, 6))
	if old.Partition.Start == l.Partition.Start && l.PartitionBytes() >= min(fsBytes, old.PartitionBytes()) {
		return nil // same start, and room for what the filesystem uses
	}
	return fmt.Errorf("%s: partition %d (sectors %d..%d) holds an ext2 filesystem that the new table (sectors %d..%d) would orphan; use --force to write it anyway",
		name, old.Partition.Index, old.Partition.Start, old.Partition.End(), l.Partition.Start, l.Partition.End())
}
