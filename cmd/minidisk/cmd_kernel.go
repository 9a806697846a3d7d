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
			&cli.BoolFlag{Name: "debian", Usage: "instead of building, fetch Debian's linux-image package (apt-get download + dpkg-deb -x into the cache, no root); its modules tree sits beside the kernel"},
			&cli.BoolFlag{Name: "refresh", Usage: "with --debian: ask apt for a newer package even when one is cached"},
			&cli.StringFlag{Name: "flavour", Value: "cloud-amd64", Usage: "with --debian: cloud-amd64 (virtual hardware: ide, virtio, nvme) or amd64 (generic: also ahci, usb)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("kernel takes no arguments (got %q)", c.Args().First())
			}
			if c.Bool("debian") {
				return debianKernel(c)
			}
			if c.IsSet("flavour") {
				return usagef("--flavour selects a Debian kernel: add --debian")
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

// debianKernel is `kernel --debian`: fetch, print the kernel's path, and
// say where its modules are.
func debianKernel(c *cli.Context) error {
	for _, f := range []string{"profile", "src", "fragment", "initramfs", "jobs"} {
		if c.IsSet(f) {
			return usagef("--%s builds a kernel; --debian fetches Debian's: give one or the other", f)
		}
	}
	prog := kernel.NewProgress(os.Stderr)
	k, err := kernel.FetchDebian(c.Context, kernel.DebianOptions{Flavour: c.String("flavour"), Refresh: c.Bool("refresh"), Progress: prog})
	prog.Close()
	if err != nil {
		return err
	}
	path := k.Kernel
	if out := c.String("out"); out != "" {
		if err := kernel.CopyOut(k.Kernel, out, c.Bool("force")); err != nil {
			return err
		}
		path = out
	}
	fmt.Fprintf(os.Stderr, "kernel: %s %s; modules: %s\n", k.Package, k.Version, k.ModulesDir)
	fmt.Println(path)
	return nil
}
