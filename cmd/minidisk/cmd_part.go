package main

import (
	"fmt"
	"os"

	"github.com/minidisk/minidisk/disk"
	"github.com/urfave/cli/v2"
)

func partCommand() *cli.Command {
	return &cli.Command{
		Name:      "part",
		Usage:     "write the MBR partition table: one bootable Linux (83) partition; boot code in bytes 0..439 is kept",
		ArgsUsage: "IMG",
		Flags: append(layoutFlags(),
			&cli.StringFlag{Name: "disk-id", Usage: "disk signature as hex (default: keep the existing one, else derived from the layout)"},
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
				return fmt.Errorf("%s: %v", img, err)
			}
			var id uint64
			if s := c.String("disk-id"); s != "" {
				if _, err := fmt.Sscanf(s, "%x", &id); err != nil || id == 0 || id > 0xffffffff {
					return fmt.Errorf("--disk-id %q: give 1 to 8 hex digits, not zero", s)
				}
			}
			f, err := os.OpenFile(img, os.O_RDWR, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			got, err := disk.WritePartitionTable(f, l, uint32(id))
			if err != nil {
				return fmt.Errorf("%s: %v", img, err)
			}
			if err := f.Close(); err != nil {
				return fmt.Errorf("%s: %v", img, err)
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
