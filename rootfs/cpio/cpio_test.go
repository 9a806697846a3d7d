package cpio

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/rootfs"
)

var epoch = time.Unix(1700000000, 0).UTC()

// sampleTree has one of every entry type, odd sizes (padding), a hard-link
// group whose members sort before and after the target, and non-root owners.
func sampleTree(t testing.TB) *rootfs.Tree {
	t.Helper()
	tr := rootfs.New(epoch)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(tr.Mkdir("/bin", 0o755))
	must(tr.Mkdir("/tmp", 0o1777))
	must(tr.AddBytes("/bin/busybox", 0o755, []byte("hello")))
	must(tr.Add(rootfs.Entry{Header: rootfs.Header{Name: "/bin/a", Type: rootfs.TypeLink, Linkname: "/bin/busybox"}}))
	must(tr.Add(rootfs.Entry{Header: rootfs.Header{Name: "/sbin/z", Type: rootfs.TypeLink, Linkname: "/bin/busybox"}}))
	must(tr.Symlink("/bin/sh", "busybox"))
	must(tr.Symlink("/linuxrc", "/bin/busybox"))
	must(tr.Mknod("/dev/console", rootfs.TypeChar, 0o600, 5, 1))
	must(tr.Mknod("/dev/sda", rootfs.TypeBlock, 0o660, 8, 0))
	must(tr.Add(rootfs.Entry{Header: rootfs.Header{Name: "/dev/initctl", Type: rootfs.TypeFIFO, Mode: 0o600, ModTime: epoch}}))
	must(tr.AddBytes("/etc/empty", 0o644, nil))
	must(tr.AddBytes("/etc/hostname", 0o644, []byte("minidisk\n")))
	must(tr.Add(rootfs.Entry{Header: rootfs.Header{Name: "/usr/bin/su", Type: rootfs.TypeReg, Mode: 0o4755, Uid: 1000, Gid: 100, ModTime: epoch, Size: 3}, Content: rootfs.Bytes("abc")}))
	return tr
}

