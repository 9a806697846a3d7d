package main

import (
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
)

// error24Image makes the 2007 trap by hand: a cylinder-aligned partition in
// an 8 MiB image, mke2fs on everything from the offset to the end of the
// file (no block count), then files written until some land past the end.
func error24Image(t *testing.T, dir string) string {
	t.Helper()
	sfdisk := testutil.RequireTool(t, "sfdisk", "fdisk")
	testutil.RequireTool(t, "mke2fs", "e2fsprogs")
	debugfs := testutil.RequireTool(t, "debugfs", "e2fsprogs")
	img := filepath.Join(dir, "error24.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Truncate(img, 8<<20)
	testutil.RunStdin(t, "start=63, size=16002, type=83, bootable\n", sfdisk, "-q", img)
	part := filepath.Join(dir, "part.img")
	os.WriteFile(part, nil, 0o644)
	os.Truncate(part, 8<<20-32256)
	testutil.Run(t, "mke2fs", "-q", "-t", "ext2", "-b", "1024", "-I", "128", part)
	data := make([]byte, 2000000)
	for i := range data {
		data[i] = byte(i*7 + 1)
	}
	for i := 1; i <= 4; i++ {
		src := filepath.Join(dir, fmt.Sprintf("b%d", i))
		os.WriteFile(src, data, 0o644)
		testutil.Run(t, debugfs, "-w", "-R", fmt.Sprintf("write %s big%d", src, i), part)
	}
	testutil.Run(t, "dd", "if="+part, "of="+img, "bs=512", "seek=63", "conv=notrunc", "status=none")
	return img
}

func TestDoctorDrawsOverrunAndWritesSVG(t *testing.T) {
	dir := t.TempDir()
	img := error24Image(t, dir)
	svg := filepath.Join(dir, "e24.svg")
	t.Setenv("COLUMNS", "80")
	out, _, code := run(t, "doctor", img, "--ascii", "--svg", svg)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	for _, want := range []string{"159 blocks PAST THE END", "sectors 16065..16382", "/big4", "63..16064"} {
		if !strings.Contains(out, want) {
			t.Errorf("picture lacks %q:\n%s", want, out)
		}
	}
	i := strings.Index(out, ": as found")
	if i < 0 {
		t.Fatalf("no picture heading:\n%s", out)
	}
	for _, l := range strings.Split(out[strings.LastIndex(out[:i], "\n")+1:], "\n") {
		if len(l) > 80 {
			t.Errorf("line wider than COLUMNS=80: %q", l)
		}
	}
	b, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(b, new(struct{})); err != nil || !strings.Contains(string(b), "/big4") {
		t.Fatalf("SVG not well-formed or without the file: %v", err)
	}
	// A refused --svg write is a failure (1), not an unreadable image (2).
	if _, _, code := run(t, "doctor", img, "--svg", svg); code != 1 {
		t.Fatalf("overwriting --svg without --force: exit %d, want 1", code)
	}
	if out, _, _ := run(t, "doctor", img, "--json"); strings.Contains(out, "PAST THE END") {
		t.Fatal("picture mixed into --json output")
	}
}
