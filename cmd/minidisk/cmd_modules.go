package main

import (
	"encoding/json"
	"fmt"

	"github.com/minidisk/minidisk/kernel"
	"github.com/minidisk/minidisk/kmod"
	"github.com/urfave/cli/v2"
)

func modulesCommand() *cli.Command {
	return &cli.Command{
		Name:      "modules",
		Usage:     "list the kernel modules a target disk/filesystem or named modules need, in load order, by reading each module's .modinfo (a pure-Go modprobe --show-depends)",
		ArgsUsage: "[NAME...]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "modules", Usage: "modules tree `DIR`: a lib/modules/VERSION directory or a root holding one (default: beside --kernel, else /lib/modules/VERSION)"},
			&cli.StringFlag{Name: "kernel", Usage: "the kernel `FILE` the modules are for: its release is checked against the modules' vermagic"},
			&cli.StringFlag{Name: "for", Usage: "comma-separated `TARGETS`: ide, ahci, virtio, nvme, usb (disks), ext2, ext4, vfat (filesystems)"},
			&cli.BoolFlag{Name: "json", Usage: "machine-readable output"},
		},
		Action: func(c *cli.Context) error {
			targets, err := kmod.ParseTargets(c.String("for"))
			if err != nil {
				return usagef("%v", err)
			}
			if len(targets) == 0 && c.NArg() == 0 {
				return usagef("usage: minidisk modules --modules DIR [--for ide,virtio,...] [NAME...] [--json] (give --for or a module name)")
			}
			dir, release := c.String("modules"), ""
			if k := c.String("kernel"); k != "" {
				info, err := kernel.InspectHeaderFile(k)
				if err != nil {
					return fmt.Errorf("--kernel %w", err)
				}
				release = info.Release()
				if dir == "" {
					if dir, err = kmod.FindTree(k, release); err != nil {
						return err
					}
				}
			}
			if dir == "" {
				return usagef("no modules tree: give --modules DIR (a lib/modules/VERSION directory) or --kernel FILE to find the one beside it")
			}
			tree, err := kmod.Open(dir, release)
			if err != nil {
				return err
			}
			closure, err := tree.Resolve(targets, c.Args().Slice())
			if err != nil {
				return err
			}
			if c.Bool("json") {
				e := json.NewEncoder(c.App.Writer)
				e.SetIndent("", "  ")
				return e.Encode(closure)
			}
			return kmod.WriteText(c.App.Writer, closure)
		},
	}
}
