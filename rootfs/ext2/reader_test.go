package ext2

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/rootfs"
	"golang.org/x/sys/unix"
)

// dataAt writes data at offset off of a (possibly sparse) file.
func writeFileAt(t testing.TB, name string, off int64, data []byte) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, off); err != nil {
		t.Fatal(err)
	}
}

// pattern is deterministic non-zero content, distinct per seed.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed)*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// buildStaging fills dir with what the acceptance tests need: files crossing
// the direct / single / double / triple indirect boundaries for 1 KiB and
// 4 KiB blocks (sparse where large), symlinks of 59, 60 and 500 bytes, hard
// links, a FIFO, a 2,000-entry directory, a deep directory chain, and
// varied owners, modes and times.
func buildStaging(t testing.TB, dir string) {
	t.Helper()
	mk := func(p string, data []byte, mode os.FileMode) {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(full, mode); err != nil {
			t.Fatal(err)
		}
	}
	mk("etc/hostname", []byte("minidisk\n"), 0o644)
	mk("empty", nil, 0o600)
	mk("bin/setuid", []byte("#!/bin/sh\n"), 0o4755|os.ModeSetuid)
	if err := os.Chmod(filepath.Join(dir, "bin/setuid"), 0o755|os.ModeSetuid|os.ModeSetgid|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	// Block-map boundaries: 1 KiB blocks map 12 direct, 256 single, 65536
	// double; 4 KiB blocks 12, 1024, 1048576.
	mk("big/direct12", pattern(12*1024+1, 1), 0o644)
	mk("big/single1k", pattern((12+256)*1024+100, 2), 0o644)
	mk("big/direct4k", pattern(12*4096+7, 3), 0o644)
	mk("big/single4k", pattern((12+1024)*4096+9, 4), 0o644)
	// Sparse: data at the start, in a single-indirect hole region and just
	// past the start of the triple-indirect range of each block size.
	sp := filepath.Join(dir, "big/sparse-triple1k")
	writeFileAt(t, sp, 0, pattern(3000, 5))
	writeFileAt(t, sp, 40*1024, pattern(10, 6))
	writeFileAt(t, sp, (12+256+65536)*1024+5, pattern(2000, 7))
	sp4 := filepath.Join(dir, "big/sparse-triple4k")
	writeFileAt(t, sp4, 100, pattern(10, 8))
	writeFileAt(t, sp4, (12+1024+1048576)*4096+77, pattern(5000, 9))
	mk("big/hole-tail", pattern(100, 10), 0o644)
	must(t, os.Truncate(filepath.Join(dir, "big/hole-tail"), 300*1024))
	// Symlinks around the 60-byte fast-symlink limit.
	must(t, os.MkdirAll(filepath.Join(dir, "links"), 0o755))
	for _, n := range []int{1, 59, 60, 500} {
		target := "/"
		if n > 1 {
			target = strings.Repeat("x", n-1) + "/"
		}
		must(t, os.Symlink(target, filepath.Join(dir, fmt.Sprintf("links/len%d", n))))
	}
	must(t, os.Symlink("../etc/hostname", filepath.Join(dir, "links/rel")))
	must(t, os.Symlink("/etc/hostname", filepath.Join(dir, "links/abs")))
	must(t, os.Symlink("abs", filepath.Join(dir, "links/chain")))
	must(t, os.Symlink("loop-b", filepath.Join(dir, "links/loop-a")))
	must(t, os.Symlink("loop-a", filepath.Join(dir, "links/loop-b")))
	must(t, os.Symlink("/bin", filepath.Join(dir, "links/bindir")))
	// Hard links: the walk reports the later paths as links to the first.
	must(t, os.Link(filepath.Join(dir, "etc/hostname"), filepath.Join(dir, "hard-b")))
	must(t, os.Link(filepath.Join(dir, "etc/hostname"), filepath.Join(dir, "zz-hard-c")))
	must(t, unix.Mkfifo(filepath.Join(dir, "fifo"), 0o640))
	// Many entries: more than one directory block for both block sizes.
	many := filepath.Join(dir, "many")
	must(t, os.MkdirAll(many, 0o755))
	for i := 0; i < 2000; i++ {
		name := fmt.Sprintf("entry-%04d-%s", i, strings.Repeat("n", i%37))
		must(t, os.WriteFile(filepath.Join(many, name), []byte(name), 0o644))
	}
	deep := dir
	for i := 0; i < 40; i++ {
		deep = filepath.Join(deep, fmt.Sprintf("d%02d", i))
	}
	must(t, os.MkdirAll(deep, 0o750))
	must(t, os.WriteFile(filepath.Join(deep, "leaf"), []byte("deep\n"), 0o644))
	must(t, os.MkdirAll(filepath.Join(dir, "dev"), 0o755))

	// Owners (root only: mke2fs -d copies st_uid/st_gid, including the
	// high 16 bits) and times (all inside the signed 32-bit range that
	// 128-byte inodes hold).
	if os.Geteuid() == 0 {
		must(t, os.Lchown(filepath.Join(dir, "etc/hostname"), 1000, 1001))
		must(t, os.Lchown(filepath.Join(dir, "empty"), 70000, 70001))
		must(t, os.Lchown(filepath.Join(dir, "links/rel"), 12, 34))
		must(t, os.Lchown(filepath.Join(dir, "many"), 65534, 65534))
	}
	i := int64(0)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		i++
		ts := unix.NsecToTimespec(time.Unix(1_000_000_000+i*7919, 0).UnixNano())
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
	})
	must(t, err)
	// Directories last, since filling them changed their times.
	dirs := []string{}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if d != nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for j, p := range dirs {
		ts := unix.NsecToTimespec(time.Unix(1_200_000_000+int64(j)*104729, 0).UnixNano())
		must(t, unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW))
	}
}

