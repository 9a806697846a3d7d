package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCommitAndAbort(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "out.img")
	f, err := Create(target, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("hello"), 1<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Fatalf("target visible before Commit: %v", err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	f.Abort() // no-op after Commit
	fi, err := os.Stat(target)
	if err != nil || fi.Size() != 1<<20+5 {
		t.Fatalf("after commit: %v %v", fi, err)
	}
	if _, err := Create(target, false); !errors.Is(err, ErrExists) {
		t.Fatalf("want ErrExists, got %v", err)
	}
	g, err := Create(target, true)
	if err != nil {
		t.Fatal(err)
	}
	g.Abort()
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("abort left files: %v", ents)
	}
	if fi2, _ := os.Stat(target); fi2.Size() != fi.Size() {
		t.Fatal("aborted overwrite changed the target")
	}
}

func TestRefusesNonRegular(t *testing.T) {
	if _, err := Create("/dev/null", true); err == nil {
		t.Fatal("wrote to a device")
	}
}

// TestStartSyncThenWrite: writeback started in the middle changes nothing
// a reader sees: writes after it land, the file stays sparse-sized, and
// the target appears only at Commit.
func TestStartSyncThenWrite(t *testing.T) {
	target := filepath.Join(t.TempDir(), "out.img")
	f, err := Create(target, false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	if err := f.Truncate(4 << 20); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("first"), 0); err != nil {
		t.Fatal(err)
	}
	f.StartSync()
	if _, err := f.WriteAt([]byte("second"), 3<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Fatalf("target exists before Commit: %v", err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 4<<20 || string(b[:5]) != "first" || string(b[3<<20:3<<20+6]) != "second" {
		t.Fatalf("after StartSync and Commit: %d bytes, %q ... %q", len(b), b[:5], b[3<<20:3<<20+6])
	}
}
