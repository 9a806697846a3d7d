package main

import (
	"fmt"
	"os"

	"github.com/minidisk/minidisk/disk"
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
	switch a := c.String("align"); a {
	case "":
	case "1MiB", "1M", "1m", "1mib", "2048s":
		opt.Align1MiB = true
	default:
		return opt, fmt.Errorf("--align %q: only 1MiB is supported (omit it for the sector-63 layout)", a)
	}
	if s := c.String("part-size"); s != "" {
		n, err := disk.ParseSize(s)
		if err != nil {
			return opt, fmt.Errorf("--part-size: %v", err)
		}
		opt.PartBytes = n
	}
	g, err := disk.ParseGeometry(c.String("geometry"))
	if err != nil {
		return opt, fmt.Errorf("--geometry: %v", err)
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
