package main

import (
	"fmt"

	"github.com/minidisk/minidisk/rootfs/ext2"
	"github.com/minidisk/minidisk/rootfs/loopmount"
	"github.com/urfave/cli/v2"
)

// mountCommand loop-mounts an image's ext2 partition (root only).
func mountCommand() *cli.Command {
	return &cli.Command{
		Name:      "mount",
		Usage:     "mount an image's ext2 partition on DIR through a loop device (root only; read-only unless --rw)",
		ArgsUsage: "IMG DIR",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "rw", Usage: "mount read-write"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return fmt.Errorf("usage: minidisk mount IMG DIR [--rw]")
			}
			img, dir := c.Args().Get(0), c.Args().Get(1)
			im, err := ext2.OpenImage(img)
			if err != nil {
				return err
			}
			loc := im.Location
			im.Close()
			dev, err := loopmount.Mount(loopmount.Options{Image: img, Offset: loc.Offset, Size: loc.Size, Dir: dir, RW: c.Bool("rw")})
			if err != nil {
				return err
			}
			mode := "read-only"
			if c.Bool("rw") {
				mode = "read-write"
			}
			fmt.Printf("%s: mounted %s (%s, bytes %d..%d of %s) on %s; `minidisk umount %s` releases it\n",
				img, dev, mode, loc.Offset, loc.Offset+loc.Size, img, dir, dir)
			return nil
		},
	}
}

// umountCommand unmounts what mountCommand mounted and frees its loop device.
func umountCommand() *cli.Command {
	return &cli.Command{
		Name:      "umount",
		Usage:     "unmount DIR and detach its loop device (root only)",
		ArgsUsage: "DIR",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("usage: minidisk umount DIR")
			}
			dev, err := loopmount.Unmount(c.Args().First())
			if err != nil {
				return err
			}
			fmt.Printf("%s: unmounted; %s released\n", c.Args().First(), dev)
			return nil
		},
	}
}
