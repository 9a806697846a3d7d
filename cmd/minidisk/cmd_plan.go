package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/disk/picture"
	"github.com/urfave/cli/v2"
)

func planCommand() *cli.Command {
	return &cli.Command{
		Name:      "plan",
		Usage:     "explain IMG's partition layout (offset, sectors, block counts, each with why, and a picture), or plan a new one with --size",
		ArgsUsage: "IMG | --size SIZE",
		Flags: append(layoutFlags(),
			&cli.StringFlag{Name: "size", Usage: "plan a new layout for an image of this `SIZE` (without it, plan IMG explains IMG's partition table)"},
			&cli.BoolFlag{Name: "json", Usage: "machine-readable output"},
			&cli.BoolFlag{Name: "ascii", Usage: "draw the picture in plain ASCII (no box drawing, no colour)"},
			&cli.StringFlag{Name: "svg", Usage: "also write the picture as a standalone SVG `FILE`"},
			&cli.BoolFlag{Name: "force", Usage: "replace an existing --svg file"},
			&cli.StringFlag{Name: "picture", Value: "both", Usage: "which layouts to draw: planned, naive (mke2fs without a block count) or both"},
		),
		Action: func(c *cli.Context) error {
			var l *disk.Layout
			var fsNote string
			switch {
			case c.IsSet("size") && c.NArg() == 0:
				size, err := sizeFlag(c, "size")
				if err != nil {
					return err
				}
				opt, err := layoutOptions(c, size)
				if err != nil {
					return err
				}
				if l, err = disk.PlanLayout(opt); err != nil {
					return err
				}
			case !c.IsSet("size") && c.NArg() == 1:
				// plan IMG explains the layout IMG has, as mkfs reads it.
				for _, name := range []string{"align", "start", "cylinder-align", "part-size", "geometry", "no-boot-flag"} {
					if c.IsSet(name) {
						return usagef("--%s plans a new layout; `minidisk plan IMG` explains the table IMG has (plan a new one with `minidisk plan --size SIZE --%s …`)", name, name)
					}
				}
				var err error
				if l, fsNote, err = readImageLayout(c.Args().First(), c.Int("block-size")); err != nil {
					return err
				}
			default:
				return usagef("usage: minidisk plan IMG | minidisk plan --size SIZE [layout flags]")
			}
			// The planned layout, and below it what mke2fs makes without a
			// block count (the overrun behind GRUB's Error 24).
			var pics []picture.Picture
			switch c.String("picture") {
			case "both":
				pics = append(pics, picture.FromLayout(l, picture.DefaultStage15Sectors), picture.Naive(l, picture.DefaultStage15Sectors))
			case "planned":
				pics = append(pics, picture.FromLayout(l, picture.DefaultStage15Sectors))
			case "naive":
				pics = append(pics, picture.Naive(l, picture.DefaultStage15Sectors))
			default:
				return usagef("--picture %q: give planned, naive or both", c.String("picture"))
			}
			if path := c.String("svg"); path != "" {
				if err := picture.WriteSVGFile(path, c.Bool("force"), pics...); err != nil {
					return err
				}
			}
			if c.Bool("json") {
				e := json.NewEncoder(c.App.Writer)
				e.SetIndent("", "  ")
				return e.Encode(l.JSON())
			}
			out, textOpt, done := textOutput(c)
			defer done()
			if err := l.WriteTextWidth(out, textOpt.Width); err != nil {
				return err
			}
			if fsNote != "" {
				fmt.Fprintf(out, "\n%s\n", strings.Join(disk.WrapWords(fsNote, textOpt.Width), "\n"))
			}
			for _, p := range pics {
				if _, err := fmt.Fprintln(out); err != nil {
					return err
				}
				if err := picture.RenderText(out, p, textOpt); err != nil {
					return err
				}
			}
			return nil
		},
	}
}
