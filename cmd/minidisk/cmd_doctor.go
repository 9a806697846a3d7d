package main

import (
	"fmt"
	"os"

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
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return cli.Exit("usage: minidisk doctor IMG [--json] [--verbose]", 2)
			}
			img := c.Args().First()
			// Read-only: doctor never changes the image.
			f, err := os.Open(img)
			if err != nil {
				return cli.Exit(fmt.Sprintf("%v (give doctor a readable disk image)", err), 2)
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
				err = rep.WriteText(c.App.Writer, doctor.TextOptions{Verbose: c.Bool("verbose"), Symbols: c.App.Writer == os.Stdout && isTerminal(os.Stdout)})
			}
			if err != nil {
				return cli.Exit(err.Error(), 2)
			}
			if code := rep.ExitCode(); code != 0 {
				// The report is the message; exit silently with its code.
				return cli.Exit("", code)
			}
			return nil
		},
	}
}