func writeArchive(t testing.TB, tr *rootfs.Tree) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteTree(NewWriter(&buf), tr); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestWriteTreeDeterministic(t *testing.T) {
	a := writeArchive(t, sampleTree(t))
	b := writeArchive(t, sampleTree(t))
	if !bytes.Equal(a, b) {
		t.Fatal("two writes of the same tree differ")
	}
	if len(a)%4 != 0 {
		t.Errorf("archive length %d is not 4-aligned", len(a))
	}
	var z1, z2 bytes.Buffer
	for _, z := range []*bytes.Buffer{&z1, &z2} {
		w, err := Compress(z, Gzip)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(a)
		w.Close()
	}
	if !bytes.Equal(z1.Bytes(), z2.Bytes()) {
		t.Fatal("two gzip runs differ")
	}
	zr, err := gzip.NewReader(bytes.NewReader(z1.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !zr.ModTime.IsZero() || zr.Name != "" {
		t.Errorf("gzip header has mtime %v name %q; want neither", zr.ModTime, zr.Name)
	}
}

// TestGNUCpioList checks names, modes, device numbers and link targets as
// GNU cpio lists them.
func TestGNUCpioList(t *testing.T) {
	cpioBin := testutil.RequireTool(t, "cpio", "cpio")
	arch := writeArchive(t, sampleTree(t))
	cmd := exec.Command(cpioBin, "-tvn", "--quiet")
	cmd.Stdin = bytes.NewReader(arch)
	cmd.Env = append(os.Environ(), "TZ=UTC", "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -tv: %v\n%s", err, out)
	}
	want := []string{
		`^drwxr-xr-x +2 0 +0 +0 .* \.$`,
		`^drwxr-xr-x +2 0 +0 +0 .* bin$`,
		`^-rwxr-xr-x +3 0 +0 +0 .* bin/a$`,
		`^-rwxr-xr-x +3 0 +0 +0 .* bin/busybox$`,
		`^lrwxrwxrwx +1 0 +0 +7 .* bin/sh -> busybox$`,
		`^drwxr-xr-x +2 0 +0 +0 .* dev$`,
		`^crw------- +1 0 +0 +5, +1 .* dev/console$`,
		`^prw------- +1 0 +0 +0 .* dev/initctl$`,
		`^brw-rw---- +1 0 +0 +8, +0 .* dev/sda$`,
		`^drwxr-xr-x +2 0 +0 +0 .* etc$`,
		`^-rw-r--r-- +1 0 +0 +0 .* etc/empty$`,
		`^-rw-r--r-- +1 0 +0 +9 .* etc/hostname$`,
		`^lrwxrwxrwx +1 0 +0 +12 .* linuxrc -> /bin/busybox$`,
		`^-rwxr-xr-x +3 0 +0 +5 .* sbin/z$`,
		`^drwxrwxrwt +2 0 +0 +0 .* tmp$`,
		`^drwxr-xr-x +2 0 +0 +0 .* usr/bin$`,
		`^-rwsr-xr-x +1 1000 +100 +3 .* usr/bin/su$`,
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	// usr and sbin (implicit parents) are listed too; not checked here.
	var got []string
	for _, l := range lines {
		if !strings.HasSuffix(l, " usr") && !strings.HasSuffix(l, " sbin") {
			got = append(got, l)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("cpio -tv lists %d entries, want %d:\n%s", len(got), len(want), out)
	}
	for i, re := range want {
		if !regexp.MustCompile(re).MatchString(got[i]) {
			t.Errorf("entry %d: %q does not match %s", i, got[i], re)
		}
	}
}

// TestGNUCpioExtract unpacks with GNU cpio -i and checks the files on disk,
// including that the hard-link group is one inode holding the content.
func TestGNUCpioExtract(t *testing.T) {
	cpioBin := testutil.RequireTool(t, "cpio", "cpio")
	arch := writeArchive(t, sampleTree(t))
	dir := t.TempDir()
	args := []string{"-i", "-d", "--quiet", "--no-absolute-filenames", "--preserve-modification-time"}
	root := os.Geteuid() == 0
	if !root {
		// Device nodes need root; everything else is checked anyway.
		args = append(args, "-f", "dev/console", "dev/sda")
	}
	cmd := exec.Command(cpioBin, args...)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(arch)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v\n%s", err, out)
	}
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, p := range []string{"bin/a", "bin/busybox", "sbin/z"} {
		if got := read(p); got != "hello" {
			t.Errorf("%s holds %q, want hello", p, got)
		}
	}
	a, _ := os.Stat(filepath.Join(dir, "bin/a"))
	b, _ := os.Stat(filepath.Join(dir, "bin/busybox"))
	z, _ := os.Stat(filepath.Join(dir, "sbin/z"))
	if !os.SameFile(a, b) || !os.SameFile(b, z) {
		t.Error("bin/a, bin/busybox, sbin/z are not one inode")
	}
	if n := b.Sys().(*syscall.Stat_t).Nlink; n != 3 {
		t.Errorf("bin/busybox has %d links, want 3", n)
	}
	if !b.ModTime().Equal(epoch) {
		t.Errorf("bin/busybox mtime %v, want %v", b.ModTime(), epoch)
	}
	if got := read("etc/hostname"); got != "minidisk\n" {
		t.Errorf("etc/hostname = %q", got)
	}
	if target, err := os.Readlink(filepath.Join(dir, "bin/sh")); err != nil || target != "busybox" {
		t.Errorf("bin/sh -> %q, %v", target, err)
	}
	if target, err := os.Readlink(filepath.Join(dir, "linuxrc")); err != nil || target != "/bin/busybox" {
		t.Errorf("linuxrc -> %q, %v", target, err)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "dev/initctl")); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("dev/initctl is not a fifo: %v %v", fi, err)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "usr/bin/su")); err != nil || fi.Mode()&os.ModeSetuid == 0 {
		t.Errorf("usr/bin/su lost setuid: %v %v", fi, err)
	}
	if root {
		for p, want := range map[string][3]uint64{"dev/console": {syscall.S_IFCHR, 5, 1}, "dev/sda": {syscall.S_IFBLK, 8, 0}} {
			var st syscall.Stat_t
			if err := syscall.Lstat(filepath.Join(dir, p), &st); err != nil {
				t.Fatal(err)
			}
			maj, min := (st.Rdev>>8)&0xfff, (st.Rdev&0xff)|((st.Rdev>>12)&0xfff00)
			if uint64(st.Mode&syscall.S_IFMT) != want[0] || maj != want[1] || min != want[2] {
				t.Errorf("%s: mode %o rdev %d:%d, want type %o %d:%d", p, st.Mode, maj, min, want[0], want[1], want[2])
			}
		}
	}
}

type readEntry struct {
	h    rootfs.Header
	raw  RawHeader
	data string
}

func readAll(t testing.TB, arch []byte) []readEntry {
	t.Helper()
	r := NewReader(bytes.NewReader(arch))
	var out []readEntry
	for {
		h, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, readEntry{*h, r.Raw(), string(data)})
	}
}

