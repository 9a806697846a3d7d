package main

import (
	"strings"

	"github.com/minidisk/minidisk/legacy"
	"github.com/urfave/cli/v2"
)

// payloadFlags are what goes into a legacy image's filesystem; shared by
// `create` and `rootfs add`.
func payloadFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "kernel", Required: true, Usage: "`BZIMAGE` to boot (make one with: minidisk kernel --profile legacy)"},
		&cli.StringFlag{Name: "busybox", Usage: "BusyBox binary (default: busybox in PATH)"},
		&cli.StringFlag{Name: "append", Usage: "extra kernel arguments"},
		&cli.StringFlag{Name: "applets", Value: "sh,ln,ls", Usage: "BusyBox applet links in /bin, or all"},
		&cli.StringSliceFlag{Name: "add", Usage: "copy a host file or tree into the image: SRC:DST (repeatable)"},
		&cli.StringFlag{Name: "grub-dir", Usage: "directory with GRUB Legacy's stage1, stage2, e2fs_stage1_5"},
		&cli.BoolFlag{Name: "no-serial", Usage: "GRUB menu on VGA only (default: also on the serial console)"},
		&cli.IntFlag{Name: "timeout", Value: 1, Usage: "GRUB menu timeout in seconds, 0 or more"},
		noCheckFlag,
		&cli.StringFlag{Name: "modules", Usage: "the kernel's modules tree `DIR` (lib/modules/VERSION or a root holding it; default: beside the kernel, else /lib/modules/VERSION); a modular kernel gets an initramfs that loads its disk drivers"},
		&cli.StringFlag{Name: "for", Value: "ide", Usage: "the disk `TARGET` the image boots from: ide (QEMU's default), ahci, virtio (root=/dev/vda1), nvme, usb"},
	}
}

func payloadFromFlags(c *cli.Context) (legacy.Payload, error) {
	if err := timeoutFlag(c); err != nil {
		return legacy.Payload{}, err
	}
	var adds []legacy.Add
	for _, a := range c.StringSlice("add") {
		add, err := legacy.ParseAdd(a)
		if err != nil {
			return legacy.Payload{}, err
		}
		adds = append(adds, add)
	}
	return legacy.Payload{
		Kernel: c.String("kernel"), BusyBox: c.String("busybox"),
		Applets: strings.Split(c.String("applets"), ","), Adds: adds,
		GrubDir: c.String("grub-dir"), Append: c.String("append"),
		NoSerial: c.Bool("no-serial"), Timeout: c.Int("timeout"),
		Modules: c.String("modules"), For: c.String("for"),
	}, nil
}

// timeoutFlag checks the GRUB menu --timeout, the same in create, rootfs add
// and grub config.
func timeoutFlag(c *cli.Context) error {
	if n := c.Int("timeout"); n < 0 {
		return usagef("--timeout %d: give the GRUB menu timeout in seconds, 0 or more", n)
	}
	return nil
}
