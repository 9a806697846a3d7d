//go:build linux

package atomicfile

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestEditFollowsSymlinkKeepsModeAndHoles: an edit through a symlink
// changes the target (the link stays a link), keeps the mode, keeps holes,
// and an aborted edit changes nothing.
func TestEditFollowsSymlinkKeepsModeAndHoles(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.img")
	link := filepath.Join(dir, "link.img")
	const size = 64 << 20
	f, err := os.OpenFile(real, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(size)
	f.WriteAt(bytes.Repeat([]byte{0xAB}, 8192), 0)
	f.WriteAt(bytes.Repeat([]byte{0xCD}, 8192), 32<<20)
	f.Close()
	os.Chmod(real, 0o600)
	if err := os.Symlink("real.img", link); err != nil {
		t.Fatal(err)
	}

	e, err := Edit(link)
	if err != nil {
		t.Fatal(err)
	}
	e.WriteAt([]byte("changed"), 100)
	e.Abort()
	if b, _ := os.ReadFile(real); b[100] != 0xAB {
		t.Fatal("aborted edit changed the file")
	}

	e, err = Edit(link)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("copy: %s", lastCopy)
	if _, err := e.WriteAt([]byte("changed"), 100); err != nil {
		t.Fatal(err)
	}
	if err := e.Commit(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the symlink was replaced: %v %v", fi.Mode(), err)
	}
	fi, err := os.Stat(real)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != size {
		t.Fatalf("target after edit: %v %v", fi, err)
	}
	b, _ := os.ReadFile(real)
	if string(b[100:107]) != "changed" || b[0] != 0xAB || b[32<<20] != 0xCD || b[16<<20] != 0 {
		t.Fatal("content not copied")
	}
	// Sparse: far fewer 512-byte blocks allocated than the size.
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Blocks*512 > 4<<20 {
		t.Fatalf("copy is not sparse: %d bytes allocated for a %d-byte file with 16 KiB of data", st.Blocks*512, size)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Fatalf("temporary files left: %v", ents)
	}
}

func TestEditRefusesNonRegular(t *testing.T) {
	if _, err := Edit("/dev/null"); err == nil {
		t.Fatal("Edit(/dev/null) succeeded")
	}
	if _, err := Edit(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Fatal("Edit of a missing file succeeded")
	}
}

// TestCreateForceThroughSymlink: replacing with --force follows the link.
func TestCreateForceThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.img")
	os.WriteFile(real, []byte("old"), 0o640)
	os.Chmod(real, 0o640)
	link := filepath.Join(dir, "link.img")
	os.Symlink(real, link)
	f, err := Create(link, true)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("new"))
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink == 0 {
		t.Fatal("link replaced")
	}
	if b, _ := os.ReadFile(real); string(b) != "new" {
		t.Fatalf("target holds %q", b)
	}
	if fi, _ := os.Stat(real); fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v", fi.Mode())
	}
}
