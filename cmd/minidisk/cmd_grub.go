package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/minidisk/minidisk/grub"
	"github.com/minidisk/minidisk/internal/atomicfile"
	"github.com/minidisk/minidisk/legacy"
	"github.com/minidisk/minidisk/rootfs"
	"github.com/urfave/cli/v2"
)

func grubCommand() *cli.Command {
	grubDir := &cli.StringFlag{Name: "grub-dir", Usage: "directory with GRUB Legacy 0.97's stage1, stage2, e2fs_stage1_5 (default: search " + fmt.Sprint(grub.DefaultDirs()) + ")"}
	partition := &cli.IntFlag{Name: "partition", Usage: "partition (1..4 primary, 5.. logical) holding the ext2 with /boot/grub: GRUB's root (hd0,N-1) (default: the root partition, the active Linux partition holding a filesystem, else the first)"}
	return &cli.Command{
		Name:  "grub",
		Usage: "install GRUB Legacy 0.97 into an image (as `setup (hd0)` does), write its grub.conf, or make the bootstrap floppy",
		Subcommands: []*cli.Command{
			{
				Name:        "install",
				Usage:       "write stage1 to the MBR and embed e2fs_stage1_5 after it, byte-identical to GRUB's `root (hd0,0)` / `setup (hd0)`",
				ArgsUsage:   "IMG",
				Description: editsImageNote,
				Flags: []cli.Flag{
					grubDir, partition,
					&cli.StringFlag{Name: "via", Usage: "\"floppy\": boot a setup floppy in qemu-system-x86_64 and let GRUB itself run setup (hd0)"},
					&cli.BoolFlag{Name: "force-blocklist", Usage: "do not embed a stage1.5: stage1 loads /boot/grub/stage2 through its block list (as setup does when the gap is too small)"},
					&cli.StringFlag{Name: "config-path", Value: grub.DefaultConfigPath, Usage: "menu file stage2 reads"},
					&cli.DurationFlag{Name: "qemu-timeout", Value: 60 * time.Second, Usage: "with --via floppy: give up after this long"},
					&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
				},
				Action: func(c *cli.Context) error {
					if err := needArgs(c, 1, "IMG [--grub-dir DIR] [--partition N] [--via floppy] [--force-blocklist]"); err != nil {
						return err
					}
					img := c.Args().First()
					if _, err := imageSize(img); err != nil {
						return err
					}
					st, err := grub.FindStages(c.String("grub-dir"))
					if err != nil {
						return err
					}
					idx, err := partitionIndex(c, img)
					if err != nil {
						return err
					}
					switch c.String("via") {
					case "":
					case "floppy":
						if c.Bool("force-blocklist") || c.String("config-path") != grub.DefaultConfigPath {
							return usagef("--via floppy runs GRUB's own setup (hd0): it takes neither --force-blocklist nor --config-path")
						}
						out, err := grub.InstallViaFloppy(c.Context, img, st, grub.FloppyInstallOptions{PartitionIndex: idx, Timeout: c.Duration("qemu-timeout")})
						if err != nil {
							return err
						}
						fmt.Fprint(c.App.Writer, out)
						return nil
					default:
						return usagef("--via %q: the only other way is \"floppy\"", c.String("via"))
					}
					rep, err := grub.InstallImage(img, st, grub.InstallOptions{
						PartitionIndex: idx,
						ConfigPath:     c.String("config-path"),
						ForceBlocklist: c.Bool("force-blocklist"),
					})
					if err != nil {
						return err
					}
					if c.Bool("json") {
						e := json.NewEncoder(c.App.Writer)
						e.SetIndent("", "  ")
						return e.Encode(rep)
					}
					fmt.Fprint(c.App.Writer, rep.String())
					return nil
				},
			},
			{
				Name:        "config",
				Usage:       "write /boot/grub/grub.conf (and menu.lst -> grub.conf) into IMG, or render it to stdout / --out",
				Description: "With IMG: " + editsImageNote,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "kernel", Value: "vmlinuz", Usage: "kernel file in /boot (or an absolute path)"},
					&cli.StringFlag{Name: "append", Usage: "extra kernel arguments, added to the command line (as in create)"},
					&cli.StringFlag{Name: "cmdline", Value: legacy.KernelArgs, Usage: "the whole kernel command line before --append"},
					noCheckFlag,
					&cli.StringFlag{Name: "initrd", Usage: "initrd file in /boot (optional)"},
					&cli.StringFlag{Name: "title", Value: "minidisk", Usage: "menu entry title"},
					&cli.StringFlag{Name: "root", Value: "(hd0,0)", Usage: "GRUB root device"},
					&cli.IntFlag{Name: "timeout", Value: 1, Usage: "GRUB menu timeout in seconds, 0 or more"},
					&cli.IntFlag{Name: "default", Usage: "menu entry booted when no key is pressed, counted from 0"},
					&cli.BoolFlag{Name: "no-serial", Usage: "menu on VGA only (default: also on COM1 at 115200, for qemu -nographic)"},
					&cli.StringFlag{Name: "out", Usage: "write to this file instead of stdout"},
					&cli.BoolFlag{Name: "force", Usage: "replace an existing --out file"},
					grubDir,
				},
				ArgsUsage: "[IMG]",
				Action: func(c *cli.Context) error {
					if c.NArg() > 1 {
						return usagef("usage: minidisk grub config [IMG] [--kernel vmlinuz] [--append ARGS] [--out FILE]")
					}
					if err := timeoutFlag(c); err != nil {
						return err
					}
					if n := c.Int("default"); n < 0 {
						return usagef("--default %d: give the menu entry, counted from 0", n)
					}
					conf := grub.Config{
						Default: c.Int("default"), Timeout: c.Int("timeout"), Title: c.String("title"), Root: c.String("root"),
						Kernel: c.String("kernel"), Append: strings.TrimSpace(c.String("cmdline") + " " + c.String("append")), Initrd: c.String("initrd"), Serial: !c.Bool("no-serial"),
					}
					if err := conf.Validate(); err != nil {
						return usagef("%v", err)
					}
					if c.NArg() == 1 {
						return rewriteGrubConfig(c, c.Args().First(), conf)
					}
					if c.String("out") == "" {
						_, err := c.App.Writer.Write(conf.Render())
						return err
					}
					f, err := atomicfile.Create(c.String("out"), c.Bool("force"))
					if err != nil {
						return err
					}
					defer f.Abort()
					if _, err := f.Write(conf.Render()); err != nil {
						return err
					}
					return f.Commit()
				},
			},
			{
				Name:      "floppy",
				Usage:     "write the 1.44 MB GRUB bootstrap floppy (stage1 + stage2) of the 2007 recipe",
				ArgsUsage: "OUT.img",
				Flags: []cli.Flag{
					grubDir, partition,
					&cli.BoolFlag{Name: "setup", Usage: "the floppy runs root (hd0,N-1) / setup (hd0) / halt by itself on the serial console (default: GRUB's prompt, for typing them)"},
					&cli.BoolFlag{Name: "force", Usage: "replace an existing OUT.img"},
				},
				Action: func(c *cli.Context) error {
					if err := needArgs(c, 1, "OUT.img [--grub-dir DIR] [--setup]"); err != nil {
						return err
					}
					st, err := grub.FindStages(c.String("grub-dir"))
					if err != nil {
						return err
					}
					idx, err := partitionIndex(c, "")
					if err != nil {
						return err
					}
					var cfg []byte
					if c.Bool("setup") {
						cfg = grub.SetupConfig(idx)
					}
					f, err := atomicfile.Create(c.Args().First(), c.Bool("force"))
					if err != nil {
						return err
					}
					defer f.Abort()
					if err := grub.WriteFloppy(f, st, cfg); err != nil {
						return err
					}
					if err := f.Commit(); err != nil {
						return err
					}
					fmt.Fprintf(os.Stderr, "%s: GRUB floppy from %s\n", c.Args().First(), st.Dir)
					return nil
				},
			},
		},
	}
}

