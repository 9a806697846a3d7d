package main

import (
	"crypto/sha256"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel/kerneltest"
)

// explain through the CLI: every view of a created image, text (fits
// COLUMNS, no colour when not a terminal) and JSON (snake_case, the
// numbers the package tests check against the host tools), the HTML page,
// the exit statuses, and the image untouched.
func TestExplainCommand(t *testing.T) {
	testutil.RequireFile(t, "/usr/lib/grub/x86_64-pc/stage2", "apt-get install grub-legacy")
	testutil.RequireTool(t, "busybox", "busybox")
	img := filepath.Join(t.TempDir(), "disk.img")
	if _, stderr, code := run(t, "create", img, "--kernel", kerneltest.FakeBzImage(t)); code != 0 {
		t.Fatalf("create: %s", stderr)
	}
	hash := func() [32]byte {
		b, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(b)
	}
	before := hash()
	t.Setenv("COLUMNS", "72")
	for _, args := range [][]string{{"mbr"}, {"gap"}, {"fs"}, {"path", "/boot/vmlinuz"}, {"boot"}, {}} {
		out, stderr, code := run(t, append([]string{"explain", img}, args...)...)
		if code != 0 {
			t.Fatalf("explain %v: exit %d: %s", args, code, stderr)
		}
		if strings.Contains(out, "\x1b[") {
			t.Errorf("explain %v: colour escapes in a pipe", args)
		}
		for _, line := range strings.Split(out, "\n") {
			if n := len([]rune(line)); n > 72 {
				t.Errorf("explain %v: line of %d columns > COLUMNS=72: %q", args, n, line)
				break
			}
		}
	}
	out, _, code := run(t, "explain", img, "mbr", "--json")
	var v struct {
		What     string `json:"what"`
		Sections []struct {
			ID     string `json:"id"`
			Fields []struct {
				ID     string `json:"id"`
				Offset int64  `json:"offset"`
				Value  uint64 `json:"value"`
				Text   string `json:"text"`
			} `json:"fields"`
		} `json:"sections"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v.What != "mbr" {
		t.Fatalf("explain --json: exit %d\n%.500s", code, out)
	}
	found := false
	for _, s := range v.Sections {
		for _, f := range s.Fields {
			if f.ID == "mbr.p1.type" && f.Text == "83" && f.Offset == 0x1C2 {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("explain --json: no partition 1 type 83 at byte 0x1C2:\n%.800s", out)
	}
	page := filepath.Join(t.TempDir(), "disk.html")
	if _, stderr, code := run(t, "explain", img, "--html", page, "--large"); code != 0 {
		t.Fatalf("--html: %s", stderr)
	}
	if b, err := os.ReadFile(page); err != nil || !strings.Contains(string(b), `<body class="large">`) {
		t.Errorf("--html --large: %v", err)
	}
	mustFail(t, "exists", "explain", img, "--html", page)
	if _, _, code := run(t, "explain", img, "bogus"); code != 64 {
		t.Errorf("unknown view: exit %d, want 64", code)
	}
	if _, _, code := run(t, "explain", filepath.Join(t.TempDir(), "none.img")); code != 1 {
		t.Errorf("missing image: exit %d, want 1", code)
	}
	if hash() != before {
		t.Fatal("explain changed the image")
	}
}
