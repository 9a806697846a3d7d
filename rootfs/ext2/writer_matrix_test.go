package ext2

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/rootfs"
)

// The acceptance matrix: every case must be e2fsck -fn clean, and the
// smaller ones are read back with debugfs.

func TestMatrixSizes(t *testing.T) {
	for _, bs := range []int{1024, 4096} {
		for _, size := range []uint64{1 << 20, 3 << 20, 64 << 20, 600 << 20, 2 << 30} {
			t.Run(fmt.Sprintf("bs%d-%dKiB", bs, size>>10), func(t *testing.T) {
				tree := newTree()
				must(t, tree.AddBytes("/etc/hostname", 0o644, []byte("minidisk\n")))
				must(t, tree.Mknod("/dev/console", rootfs.TypeChar, 0o600, 5, 1))
				img, st := writeImage(t, tree, Options{BlockSize: bs, Blocks: size / uint64(bs)}, 0)
				fsck(t, img, 0)
				if st.Blocks > size/uint64(bs) {
					t.Fatalf("%d blocks beyond the %d given", st.Blocks, size/uint64(bs))
				}
				checkWithDebugfs(t, img, tree, 128)
			})
		}
	}
}

// TestMatrixLastGroup walks block counts around a group boundary: a last
// group too short for its metadata plus 50 blocks is dropped (mke2fs's
// rule), any other is kept, and e2fsck accepts both.
func TestMatrixLastGroup(t *testing.T) {
	for _, extra := range []uint64{0, 1, 100, 300, 400, 3000} {
		blocks := 8193 + extra
		t.Run(fmt.Sprint(blocks), func(t *testing.T) {
			img, st := writeImage(t, newTree(), Options{Blocks: blocks}, 0)
			fsck(t, img, 0)
			t.Logf("%d blocks given, %d used, %d groups", blocks, st.Blocks, st.Groups)
		})
	}
}

func TestMatrixManyFiles(t *testing.T) {
	tree := newTree()
	for i := range 10000 {
		must(t, tree.Add(rootfs.Entry{Header: rootfs.Header{
			Name: fmt.Sprintf("/d%02d/file%05d", i%100, i), Type: rootfs.TypeReg, Mode: 0o644,
			Uid: uint32(i), ModTime: testEpoch, Size: int64(i % 3000),
		}, Content: genContent{size: int64(i % 3000), seed: byte(i)}}))
	}
	img, st := writeImage(t, tree, Options{Blocks: 64 << 10}, 0)
	fsck(t, img, 0)
	if st.NeededInodes != 11+100+10000 {
		t.Errorf("needed inodes %d", st.NeededInodes)
	}
	checkWithDebugfs(t, img, tree, 128)
}

func TestMatrixDeepAndWideDirectories(t *testing.T) {
	tree := newTree()
	p := ""
	for i := range 150 {
		p += fmt.Sprintf("/level%03d", i)
	}
	must(t, tree.AddBytes(p+"/bottom", 0o644, []byte("deep\n")))
	// 2,000 entries with long names: the directory needs more than 12
	// blocks, so its own block map goes through an indirect block.
	for i := range 2000 {
		must(t, tree.AddBytes(fmt.Sprintf("/wide/%s%04d", strings.Repeat("n", 100), i), 0o644, nil))
	}
	for _, bs := range []int{1024, 4096} {
		t.Run(fmt.Sprint(bs), func(t *testing.T) {
			img, _ := writeImage(t, tree, Options{BlockSize: bs, Blocks: (16 << 20) / uint64(bs)}, 0)
			fsck(t, img, 0)
			checkWithDebugfs(t, img, tree, 128)
		})
	}
}

// TestMatrixBlockMapBoundaries writes files whose sizes cross the direct,
// single-, double- and triple-indirect boundaries.
func TestMatrixBlockMapBoundaries(t *testing.T) {
	const bs = 1024
	per := int64(bs / 4)
	tree := newTree()
	for _, blocks := range []int64{12, 12 + per, 12 + per + per*per} {
		deltas := []int64{-1, 0, 1}
		if blocks > 12+per {
			// 64 MiB each: one file, its last byte in the first
			// triple-indirect block, keeps the test quick.
			deltas = []int64{1}
		}
		for _, delta := range deltas {
			size := blocks*bs + delta
			must(t, tree.Add(rootfs.Entry{Header: rootfs.Header{
				Name: fmt.Sprintf("/f%d", size), Type: rootfs.TypeReg, Mode: 0o644, ModTime: testEpoch, Size: size,
			}, Content: genContent{size: size, seed: byte(delta)}}))
		}
	}
	img, _ := writeImage(t, tree, Options{BlockSize: bs, Blocks: 256 << 10}, 0)
	fsck(t, img, 0)
	checkWithDebugfs(t, img, tree, 128)
}

// TestMatrixLargeSparseFile maps a file past the triple-indirect boundary
// of 4 KiB blocks (over 4 GiB, so large_file must be set). Its content is
// zeros, so only the pointer blocks reach the sparse image.
func TestMatrixLargeSparseFile(t *testing.T) {
	if testing.Short() {
		t.Skip("4 GiB sparse image")
	}
	const bs = 4096
	per := int64(bs / 4)
	size := (12+per+per*per)*bs + 1
	tree := newTree()
	must(t, tree.Add(rootfs.Entry{Header: rootfs.Header{Name: "/huge", Type: rootfs.TypeReg, Mode: 0o644, ModTime: testEpoch, Size: size},
		Content: zeroContent(size)}))
	img, st := writeImage(t, tree, Options{BlockSize: bs, Blocks: uint64(size/bs) + 64<<10}, 0)
	if !st.LargeFile {
		t.Error("large_file not reported")
	}
	fsck(t, img, 0)
	dumpe2fs := testutil.RequireTool(t, "dumpe2fs", "e2fsprogs")
	out, err := toolCommand(t, dumpe2fs, "-h", img).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "large_file") {
		t.Errorf("dumpe2fs: large_file missing (%v)\n%s", err, out)
	}
}

func TestMatrixSymlinksAndDevices(t *testing.T) {
	tree := newTree()
	for _, n := range []int{1, 59, 60, 500, 1023} {
		must(t, tree.Symlink(fmt.Sprintf("/link%d", n), strings.Repeat("t", n)))
	}
	must(t, tree.Mknod("/dev/console", rootfs.TypeChar, 0o600, 5, 1))
	must(t, tree.Mknod("/dev/null", rootfs.TypeChar, 0o666, 1, 3))
	must(t, tree.Mknod("/dev/sda1", rootfs.TypeBlock, 0o660, 8, 1))
	must(t, tree.Mknod("/dev/nvme0n1p300", rootfs.TypeBlock, 0o660, 259, 300))
	must(t, tree.Mknod("/dev/zero0", rootfs.TypeChar, 0o600, 0, 0))
	img, _ := writeImage(t, tree, Options{Blocks: 1024}, 0)
	fsck(t, img, 0)
	checkWithDebugfs(t, img, tree, 128)
	// A target that does not fit one block with its NUL is refused.
	tree = newTree()
	must(t, tree.Symlink("/toolong", strings.Repeat("t", 1024)))
	if _, err := Plan(tree, Options{Blocks: 1024}); err == nil {
		t.Error("1024-byte symlink target accepted with 1 KiB blocks")
	}
}

type zeroContent int64

func (z zeroContent) Open() (io.ReadCloser, error) {
	return io.NopCloser(io.LimitReader(zeroReader{}, int64(z))), nil
}

type zeroReader struct{}

func (zeroReader) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}
