package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestDoctorFixesNameRealCommands: every `minidisk X [Y]` that doctor's
// findings (doctor/*.go) or docs/doctor.md tell the user to run is a
// command of this CLI (and Y one of X's subcommands when X has them).
func TestDoctorFixesNameRealCommands(t *testing.T) {
	files, err := filepath.Glob("../../doctor/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no doctor sources: %v", err)
	}
	files = append(files, "../../docs/doctor.md")
	ref := regexp.MustCompile("`minidisk ([a-z][a-z0-9-]*)(?: ([a-z][a-z0-9-]*))?")
	cmds := map[string]*cli.Command{}
	for _, c := range newApp().Commands {
		cmds[c.Name] = c
		for _, a := range c.Aliases {
			cmds[a] = c
		}
	}
	seen := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ref.FindAllStringSubmatch(string(b), -1) {
			seen++
			c, ok := cmds[m[1]]
			if !ok {
				t.Errorf("%s: %q names no minidisk command", f, m[0])
				continue
			}
			if len(c.Subcommands) == 0 || m[2] == "" {
				continue
			}
			found := false
			for _, s := range c.Subcommands {
				if s.Name == m[2] {
					found = true
				}
			}
			if !found && c.Action == nil {
				t.Errorf("%s: %q: %s has no subcommand %s", f, m[0], m[1], m[2])
			}
		}
	}
	if seen == 0 {
		t.Fatal("no `minidisk ...` references found: the pattern is wrong")
	}
}
