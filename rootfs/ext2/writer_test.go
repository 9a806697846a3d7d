package ext2

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/rootfs"
)

// genContent is test file content produced on the fly: a byte pattern that
// depends on the seed and the offset, so a multi-GiB file needs no buffer
// and every block differs (a misplaced block is detected).
type genContent struct {
	size int64
	seed byte
}

func (g genContent) Open() (io.ReadCloser, error) {
	return io.NopCloser(&genReader{g: g}), nil
}

type genReader struct {
	g   genContent
	off int64
}

func (r *genReader) Read(b []byte) (int, error) {
	if r.off >= r.g.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(b)), r.g.size-r.off))
	for i := range n {
		o := r.off + int64(i)
		// Mix the block number in so that equal offsets within different
		// blocks differ.
		b[i] = byte(o) ^ byte(o>>10)*7 ^ byte(o>>20)*13 ^ r.g.seed
	}
	r.off += int64(n)
	return n, nil
}

func genBytes(size int64, seed byte) []byte {
	b := make([]byte, size)
	_, _ = io.ReadFull(&genReader{g: genContent{size: size, seed: seed}}, b)
	return b
}

var testEpoch = time.Unix(1700000000, 0)

// writeImage writes t into a new sparse image of opt.Blocks blocks (after
// base bytes of padding) and returns its path.
func writeImage(t *testing.T, tree *rootfs.Tree, opt Options, base int64) (string, *Stats) {
	t.Helper()
	if opt.BlockSize == 0 {
		opt.BlockSize = 1024
	}
	if opt.Time.IsZero() {
		opt.Time = testEpoch
	}
	img := filepath.Join(t.TempDir(), "fs.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(base + int64(opt.Blocks)*int64(opt.BlockSize)); err != nil {
		t.Fatal(err)
	}
	st, err := Write(f, base, tree, opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return img, st
}

// fsck runs e2fsck -fn on the filesystem at byte offset base of img and
// fails the test unless it reports a clean filesystem (exit 0).
func fsck(t *testing.T, img string, base int64) {
	t.Helper()
	e2fsck := testutil.RequireTool(t, "e2fsck", "e2fsprogs")
	target := img
	if base != 0 {
		target = fmt.Sprintf("%s?offset=%d", img, base)
	}
	out, err := toolCommand(t, e2fsck, "-fn", target).CombinedOutput()
	if err != nil {
		t.Fatalf("e2fsck -fn: %v\n%s", err, out)
	}
}

func newTree() *rootfs.Tree { return rootfs.New(testEpoch) }

// must fails the test (or benchmark, or fuzz seed) on err.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestWriteEmptyTreeFsckClean(t *testing.T) {
	for _, bs := range []int{1024, 2048, 4096} {
		for _, isz := range []int{128, 256} {
			t.Run(fmt.Sprintf("bs%d-inode%d", bs, isz), func(t *testing.T) {
				img, st := writeImage(t, newTree(), Options{BlockSize: bs, InodeSize: isz, Blocks: uint64(4 << 20 / bs), Label: "empty"}, 0)
				fsck(t, img, 0)
				if st.NeededInodes != 11 {
					t.Errorf("needed inodes %d, want 11 (reserved + lost+found)", st.NeededInodes)
				}
			})
		}
	}
}

func TestWriteSmallTreeFsckClean(t *testing.T) {
	tree := newTree()
	must(t, tree.Mkdir("/etc", 0o755))
	must(t, tree.AddBytes("/etc/hostname", 0o644, []byte("minidisk\n")))
	must(t, tree.Symlink("/bin/sh", "busybox"))
	must(t, tree.Mknod("/dev/console", rootfs.TypeChar, 0o600, 5, 1))
	must(t, tree.Mknod("/dev/sda", rootfs.TypeBlock, 0o660, 8, 0))
	must(t, tree.Mknod("/dev/big", rootfs.TypeChar, 0o600, 300, 70000))
	must(t, tree.Add(rootfs.Entry{Header: rootfs.Header{Name: "/fifo", Type: rootfs.TypeFIFO, Mode: 0o644, ModTime: testEpoch}}))
	must(t, tree.AddBytes("/bin/busybox", 0o755, genBytes(300000, 1)))
	must(t, tree.Add(rootfs.Entry{Header: rootfs.Header{Name: "/bin/ls", Type: rootfs.TypeLink, Linkname: "/bin/busybox"}}))
	img, _ := writeImage(t, tree, Options{Blocks: 2048}, 0)
	fsck(t, img, 0)
}

