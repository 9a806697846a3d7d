package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// bin is the minidisk binary built once for the CLI tests: they check what a
// user sees (exit codes, one-line errors, files left behind).
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "minidisk-cli")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "minidisk")
	// Built as the Makefile builds it (TAGS there).
	if out, err := exec.Command("go", "build", "-tags", "urfave_cli_no_docs", "-o", bin, ".").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// run executes minidisk and returns stdout, stderr and the exit code.
func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// mustFail checks a bad invocation: non-zero exit, a one-line error that
// contains want.
func mustFail(t *testing.T, want string, args ...string) {
	t.Helper()
	_, stderr, code := run(t, args...)
	if code == 0 {
		t.Fatalf("minidisk %s: exit 0, want failure", strings.Join(args, " "))
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 1 || !strings.Contains(stderr, want) {
		t.Fatalf("minidisk %s: stderr %q, want one line containing %q", strings.Join(args, " "), stderr, want)
	}
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestImagePartPlan(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	if out, errs, code := run(t, "image", "create", img, "--size", "8M"); code != 0 || !strings.Contains(out, "16384 sectors") {
		t.Fatalf("image create: %d %s %s", code, out, errs)
	}
	mustFail(t, "--force", "image", "create", img, "--size", "8M")
	if out, errs, code := run(t, "part", img, "--cylinder-align"); code != 0 || !strings.Contains(out, "sectors 63..16064") || !strings.Contains(out, "8000 blocks") {
		t.Fatalf("part: %d %s %s", code, out, errs)
	}
	// plan IMG explains the table part just wrote (issue 15, group 1):
	// partition end 16064 and the 159-block overrun, not a new plan of the
	// whole file (end 16383, overrun 0).
	out, _, code := run(t, "plan", img)
	if code != 0 || !strings.Contains(out, "16064 sector") || !strings.Contains(out, "8160") || !strings.Contains(out, "159 blocks") {
		t.Fatalf("plan IMG: %s", out)
	}
	mustFail(t, "--size", "plan", img, "--cylinder-align")
	out, _, _ = run(t, "plan", "--size", "8M", "--cylinder-align", "--json")
	if !strings.Contains(out, `"aligned_blocks": 8000`) || !strings.Contains(out, `"overrun_blocks": 159`) {
		t.Fatalf("plan --json: %s", out)
	}
}

func TestBadInputWritesNothing(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	mustFail(t, "unknown unit", "image", "create", img, "--size", "12X")
	mustFail(t, "512-byte sectors", "image", "create", img, "--size", "1000")
	mustFail(t, "image create", "part", img)
	mustFail(t, "not a regular file", "part", "/dev/null")
	mustFail(t, "--geometry", "plan", "--size", "8M", "--geometry", "300/63")
	mustFail(t, "no whole cylinder", "plan", "--size", "4M", "--cylinder-align")
	if n := dirEntries(t, dir); len(n) != 0 {
		t.Fatalf("bad input left files: %v", n)
	}
	run(t, "image", "create", img, "--size", "1M")
	before, _ := os.ReadFile(img)
	mustFail(t, "beyond", "part", img, "--align", "1MiB")
	after, _ := os.ReadFile(img)
	if !bytes.Equal(before, after) {
		t.Fatal("failed part changed the image")
	}
}
