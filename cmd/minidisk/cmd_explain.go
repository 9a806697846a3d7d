package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/minidisk/minidisk/disk/picture"
	"github.com/minidisk/minidisk/explain"
	"github.com/urfave/cli/v2"
)

func explainCommand() *cli.Command {
	return &cli.Command{
		Name:        "explain",
		Usage:       "show the anatomy of a boot disk, byte by byte: mbr, gap, fs, path FILE, boot (read-only)",
		Description: "Reads IMG and never writes it. Views, in boot order: mbr (sector 0: boot code, GRUB stage1's patched fields, the four partition entries with their CHS arithmetic, 55 AA), gap (the embedded stage1.5, its blocklist and the stage2 path), fs (the ext2 superblock and group descriptors on the layout picture), path FILE (root inode 2 → directory entries → inode → block pointers → sectors, with the dd that prints them), boot (the whole chain, each step naming the bytes it reads; the default). Every number comes with its byte offset in IMG.\n\nExit status: 0 shown, 1 the view does not apply to IMG or IMG cannot be read, 64 usage error.",
		ArgsUsage:   "IMG [mbr|gap|fs|path FILE|boot]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "machine-readable view"},
			&cli.BoolFlag{Name: "ascii", Usage: "draw the layout picture in plain ASCII"},
			&cli.StringFlag{Name: "html", Usage: "write every view as one self-contained HTML page to `FILE`"},
			&cli.BoolFlag{Name: "large", Usage: "--html: large type, for a projector"},
			&cli.StringFlag{Name: "path", Value: "/boot/vmlinuz", Usage: "--html: the file whose walk the page shows"},
			&cli.BoolFlag{Name: "force", Usage: "replace an existing --html file"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() < 1 || c.NArg() > 3 {
				return usagef("minidisk explain takes IMG and at most a view and a path (see `minidisk explain --help`)")
			}
			img := c.Args().Get(0)
			what, arg := c.Args().Get(1), c.Args().Get(2)
			if what == "" {
				what = "boot"
			}
			// Read-only: explain never changes the image.
			f, err := os.Open(img)
			if err != nil {
				return fmt.Errorf("%w (give explain a readable disk image)", err)
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				return fmt.Errorf("%s: %w", img, err)
			}
			size := fi.Size()
			if fi.Mode()&os.ModeDevice != 0 {
				if size, err = f.Seek(0, 2); err != nil {
					return fmt.Errorf("%s: %w", img, err)
				}
			}
			d, err := explain.Open(f, size, img)
			if err != nil {
				return err
			}
			if out := c.String("html"); out != "" {
				p := c.String("path")
				if what == "path" && arg != "" {
					p = arg
				}
				return d.WriteHTMLFile(out, c.Bool("force"), explain.HTMLOptions{Path: p, Large: c.Bool("large")})
			}
			if what == "path" && arg == "" {
				return usagef("explain IMG path FILE: name the file, e.g. /boot/vmlinuz (see `minidisk explain --help`)")
			}
			v, err := d.Explain(what, arg)
			if err != nil {
				if errors.Is(err, explain.ErrUnknownView) {
					return usagef("%v (see `minidisk explain --help`)", err)
				}
				return err
			}
			if c.Bool("json") {
				return v.WriteJSON(c.App.Writer)
			}
			topt := picture.TerminalOptions(c.App.Writer, c.Bool("ascii"), os.Getenv)
			return v.WriteText(c.App.Writer, explain.TextOptions{Width: topt.Width, Color: topt.Color, ASCII: c.Bool("ascii")})
		},
	}
}