func TestWriteAtOffset(t *testing.T) {
	tree := newTree()
	must(t, tree.AddBytes("/a", 0o644, []byte("hello")))
	base := int64(63 * 512)
	img, _ := writeImage(t, tree, Options{Blocks: 4096, BlockSize: 4096}, base)
	fsck(t, img, base)
	raw, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range raw[:base+1024] {
		if b != 0 {
			t.Fatalf("byte %d before the superblock written (%#x)", i, b)
		}
	}
}

func TestPlanNoSpace(t *testing.T) {
	tree := newTree()
	must(t, tree.Add(rootfs.Entry{Header: rootfs.Header{Name: "/big", Type: rootfs.TypeReg, Mode: 0o644, Size: 2 << 20}, Content: genContent{size: 2 << 20}}))
	_, err := Plan(tree, Options{Blocks: 1024})
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "available") {
		t.Fatalf("Plan: %v, want ErrNoSpace naming needed and available blocks", err)
	}
	// Write must fail the same way before touching the output.
	w := &countingWriterAt{}
	if _, err := Write(w, 0, tree, Options{Blocks: 1024}); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Write: %v", err)
	}
	if w.writes != 0 {
		t.Fatalf("Write wrote %d times before failing", w.writes)
	}
	// Too many inodes for an explicit inode count.
	tree = newTree()
	for i := range 40 {
		must(t, tree.AddBytes(fmt.Sprintf("/f%d", i), 0o644, nil))
	}
	_, err = Plan(tree, Options{Blocks: 4096, Inodes: 32})
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "inodes") {
		t.Fatalf("Plan with 32 inodes: %v", err)
	}
}

type countingWriterAt struct{ writes int }

func (c *countingWriterAt) WriteAt(b []byte, off int64) (int, error) {
	c.writes++
	return len(b), nil
}

// recordingWriterAt keeps every write, to check what Write sends.
type recordingWriterAt struct {
	img    []byte
	writes [][2]int64 // offset, length
}

func (r *recordingWriterAt) WriteAt(b []byte, off int64) (int, error) {
	if need := off + int64(len(b)); need > int64(len(r.img)) {
		r.img = append(r.img, make([]byte, need-int64(len(r.img)))...)
	}
	copy(r.img[off:], b)
	r.writes = append(r.writes, [2]int64{off, int64(len(b))})
	return len(b), nil
}

func TestWriteDeterministicAndSparse(t *testing.T) {
	build := func() *rootfs.Tree {
		tree := newTree()
		must(t, tree.AddBytes("/etc/hostname", 0o644, []byte("minidisk\n")))
		must(t, tree.Add(rootfs.Entry{Header: rootfs.Header{Name: "/zeros", Type: rootfs.TypeReg, Mode: 0o644, ModTime: testEpoch, Size: 300 << 10}, Content: rootfs.Bytes(make([]byte, 300<<10))}))
		must(t, tree.AddBytes("/bin/busybox", 0o755, genBytes(100000, 3)))
		return tree
	}
	opt := Options{Blocks: 8192, Label: "root", Time: testEpoch}
	var a, b recordingWriterAt
	sa, err := Write(&a, 0, build(), opt)
	must(t, err)
	sb, err := Write(&b, 0, build(), opt)
	must(t, err)
	if !bytes.Equal(a.img, b.img) || sa.UUID != sb.UUID {
		t.Fatal("the same tree and options gave different images")
	}
	// Content decides the UUID.
	tree := build()
	must(t, tree.AddBytes("/etc/hostname", 0o644, []byte("minidisk!\n")))
	var c recordingWriterAt
	sc, err := Write(&c, 0, tree, opt)
	must(t, err)
	if sc.UUID == sa.UUID {
		t.Error("different content, same UUID")
	}
	// A given UUID is used as is.
	u := [16]byte{1, 2, 3}
	opt.UUID = &u
	sd, err := Write(&recordingWriterAt{}, 0, build(), opt)
	must(t, err)
	if sd.UUID != u {
		t.Errorf("UUID %x, want %x", sd.UUID, u)
	}
	// No all-zero block is written: the 300 KiB zero file and the unused
	// inode table stay holes.
	var written int64
	for _, w := range a.writes {
		written += w[1]
		for off := w[0]; off < w[0]+w[1]; off += 1024 {
			if bytes.Equal(a.img[off:off+1024], make([]byte, 1024)) {
				t.Fatalf("all-zero block at byte %d written", off)
			}
		}
	}
	if written > 200<<10 {
		t.Errorf("%d bytes written for about 100 KiB of data", written)
	}
	// And the result is a valid filesystem.
	img := filepath.Join(t.TempDir(), "det.img")
	must(t, os.WriteFile(img, append(a.img, make([]byte, 8192*1024-len(a.img))...), 0o644))
	fsck(t, img, 0)
}