// newDevEncoding is the kernel's new_encode_dev (major 12 bits, minor 20).
func newDevEncoding(major, minor uint32) uint32 {
	return (minor & 0xff) | (major << 8) | ((minor &^ 0xff) << 12)
}

// deviceCmds are debugfs commands that add device nodes (mke2fs -d copies
// the staging directory, where creating nodes would need root).
func debugfsDeviceCmds() []string {
	return []string{
		"cd /dev",
		"mknod console c 5 1",
		"sif console mode 020620",
		"mknod sda b 8 0",
		"sif sda mode 060660",
		"sif sda uid 6",
		"mknod wide c 1 1",
		"sif wide mode 020600",
		"sif wide block[0] 0",
		fmt.Sprintf("sif wide block[1] %d", newDevEncoding(300, 70000)),
	}
}

// wantDevices are the nodes deviceCmds adds, as the tree model says them.
var wantDevices = map[string]rootfs.Header{
	"/dev/console": {Type: rootfs.TypeChar, Mode: 0o620, Devmajor: 5, Devminor: 1},
	"/dev/sda":     {Type: rootfs.TypeBlock, Mode: 0o660, Uid: 6, Devmajor: 8, Devminor: 0},
	"/dev/wide":    {Type: rootfs.TypeChar, Mode: 0o600, Devmajor: 300, Devminor: 70000},
}

