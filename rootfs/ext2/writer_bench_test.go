package ext2

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/minidisk/minidisk/rootfs"
)

func benchWrite(b *testing.B, tree *rootfs.Tree, opt Options) {
	b.Helper()
	img := filepath.Join(b.TempDir(), "bench.img")
	b.ReportAllocs()
	for b.Loop() {
		f, err := os.Create(img)
		if err != nil {
			b.Fatal(err)
		}
		if err := f.Truncate(int64(opt.Blocks) * int64(max(opt.BlockSize, 1024))); err != nil {
			b.Fatal(err)
		}
		if _, err := Write(f, 0, tree, opt); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// BenchmarkWrite10000Files writes 10,000 in-memory files of up to 3 KiB in
// 100 directories into a 64 MiB filesystem (the tree of scripts/bench-mkfs.sh).
func BenchmarkWrite10000Files(b *testing.B) {
	tree := rootfs.New(testEpoch)
	for i := range 10000 {
		if err := tree.AddBytes(fmt.Sprintf("/d%02d/file%05d", i%100, i), 0o644, genBytes(int64(i%3000), byte(i))); err != nil {
			b.Fatal(err)
		}
	}
	benchWrite(b, tree, Options{Blocks: 64 << 10, Time: testEpoch})
}

// BenchmarkWriteEmpty2GiB formats an empty 2 GiB filesystem of 1 KiB
// blocks (256 groups): the cost of the metadata alone.
func BenchmarkWriteEmpty2GiB(b *testing.B) {
	benchWrite(b, rootfs.New(testEpoch), Options{Blocks: 2 << 20, Time: testEpoch})
}

// BenchmarkWrite256MiBFile streams one generated 256 MiB file.
func BenchmarkWrite256MiBFile(b *testing.B) {
	tree := rootfs.New(testEpoch)
	if err := tree.Add(rootfs.Entry{Header: rootfs.Header{Name: "/big", Type: rootfs.TypeReg, Mode: 0o644, Size: 256 << 20},
		Content: genContent{size: 256 << 20, seed: 9}}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(256 << 20)
	benchWrite(b, tree, Options{Blocks: 300 << 10, BlockSize: 1024, Time: testEpoch})
}

// BenchmarkMkfsHostDir formats BENCH_MKFS_IMG (an existing file of
// BENCH_MKFS_BLOCKS 1 KiB blocks) from the host directory BENCH_MKFS_DIR:
// scripts/bench-mkfs.sh runs it as a whole process against mke2fs -d.
func BenchmarkMkfsHostDir(b *testing.B) {
	dir, img := os.Getenv("BENCH_MKFS_DIR"), os.Getenv("BENCH_MKFS_IMG")
	if dir == "" || img == "" {
		b.Skip("set BENCH_MKFS_DIR and BENCH_MKFS_IMG (scripts/bench-mkfs.sh does)")
	}
	var blocks uint64
	if _, err := fmt.Sscan(os.Getenv("BENCH_MKFS_BLOCKS"), &blocks); err != nil {
		b.Fatal("BENCH_MKFS_BLOCKS: ", err)
	}
	for b.Loop() {
		tree := rootfs.New(testEpoch)
		if err := tree.AddHostTree("/", dir); err != nil {
			b.Fatal(err)
		}
		f, err := os.OpenFile(img, os.O_RDWR, 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Write(f, 0, tree, Options{Blocks: blocks, Time: testEpoch}); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}