// TestClearRegionThenRewrite formats an image, formats it again with
// another tree after ClearRegion, and expects the second filesystem clean
// with none of the first one's content left, and the bytes around the
// region untouched.
func TestClearRegionThenRewrite(t *testing.T) {
	base := int64(2048 * 512)
	tree := newTree()
	must(t, tree.AddBytes("/old", 0o644, genBytes(200000, 5)))
	img, _ := writeImage(t, tree, Options{Blocks: 4096}, base)
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	must(t, err)
	defer f.Close()
	_, err = f.WriteAt([]byte("before"), base-6)
	must(t, err)
	_, err = f.WriteAt([]byte("after"), base+4096*1024)
	must(t, err)
	must(t, ClearRegion(f, base, 4096*1024))
	tree = newTree()
	must(t, tree.AddBytes("/new", 0o644, []byte("x")))
	_, err = Write(f, base, tree, Options{Blocks: 4096, Time: testEpoch})
	must(t, err)
	must(t, f.Close())
	fsck(t, img, base)
	raw, err := os.ReadFile(img)
	must(t, err)
	if !bytes.Equal(raw[base-6:base], []byte("before")) || !bytes.Equal(raw[base+4096*1024:base+4096*1024+5], []byte("after")) {
		t.Error("bytes outside the region changed")
	}
	old := genBytes(200000, 5)
	if bytes.Contains(raw, old[5000:5100]) {
		t.Error("the old file's content survived")
	}
}

// toolTimeout bounds every host tool a test runs, so a hung tool fails its
// test with a message instead of stalling the package until go test's
// global timeout.
const toolTimeout = 3 * time.Minute

func toolCommand(t testing.TB, name string, args ...string) *exec.Cmd {
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	t.Cleanup(cancel)
	return exec.CommandContext(ctx, name, args...)
}

type discardWriterAt struct{}

func (discardWriterAt) WriteAt(b []byte, off int64) (int, error) { return len(b), nil }

// TestWriteMemoryDoesNotGrowWithFileSize streams a 256 MiB file and a
// 4 GiB filesystem: the writer allocates a bounded amount (its 1 MiB write
// buffer and per-entry records), not anything proportional to the data.
func TestWriteMemoryDoesNotGrowWithFileSize(t *testing.T) {
	tree := newTree()
	must(t, tree.Add(rootfs.Entry{Header: rootfs.Header{Name: "/big", Type: rootfs.TypeReg, Mode: 0o644, ModTime: testEpoch, Size: 256 << 20},
		Content: zeroContent(256 << 20)}))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Write(discardWriterAt{}, 0, tree, Options{BlockSize: 4096, Blocks: 1 << 20, Time: testEpoch})
	must(t, err)
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Errorf("writing a 256 MiB file in a 4 GiB filesystem allocated %d bytes", alloc)
	}
}

// TestWriteHostFiles goes through the read-ahead path for small host files
// (and the streaming path for a large one): debugfs must read back the same
// bytes, the image must equal the one written from in-memory copies of the
// same files, and a host file that changed size since the tree was built is
// an error naming it.
func TestWriteHostFiles(t *testing.T) {
	dir := t.TempDir()
	memTree, hostTree := newTree(), newTree()
	for i := range 3000 {
		size := int64(i * 37 % 5000)
		if i == 1234 {
			size = prefetchMaxFile + 12345 // streamed, not read ahead
		}
		data := genBytes(size, byte(i))
		p := filepath.Join(dir, fmt.Sprintf("f%04d", i))
		must(t, os.WriteFile(p, data, 0o644))
		h := rootfs.Header{Name: fmt.Sprintf("/d%d/f%04d", i%7, i), Type: rootfs.TypeReg, Mode: 0o644, ModTime: testEpoch, Size: size}
		must(t, memTree.Add(rootfs.Entry{Header: h, Content: rootfs.Bytes(data)}))
		must(t, hostTree.Add(rootfs.Entry{Header: h, Content: rootfs.HostFile(p)}))
	}
	opt := Options{Blocks: 32 << 10, Time: testEpoch}
	var a, b recordingWriterAt
	_, err := Write(&a, 0, memTree, opt)
	must(t, err)
	_, err = Write(&b, 0, hostTree, opt)
	must(t, err)
	if !bytes.Equal(a.img, b.img) {
		t.Fatal("host files and in-memory copies gave different images")
	}
	img, _ := writeImage(t, hostTree, opt, 0)
	fsck(t, img, 0)
	checkWithDebugfs(t, img, hostTree, 128)

	must(t, os.WriteFile(filepath.Join(dir, "f0100"), []byte("changed"), 0o644))
	_, err = Write(&recordingWriterAt{}, 0, hostTree, opt)
	if err == nil || !strings.Contains(err.Error(), "/d2/f0100") || !strings.Contains(err.Error(), "changed while writing") {
		t.Fatalf("Write after a host file shrank: %v", err)
	}
}
