package ext2

import (
	"io"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/rootfs"
)

// BenchmarkReaderWalkReadAll walks the acceptance image (2,000-entry
// directory, 40-deep chain, files across the indirect boundaries) and reads
// every regular file through io/fs, as `minidisk ls -R` plus `cat` would.
func BenchmarkReaderWalkReadAll(b *testing.B) {
	testutil.RequireTool(b, "mke2fs", "e2fsprogs")
	staging := filepath.Join(b.TempDir(), "staging")
	buildStaging(b, staging)
	img := filepath.Join(b.TempDir(), "fs.img")
	mke2fsStaging(b, staging, img, 1024, 128, 24*1024)
	benchWalkReadAll(b, openReader(b, img))
}

// BenchmarkReaderWalkReadAllExt4 is the same walk over the same tree made
// into default ext4 (extents, 64bit, flex_bg, metadata_csum, 256-byte
// inodes, 1 KiB blocks as above) with the large directory an htree.
func BenchmarkReaderWalkReadAllExt4(b *testing.B) {
	testutil.RequireTool(b, "mke2fs", "e2fsprogs")
	e2fsck := testutil.RequireTool(b, "e2fsck", "e2fsprogs")
	staging := filepath.Join(b.TempDir(), "staging")
	buildStaging(b, staging)
	img := filepath.Join(b.TempDir(), "fs.img")
	mke2fsStaging(b, staging, img, 1024, 256, 24*1024, "-O", ext4Features)
	if out, err := exec.Command(e2fsck, "-fyD", img).CombinedOutput(); err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() > 1 {
			b.Fatalf("e2fsck -fyD: %v\n%s", err, out)
		}
	}
	r := openReader(b, img)
	if r.Superblock().Kind() != "ext4" {
		b.Fatalf("not ext4")
	}
	benchWalkReadAll(b, r)
}

func benchWalkReadAll(b *testing.B, r *Reader) {
	b.ResetTimer()
	var bytes int64
	for i := 0; i < b.N; i++ {
		bytes = 0
		err := r.Walk(func(h *rootfs.Header) error {
			if h.Type != rootfs.TypeReg || h.Size > 16<<20 {
				return nil
			}
			f, err := r.Open(h.Name[1:])
			if err != nil {
				return err
			}
			n, err := io.Copy(io.Discard, f)
			f.Close()
			bytes += n
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(bytes)
}