// mkfs makes an ext2 image of the staging directory with the real mke2fs.
func mke2fsStaging(t testing.TB, staging, img string, blockSize, inodeSize int, sizeKiB int, extra ...string) {
	t.Helper()
	mke2fs := testutil.RequireTool(t, "mke2fs", "e2fsprogs")
	args := append([]string{"-q", "-F", "-t", "ext2", "-b", strconv.Itoa(blockSize), "-I", strconv.Itoa(inodeSize),
		"-N", "4096", "-E", "root_owner=0:0", "-d", staging}, extra...)
	args = append(args, img, strconv.Itoa(sizeKiB)+"k")
	cmd := exec.Command(mke2fs, args...)
	cmd.Env = append(os.Environ(), "E2FSPROGS_FAKE_TIME=1500000000", "MKE2FS_CONFIG=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mke2fs %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// debugfs runs commands (one per line) against img and returns the output.
func runDebugfsScript(t testing.TB, img string, write bool, cmds ...string) string {
	t.Helper()
	bin := testutil.RequireTool(t, "debugfs", "e2fsprogs")
	f := filepath.Join(t.TempDir(), "cmds")
	must(t, os.WriteFile(f, []byte(strings.Join(cmds, "\n")+"\n"), 0o644))
	args := []string{"-f", f, img}
	if write {
		args = append([]string{"-w"}, args...)
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("debugfs %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func openReader(t testing.TB, img string) *Reader {
	t.Helper()
	f, err := os.Open(img)
	must(t, err)
	t.Cleanup(func() { f.Close() })
	fi, err := f.Stat()
	must(t, err)
	r, err := Open(f, 0, fi.Size())
	if err != nil {
		t.Fatalf("Open %s: %v", img, err)
	}
	return r
}

// expectFromStaging lists the staging directory as the walk should report
// it: the same order (parents first, siblings sorted), hard links as
// TypeLink to the first path, owners/modes/times from lstat.
func headersFromStaging(t testing.TB, staging string) []rootfs.Header {
	t.Helper()
	var out []rootfs.Header
	first := map[uint64]string{}
	err := filepath.WalkDir(staging, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(staging, p)
		if rel == "." {
			return nil
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		h := rootfs.Header{
			Name: "/" + filepath.ToSlash(rel), Mode: st.Mode & 0o7777, Uid: st.Uid, Gid: st.Gid,
			ModTime: time.Unix(st.Mtim.Sec, 0).UTC(),
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			h.Type, h.Size = rootfs.TypeReg, st.Size
		case unix.S_IFDIR:
			h.Type = rootfs.TypeDir
		case unix.S_IFLNK:
			h.Type = rootfs.TypeSymlink
			h.Linkname, err = os.Readlink(p)
			if err != nil {
				return err
			}
		case unix.S_IFIFO:
			h.Type = rootfs.TypeFIFO
		case unix.S_IFCHR, unix.S_IFBLK:
			h.Type = rootfs.TypeChar
			if st.Mode&unix.S_IFMT == unix.S_IFBLK {
				h.Type = rootfs.TypeBlock
			}
			h.Devmajor, h.Devminor = unix.Major(st.Rdev), unix.Minor(st.Rdev)
		default:
			return fmt.Errorf("%s: unexpected type %o", p, st.Mode)
		}
		if h.Type != rootfs.TypeDir && st.Nlink > 1 {
			if fp, ok := first[st.Ino]; ok {
				h.Type, h.Linkname, h.Size = rootfs.TypeLink, fp, 0
			} else {
				first[st.Ino] = h.Name
			}
		}
		out = append(out, h)
		return nil
	})
	must(t, err)
	return out
}

func headerString(h *rootfs.Header) string {
	return fmt.Sprintf("%s %s mode=%#o uid=%d gid=%d mtime=%d size=%d link=%q dev=%d,%d",
		h.Name, h.Type, h.Mode, h.Uid, h.Gid, h.ModTime.Unix(), h.Size, h.Linkname, h.Devmajor, h.Devminor)
}

// walkAll collects Walk's headers, checking the order is deterministic and
// parents come first.
func walkAll(t testing.TB, r *Reader) []*rootfs.Header {
	t.Helper()
	var got []*rootfs.Header
	seen := map[string]bool{}
	err := r.Walk(func(h *rootfs.Header) error {
		if h.Name != "/" && !seen[path.Dir(h.Name)] {
			return fmt.Errorf("%s reported before its parent", h.Name)
		}
		seen[h.Name] = true
		got = append(got, h)
		return nil
	})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return got
}

// compareWithStaging checks the reader's walk against the staging
// directory (plus lost+found and the debugfs-made devices), and every
// regular file's content against the host file.
func compareWithStaging(t *testing.T, r *Reader, staging string, devices map[string]rootfs.Header) {
	t.Helper()
	got := walkAll(t, r)
	want := headersFromStaging(t, staging)
	byName := map[string]*rootfs.Header{}
	for _, h := range got {
		byName[h.Name] = h
	}
	if h := byName["/"]; h == nil || h.Type != rootfs.TypeDir {
		t.Fatalf("root missing or not a directory: %+v", h)
	}
	if h := byName["/lost+found"]; h == nil || h.Type != rootfs.TypeDir || h.Mode != 0o700 {
		t.Errorf("lost+found: %+v (mke2fs makes it a 0700 directory)", h)
	}
	extra := map[string]bool{"/": true, "/lost+found": true}
	for name, d := range devices {
		extra[name] = true
		h := byName[name]
		if h == nil {
			t.Errorf("%s missing", name)
			continue
		}
		if h.Type != d.Type || h.Mode != d.Mode || h.Uid != d.Uid || h.Devmajor != d.Devmajor || h.Devminor != d.Devminor {
			t.Errorf("%s: got %s, want %s", name, headerString(h), headerString(&d))
		}
	}
	var gotRest []string
	for _, h := range got {
		if !extra[h.Name] {
			gotRest = append(gotRest, headerString(h))
		}
	}
	var wantRest []string
	for i := range want {
		if !extra[want[i].Name] {
			wantRest = append(wantRest, headerString(&want[i]))
		}
	}
	if !slices.Equal(gotRest, wantRest) {
		for i := 0; i < max(len(gotRest), len(wantRest)); i++ {
			var g, w string
			if i < len(gotRest) {
				g = gotRest[i]
			}
			if i < len(wantRest) {
				w = wantRest[i]
			}
			if g != w {
				t.Errorf("entry %d:\n got  %s\n want %s", i, g, w)
				break
			}
		}
		t.Fatalf("walk differs from the staging directory (%d vs %d entries)", len(gotRest), len(wantRest))
	}
	for _, h := range want {
		switch h.Type {
		case rootfs.TypeReg:
			compareContent(t, r, staging, h.Name)
		case rootfs.TypeSymlink:
			l, err := r.ReadLink(h.Name[1:])
			if err != nil || l != h.Linkname {
				t.Errorf("ReadLink(%s) = %q, %v; want %q", h.Name, l, err, h.Linkname)
			}
		}
		hh, err := r.Header(h.Name)
		if err != nil {
			t.Errorf("Header(%s): %v", h.Name, err)
			continue
		}
		if h.Type == rootfs.TypeLink {
			continue // Header is an lstat: the link's own inode, a regular file
		}
		if headerString(hh) != headerString(&h) {
			t.Errorf("Header(%s) = %s, want %s", h.Name, headerString(hh), headerString(&h))
		}
	}
}

// compareContent compares a regular file's bytes with the host file. Small
// files are read whole; large sparse ones are compared on every data extent
// the host reports (SEEK_DATA/SEEK_HOLE) plus probes inside the holes.
func compareContent(t *testing.T, r *Reader, staging, name string) {
	t.Helper()
	host := filepath.Join(staging, filepath.FromSlash(name[1:]))
	fi, err := os.Stat(host)
	must(t, err)
	if fi.Size() <= 16<<20 {
		want, err := os.ReadFile(host)
		must(t, err)
		got, err := r.ReadFile(name[1:])
		if err != nil {
			t.Errorf("ReadFile(%s): %v", name, err)
			return
		}
		if !bytes.Equal(got, want) {
			t.Errorf("ReadFile(%s): %d bytes differ from the host file's %d", name, len(got), len(want))
		}
		return
	}
	hf, err := os.Open(host)
	must(t, err)
	defer hf.Close()
	f, err := r.Open(name[1:])
	must(t, err)
	defer f.Close()
	ra, ok := f.(io.ReaderAt)
	if !ok {
		t.Fatalf("Open(%s) is not an io.ReaderAt", name)
	}
	size := fi.Size()
	var off int64
	for off < size {
		ds, err := unix.Seek(int(hf.Fd()), off, unix.SEEK_DATA)
		if err != nil {
			break // ENXIO: no data after off
		}
		de, err := unix.Seek(int(hf.Fd()), ds, unix.SEEK_HOLE)
		must(t, err)
		// Probe the hole before this extent: it must read as zeros.
		if ds > off {
			probe := make([]byte, min(4096, ds-off))
			if _, err := ra.ReadAt(probe, off+(ds-off)/2-int64(len(probe))/2); err != nil {
				t.Errorf("%s: hole read at %d: %v", name, off, err)
			} else if !bytes.Equal(probe, make([]byte, len(probe))) {
				t.Errorf("%s: hole near %d reads non-zero", name, off+(ds-off)/2)
			}
		}
		n := min(de-ds, 8<<20)
		want := make([]byte, n)
		got := make([]byte, n)
		_, err = hf.ReadAt(want, ds)
		must(t, err)
		if _, err := ra.ReadAt(got, ds); err != nil && err != io.EOF {
			t.Errorf("%s: ReadAt(%d bytes at %d): %v", name, n, ds, err)
		} else if !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes at %d differ from the host file", name, n, ds)
		}
		off = de
	}
	// The end: Seek to it and read past it.
	sk := f.(io.Seeker)
	if p, err := sk.Seek(-10, io.SeekEnd); err != nil || p != size-10 {
		t.Errorf("%s: Seek(-10, end) = %d, %v", name, p, err)
	}
	buf := make([]byte, 100)
	n, err := f.Read(buf)
	if n != 10 || (err != nil && err != io.EOF) {
		t.Errorf("%s: read at end: %d, %v (want 10 bytes)", name, n, err)
	}
	want := make([]byte, 10)
	_, _ = hf.ReadAt(want, size-10)
	if !bytes.Equal(buf[:10], want) {
		t.Errorf("%s: last 10 bytes differ", name)
	}
}

var debugfsBlocksLine = regexp.MustCompile(`^debugfs: blocks (\S+)$`)

// compareBlocks checks FileBlocks and the internal block-map order against
// `debugfs -R "blocks PATH"`, which lists every block of the file (indirect
// ones included) in ext2fs_block_iterate3's order: an indirect block before
// the blocks it maps.
func compareBlocks(t *testing.T, r *Reader, img string, files []string) {
	t.Helper()
	var cmds []string
	for _, f := range files {
		cmds = append(cmds, "blocks "+f)
	}
	out := runDebugfsScript(t, img, false, cmds...)
	want := map[string]string{}
	cur := ""
	for _, line := range strings.Split(out, "\n") {
		if m := debugfsBlocksLine.FindStringSubmatch(line); m != nil {
			cur = m[1]
			want[cur] = ""
			continue
		}
		if cur != "" && strings.TrimSpace(line) != "" && !strings.HasPrefix(line, "debugfs ") {
			want[cur] += strings.TrimSpace(line)
		}
	}
	if len(want) != len(files) {
		t.Fatalf("debugfs answered for %d of %d files:\n%s", len(want), len(files), out)
	}
	for _, name := range files {
		ino, err := r.Inode(name)
		must(t, err)
		in, err := r.ReadInode(ino)
		must(t, err)
		var all []string
		var data []uint32
		err = r.walkBlocks(ino, in, r.logicalBlocks(in), func(_ uint64, p uint64, meta bool) error {
			all = append(all, strconv.FormatUint(p, 10))
			if !meta {
				data = append(data, uint32(p))
			}
			return nil
		})
		must(t, err)
		if got := strings.Join(all, " "); got != want[name] {
			t.Errorf("%s: block map order differs from debugfs blocks %s", name, firstDiff(strings.Fields(got), strings.Fields(want[name])))
		}
		fb, err := r.FileBlocks(name)
		must(t, err)
		var nz []uint32
		for _, b := range fb {
			if b != 0 {
				nz = append(nz, b)
			}
		}
		if !slices.Equal(nz, data) {
			t.Errorf("%s: FileBlocks without holes differ from the map's data blocks %s", name, firstDiff(nz, data))
		}
		if fi, err := r.Stat(name[1:]); err == nil {
			bs := int64(r.BlockSize())
			if want := (fi.Size() + bs - 1) / bs; int64(len(fb)) != want {
				t.Errorf("%s: FileBlocks has %d entries, want %d (size %d)", name, len(fb), want, fi.Size())
			}
		}
		d, m, err := r.InodeBlocks(ino)
		must(t, err)
		if !slices.Equal(d, data) || len(d)+len(m) != len(all) {
			t.Errorf("%s: InodeBlocks = %d data + %d meta, want %d data of %d", name, len(d), len(m), len(data), len(all))
		}
	}
}

func TestReaderMatchesMke2fs(t *testing.T) {
	testutil.RequireTool(t, "mke2fs", "e2fsprogs")
	staging := filepath.Join(t.TempDir(), "staging")
	buildStaging(t, staging)
	for _, geo := range []struct{ bs, isz int }{{1024, 128}, {1024, 256}, {4096, 128}, {4096, 256}} {
		t.Run(fmt.Sprintf("b%d-i%d", geo.bs, geo.isz), func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "fs.img")
			mke2fsStaging(t, staging, img, geo.bs, geo.isz, 24*1024)
			runDebugfsScript(t, img, true, debugfsDeviceCmds()...)
			r := openReader(t, img)
			if r.BlockSize() != geo.bs || r.Superblock().InodeSizeOrDefault() != geo.isz {
				t.Fatalf("geometry %d/%d, want %d/%d", r.BlockSize(), r.Superblock().InodeSize, geo.bs, geo.isz)
			}
			compareWithStaging(t, r, staging, wantDevices)
			var files []string
			for _, h := range headersFromStaging(t, staging) {
				if h.Type == rootfs.TypeReg && !strings.HasPrefix(h.Name, "/many/") {
					files = append(files, h.Name)
				}
			}
			files = append(files, "/many/entry-0000-", "/many/entry-1999-"+strings.Repeat("n", 1999%37))
			compareBlocks(t, r, img, files)
			compareDebugfsStat(t, r, img)
			compareRdump(t, r, img, "/etc", "/bin", "/many", "/links", "/d00")
		})
	}
}

var debugfsStatRe = regexp.MustCompile(`(?s)Inode: (\d+)\s+Type: ([A-Za-z ]+?)\s+Mode:\s+(\d+).*?User:\s+(\d+)\s+Group:\s+(\d+).*?Size: (\d+).*?Links: (\d+).*?\bmtime: 0x([0-9a-f]+)`)

// compareDebugfsStat checks Lstat against `debugfs -R "stat PATH"` for the
// entries the staging directory cannot vouch for: the root, lost+found,
// devices, and a few others as a cross-check.
func compareDebugfsStat(t *testing.T, r *Reader, img string) {
	t.Helper()
	names := []string{"/", "/lost+found", "/dev/console", "/dev/sda", "/dev/wide", "/etc/hostname", "/many", "/links/len500", "/fifo"}
	var cmds []string
	for _, n := range names {
		cmds = append(cmds, "stat "+n)
	}
	out := runDebugfsScript(t, img, false, cmds...)
	parts := strings.Split(out, "debugfs: stat ")[1:]
	if len(parts) != len(names) {
		t.Fatalf("debugfs stat: %d answers for %d names:\n%s", len(parts), len(names), out)
	}
	for i, n := range names {
		m := debugfsStatRe.FindStringSubmatch(parts[i])
		if m == nil {
			t.Fatalf("cannot parse debugfs stat %s:\n%s", n, parts[i])
		}
		fsName := strings.TrimPrefix(n, "/")
		if fsName == "" {
			fsName = "."
		}
		fi, err := r.Lstat(fsName)
		must(t, err)
		efi := fi.(*fileInfo)
		mode, _ := strconv.ParseUint(m[3], 8, 32)
		ino, _ := strconv.ParseUint(m[1], 10, 32)
		mtime, _ := strconv.ParseInt(m[8], 16, 64)
		got := fmt.Sprintf("ino=%d perm=%#o uid=%d gid=%d size=%d links=%d mtime=%d", efi.Ino(), uint32(fi.Mode().Perm())|efi.h.Mode&0o7000, efi.h.Uid, efi.h.Gid, fi.Size(), efi.Nlink(), fi.ModTime().Unix())
		want := fmt.Sprintf("ino=%d perm=%#o uid=%s gid=%s size=%s links=%s mtime=%d", ino, mode, m[4], m[5], m[6], m[7], mtime)
		if got != want {
			t.Errorf("%s:\n got  %s\n want %s (debugfs stat)", n, got, want)
		}
	}
}

func TestReaderFSInterfaces(t *testing.T) {
	testutil.RequireTool(t, "mke2fs", "e2fsprogs")
	staging := filepath.Join(t.TempDir(), "staging")
	buildStaging(t, staging)
	img := filepath.Join(t.TempDir(), "fs.img")
	mke2fsStaging(t, staging, img, 1024, 128, 24*1024)
	r := openReader(t, img)

	// The io/fs conformance checks of the standard library (ReadDir, Stat,
	// Open, Seek, ReadAt consistency) on subtrees without FIFOs, dangling
	// or looping symlinks and the 4 GiB sparse file, which fstest rejects
	// or reads whole.
	for dir, expect := range map[string]string{"many": "entry-1999-" + strings.Repeat("n", 1999%37), "bin": "setuid", "etc": "hostname", "d00": "d01/d02"} {
		sub, err := fs.Sub(r, dir)
		must(t, err)
		if err := fstest.TestFS(sub, expect); err != nil {
			t.Errorf("fstest on %s/: %v", dir, err)
		}
	}
	if b, err := r.FileBlocks("links/rel"); err != nil || len(b) != 1 {
		t.Errorf("FileBlocks through a symlink: %v, %v", b, err)
	}

	// Symlinks are followed by Open/Stat/ReadFile, not by Lstat/ReadLink.
	for _, n := range []string{"links/rel", "links/abs", "links/chain"} {
		b, err := r.ReadFile(n)
		if err != nil || string(b) != "minidisk\n" {
			t.Errorf("ReadFile(%s) = %q, %v", n, b, err)
		}
		fi, err := r.Lstat(n)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			t.Errorf("Lstat(%s) = %v, %v; want a symlink", n, fi, err)
		}
		fi, err = r.Stat(n)
		if err != nil || !fi.Mode().IsRegular() || fi.Size() != 9 {
			t.Errorf("Stat(%s) = %v, %v; want the 9-byte file", n, fi, err)
		}
	}
	if b, err := r.ReadFile("links/bindir/setuid"); err != nil || string(b) != "#!/bin/sh\n" {
		t.Errorf("through a directory symlink: %q, %v", b, err)
	}
	if _, err := r.Stat("links/loop-a"); err == nil || !strings.Contains(err.Error(), "too many levels") {
		t.Errorf("symlink loop: %v", err)
	}
	if _, err := r.Stat("nope"); !os.IsNotExist(err) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
	if _, err := r.Open("/etc"); err == nil {
		t.Errorf("Open(/etc) accepted a non fs.FS name")
	}
	if _, err := r.Stat("etc/hostname/x"); err == nil {
		t.Errorf("path through a file accepted")
	}
	fi, err := r.Stat("bin/setuid")
	must(t, err)
	if fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky {
		t.Errorf("bin/setuid mode %v lost special bits", fi.Mode())
	}
	if h, ok := fi.Sys().(*rootfs.Header); !ok || h.Name != "/bin/setuid" {
		t.Errorf("Sys() = %#v, want *rootfs.Header named /bin/setuid", fi.Sys())
	}
	ents, err := r.ReadDir("many")
	must(t, err)
	hostEnts, err := os.ReadDir(filepath.Join(staging, "many"))
	must(t, err)
	if len(ents) != len(hostEnts) {
		t.Fatalf("ReadDir(many): %d entries, host %d", len(ents), len(hostEnts))
	}
	for i := range ents {
		if ents[i].Name() != hostEnts[i].Name() {
			t.Fatalf("ReadDir(many)[%d] = %s, host %s", i, ents[i].Name(), hostEnts[i].Name())
		}
	}
	// fs.WalkDir through the fs.FS interface sees what Walk sees.
	var viaFS []string
	must(t, fs.WalkDir(r, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		viaFS = append(viaFS, path.Join("/", p))
		return nil
	}))
	var viaWalk []string
	for _, h := range walkAll(t, r) {
		viaWalk = append(viaWalk, h.Name)
	}
	if !slices.Equal(viaFS, viaWalk) {
		t.Errorf("fs.WalkDir and Walk disagree: %d vs %d names", len(viaFS), len(viaWalk))
	}
	// Reading a directory file in pieces.
	f, err := r.Open("many")
	must(t, err)
	df := f.(fs.ReadDirFile)
	total := 0
	for {
		part, err := df.ReadDir(300)
		total += len(part)
		if err == io.EOF {
			break
		}
		must(t, err)
	}
	if total != 2000 {
		t.Errorf("ReadDir(300) in pieces: %d entries", total)
	}
	// Regular files through fs.File are io.ReaderAt (debug/elf needs it).
	f, err = r.Open("big/single1k")
	must(t, err)
	if _, ok := f.(io.ReaderAt); !ok {
		t.Errorf("regular file is not an io.ReaderAt")
	}
	want, err := os.ReadFile(filepath.Join(staging, "big/single1k"))
	must(t, err)
	got, err := io.ReadAll(f)
	must(t, err)
	if !bytes.Equal(got, want) {
		t.Errorf("streamed big/single1k differs")
	}
}