// partitionIndex turns --partition (as Linux numbers partitions: 1..4
// primary, 5.. logical) into GRUB's 0-based (hd0,N). Without the flag it
// is the root partition of img as disk.FindRoot picks it, or (hd0,0) when
// there is no image yet (the floppy).
func partitionIndex(c *cli.Context, img string) (int, error) {
	if !c.IsSet("partition") {
		if img == "" {
			return 0, nil
		}
		f, err := os.Open(img)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return 0, err
		}
		idx, err := grub.RootPartitionIndex(f, fi.Size())
		if err != nil {
			return 0, fmt.Errorf("%s: %w (partition the image first: minidisk part)", img, err)
		}
		return idx, nil
	}
	n := c.Int("partition")
	if n < 1 {
		return 0, usagef("--partition %d: partitions are numbered from 1 (1..4 primary, 5.. logical)", n)
	}
	return n - 1, nil
}

// rewriteGrubConfig puts grub.conf and the menu.lst link into the image's
// ext2 (rewritten whole by legacy.EditImage), then refreshes a blocklist
// install of GRUB, whose stage2 sectors the rewrite may have moved.
func rewriteGrubConfig(c *cli.Context, img string, conf grub.Config) error {
	if c.String("out") != "" {
		return usagef("grub config: give either IMG or --out, not both")
	}
	before, _ := grub.InspectImage(img)
	// A GRUB installed by stage2 blocklist points at sectors the rewrite
	// may move: refresh it in the new copy, before the boot check sees it.
	var refresh legacy.Check
	var report *grub.InstallReport
	if before != nil && before.Stage2Address == grub.Stage2LoadAddress {
		st, err := grub.FindStages(c.String("grub-dir"))
		if err != nil {
			return err
		}
		refresh = func(r io.ReaderAt, _ int64) error {
			w, ok := r.(grub.ReadWriterAt)
			if !ok {
				return fmt.Errorf("%s: cannot reinstall GRUB into the new copy", img)
			}
			rep, err := grub.InstallFile(w, st, grub.InstallOptions{ForceBlocklist: true, Name: img})
			if err != nil {
				return fmt.Errorf("%s: GRUB was installed by stage2 blocklist and the filesystem was rewritten; reinstalling failed: %w", img, err)
			}
			report = rep
			return nil
		}
	}
	_, err := legacy.EditImage(img, func(t *rootfs.Tree, _ time.Time) error {
		if err := t.AddBytes(grub.GrubConfPath, 0o644, conf.Render()); err != nil {
			return err
		}
		return t.Symlink(grub.DefaultConfigPath, "grub.conf")
	}, refresh, bootCheck(c, img, true))
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "%s: wrote %s, %s -> grub.conf\n", img, grub.GrubConfPath, grub.DefaultConfigPath)
	if report != nil {
		fmt.Fprint(c.App.Writer, report.String())
	}
	return nil
}
