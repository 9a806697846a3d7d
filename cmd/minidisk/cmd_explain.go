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
		Name:      "explain",
		Usage:     "show the anatomy of a boot disk, byte by byte: mbr, gap, fs, path FILE, boot (read-only)",
		ArgsUsage: "IMG [mbr|gap|fs|path FILE|boot]",
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
				return cli.Exit("usage: minidisk explain IMG [mbr|gap|fs|path FILE|boot] [--json] [--html FILE]", 2)
			}
			img := c.Args().Get(0)
			what, arg := c.Args().Get(1), c.Args().Get(2)
			if what == "" {
				what = "boot"
			}
			// Read-only: explain never changes the image.
			f, err := os.Open(img)
			if err != nil {
				return cli.Exit(fmt.Sprintf("%v (give explain a readable disk image)", err), 2)
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				return cli.Exit(fmt.Sprintf("%s: %v", img, err), 2)
			}
			size := fi.Size()
			if fi.Mode()&os.ModeDevice != 0 {
				if size, err = f.Seek(0, 2); err != nil {
					return cli.Exit(fmt.Sprintf("%s: %v", img, err), 2)
				}
			}
			d, err := explain.Open(f, size, img)
			if err != nil {
				return cli.Exit(err.Error(), 2)
			}
			if out := c.String("html"); out != "" {
				p := c.String("path")
				if what == "path" && arg != "" {
					p = arg
				}
				return d.WriteHTMLFile(out, c.Bool("force"), explain.HTMLOptions{Path: p, Large: c.Bool("large")})
			}
			if what == "path" && arg == "" {
				return cli.Exit("explain IMG path FILE: name the file, e.g. /boot/vmlinuz", 2)
			}
			v, err := d.Explain(what, arg)
			if err != nil {
				if errors.Is(err, explain.ErrUnknownView) {
					return cli.Exit(err.Error(), 2)
				}
				return cli.Exit(err.Error(), 1)
			}
			if c.Bool("json") {
				return v.WriteJSON(c.App.Writer)
			}
			topt := picture.TerminalOptions(c.App.Writer, c.Bool("ascii"), os.Getenv)
			return v.WriteText(c.App.Writer, explain.TextOptions{Width: topt.Width, Color: topt.Color, ASCII: c.Bool("ascii")})
		},
	}
}