// TestReaderOracleBoundsPartition checks that a size smaller than the
// filesystem makes reads past it fail with ErrPastPartitionEnd.
func TestReaderPastPartitionEnd(t *testing.T) {
	staging := filepath.Join(t.TempDir(), "staging")
	must(t, os.MkdirAll(staging, 0o755))
	must(t, os.WriteFile(filepath.Join(staging, "a"), pattern(50000, 1), 0o644))
	img := filepath.Join(t.TempDir(), "fs.img")
	mke2fsStaging(t, staging, img, 1024, 128, 1024)
	r := openReader(t, img)
	blocks, err := r.FileBlocks("a")
	must(t, err)
	last := slices.Max(blocks)
	f, err := os.Open(img)
	must(t, err)
	defer f.Close()
	short, err := Open(f, 0, int64(last)*1024) // the partition ends before the file's last block
	must(t, err)
	_, err = short.ReadFile("a")
	if err == nil || !strings.Contains(err.Error(), "past the partition end") {
		t.Fatalf("ReadFile beyond the partition: %v", err)
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) || !errors.Is(err, ErrPastPartitionEnd) {
		t.Errorf("error %v does not wrap ErrPastPartitionEnd in a PathError", err)
	}
}

// firstDiff describes where two lists first differ, briefly.
func firstDiff[T comparable](got, want []T) string {
	for i := 0; i < len(got) && i < len(want); i++ {
		if got[i] != want[i] {
			return fmt.Sprintf("at index %d: got %v, want %v (lengths %d, %d)", i, got[i], want[i], len(got), len(want))
		}
	}
	return fmt.Sprintf("in length: got %d, want %d", len(got), len(want))
}

