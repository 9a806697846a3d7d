package main

import (
	"fmt"
	"os"

	"github.com/minidisk/minidisk/kernel"
	"github.com/urfave/cli/v2"
)

func kernelCommand() *cli.Command {
	return &cli.Command{
		Name:      "kernel",
		Usage:     "build (or reuse from the cache) a minimal kernel for an image and print its path",
		ArgsUsage: " ",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "profile", Value: "legacy", Usage: "legacy (GRUB, ext2 root on IDE) or efi (EFI stub, initramfs linked in)"},
			&cli.StringFlag{Name: "src", Usage: "kernel source `DIR|TARBALL` (default: newest /usr/src/linux-source-*.tar.xz)"},
			&cli.StringFlag{Name: "fragment", Usage: "extra config fragment `FILE` (CONFIG_X=y lines)"},
			&cli.StringFlag{Name: "initramfs", Usage: "cpio(.gz) `FILE` to link in (required for efi)"},
			&cli.StringFlag{Name: "out", Usage: "also copy the bzImage to `PATH`"},
			&cli.BoolFlag{Name: "force", Usage: "replace --out if it exists"},
			&cli.IntFlag{Name: "jobs", Usage: "make -j (default: all cores)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("kernel takes no arguments (got %q)", c.Args().First())
			}
			profile, err := kernel.ParseProfile(c.String("profile"))
			if err != nil {
				return err
			}
			prog := kernel.NewProgress(os.Stderr)
			res, err := kernel.Build(c.Context, kernel.BuildOptions{
				Profile:   profile,
				Source:    c.String("src"),
				Fragment:  c.String("fragment"),
				Initramfs: c.String("initramfs"),
				Jobs:      c.Int("jobs"),
				Progress:  prog,
			})
			prog.Close()
			if err != nil {
				return err
			}
			path := res.BzImage
			if out := c.String("out"); out != "" {
				if err := kernel.CopyOut(res.BzImage, out, c.Bool("force")); err != nil {
					return err
				}
				path = out
			}
			fmt.Println(path)
			return nil
		},
	}
}
