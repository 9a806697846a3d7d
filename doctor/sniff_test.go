package doctor

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/rootfs/fat"
)

// sniff calls a filesystem FAT exactly when rootfs/fat reads it: mkfs.vfat's
// FAT12/16/32, also without the informational BS_FilSysType string
// (fatgen103: "not used ... to determine FAT type") or the 55 AA signature
// (Linux's vfat does not require it); mke2fs's ext2 is ext2; zeros are
// nothing.
func TestSniffAgreesWithTheFATReader(t *testing.T) {
	testutil.RequireTool(t, "mkfs.vfat", "dosfstools")
	testutil.RequireTool(t, "mke2fs", "e2fsprogs")
	dir := t.TempDir()
	sniff := func(b []byte) content {
		return (&diag{r: bytes.NewReader(b), size: int64(len(b))}).sniff(0)
	}
	for _, bits := range []string{"12", "16", "32"} {
		img := filepath.Join(dir, "fat"+bits)
		run(t, "mkfs.vfat", "--invariant", "-F", bits, "-C", img, "40000")
		b, err := os.ReadFile(img)
		must(t, err)
		typeAt := bytes.Index(b[:512], []byte("FAT"+bits)) // BS_FilSysType, "FAT12   " ...
		if typeAt < 0 {
			t.Fatalf("FAT%s: no type string in mkfs.vfat's boot sector", bits)
		}
		for _, c := range []struct {
			name string
			edit func([]byte)
		}{
			{"as made", func([]byte) {}},
			{"no type string", func(b []byte) { copy(b[typeAt:], "XXXXXXXX") }},
			{"no 55 AA", func(b []byte) { b[510], b[511] = 0, 0 }},
		} {
			m := append([]byte(nil), b...)
			c.edit(m)
			if _, err := fat.Open(bytes.NewReader(m), 0, int64(len(m))); err != nil {
				t.Fatalf("FAT%s %s: rootfs/fat cannot read it: %v", bits, c.name, err)
			}
			if got := sniff(m); got != contentFAT {
				t.Errorf("FAT%s %s: sniff says %q, want FAT", bits, c.name, got)
			}
		}
	}
	img := filepath.Join(dir, "ext2")
	run(t, "mke2fs", "-q", "-F", "-t", "ext2", img, "4096")
	b, err := os.ReadFile(img)
	must(t, err)
	if got := sniff(b); got != contentExt2 {
		t.Errorf("mke2fs's ext2: sniff says %q", got)
	}
	if got := sniff(make([]byte, 1<<20)); got != contentUnknown {
		t.Errorf("zeros: sniff says %q", got)
	}
}
