package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/disk/picture"
	"github.com/urfave/cli/v2"
)

func planCommand() *cli.Command {
	return &cli.Command{
		Name:      "plan",
		Usage:     "print the layout numbers (offset, sectors, aligned block counts), each with why, and a picture of the layout",
		ArgsUsage: "[IMG]",
		Flags: append(layoutFlags(),
			&cli.StringFlag{Name: "size", Usage: "plan for an image of this size instead of an existing IMG"},
			&cli.BoolFlag{Name: "json", Usage: "machine-readable output"},
			&cli.BoolFlag{Name: "ascii", Usage: "draw the picture in plain ASCII (no box drawing, no colour)"},
			&cli.StringFlag{Name: "svg", Usage: "also write the picture as a standalone SVG `FILE`"},
			&cli.BoolFlag{Name: "force", Usage: "replace an existing --svg file"},
			&cli.StringFlag{Name: "picture", Value: "both", Usage: "which layouts to draw: planned, naive (mke2fs without a block count) or both"},
		),
		Action: func(c *cli.Context) error {
			var size int64
			var err error
			switch {
			case c.String("size") != "" && c.NArg() == 0:
				if size, err = disk.ParseSize(c.String("size")); err != nil {
					return fmt.Errorf("--size: %v", err)
				}
			case c.String("size") == "" && c.NArg() == 1:
				if size, err = imageSize(c.Args().First()); err != nil {
					return err
				}
			default:
				return fmt.Errorf("usage: minidisk plan (IMG | --size SIZE) [layout flags]")
			}
			opt, err := layoutOptions(c, size)
			if err != nil {
				return err
			}
			l, err := disk.PlanLayout(opt)
			if err != nil {
				return err
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
				return fmt.Errorf("--picture %q: give planned, naive or both", c.String("picture"))
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
			if err := l.WriteText(c.App.Writer); err != nil {
				return err
			}
			textOpt := picture.TerminalOptions(c.App.Writer, c.Bool("ascii"), os.Getenv)
			for _, p := range pics {
				if _, err := fmt.Fprintln(c.App.Writer); err != nil {
					return err
				}
				if err := picture.RenderText(c.App.Writer, p, textOpt); err != nil {
					return err
				}
			}
			return nil
		},
	}
}
