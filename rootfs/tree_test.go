package rootfs

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func names(t *Tree) []string {
	var out []string
	for _, e := range t.Entries() {
		out = append(out, e.Name)
	}
	return out
}

func TestOrderParentsFirstAndComponentwise(t *testing.T) {
	tr := New(time.Unix(0, 0))
	for _, n := range []string{"/a-b", "/a/z", "/a/b/c", "/b"} {
		if err := tr.AddBytes(n, 0o644, []byte(n)); err != nil {
			t.Fatal(err)
		}
	}
	got := strings.Join(names(tr), " ")
	want := "/ /a /a/b /a/b/c /a/z /a-b /b"
	if got != want {
		t.Fatalf("order:\n got %s\nwant %s", got, want)
	}
	if e, _ := tr.Lookup("/a/b"); e.Type != TypeDir || e.Mode != 0o755 {
		t.Fatalf("implicit parent: %+v", e.Header)
	}
}

func TestCleanRejectsEscapesAndNUL(t *testing.T) {
	for _, bad := range []string{"", "/../etc", "a/../../b", "/x\x00y", "/" + strings.Repeat("n", 256)} {
		if _, err := Clean(bad); err == nil {
			t.Errorf("Clean(%q) accepted", bad)
		}
	}
	for in, want := range map[string]string{"bin/sh": "/bin/sh", "/a/./b//c/": "/a/b/c", "/a/b/../c": "/a/c", "/": "/"} {
		if got, err := Clean(in); err != nil || got != want {
			t.Errorf("Clean(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestTypeConflictsAndLinks(t *testing.T) {
	tr := New(time.Time{})
	if err := tr.AddBytes("/bin/busybox", 0o755, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := tr.Symlink("/bin/busybox", "other"); err == nil {
		t.Fatal("symlink over a file accepted")
	}
	if err := tr.AddBytes("/bin/busybox/x", 0o644, nil); err == nil {
		t.Fatal("file under a file accepted")
	}
	if err := tr.Add(Entry{Header: Header{Name: "/bin/hl", Type: TypeLink, Linkname: "/nope"}}); err == nil {
		t.Fatal("hard link to a missing target accepted")
	}
	if err := tr.Add(Entry{Header: Header{Name: "/bin/hl", Type: TypeLink, Linkname: "bin/busybox"}}); err != nil {
		t.Fatal(err)
	}
	if err := tr.Add(Entry{Header: Header{Name: "/bin/hd", Type: TypeLink, Linkname: "/bin"}}); err == nil {
		t.Fatal("hard link to a directory accepted")
	}
	if err := tr.Mknod("/dev/console", TypeChar, 0o600, 5, 1); err != nil {
		t.Fatal(err)
	}
	if err := tr.Add(Entry{Header: Header{Name: "/x", Type: TypeReg, Mode: 0o100644}}); err == nil {
		t.Fatal("type bits in Mode accepted")
	}
	// Same type again replaces: later inputs override earlier ones.
	if err := tr.AddBytes("/bin/busybox", 0o700, []byte("yy")); err != nil {
		t.Fatal(err)
	}
	e, _ := tr.Lookup("/bin/busybox")
	if e.Size != 2 || e.Mode != 0o700 {
		t.Fatalf("replace: %+v", e.Header)
	}
}

func TestHostTreeAndClamp(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "etc", "init.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "etc", "init.d", "rcS"), []byte("#!/bin/sh\n"), 0o755)
	os.Symlink("init.d/rcS", filepath.Join(dir, "etc", "rc"))
	tr := New(time.Unix(100, 0))
	if err := tr.AddHostTree("/", dir); err != nil {
		t.Fatal(err)
	}
	e, ok := tr.Lookup("/etc/init.d/rcS")
	if !ok || e.Type != TypeReg || e.Mode != 0o755 || e.Size != 10 {
		t.Fatalf("rcS: %+v", e)
	}
	rc, _ := e.Content.Open()
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "#!/bin/sh\n" {
		t.Fatalf("content %q", b)
	}
	if l, _ := tr.Lookup("/etc/rc"); l.Type != TypeSymlink || l.Linkname != "init.d/rcS" {
		t.Fatalf("link: %+v", l.Header)
	}
	tr.ClampTimes(time.Unix(50, 0))
	for _, e := range tr.Entries() {
		if e.ModTime.After(time.Unix(50, 0)) {
			t.Fatalf("%s not clamped: %v", e.Name, e.ModTime)
		}
	}
	if err := tr.AddHostTree("/dev", "/dev/null"); err == nil {
		t.Fatal("host device node accepted")
	}
	if err := tr.AddHostFile("/x", filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing host file: %v", err)
	}
}

func TestSourceDateEpoch(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	tm, ok, err := SourceDateEpoch()
	if err != nil || !ok || tm.Unix() != 1700000000 {
		t.Fatal(tm, ok, err)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	if _, _, err := SourceDateEpoch(); err == nil {
		t.Fatal("bad SOURCE_DATE_EPOCH accepted")
	}
}

// pathLess must equal the order of the component lists.
func TestPathLessIsComponentOrder(t *testing.T) {
	paths := []string{"/", "/a", "/a/b", "/a-b", "/a/b/c", "/a.b/c", "/ab", "/a/b-c", "/a/b/c/d", "/b", "/a/\x01", "/a\x01"}
	ref := func(a, b string) bool {
		if a == "/" || b == "/" {
			return a == "/" && b != "/"
		}
		ac, bc := strings.Split(a[1:], "/"), strings.Split(b[1:], "/")
		for i := 0; i < len(ac) && i < len(bc); i++ {
			if ac[i] != bc[i] {
				return ac[i] < bc[i]
			}
		}
		return len(ac) < len(bc)
	}
	for _, a := range paths {
		for _, b := range paths {
			if pathLess(a, b) != ref(a, b) {
				t.Errorf("pathLess(%q, %q) = %v", a, b, pathLess(a, b))
			}
		}
	}
}
