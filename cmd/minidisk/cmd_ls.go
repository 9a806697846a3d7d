package main

import (
	"fmt"
	"os"

	"github.com/minidisk/minidisk/rootfs/ext2"
	"github.com/urfave/cli/v2"
)

// lsCommand lists a path inside an image's ext2 filesystem without root.
func lsCommand() *cli.Command {
	return &cli.Command{
		Name:      "ls",
		Usage:     "list a directory inside an image's ext2 filesystem (no root, no mount)",
		ArgsUsage: "IMG[:PATH]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "l", Usage: "long listing: mode, links, uid, gid, size or major, minor, mtime (UTC), name -> target"},
			&cli.BoolFlag{Name: "R", Usage: "list subdirectories recursively"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("usage: minidisk ls IMG[:PATH] [-l] [-R]")
			}
			img, name, err := splitImagePath(c.Args().First())
			if err != nil {
				return err
			}
			im, err := ext2.OpenImage(img)
			if err != nil {
				return err
			}
			defer im.Close()
			if err := listImage(im, os.Stdout, name, listOptions{Long: c.Bool("l"), Recursive: c.Bool("R")}); err != nil {
				return fmt.Errorf("%s: %w", img, err)
			}
			return nil
		},
	}
}

// catCommand prints a file inside an image's ext2 filesystem without root.
func catCommand() *cli.Command {
	return &cli.Command{
		Name:      "cat",
		Usage:     "print a file inside an image's ext2 filesystem (no root, no mount)",
		ArgsUsage: "IMG:PATH",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("usage: minidisk cat IMG:PATH")
			}
			img, name, err := splitImagePath(c.Args().First())
			if err != nil {
				return err
			}
			if name == "/" {
				return fmt.Errorf("%s: give the file to print as IMG:PATH, e.g. `minidisk cat IMG:/boot/grub/grub.conf`", img)
			}
			im, err := ext2.OpenImage(img)
			if err != nil {
				return err
			}
			defer im.Close()
			if err := im.Cat(os.Stdout, name); err != nil {
				return fmt.Errorf("%s: %w", img, err)
			}
			return nil
		},
	}
}
