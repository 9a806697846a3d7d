package main

import (
	"fmt"
	"strings"

	"github.com/minidisk/minidisk/legacy"
	"github.com/urfave/cli/v2"
)

func rootfsCommand() *cli.Command {
	return &cli.Command{
		Name:  "rootfs",
		Usage: "the files of an image's root filesystem",
		Subcommands: []*cli.Command{{
			Name:      "add",
			Usage:     "put the kernel, BusyBox with its libraries, GRUB's files and /dev/console into an image's ext2",
			ArgsUsage: "IMG",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "kernel", Required: true, Usage: "bzImage to boot"},
				&cli.StringFlag{Name: "busybox", Usage: "BusyBox binary (default: busybox in PATH)"},
				&cli.StringFlag{Name: "applets", Value: "sh,ln,ls", Usage: "BusyBox applet links in /bin, or all"},
				&cli.StringSliceFlag{Name: "add", Usage: "copy a host file or tree into the image: SRC:DST (repeatable)"},
				&cli.StringFlag{Name: "grub-dir", Usage: "directory with GRUB Legacy's stage files"},
				&cli.StringFlag{Name: "append", Usage: "extra kernel arguments"},
				&cli.BoolFlag{Name: "no-serial", Usage: "GRUB menu on VGA only"},
				&cli.IntFlag{Name: "timeout", Value: 1, Usage: "GRUB menu timeout in seconds"},
			},
			Action: func(c *cli.Context) error {
				if err := needArgs(c, 1, "IMG --kernel BZIMAGE [--busybox PATH]"); err != nil {
					return err
				}
				img := c.Args().First()
				var adds []legacy.Add
				for _, a := range c.StringSlice("add") {
					add, err := legacy.ParseAdd(a)
					if err != nil {
						return err
					}
					adds = append(adds, add)
				}
				placed, st, err := legacy.AddToImage(img, legacy.Payload{
					Kernel: c.String("kernel"), BusyBox: c.String("busybox"),
					Applets: strings.Split(c.String("applets"), ","), Adds: adds,
					GrubDir: c.String("grub-dir"), Append: c.String("append"),
					NoSerial: c.Bool("no-serial"), Timeout: c.Int("timeout"),
				})
				if err != nil {
					return err
				}
				for _, p := range placed {
					fmt.Fprintf(c.App.Writer, "  %-44s %s\n", p.Path, p.Why)
				}
				fmt.Fprintf(c.App.Writer, "%s: ext2 rewritten, %d blocks (%d free), %d inodes (%d free); next: minidisk grub install %s\n",
					img, st.Blocks, st.FreeBlocks, st.Inodes, st.FreeInodes, img)
				return nil
			},
		}},
	}
}
