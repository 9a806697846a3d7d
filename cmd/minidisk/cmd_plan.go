package main

import (
	"encoding/json"
	"fmt"

	"github.com/minidisk/minidisk/disk"
	"github.com/urfave/cli/v2"
)

func planCommand() *cli.Command {
	return &cli.Command{
		Name:      "plan",
		Usage:     "print the layout numbers (offset, sectors, aligned block counts), each with why",
		ArgsUsage: "[IMG]",
		Flags: append(layoutFlags(),
			&cli.StringFlag{Name: "size", Usage: "plan for an image of this size instead of an existing IMG"},
			&cli.BoolFlag{Name: "json", Usage: "machine-readable output"},
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
			if c.Bool("json") {
				e := json.NewEncoder(c.App.Writer)
				e.SetIndent("", "  ")
				return e.Encode(l.JSON())
			}
			return l.WriteText(c.App.Writer)
		},
	}
}
