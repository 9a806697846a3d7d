package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/efi"
	"github.com/minidisk/minidisk/initramfs"
	"github.com/minidisk/minidisk/kernel"
	"github.com/minidisk/minidisk/rootfs"
	"github.com/minidisk/minidisk/rootfs/cpio"
)

func initramfsFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "busybox", Usage: "BusyBox `PATH`, static or dynamic (default: the static one from scripts/fetch-busybox-static.sh if present, else /bin/busybox)"},
		&cli.StringFlag{Name: "init", Usage: "executable `FILE` to use as /init (default: mount proc, sysfs, devtmpfs; banner; exec sh)"},
		&cli.StringSliceFlag{Name: "add", Usage: "copy host `SRC:DST` into the initramfs (repeatable)"},
	}
}

func initramfsOptions(c *cli.Context) (initramfs.Options, error) {
	o := initramfs.Options{BusyBox: c.String("busybox"), Init: c.String("init")}
	for _, s := range c.StringSlice("add") {
		a, err := initramfs.ParseAdd(s)
		if err != nil {
			return o, err
		}
		o.Adds = append(o.Adds, a)
	}
	epoch, ok, err := rootfs.SourceDateEpoch()
	if err != nil {
		return o, err
	}
	if ok {
		o.Epoch = epoch
	}
	return o, nil
}

func initramfsCommand() *cli.Command {
	return &cli.Command{
		Name:      "initramfs",
		Usage:     "write a BusyBox initramfs (gzip'd newc cpio) for the EFI variant",
		ArgsUsage: "OUT.cpio.gz",
		Flags: append(initramfsFlags(),
			&cli.StringFlag{Name: "compress", Value: "gzip", Usage: "gzip, xz (needs RD_XZ), zstd (needs RD_ZSTD) or none; the efi profile has RD_GZIP"},
			&cli.BoolFlag{Name: "force", Usage: "replace OUT if it exists"},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("initramfs takes one argument, the output file (e.g. minidisk initramfs initramfs.cpio.gz)")
			}
			o, err := initramfsOptions(c)
			if err != nil {
				return err
			}
			comp, err := cpio.ParseCompression(c.String("compress"))
			if err != nil {
				return err
			}
			n, err := initramfs.Build(c.Args().First(), c.Bool("force"), o, comp)
			if err != nil {
				return err
			}
			fmt.Printf("%s: %d bytes\n", c.Args().First(), n)
			return nil
		},
	}
}

func efiCommand() *cli.Command {
	return &cli.Command{
		Name:      "efi",
		Usage:     "build the UEFI variant: initramfs, EFI-stub kernel with it built in, GPT disk with a FAT32 ESP holding \\EFI\\BOOT\\BOOTX64.EFI",
		ArgsUsage: "OUT.img",
		Flags: append(initramfsFlags(),
			&cli.StringFlag{Name: "kernel-src", Usage: "kernel source `DIR|TARBALL` for the efi profile (default: newest /usr/src/linux-source-*.tar.xz)"},
			&cli.StringFlag{Name: "kernel", Usage: "prebuilt EFI-stub kernel `FILE` with its initramfs already built in (skips the build)"},
			&cli.StringFlag{Name: "efi-out", Usage: "also write the bare BOOTX64.EFI to `FILE`"},
			&cli.StringFlag{Name: "size", Value: "64M", Usage: "image `SIZE` (FAT32 needs an ESP of about 33 MiB at least)"},
			&cli.IntFlag{Name: "jobs", Usage: "make -j for the kernel build (default: all cores)"},
			&cli.BoolFlag{Name: "force", Usage: "replace outputs that exist"},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("efi takes one argument, the output image (e.g. minidisk efi efi.img)")
			}
			if c.IsSet("kernel") && c.IsSet("kernel-src") {
				return fmt.Errorf("give --kernel (prebuilt) or --kernel-src (build), not both")
			}
			if c.IsSet("kernel") && (c.IsSet("busybox") || c.IsSet("init") || c.IsSet("add")) {
				return fmt.Errorf("--kernel already has its initramfs built in; --busybox, --init and --add only apply when the kernel is built (--kernel-src)")
			}
			size, err := disk.ParseSize(c.String("size"))
			if err != nil {
				return fmt.Errorf("--size: %v", err)
			}
			iopts, err := initramfsOptions(c)
			if err != nil {
				return err
			}
			prog := kernel.NewProgress(os.Stderr)
			res, err := efi.Build(c.Context, efi.Options{
				Out: c.Args().First(), Force: c.Bool("force"), Size: size,
				Kernel: c.String("kernel"), KernelSource: c.String("kernel-src"),
				Initramfs: iopts, EFIOut: c.String("efi-out"), Epoch: iopts.Epoch,
				Jobs: c.Int("jobs"), Progress: prog,
			})
			prog.Close()
			if err != nil {
				return err
			}
			if res.InitramfsSize > 0 {
				fmt.Printf("initramfs    %9d bytes (gzip'd newc cpio)\n", res.InitramfsSize)
			}
			how := "built"
			if c.IsSet("kernel") {
				how = "prebuilt"
			} else if res.KernelCached {
				how = "cached"
			}
			if res.InitramfsSize > 0 {
				// The gzip'd cpio is linked in as is and barely shrinks again
				// in the compressed kernel, so the difference is the kernel's share.
				fmt.Printf("kernel      ~%9d bytes without the initramfs (%s, %s)\n", res.EFISize-res.InitramfsSize, res.Kernel, how)
			} else {
				fmt.Printf("kernel       %s (%s)\n", res.Kernel, how)
			}
			fmt.Printf("BOOTX64.EFI  %9d bytes (kernel with the initramfs built in)\n", res.EFISize)
			fmt.Printf("image        %9d bytes (%s: GPT, ESP sectors %d-%d, FAT32)\n", res.Image.DiskSize, c.Args().First(), res.Image.Start, res.Image.End)
			return nil
		},
	}
}

func flashCommand() *cli.Command {
	return &cli.Command{
		Name:      "flash",
		Usage:     "write an image (either variant) to a removable disk, then verify it by reading it back",
		ArgsUsage: "IMG DEVICE",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "yes", Usage: "do not ask for confirmation"},
			&cli.BoolFlag{Name: "force", Usage: "allow a disk the kernel does not report as removable"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return fmt.Errorf("flash takes two arguments: the image and the device (e.g. minidisk flash efi.img /dev/sdb)")
			}
			o := efi.FlashOptions{Yes: c.Bool("yes"), Force: c.Bool("force")}
			if term.IsTerminal(int(os.Stdin.Fd())) {
				o.Confirm = func(q string) (bool, error) {
					fmt.Fprintf(os.Stderr, "%s\nType yes to continue: ", q)
					line, err := bufio.NewReader(os.Stdin).ReadString('\n')
					if err != nil && err != io.EOF {
						return false, err
					}
					return strings.TrimSpace(line) == "yes", nil
				}
			}
			// The bar goes to stderr and only on a terminal, so logs stay clean.
			if term.IsTerminal(int(os.Stderr.Fd())) {
				o.Progress = func(total int64) io.Writer {
					return progressbar.DefaultBytes(total, "write + verify")
				}
			}
			d, err := efi.Flash(c.Context, c.Args().Get(0), c.Args().Get(1), o)
			if err != nil {
				return err
			}
			fmt.Printf("%s: written, synced and verified (%s)\n", d.Path, c.Args().Get(0))
			return nil
		},
	}
}
