package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/legacy"
	"github.com/urfave/cli/v2"
)

func createCommand() *cli.Command {
	return &cli.Command{
		Name:      "create",
		Usage:     "make a bootable legacy BIOS image: MBR, ext2, GRUB Legacy, kernel, BusyBox and its libraries, /dev/console",
		ArgsUsage: "IMG",
		Flags: append(layoutFlags(),
			&cli.StringFlag{Name: "kernel", Required: true, Usage: "bzImage to boot (see `minidisk kernel`)"},
			&cli.StringFlag{Name: "busybox", Usage: "BusyBox binary (default: busybox in PATH)"},
			&cli.StringFlag{Name: "size", Usage: "image size (default: what the payload needs plus 4 MiB)"},
			&cli.StringFlag{Name: "append", Usage: "extra kernel arguments"},
			&cli.StringFlag{Name: "applets", Value: "sh,ln,ls", Usage: "BusyBox applet links in /bin, or all"},
			&cli.StringSliceFlag{Name: "add", Usage: "copy a host file or tree into the image: SRC:DST (repeatable)"},
			&cli.StringFlag{Name: "grub-dir", Usage: "directory with GRUB Legacy's stage1, stage2, e2fs_stage1_5"},
			&cli.BoolFlag{Name: "no-serial", Usage: "GRUB menu on VGA only (default: also on the serial console)"},
			&cli.IntFlag{Name: "timeout", Value: 1, Usage: "GRUB menu timeout in seconds"},
			&cli.BoolFlag{Name: "force", Usage: "replace an existing image"},
			&cli.BoolFlag{Name: "json", Usage: "print the summary as JSON"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no step lines"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "step lines on stderr even when it is not a terminal"},
		),
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "IMG --kernel BZIMAGE [--busybox PATH] [--size SIZE] [--align 1MiB]"); err != nil {
				return err
			}
			img := c.Args().First()
			var size int64
			if s := c.String("size"); s != "" {
				n, err := disk.ParseSize(s)
				if err != nil {
					return fmt.Errorf("--size: %v", err)
				}
				size = n
			}
			lopt, err := layoutOptions(c, size)
			if err != nil {
				return err
			}
			var adds []legacy.Add
			for _, a := range c.StringSlice("add") {
				add, err := legacy.ParseAdd(a)
				if err != nil {
					return err
				}
				adds = append(adds, add)
			}
			opt := legacy.Options{
				Payload: legacy.Payload{
					Kernel: c.String("kernel"), BusyBox: c.String("busybox"),
					Applets: strings.Split(c.String("applets"), ","), Adds: adds,
					GrubDir: c.String("grub-dir"), Append: c.String("append"),
					NoSerial: c.Bool("no-serial"), Timeout: c.Int("timeout"),
				},
				Layout: lopt,
				Force:  c.Bool("force"),
			}
			if !c.Bool("quiet") && !c.Bool("json") && (c.Bool("verbose") || isTerminal(os.Stderr)) {
				opt.Progress = func(s string) { fmt.Fprintln(c.App.ErrWriter, "minidisk:", s) }
			}
			res, err := legacy.Create(img, opt)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				e := json.NewEncoder(c.App.Writer)
				e.SetIndent("", "  ")
				return e.Encode(res)
			}
			return writeCreateSummary(c, res)
		},
	}
}

func writeCreateSummary(c *cli.Context, res *legacy.Result) error {
	w := c.App.Writer
	fmt.Fprintf(w, "%s: bootable legacy BIOS image\n\nLayout\n", res.Image)
	if err := res.DiskLayout().WriteText(w); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nFilesystem: ext2, %d blocks of %d bytes, %d groups, %d inodes (%d free blocks)\n",
		res.FS.Blocks, res.DiskLayout().BlockSize, res.FS.Groups, res.FS.Inodes, res.FS.FreeBlocks)
	fmt.Fprintf(w, "\nFiles\n")
	for _, p := range res.Files {
		size := ""
		if p.Size > 0 {
			size = fmt.Sprintf("%d B", p.Size)
		}
		fmt.Fprintf(w, "  %-44s %10s  %s\n", p.Path, size, p.Why)
	}
	fmt.Fprintf(w, "\nGRUB\n%s\n", res.Grub)
	fmt.Fprintf(w, "Boot it: minidisk boot %s\n", res.Image)
	return nil
}
