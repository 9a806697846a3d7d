package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/minidisk/minidisk/efi"
	"github.com/minidisk/minidisk/efi/uki"
	"github.com/minidisk/minidisk/flash"
	"github.com/minidisk/minidisk/initramfs"
	"github.com/minidisk/minidisk/internal/termprogress"
	"github.com/minidisk/minidisk/kernel"
	"github.com/minidisk/minidisk/rootfs"
	"github.com/minidisk/minidisk/rootfs/cpio"
)

func initramfsFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "busybox", Usage: "BusyBox `PATH`, static or dynamic (default: Debian's static BusyBox, fetched into the cache with apt-get download + dpkg-deb -x when missing; without apt, /bin/busybox with its libraries)"},
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
		Usage:     "write a BusyBox initramfs (gzip'd newc cpio): the EFI variant's whole system, or with --kernel the one a modular kernel needs to load its disk drivers and switch_root",
		ArgsUsage: "OUT.cpio.gz",
		Flags: append(initramfsFlags(),
			&cli.StringFlag{Name: "kernel", Usage: "build the initramfs for this modular kernel `FILE`: its disk driver modules, an /init that loads them, mounts root= and switch_roots"},
			&cli.StringFlag{Name: "modules", Usage: "with --kernel: the modules tree `DIR` (lib/modules/VERSION or a root holding it; default: beside the kernel, else /lib/modules/VERSION)"},
			&cli.StringFlag{Name: "for", Value: "ide", Usage: "with --kernel: the disk `TARGET` (ide, ahci, virtio, nvme, usb)"},
			&cli.StringFlag{Name: "compress", Value: "gzip", Usage: "gzip, xz (needs RD_XZ), zstd (needs RD_ZSTD) or none; the efi profile has RD_GZIP"},
			&cli.BoolFlag{Name: "force", Usage: "replace OUT if it exists"},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("initramfs takes one argument, the output file (e.g. minidisk initramfs initramfs.cpio.gz)")
			}
			comp, err := cpio.ParseCompression(c.String("compress"))
			if err != nil {
				return err
			}
			out := c.Args().First()
			if !c.IsSet("kernel") {
				if c.IsSet("modules") || c.IsSet("for") {
					return fmt.Errorf("--modules and --for need --kernel (the modular kernel the initramfs is for)")
				}
				o, err := initramfsOptions(c)
				if err != nil {
					return err
				}
				how := "given with --busybox"
				if o.BusyBox == "" {
					o.BusyBox, how = initramfs.BusyBoxForInitramfs(c.Context)
				}
				n, err := initramfs.Build(out, c.Bool("force"), o, comp)
				if err != nil {
					return err
				}
				fmt.Printf("%s: %d bytes\n", out, n)
				fmt.Printf("busybox: %s (%s)\n", o.BusyBox, how)
				return nil
			}
			if c.IsSet("init") || c.IsSet("add") {
				return fmt.Errorf("--init and --add do not apply with --kernel: its /init loads the modules and switch_roots to the root's init")
			}
			plan, err := initramfs.CheckKernel(c.String("kernel"), c.String("modules"), c.String("for"))
			if err != nil {
				return err
			}
			o, err := initramfsOptions(c)
			if err != nil {
				return err
			}
			mo := initramfs.ModularOptions{BusyBox: o.BusyBox, Epoch: o.Epoch}
			how := "--busybox"
			if mo.BusyBox == "" {
				mo.BusyBox, how = initramfs.BusyBoxForInitramfs(c.Context)
			}
			tree, err := plan.Tree(mo)
			if err != nil {
				return err
			}
			write := func(w io.Writer) error { return initramfs.Write(w, tree, comp) }
			if comp == cpio.Gzip {
				write = func(w io.Writer) error { return initramfs.WriteModular(w, tree) } // gzip -6: see WriteModular
			}
			n, err := initramfs.WriteFile(out, c.Bool("force"), write)
			if err != nil {
				return err
			}
			w := c.App.Writer
			fmt.Fprintf(w, "%s: %d bytes, for kernel %s, target %s\n", out, n, plan.Release, plan.Target)
			for _, r := range plan.Reasons {
				fmt.Fprintf(w, "  %s\n", r)
			}
			if len(plan.Modules) > 0 {
				fmt.Fprintf(w, "modules, in load order (from %s):\n", plan.ModulesDir)
				for _, m := range plan.Modules {
					fmt.Fprintf(w, "  %-24s %s\n", m.Name, m.Why)
				}
			}
			fmt.Fprintf(w, "busybox: %s (%s)\n", mo.BusyBox, how)
			fmt.Fprintf(w, "/init mounts root= with -t %s (rootfstype= overrides) and switch_roots to init= (default /sbin/init, else /bin/sh)\n", plan.RootFSType)
			return nil
		},
	}
}

