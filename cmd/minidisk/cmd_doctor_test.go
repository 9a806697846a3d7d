package main

import (
	"crypto/sha256"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel/kerneltest"
)

func fileState(t *testing.T, p string) ([32]byte, time.Time) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b), fi.ModTime()
}

// TestDoctorExitCodesAndReadOnly: a created image exits 0, the same image
// with its partition cut short exits 1, an unreadable one 2; the image's
// bytes and mtime never change.
func TestDoctorExitCodesAndReadOnly(t *testing.T) {
	testutil.RequireTool(t, "busybox", "busybox")
	testutil.RequireFile(t, "/usr/lib/grub/x86_64-pc/stage2", "apt-get install grub-legacy")
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	if _, stderr, code := run(t, "create", img, "--kernel", kerneltest.FakeBzImage(t), "-q"); code != 0 {
		t.Fatalf("create: %s", stderr)
	}
	// An old mtime, so a write (even of the same bytes) would show.
	old := time.Date(2007, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(img, old, old); err != nil {
		t.Fatal(err)
	}
	sum, mtime := fileState(t, img)
	out, stderr, code := run(t, "doctor", img)
	if code != 0 || !strings.Contains(out, "verdict: bootable") || stderr != "" {
		t.Fatalf("doctor on a created image: exit %d\n%s\n%s", code, out, stderr)
	}
	out, _, code = run(t, "doctor", img, "--json")
	var rep struct {
		Exit     int `json:"exit_code"`
		Findings []struct {
			ID       string `json:"id"`
			Severity string `json:"severity"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || rep.Exit != 0 || len(rep.Findings) == 0 {
		t.Fatalf("--json: exit %d, %v\n%s", code, err, out)
	}
	if s, m := fileState(t, img); s != sum || !m.Equal(mtime) {
		t.Fatalf("doctor changed the image (mtime %v -> %v)", mtime, m)
	}

	cut := filepath.Join(dir, "cut.img")
	b, _ := os.ReadFile(img)
	os.WriteFile(cut, b[:len(b)/2], 0o644)
	out, _, code = run(t, "doctor", cut, "--verbose")
	if code != 1 || !strings.Contains(out, "part-past-end") || !strings.Contains(out, "[error]") {
		t.Fatalf("doctor on a truncated image: exit %d\n%s", code, out)
	}

	tiny := filepath.Join(dir, "tiny.img")
	os.WriteFile(tiny, []byte("short"), 0o644)
	if _, _, code = run(t, "doctor", tiny); code != 2 {
		t.Fatalf("doctor on a 5-byte file: exit %d, want 2", code)
	}
	if _, stderr, code = run(t, "doctor", filepath.Join(dir, "missing.img")); code != 2 || !strings.Contains(stderr, "no such file") {
		t.Fatalf("doctor on a missing file: exit %d, %q", code, stderr)
	}
	// A usage error is 64 (docs/cli.md), distinct from doctor's 0/1/2.
	if _, _, code = run(t, "doctor"); code != 64 {
		t.Fatalf("doctor without IMG: exit %d, want 64", code)
	}
}
