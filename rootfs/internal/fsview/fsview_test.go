package fsview

import (
	"errors"
	"io"
	"io/fs"
	"testing"
	"testing/fstest"
)

// tree is a tiny filesystem: /a/b (file), /a/up -> .., /abs -> /a,
// /loop -> loop, /f (file).
var tree = map[string]struct {
	dir  bool
	link string
	kids []string
}{
	"/":     {dir: true, kids: []string{"a", "abs", "loop", "f"}},
	"/a":    {dir: true, kids: []string{"b", "up"}},
	"/a/b":  {},
	"/a/up": {link: ".."},
	"/abs":  {link: "/a"},
	"/loop": {link: "loop"},
	"/f":    {},
}

var testTree = Tree[string]{
	IsDir: func(n string) bool { return tree[n].dir },
	Lookup: func(dir, name string) (string, bool, error) {
		for _, k := range tree[dir].kids {
			if k == name {
				if dir == "/" {
					return "/" + k, true, nil
				}
				return dir + "/" + k, true, nil
			}
		}
		return "", false, nil
	},
	Link: func(n string) (string, bool, error) { return tree[n].link, tree[n].link != "", nil },
}

func TestResolve(t *testing.T) {
	for _, c := range []struct {
		name   string
		follow bool
		want   string
		err    error
	}{
		{".", true, "/", nil},
		{"a/b", true, "/a/b", nil},
		{"abs/b", true, "/a/b", nil},
		{"abs", false, "/abs", nil},
		{"abs", true, "/a", nil},
		{"a/up/f", true, "/f", nil}, // ".." in a link target is taken on /a
		{"a/../../f", true, "/f", nil},
		{"f/x", true, "", ErrNotDir},
		{"nope", true, "", fs.ErrNotExist},
		{"loop", true, "", ErrLoop},
		{"loop", false, "/loop", nil},
	} {
		got, err := Resolve(testTree, "/", c.name, c.follow)
		if !errors.Is(err, c.err) || got != c.want {
			t.Errorf("Resolve(%q, follow=%v) = %q, %v; want %q, %v", c.name, c.follow, got, err, c.want, c.err)
		}
	}
}

func TestDirFileReadDir(t *testing.T) {
	m := fstest.MapFS{"x": {}, "y": {}, "z": {}}
	ents, err := m.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	d := &DirFile{Name: ".", List: func() ([]fs.DirEntry, error) { return ents, nil }}
	a, err := d.ReadDir(2)
	if len(a) != 2 || err != nil {
		t.Fatalf("ReadDir(2) = %d entries, %v", len(a), err)
	}
	b, err := d.ReadDir(-1)
	if len(b) != 1 || b[0].Name() != "z" || err != nil {
		t.Fatalf("ReadDir(-1) = %v, %v; want [z], nil", b, err)
	}
	if c, err := d.ReadDir(1); len(c) != 0 || err != io.EOF {
		t.Fatalf("ReadDir(1) at end = %v, %v; want io.EOF", c, err)
	}
	if _, err := d.Read(nil); err == nil {
		t.Fatal("Read on a directory succeeded")
	}
}

func TestSeek(t *testing.T) {
	for _, c := range []struct {
		cur, off int64
		whence   int
		want     int64
		ok       bool
	}{
		{5, 3, io.SeekStart, 3, true},
		{5, 3, io.SeekCurrent, 8, true},
		{5, -2, io.SeekEnd, 8, true},
		{5, -6, io.SeekCurrent, 0, false},
		{5, 0, 7, 0, false},
	} {
		got, err := Seek("f", c.cur, 10, c.off, c.whence)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("Seek(cur=%d, %d, %d) = %d, %v", c.cur, c.off, c.whence, got, err)
		}
		if err != nil && !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("Seek error %v is not fs.ErrInvalid", err)
		}
	}
}

func TestPOSIXMode(t *testing.T) {
	for _, c := range []struct {
		m     uint32
		want  fs.FileMode
		known bool
	}{
		{0o100644, 0o644, true},
		{0o040755, fs.ModeDir | 0o755, true},
		{0o120777, fs.ModeSymlink | 0o777, true},
		{0o020620, fs.ModeDevice | fs.ModeCharDevice | 0o620, true},
		{0o060660, fs.ModeDevice | 0o660, true},
		{0o010644, fs.ModeNamedPipe | 0o644, true},
		{0o140755, fs.ModeSocket | 0o755, true},
		{0o104755, fs.ModeSetuid | 0o755, true},
		{0o042775, fs.ModeDir | fs.ModeSetgid | 0o775, true},
		{0o041777, fs.ModeDir | fs.ModeSticky | 0o777, true},
		{0o000644, 0o644, false},
		{0o170644, 0o644, false},
	} {
		got, known := POSIXMode(c.m)
		if got != c.want || known != c.known {
			t.Errorf("POSIXMode(%#o) = %v, %v; want %v, %v", c.m, got, known, c.want, c.known)
		}
	}
}