func TestRoundTrip(t *testing.T) {
	tr := sampleTree(t)
	got := readAll(t, writeArchive(t, tr))
	entries := tr.Entries()
	if len(got) != len(entries) {
		t.Fatalf("read %d entries, wrote %d", len(got), len(entries))
	}
	for i, e := range entries {
		g := got[i]
		if g.h.Name != e.Name {
			t.Fatalf("entry %d is %s, want %s", i, g.h.Name, e.Name)
		}
		wantType := e.Type
		if wantType == rootfs.TypeLink {
			wantType = rootfs.TypeReg
		}
		if g.h.Type != wantType || (e.Type != rootfs.TypeLink && g.h.Mode != e.Mode) || g.h.Uid != e.Uid ||
			g.h.Devmajor != e.Devmajor || g.h.Devminor != e.Devminor || g.h.Linkname != linkOf(e) || !g.h.ModTime.Equal(epoch) {
			t.Errorf("%s: read %+v, wrote %+v", e.Name, g.h, e.Header)
		}
		if g.raw.Ino == 0 {
			t.Errorf("%s: inode 0", e.Name)
		}
	}
	// The hard-link group: one ino, nlink 3, data only on the last member.
	byName := map[string]readEntry{}
	for _, g := range got {
		byName[g.h.Name] = g
	}
	ino := byName["/bin/busybox"].raw.Ino
	for _, n := range []string{"/bin/a", "/bin/busybox", "/sbin/z"} {
		g := byName[n]
		if g.raw.Ino != ino || g.raw.Nlink != 3 {
			t.Errorf("%s: ino %d nlink %d, want %d and 3", n, g.raw.Ino, g.raw.Nlink, ino)
		}
		want := ""
		if n == "/sbin/z" {
			want = "hello"
		}
		if g.data != want {
			t.Errorf("%s carries %q, want %q", n, g.data, want)
		}
	}
}

func linkOf(e *rootfs.Entry) string {
	if e.Type == rootfs.TypeSymlink {
		return e.Linkname
	}
	return ""
}

// TestReadGNUCpio reads an archive GNU cpio -o -H newc wrote from real files.
func TestReadGNUCpio(t *testing.T) {
	cpioBin := testutil.RequireTool(t, "cpio", "cpio")
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "d"), 0o750)
	os.WriteFile(filepath.Join(dir, "d/f"), []byte("content!!"), 0o640)
	os.Link(filepath.Join(dir, "d/f"), filepath.Join(dir, "g"))
	os.Symlink("d/f", filepath.Join(dir, "s"))
	cmd := exec.Command(cpioBin, "-o", "-H", "newc", "--quiet")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(".\nd\nd/f\ng\ns\n")
	arch, err := cmd.Output()
	if err != nil {
		t.Fatalf("cpio -o: %v", err)
	}
	got := readAll(t, arch)
	names := []string{}
	for _, g := range got {
		names = append(names, g.h.Name)
	}
	if strings.Join(names, " ") != "/ /d /d/f /g /s" {
		t.Fatalf("names %v", names)
	}
	if got[1].h.Type != rootfs.TypeDir || got[1].h.Mode != 0o750 {
		t.Errorf("/d: %+v", got[1].h)
	}
	if got[2].raw.Ino != got[3].raw.Ino || got[2].raw.Nlink != 2 || got[2].data+got[3].data != "content!!" {
		t.Errorf("hard links: %+v %q / %+v %q", got[2].raw, got[2].data, got[3].raw, got[3].data)
	}
	if got[4].h.Type != rootfs.TypeSymlink || got[4].h.Linkname != "d/f" {
		t.Errorf("/s: %+v", got[4].h)
	}
}

func TestReaderErrors(t *testing.T) {
	good := writeArchive(t, sampleTree(t))
	cases := map[string][]byte{
		"empty":       nil,
		"bad magic":   append([]byte("070707"), good[6:]...),
		"bad hex":     append(append([]byte(nil), good[:10]...), append([]byte("zz"), good[12:]...)...),
		"truncated":   good[:len(good)-20],
		"no trailer":  good[:len(good)-124],
		"header only": good[:50],
	}
	for name, b := range cases {
		r := NewReader(bytes.NewReader(b))
		var err error
		for i := 0; i < 1000 && err == nil; i++ {
			if _, err = r.Next(); err == nil {
				_, err = io.Copy(io.Discard, r)
			}
		}
		if err == nil || err == io.EOF {
			t.Errorf("%s: err = %v, want a format error", name, err)
		} else if !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v does not wrap ErrFormat", name, err)
		}
	}
}