// ukiFlags are the flags that make BOOTX64.EFI a Unified Kernel Image.
func ukiFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "initrd", Usage: "the UKI's initramfs: auto (BusyBox, /init, /dev/console), none, or a `FILE`; with efi, builtin means --kernel has its initramfs linked in and is BOOTX64.EFI itself (default: auto)"},
		&cli.StringFlag{Name: "cmdline", Usage: "kernel command `LINE` for the UKI's .cmdline (default: " + efi.DefaultCmdline + "; firmware passes none to BOOTX64.EFI)"},
		&cli.StringFlag{Name: "stub", Usage: "systemd's EFI stub `FILE` (default: " + uki.HostStub + ", else Debian's systemd-boot-efi fetched into the cache)"},
		&cli.StringFlag{Name: "modules", Usage: "kernel modules `DIR` (lib/modules/VERSION) for an automatic initramfs that mounts root= (default: beside the kernel, else /lib/modules/VERSION)"},
		&cli.StringFlag{Name: "for", Usage: "with root= in --cmdline: the `TARGET` disk whose drivers the automatic initramfs loads (ide, ahci, virtio, nvme, usb; default ide)"},
	}
}

func ukiOptions(c *cli.Context) (*efi.UKIOptions, error) {
	iopts, err := initramfsOptions(c)
	if err != nil {
		return nil, err
	}
	o := &efi.UKIOptions{
		Kernel: c.String("kernel"), Initrd: c.String("initrd"), Cmdline: c.String("cmdline"),
		Stub: c.String("stub"), Modules: c.String("modules"), Target: c.String("for"), Initramfs: iopts,
		Log: func(s string) { fmt.Fprintln(os.Stderr, s) },
	}
	if o.Initrd == "" {
		o.Initrd = efi.InitrdAuto
	}
	if o.Initrd != efi.InitrdAuto && (c.IsSet("busybox") || c.IsSet("init") || c.IsSet("add") || c.IsSet("modules") || c.IsSet("for")) {
		return nil, usagef("--busybox, --init, --add, --modules and --for build the initramfs; they need --initrd auto, not --initrd %s", o.Initrd)
	}
	if c.IsSet("cmdline") && o.Cmdline == "" {
		return nil, usagef("--cmdline: empty; give the kernel command line, e.g. --cmdline 'console=ttyS0'")
	}
	return o, nil
}

// printUKI describes a UKI: where each part came from and each section.
func printUKI(r *efi.UKIResult) {
	fmt.Printf("stub         %s (%s, %s)\n", r.StubVersion, r.Stub.Path, r.Stub.Why)
	fmt.Printf("kernel       %s (%s)\n", r.KernelVersion, r.KernelPath)
	switch {
	case r.AutoInitramfs:
		kind := staticOrNot(r.BusyBox.Static)
		what := "the whole system: /init ends in a shell"
		if r.Modular != nil {
			what = fmt.Sprintf("mounts root= on %s, loading %d modules", r.Modular.Target, len(r.Modular.Modules))
		}
		fmt.Printf("initramfs    %9d bytes (automatic, gzip'd newc cpio, %s; BusyBox %s: %s, %s)\n", r.InitramfsSize, what, r.BusyBox.Path, kind, r.BusyBox.Why)
		if r.Modular != nil {
			for _, why := range r.Modular.Reasons {
				fmt.Printf("  %s\n", why)
			}
		}
	case r.InitrdPath != "":
		fmt.Printf("initramfs    %9d bytes (%s)\n", r.InitramfsSize, r.InitrdPath)
	default:
		fmt.Printf("initramfs    none\n")
	}
	fmt.Printf("cmdline      %s\n", r.Cmdline)
	for _, s := range r.Added {
		fmt.Printf("  section %-8s at %#09x, %9d bytes (file offset %#x)\n", s.Name, s.VirtualAddress, s.VirtualSize, s.Offset)
	}
	fmt.Printf("UKI          %9d bytes (PE32+, SizeOfImage %#x, checksum %#08x)\n", r.FileSize, r.SizeOfImage, r.CheckSum)
}

func ukiCommand() *cli.Command {
	return &cli.Command{
		Name:      "uki",
		Usage:     "write a Unified Kernel Image: systemd's EFI stub with any EFI-stub kernel, an initramfs and the command line as PE sections, one file firmware boots",
		ArgsUsage: "OUT.efi",
		Flags: append(append(initramfsFlags(), ukiFlags()...),
			&cli.StringFlag{Name: "kernel", Usage: "EFI-stub kernel `FILE` (a distro /boot/vmlinuz-* works)"},
			&cli.StringFlag{Name: "osrel", Usage: "os-release `FILE` for .osrel (default: NAME=minidisk and the kernel version)"},
			&cli.StringFlag{Name: "splash", Usage: "BMP `FILE` for .splash, which systemd-stub shows while it boots"},
			&cli.BoolFlag{Name: "force", Usage: "replace OUT if it exists"},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("uki takes one argument, the output file (e.g. minidisk uki linux.efi --kernel /boot/vmlinuz-6.1.0-57-cloud-amd64)")
			}
			if !c.IsSet("kernel") {
				return usagef("--kernel: give the EFI-stub kernel (e.g. --kernel /boot/vmlinuz-$(uname -r))")
			}
			o, err := ukiOptions(c)
			if err != nil {
				return err
			}
			o.OSRel, o.Splash = c.String("osrel"), c.String("splash")
			r, err := efi.MakeUKI(c.Context, c.Args().First(), c.Bool("force"), *o)
			if err != nil {
				return err
			}
			printUKI(r)
			return nil
		},
	}
}

