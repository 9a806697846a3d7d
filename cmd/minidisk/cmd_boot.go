package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/minidisk/minidisk/qemu"
	"github.com/urfave/cli/v2"
)

func bootCommand() *cli.Command {
	return &cli.Command{
		Name:      "boot",
		Usage:     "boot an image in QEMU with the serial console here; with --send/--expect, check that it boots to a working shell",
		ArgsUsage: "IMG",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "efi", Usage: "boot with OVMF (UEFI) on q35 instead of SeaBIOS"},
			&cli.StringFlag{Name: "memory", Value: "256M", Usage: "guest memory (M or G suffix)"},
			&cli.StringFlag{Name: "expect", Usage: "scripted check: succeed when the console prints `REGEX`"},
			&cli.StringSliceFlag{Name: "send", Usage: "scripted check: type `CMD` at the shell prompt (repeatable)"},
			&cli.DurationFlag{Name: "timeout", Value: 90 * time.Second, Usage: "scripted check: give up after this long"},
			&cli.BoolFlag{Name: "quiet", Usage: "scripted check: do not echo the console (the error still shows its end)"},
			&cli.BoolFlag{Name: "timeline", Usage: "timestamp each boot stage on the serial console (firmware, GRUB, kernel, root, init, prompt) and print how long each took"},
			&cli.BoolFlag{Name: "json", Usage: "--timeline: machine-readable"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("usage: minidisk boot IMG (one disk image; got %d arguments)", c.NArg())
			}
			mem, err := qemu.ParseMemory(c.String("memory"))
			if err != nil {
				return err
			}
			m := qemu.Machine{Image: c.Args().First(), EFI: c.Bool("efi"), MemoryMiB: mem}
			if c.Bool("timeline") {
				return bootTimeline(c, m)
			}
			if !c.IsSet("expect") && !c.IsSet("send") {
				return m.Interactive(c.Context, os.Stdin, os.Stdout, os.Stderr)
			}
			steps, err := qemu.Script(c.StringSlice("send"), c.String("expect"))
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
			defer cancel()
			if c.Bool("quiet") {
				_, err = m.Run(ctx, steps, nil)
			} else {
				_, err = m.Run(ctx, steps, os.Stdout)
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(os.Stderr, "\nminidisk: boot check passed")
			return nil
		},
	}
}

// bootTimeline runs `boot --timeline`: the image boots (never written),
// each stage is timestamped as it appears on the console.
func bootTimeline(c *cli.Context, m qemu.Machine) error {
	stages := qemu.LegacyTimeline()
	if m.EFI {
		stages = qemu.EFITimeline()
	}
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	var console io.Writer
	if !c.Bool("quiet") && !c.Bool("json") {
		console = os.Stderr
	}
	tl, err := m.Timeline(ctx, stages, console)
	if tl != nil {
		if c.Bool("json") {
			if jerr := tl.WriteJSON(c.App.Writer); jerr != nil {
				return jerr
			}
		} else {
			fmt.Fprintln(c.App.Writer)
			if terr := tl.WriteText(c.App.Writer); terr != nil {
				return terr
			}
		}
	}
	return err
}