func TestWriterRefusesBadInput(t *testing.T) {
	w := NewWriter(io.Discard)
	if err := w.WriteHeader(&rootfs.Header{Name: "/x", Type: rootfs.TypeLink, Linkname: "/y"}); err == nil {
		t.Error("TypeLink via WriteHeader accepted")
	}
	if err := w.WriteHeader(&rootfs.Header{Name: "/old", Type: rootfs.TypeDir, ModTime: time.Unix(-5, 0)}); err == nil {
		t.Error("pre-1970 time accepted")
	}
	if err := w.WriteHeader(&rootfs.Header{Name: "/f", Type: rootfs.TypeReg, Size: 4, ModTime: epoch}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("12345")); !errors.Is(err, ErrWriteTooLong) {
		t.Errorf("write beyond Size: %v, want ErrWriteTooLong", err)
	}
	if err := w.Close(); err == nil {
		t.Error("Close with a short entry accepted")
	}
	w = NewWriter(io.Discard)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteHeader(&rootfs.Header{Name: "/late", Type: rootfs.TypeDir, ModTime: epoch}); !errors.Is(err, ErrWriteAfterClose) {
		t.Errorf("header after Close: %v, want ErrWriteAfterClose", err)
	}
}

func TestDecompress(t *testing.T) {
	arch := writeArchive(t, sampleTree(t))
	var z bytes.Buffer
	w, _ := Compress(&z, Gzip)
	w.Write(arch)
	w.Close()
	for _, in := range [][]byte{arch, z.Bytes()} {
		r, _, err := Decompress(bytes.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		if !bytes.Equal(b, arch) {
			t.Error("decompressed archive differs")
		}
	}
	if _, _, err := Decompress(strings.NewReader("BZh91AY&SY")); err == nil || !strings.Contains(err.Error(), "bzip2") {
		t.Errorf("bzip2: %v", err)
	}
}

// TestCompressOracles: every compression is deterministic, is read back
// by our Decompress, and by the reference tool with the kernel's settings
// (xz must carry CRC32, which the kernel's decoder checks).
func TestCompressOracles(t *testing.T) {
	arch := writeArchive(t, sampleTree(t))
	tools := map[Compression][]string{Gzip: {"gzip", "gzip"}, XZ: {"xz", "xz-utils"}, Zstd: {"zstd", "zstd"}}
	for c, tool := range tools {
		var outs [2][]byte
		for i := range outs {
			var z bytes.Buffer
			w, err := Compress(&z, c)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(arch)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			outs[i] = z.Bytes()
		}
		if !bytes.Equal(outs[0], outs[1]) {
			t.Errorf("%s: two runs differ", c)
		}
		r, got, err := Decompress(bytes.NewReader(outs[0]))
		if err != nil || got != c {
			t.Fatalf("%s: Decompress: %v (%s)", c, err, got)
		}
		if b, err := io.ReadAll(r); err != nil || !bytes.Equal(b, arch) {
			t.Errorf("%s: our round trip differs: %v", c, err)
		}
		bin := testutil.RequireTool(t, tool[0], tool[1])
		cmd := exec.Command(bin, "-d", "-c")
		cmd.Stdin = bytes.NewReader(outs[0])
		b, err := cmd.Output()
		if err != nil || !bytes.Equal(b, arch) {
			t.Errorf("%s -d: %v", c, err)
		}
		if c == XZ {
			// xz --list reads files only, not stdin.
			f := filepath.Join(t.TempDir(), "a.cpio.xz")
			os.WriteFile(f, outs[0], 0o644)
			out, err := exec.Command(bin, "--robot", "--list", f).CombinedOutput()
			if err != nil {
				t.Fatalf("xz --list: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "CRC32") {
				t.Errorf("xz stream does not use CRC32:\n%s", out)
			}
		}
	}
}

func FuzzReader(f *testing.F) {
	f.Add(writeArchive(f, sampleTree(f)))
	f.Add([]byte("070701"))
	f.Add([]byte("07070100000001000041ED00000000000000000000000200000000000000000000000000000000000000000000000000000002000000000.\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(bytes.NewReader(b))
		for i := 0; i < 10000; i++ {
			if _, err := r.Next(); err != nil {
				return
			}
			io.Copy(io.Discard, r)
		}
	})
}

func BenchmarkWriteTree(b *testing.B) {
	tr := rootfs.New(epoch)
	data := bytes.Repeat([]byte{0x5a}, 1<<20)
	for i := 0; i < 16; i++ {
		tr.AddBytes("/f"+string(rune('a'+i)), 0o644, data)
	}
	b.SetBytes(16 << 20)
	for b.Loop() {
		if err := WriteTree(NewWriter(io.Discard), tr); err != nil {
			b.Fatal(err)
		}
	}
}
