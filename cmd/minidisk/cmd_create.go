package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/disk/picture"
	"github.com/minidisk/minidisk/legacy"
	"github.com/urfave/cli/v2"
)

func createCommand() *cli.Command {
	return &cli.Command{
		Name:      "create",
		Usage:     "make a bootable legacy BIOS image: MBR, ext2, GRUB Legacy, kernel, BusyBox and its libraries, /dev/console",
		ArgsUsage: "IMG",
		Flags: append(append(layoutFlags(), payloadFlags()...),
			&cli.StringFlag{Name: "size", Usage: "image `SIZE`: 8M = 8 MiB, 8MB = 8,000,000 bytes, 16384s = sectors (default: what the payload needs plus 4 MiB)"},
			&cli.BoolFlag{Name: "force", Usage: "replace an existing image"},
			&cli.BoolFlag{Name: "json", Usage: "print the summary as JSON"},
			&cli.BoolFlag{Name: "ascii", Usage: "draw the layout in plain ASCII (no colour, no box drawing)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no step lines"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "step lines on stderr even when it is not a terminal"},
		),
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "IMG --kernel BZIMAGE [--busybox PATH] [--size SIZE] [--align 1MiB]"); err != nil {
				return err
			}
			img := c.Args().First()
			var size int64
			if c.IsSet("size") {
				n, err := sizeFlag(c, "size")
				if err != nil {
					return err
				}
				size = n
			}
			lopt, err := layoutOptions(c, size)
			if err != nil {
				return err
			}
			payload, err := payloadFromFlags(c)
			if err != nil {
				return err
			}
			payload.Check = bootCheck(c, img, false)
			opt := legacy.Options{
				Payload: payload,
				Layout:  lopt,
				Force:   c.Bool("force"),
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
	w, opt, done := textOutput(c)
	defer done()
	fmt.Fprintf(w, "%s: bootable legacy BIOS image (doctor's checks pass)\n\nLayout\n", res.Image)
	if err := res.DiskLayout().WriteTextWidth(w, opt.Width); err != nil {
		return err
	}
	fmt.Fprintln(w)
	pic := picture.FromLayout(res.DiskLayout(), uint64(res.Grub.Stage15Sectors))
	if err := picture.RenderText(w, pic, opt); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nFilesystem: ext2, %s of %d bytes, %s, %s (%s)\n",
		plural(int(res.FS.Blocks), "block"), res.DiskLayout().BlockSize, plural(res.FS.Groups, "group"), plural(int(res.FS.Inodes), "inode"), plural(int(res.FS.FreeBlocks), "free block"))
	fmt.Fprintf(w, "\nFiles\n")
	for _, p := range res.Files {
		if p.Path == "" { // a note on the kernel: why it has an initramfs
			for _, line := range disk.WrapWords(p.Why, max(opt.Width-2, 20)) {
				fmt.Fprintf(w, "  %s\n", line)
			}
			continue
		}
		size := ""
		if p.Size > 0 {
			size = fmt.Sprintf("%d B", p.Size)
		}
		writeFileRow(w, opt.Width, p.Path, size, p.Why)
	}
	fmt.Fprintf(w, "\nGRUB\n%s\n", res.Grub)
	fmt.Fprintf(w, "Boot it: minidisk boot %s\n", res.Image)
	return nil
}

// writeFileRow prints one placed file: path, size and why, the why wrapped
// to width (under the path when the window is narrow).
func writeFileRow(w io.Writer, width int, path, size, why string) {
	head := fmt.Sprintf("  %-44s %10s  ", path, size)
	if n := len([]rune(head)); width-n >= 24 {
		for i, line := range disk.WrapWords(why, width-n) {
			if i == 0 {
				fmt.Fprintf(w, "%s%s\n", head, line)
			} else {
				fmt.Fprintf(w, "%s%s\n", strings.Repeat(" ", n), line)
			}
		}
		return
	}
	fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("  %s  %s", path, size), " "))
	for _, line := range disk.WrapWords(why, max(width-6, 8)) {
		fmt.Fprintf(w, "      %s\n", line)
	}
}
