package main

import (
	"fmt"

	"github.com/minidisk/minidisk/legacy"
	"github.com/urfave/cli/v2"
)

func rootfsCommand() *cli.Command {
	return &cli.Command{
		Name:  "rootfs",
		Usage: "the files of an image's root filesystem",
		Subcommands: []*cli.Command{{
			Name:        "add",
			Usage:       "put the kernel, BusyBox with its libraries, GRUB's files and /dev/console into an image's ext2",
			ArgsUsage:   "IMG",
			Description: editsImageNote,
			Flags:       payloadFlags(),
			Action: func(c *cli.Context) error {
				if err := needArgs(c, 1, "IMG --kernel BZIMAGE [--busybox PATH]"); err != nil {
					return err
				}
				img := c.Args().First()
				payload, err := payloadFromFlags(c)
				if err != nil {
					return err
				}
				payload.Check = bootCheck(c, img, true)
				placed, st, err := legacy.AddToImage(img, payload)
				if err != nil {
					return err
				}
				for _, p := range placed {
					fmt.Fprintf(c.App.Writer, "  %-44s %s\n", p.Path, p.Why)
				}
				fmt.Fprintf(c.App.Writer, "%s: ext2 rewritten, %s (%d free), %s (%d free); next: minidisk grub install %s\n",
					img, plural(int(st.Blocks), "block"), st.FreeBlocks, plural(int(st.Inodes), "inode"), st.FreeInodes, img)
				return nil
			},
		}},
	}
}