func efiCommand() *cli.Command {
	return &cli.Command{
		Name:      "efi",
		Usage:     "build the UEFI variant: a GPT disk whose ESP holds \\EFI\\BOOT\\BOOTX64.EFI, either a UKI of any EFI-stub kernel (--kernel) or a kernel built with the initramfs linked in (--kernel-src, the default)",
		ArgsUsage: "OUT.img",
		Flags: append(append(initramfsFlags(), ukiFlags()...),
			&cli.StringFlag{Name: "kernel-src", Usage: "kernel source `DIR|TARBALL` for the efi profile (default: newest /usr/src/linux-source-*.tar.xz)"},
			&cli.StringFlag{Name: "kernel", Usage: "EFI-stub kernel `FILE` (a distro vmlinuz works): BOOTX64.EFI becomes a UKI of it, or the kernel itself with --initrd builtin"},
			&cli.StringFlag{Name: "efi-out", Usage: "also write the bare BOOTX64.EFI to `FILE`"},
			&cli.StringFlag{Name: "size", Usage: "image `SIZE` (default: 64M, or room for two UKIs plus 16M when that is more)"},
			&cli.IntFlag{Name: "jobs", Usage: "make -j for the kernel build (default: all cores)"},
			&cli.BoolFlag{Name: "force", Usage: "replace outputs that exist"},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("efi takes one argument, the output image (e.g. minidisk efi efi.img)")
			}
			if c.IsSet("kernel") && c.IsSet("kernel-src") {
				return usagef("give --kernel (prebuilt) or --kernel-src (build), not both")
			}
			builtin := c.String("initrd") == "builtin"
			if !c.IsSet("kernel") {
				for _, f := range []string{"initrd", "cmdline", "stub", "modules", "for"} {
					if c.IsSet(f) {
						return usagef("--%s makes a UKI and needs --kernel; the built kernel (--kernel-src) has its initramfs and command line linked in", f)
					}
				}
			} else if builtin {
				for _, f := range []string{"busybox", "init", "add", "cmdline", "stub", "modules", "for"} {
					if c.IsSet(f) {
						return usagef("--initrd builtin uses --kernel as BOOTX64.EFI as it is; --%s does not apply", f)
					}
				}
			}
			var size int64
			if c.IsSet("size") {
				var err error
				if size, err = sizeFlag(c, "size"); err != nil {
					return err
				}
			}
			iopts, err := initramfsOptions(c)
			if err != nil {
				return err
			}
			o := efi.Options{
				Out: c.Args().First(), Force: c.Bool("force"), Size: size,
				Kernel: c.String("kernel"), KernelSource: c.String("kernel-src"),
				Initramfs: iopts, EFIOut: c.String("efi-out"), Epoch: iopts.Epoch,
				Jobs: c.Int("jobs"),
			}
			if c.IsSet("kernel") && !builtin {
				if o.UKI, err = ukiOptions(c); err != nil {
					return err
				}
				res, err := efi.Build(c.Context, o)
				if err != nil {
					return err
				}
				printUKI(res.UKI)
				printImage(res, c.Args().First())
				return nil
			}
			prog := kernel.NewProgress(os.Stderr)
			o.Progress = prog
			res, err := efi.Build(c.Context, o)
			prog.Close()
			if err != nil {
				return err
			}
			if res.InitramfsSize > 0 {
				fmt.Printf("initramfs    %9d bytes (gzip'd newc cpio; BusyBox %s: %s, %s)\n", res.InitramfsSize, res.BusyBox.Path, staticOrNot(res.BusyBox.Static), res.BusyBox.Why)
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
			fmt.Printf("BOOTX64.EFI  %9d bytes (the kernel itself: initramfs and command line (CONFIG_CMDLINE) are linked in, so no systemd stub is needed)\n", res.EFISize)
			printImage(res, c.Args().First())
			return nil
		},
	}
}

func staticOrNot(static bool) string {
	if static {
		return "static"
	}
	return "dynamic, with its libraries"
}

// printImage describes the disk image and its ESP.
func printImage(res *efi.Result, out string) {
	im := res.Image
	fmt.Printf("image        %9d bytes (%s: GPT, ESP sectors %d-%d, %s: %s)\n", im.DiskSize, out, im.Start, im.End, im.FAT, im.FATWhy)
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
			o := flash.Options{Yes: c.Bool("yes"), Force: c.Bool("force")}
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
					return termprogress.NewBytes(os.Stderr, total, "write + verify")
				}
			}
			d, err := flash.Flash(c.Context, c.Args().Get(0), c.Args().Get(1), o)
			if err != nil {
				return err
			}
			fmt.Printf("%s: written, synced and verified (%s)\n", d.Path, c.Args().Get(0))
			return nil
		},
	}
}