// compareRdump extracts directories with `debugfs rdump` and compares
// every regular file's content and every symlink's target with the reader.
func compareRdump(t *testing.T, r *Reader, img string, dirs ...string) {
	t.Helper()
	out := t.TempDir()
	var cmds []string
	for _, d := range dirs {
		cmds = append(cmds, "rdump "+d+" "+out)
	}
	runDebugfsScript(t, img, false, cmds...)
	checked := 0
	for _, d := range dirs {
		root := filepath.Join(out, path.Base(d))
		err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(out, p)
			name := path.Join(path.Dir(d), filepath.ToSlash(rel))[1:]
			switch {
			case de.Type().IsRegular():
				want, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				got, err := r.ReadFile(name)
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s: %d bytes (%v), debugfs rdump has %d", name, len(got), err, len(want))
				}
				checked++
			case de.Type()&fs.ModeSymlink != 0:
				want, err := os.Readlink(p)
				if err != nil {
					return err
				}
				if got, err := r.ReadLink(name); err != nil || got != want {
					t.Errorf("%s: ReadLink %q (%v), debugfs rdump has %q", name, got, err, want)
				}
				checked++
			}
			return nil
		})
		must(t, err)
	}
	if checked < 2000 {
		t.Errorf("only %d files compared with debugfs rdump", checked)
	}
}
