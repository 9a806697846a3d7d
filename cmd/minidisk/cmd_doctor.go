package main

import (
	"fmt"
	"os"

	"github.com/minidisk/minidisk/disk/picture"
	"github.com/minidisk/minidisk/doctor"
	"github.com/urfave/cli/v2"
)

func doctorCommand() *cli.Command {
	return &cli.Command{
		Name:      "doctor",
		Usage:     "say exactly why an image will not boot (read-only); exit 0 bootable, 1 errors, 2 unreadable",
		ArgsUsage: "IMG",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "machine-readable report"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "show the evidence of ok findings too"},
			&cli.BoolFlag{Name: "ascii", Usage: "draw the layout in plain ASCII (no colour, no box drawing)"},
			&cli.BoolFlag{Name: "no-picture", Usage: "do not draw the layout under the findings"},
			&cli.StringFlag{Name: "svg", Usage: "also write the layout picture as an SVG file"},
			&cli.BoolFlag{Name: "force", Usage: "replace an existing --svg file"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("usage: minidisk doctor IMG [--json] [--verbose]")
			}
			img := c.Args().First()
			// Read-only: doctor never changes the image.
			f, err := os.Open(img)
			if err != nil {
				what := "cannot read it"
				if os.IsNotExist(err) {
					what = "no such file"
				} else if os.IsPermission(err) {
					what = "permission denied"
				}
				return cli.Exit(fmt.Sprintf("%s: %s (give doctor a readable disk image)", img, what), 2)
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				return cli.Exit(fmt.Sprintf("%s: %v", img, err), 2)
			}
			if !fi.Mode().IsRegular() && fi.Mode()&os.ModeDevice == 0 {
				return cli.Exit(fmt.Sprintf("%s: not a file or block device (give doctor a disk image)", img), 2)
			}
			size := fi.Size()
			if fi.Mode()&os.ModeDevice != 0 {
				if size, err = f.Seek(0, 2); err != nil {
					return cli.Exit(fmt.Sprintf("%s: %v", img, err), 2)
				}
			}
			rep := doctor.Diagnose(f, size, doctor.Options{Name: img})
			if c.Bool("json") {
				err = rep.WriteJSON(c.App.Writer)
			} else {
				out, _, done := textOutput(c)
				defer done()
				err = rep.WriteText(out, doctor.TextOptions{Verbose: c.Bool("verbose"), Symbols: !c.Bool("ascii") && c.App.Writer == os.Stdout && isTerminal(os.Stdout)})
			}
			if err != nil {
				return cli.Exit(err.Error(), 2)
			}
			// A picture that cannot be drawn or written is a failure (1),
			// not an unreadable image (2).
			if err := drawDoctorPicture(c, rep); err != nil {
				return err
			}
			if code := rep.ExitCode(); code != 0 {
				// The report is the message; exit silently with its code.
				return cli.Exit("", code)
			}
			return nil
		},
	}
}

// drawDoctorPicture draws the diagnosed layout (partition, filesystem,
// blocks past the end and the files that own them) under the text report,
// and writes it as SVG with --svg. Images without an MBR filesystem have
// nothing to draw.
func drawDoctorPicture(c *cli.Context, rep *doctor.Report) error {
	facts, ok := rep.PictureFacts()
	if !ok {
		if c.String("svg") != "" {
			return fmt.Errorf("--svg: %s has no MBR partition with a filesystem to draw", rep.Image)
		}
		return nil
	}
	pic, err := picture.FromImage(facts)
	if err != nil {
		// The findings already say what is wrong with these numbers.
		if c.String("svg") != "" {
			return fmt.Errorf("--svg: %w", err)
		}
		return nil
	}
	if !c.Bool("json") && !c.Bool("no-picture") {
		out, opt, done := textOutput(c)
		defer done()
		fmt.Fprintln(out)
		if err := picture.RenderText(out, pic, opt); err != nil {
			return err
		}
	}
	if path := c.String("svg"); path != "" {
		return picture.WriteSVGFile(path, c.Bool("force"), pic)
	}
	return nil
}
