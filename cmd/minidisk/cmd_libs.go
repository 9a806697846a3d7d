package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/minidisk/minidisk/libs"
	"github.com/urfave/cli/v2"
)

func libsCommand() *cli.Command {
	return &cli.Command{
		Name:      "libs",
		Usage:     "list a binary's interpreter and shared libraries by reading ELF (a pure-Go ldd that never runs the binary)",
		ArgsUsage: "BINARY...",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "root", Usage: "resolve inside this sysroot `DIR` (its ld.so.conf; absolute links stay inside); BINARY is a path in it"},
			&cli.BoolFlag{Name: "json", Usage: "machine-readable output"},
			&cli.StringFlag{Name: "library-path", Usage: "colon-separated `DIRS` searched as LD_LIBRARY_PATH would be"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("usage: minidisk libs BINARY... [--root DIR] [--json] [--library-path DIRS]")
			}
			r := libs.Host()
			if root := c.String("root"); root != "" {
				if st, err := os.Stat(root); err != nil || !st.IsDir() {
					return fmt.Errorf("--root %s: not a directory (give the target's root directory)", root)
				}
				r = libs.NewResolver(os.DirFS(root))
			}
			if lp := c.String("library-path"); lp != "" {
				r.LibraryPath = strings.Split(lp, ":")
			}
			binaries := c.Args().Slice()
			for _, b := range binaries {
				p := b
				if root := c.String("root"); root != "" {
					p = filepath.Join(root, b)
				}
				if fi, err := os.Stat(p); err != nil {
					return fmt.Errorf("%s: no such file (give the path of an ELF binary, e.g. /bin/busybox%s)", b, map[bool]string{true: ", inside --root", false: ""}[c.String("root") != ""])
				} else if fi.IsDir() {
					return fmt.Errorf("%s: a directory (give the path of an ELF binary, e.g. /bin/busybox)", b)
				}
			}
			if c.String("root") == "" {
				for i, b := range binaries {
					if abs, err := filepath.Abs(b); err == nil {
						binaries[i] = abs
					}
				}
			}
			listings, err := r.List(binaries)
			if c.Bool("json") {
				e := json.NewEncoder(c.App.Writer)
				e.SetIndent("", "  ")
				if werr := e.Encode(listings); werr != nil {
					return werr
				}
			} else if werr := libs.WriteText(c.App.Writer, listings); werr != nil {
				return werr
			}
			return err // exit status 1 when anything is missing
		},
	}
}
