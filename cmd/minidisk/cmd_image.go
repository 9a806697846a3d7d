package main

import (
	"fmt"

	"github.com/minidisk/minidisk/disk"
	"github.com/urfave/cli/v2"
)

func imageCommand() *cli.Command {
	return &cli.Command{
		Name:  "image",
		Usage: "raw image files",
		Subcommands: []*cli.Command{{
			Name:      "create",
			Usage:     "make a sparse raw image (like qemu-img create -f raw)",
			ArgsUsage: "IMG",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "size", Required: true, Usage: "image `SIZE`: 8M = 8 MiB as qemu-img and truncate read it, 8MB = 8,000,000 bytes, 8.5M, 1G, 16384s (sectors)"},
				&cli.BoolFlag{Name: "force", Usage: "replace an existing file"},
			},
			Action: func(c *cli.Context) error {
				if err := needArgs(c, 1, "IMG --size SIZE"); err != nil {
					return err
				}
				img := c.Args().First()
				size, err := sizeFlag(c, "size")
				if err != nil {
					return err
				}
				if err := disk.CreateImage(img, size, c.Bool("force")); err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "%s: %s, %d sectors of 512 bytes (sparse: no disk space used until written)\n",
					img, disk.DescribeSize(size), size/disk.SectorSize)
				return nil
			},
		}},
	}
}
