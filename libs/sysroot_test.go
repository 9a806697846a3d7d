package libs

import (
	"debug/elf"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

func link(target string) *fstest.MapFile {
	return &fstest.MapFile{Mode: fs.ModeSymlink | 0o777, Data: []byte(target)}
}

func file(s elfSpec) *fstest.MapFile {
	return &fstest.MapFile{Mode: 0o755, Data: makeELF(s)}
}

func text(s string) *fstest.MapFile { return &fstest.MapFile{Mode: 0o644, Data: []byte(s)} }

const interp64 = "/lib64/ld-linux-x86-64.so.2"

// fabricatedRoot is a merged-/usr Debian-like sysroot. Each library that
// the loader's order should pick has a decoy later in the order; the decoys
// have the same name so only the search order tells them apart.
func fabricatedRoot() fstest.MapFS {
	lib := func(soname string, needed ...string) *fstest.MapFile {
		return file(elfSpec{soname: soname, needed: needed})
	}
	return fstest.MapFS{
		"bin":   link("usr/bin"),
		"lib":   link("usr/lib"),
		"lib64": link("usr/lib64"),
		// The interpreter path is a chain: /lib64 -> usr/lib64, an
		// absolute link to /lib/..., and /lib -> usr/lib, as on Debian 12.
		"usr/lib64/ld-linux-x86-64.so.2":                link("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
		"usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2": lib("ld-linux-x86-64.so.2"),
		// An absolute link that must be resolved inside the root.
		"usr/lib/x86_64-linux-gnu/libc.so.6":    link("/lib/x86_64-linux-gnu/libc-2.36.so"),
		"usr/lib/x86_64-linux-gnu/libc-2.36.so": lib("libc.so.6", "ld-linux-x86-64.so.2"),

		"etc/ld.so.conf":                 text("# relative include, then a plain directory\ninclude ld.so.conf.d/*.conf\n/opt/after/\n"),
		"etc/ld.so.conf.d/a.conf":        text("/opt/conf32\n/opt/conf   # trailing comment\n"),
		"etc/ld.so.conf.d/b.conf":        text("include /etc/ld.so.conf.d/nested/x.conf\n"),
		"etc/ld.so.conf.d/nested/x.conf": text("/opt/conf2\n"),
		"etc/ld.so.conf.d/skip.txt":      text("/opt/never\n"), // not matched by *.conf

		// app: RUNPATH with $ORIGIN (seen as /usr/bin via the /bin link).
		"usr/bin/app": file(elfSpec{interp: interp64, runpath: "$ORIGIN/../lib/app",
			needed: []string{"libA.so.1", "libB.so.1", "libc.so.6", "libD.so.1", "libN.so.1"}}),
		"usr/lib/app/libA.so.1":              file(elfSpec{soname: "libA.so.1", rpath: "/opt/rp", needed: []string{"libE.so.1"}}),
		"usr/lib/x86_64-linux-gnu/libA.so.1": lib("libA.so.1"), // decoy: default dirs come after RUNPATH
		"opt/rp/libE.so.1":                   lib("libE.so.1", "libc.so.6"),
		"usr/lib/x86_64-linux-gnu/libE.so.1": lib("libE.so.1"), // decoy: libA's RPATH comes first
		"opt/conf/libB.so.1":                 lib("libB.so.1"),
		"usr/lib/x86_64-linux-gnu/libB.so.1": lib("libB.so.1"),                                          // decoy: ld.so.conf comes before defaults
		"opt/conf32/libD.so.1":               file(elfSpec{class: elf.ELFCLASS32, soname: "libD.so.1"}), // wrong class: skipped
		"opt/conf2/libD.so.1":                lib("libD.so.1"),
		"opt/never/libN.so.1":                lib("libN.so.1"), // only in a file the include glob does not match
		"opt/after/libN.so.1":                lib("libN.so.1"),
		"usr/lib/libN.so.1":                  lib("libN.so.1"),                                                                    // decoy
		"llp/libA.so.1":                      file(elfSpec{soname: "libA.so.1", rpath: "/opt/rp", needed: []string{"libE.so.1"}}), // only with LibraryPath
		"llp/libE.so.1":                      lib("libE.so.1"),                                                                    // loses to libA's RPATH even then

		// rp: DT_RPATH is inherited down the loader chain, unless the
		// requesting object has DT_RUNPATH.
		"usr/bin/rp":                          file(elfSpec{interp: interp64, rpath: "/rp1", needed: []string{"libF.so.1", "libH.so.1"}}),
		"usr/lib/x86_64-linux-gnu/libF.so.1":  lib("libF.so.1", "libG.so.1"),
		"usr/lib/x86_64-linux-gnu/libH.so.1":  file(elfSpec{soname: "libH.so.1", runpath: "/nowhere", needed: []string{"libG2.so.1"}}),
		"rp1/libG.so.1":                       lib("libG.so.1"),
		"usr/lib/x86_64-linux-gnu/libG.so.1":  lib("libG.so.1"),
		"rp1/libG2.so.1":                      lib("libG2.so.1"),
		"usr/lib/x86_64-linux-gnu/libG2.so.1": lib("libG2.so.1"),

		// dup: the same file under two names is loaded once.
		"usr/bin/dup":    file(elfSpec{interp: interp64, needed: []string{"libc.so.6", "libc-2.36.so"}}),
		"usr/bin/miss":   file(elfSpec{interp: interp64, needed: []string{"libc.so.6", "libnope.so.1"}}),
		"usr/bin/static": file(elfSpec{static: true, typ: elf.ET_EXEC}),
		"usr/bin/notelf": text("#!/bin/sh\necho hi\n"),
	}
}

func paths(c *Closure) map[string]string {
	m := map[string]string{}
	for _, l := range c.Libraries {
		m[l.Name] = l.Path
	}
	return m
}

func TestSysrootResolutionOrder(t *testing.T) {
	root := fabricatedRoot()
	r := NewResolver(root)
	c, err := r.Resolve("/bin/app")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"libA.so.1": "/bin/../lib/app/libA.so.1",       // RUNPATH, $ORIGIN = /bin as given
		"libB.so.1": "/opt/conf/libB.so.1",             // ld.so.conf (via include) before defaults
		"libc.so.6": "/lib/x86_64-linux-gnu/libc.so.6", // default multiarch dir
		"libD.so.1": "/opt/conf2/libD.so.1",            // 32-bit /opt/conf32 candidate skipped; nested include
		"libN.so.1": "/opt/after/libN.so.1",            // conf dir after the include; skip.txt not included
		"libE.so.1": "/opt/rp/libE.so.1",               // libA's own RPATH (libA has no RUNPATH)
	}
	if got := paths(c); !reflect.DeepEqual(got, want) {
		t.Errorf("paths:\n got %v\nwant %v", got, want)
	}
	// Breadth-first: the binary's DT_NEEDED in order, then libA's libE.
	var order []string
	for _, l := range c.Libraries {
		order = append(order, l.Name)
	}
	if w := []string{"libA.so.1", "libB.so.1", "libc.so.6", "libD.so.1", "libN.so.1", "libE.so.1"}; !reflect.DeepEqual(order, w) {
		t.Errorf("order %v, want %v", order, w)
	}
	// libc needs ld-linux-x86-64.so.2: satisfied by the interpreter's
	// soname, not listed again.
	if c.Interpreter == nil || c.Interpreter.Path != interp64 || c.Interpreter.Real != "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" {
		t.Fatalf("interpreter %+v", c.Interpreter)
	}
	wantLinks := []Link{{"/lib64", "usr/lib64"}, {"/usr/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"}, {"/lib", "usr/lib"}}
	if !reflect.DeepEqual(c.Interpreter.Links, wantLinks) {
		t.Errorf("interpreter links %v, want %v", c.Interpreter.Links, wantLinks)
	}
	for _, l := range c.Libraries {
		if l.Name == "libc.so.6" {
			wl := []Link{{"/lib", "usr/lib"}, {"/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libc-2.36.so"}, {"/lib", "usr/lib"}}
			if l.Real != "/usr/lib/x86_64-linux-gnu/libc-2.36.so" || !reflect.DeepEqual(l.Links, wl) {
				t.Errorf("libc: real %s links %v", l.Real, l.Links)
			}
		}
	}

	// LD_LIBRARY_PATH comes after RPATH and before RUNPATH.
	r2 := NewResolver(root)
	r2.LibraryPath = []string{"/llp"}
	c2, err := r2.Resolve("/usr/bin/app")
	if err != nil {
		t.Fatal(err)
	}
	if got := paths(c2); got["libA.so.1"] != "/llp/libA.so.1" || got["libE.so.1"] != "/opt/rp/libE.so.1" {
		t.Errorf("with LibraryPath: %v", got)
	}
}

func TestSysrootRpathChain(t *testing.T) {
	c, err := NewResolver(fabricatedRoot()).Resolve("/usr/bin/rp")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"libF.so.1":  "/lib/x86_64-linux-gnu/libF.so.1",
		"libH.so.1":  "/lib/x86_64-linux-gnu/libH.so.1",
		"libG.so.1":  "/rp1/libG.so.1",                   // the executable's RPATH, inherited by libF
		"libG2.so.1": "/lib/x86_64-linux-gnu/libG2.so.1", // libH has RUNPATH: no RPATH at all
	}
	if got := paths(c); !reflect.DeepEqual(got, want) {
		t.Errorf("paths:\n got %v\nwant %v", got, want)
	}
}

func TestSysrootDuplicatesMissingStatic(t *testing.T) {
	r := NewResolver(fabricatedRoot())
	c, err := r.Resolve("/usr/bin/dup")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Libraries) != 1 || c.Libraries[0].Name != "libc.so.6" {
		t.Errorf("same file under two names should load once: %+v", c.Libraries)
	}

	c, err = r.Resolve("/usr/bin/miss")
	var nf *NotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("want NotFoundError, got %v", err)
	}
	if len(nf.Missing) != 1 || nf.Missing[0].Name != "libnope.so.1" || nf.Missing[0].NeededBy != "/usr/bin/miss" {
		t.Errorf("missing %+v", nf.Missing)
	}
	if c == nil || len(c.Libraries) != 1 || c.Interpreter == nil {
		t.Errorf("partial closure %+v", c)
	}
	if msg := err.Error(); !strings.Contains(msg, "libnope.so.1 not found (needed by /usr/bin/miss)") || !strings.Contains(msg, "/opt/conf2") {
		t.Errorf("message %q", msg)
	}

	c, err = r.Resolve("/usr/bin/static")
	if err != nil || c.Interpreter != nil || len(c.Libraries) != 0 {
		t.Errorf("static: %+v, %v", c, err)
	}
	if _, err = r.Resolve("/usr/bin/notelf"); err == nil || !strings.Contains(err.Error(), "not an ELF file") {
		t.Errorf("notelf: %v", err)
	}
	if _, err = r.Resolve("/usr/bin/absent"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("absent: %v", err)
	}
}

// TestRealpathStaysInRoot uses os.DirFS over a real directory: os.DirFS
// itself would follow an absolute link to the host's file, so this proves
// Realpath resolves links inside the root.
func TestRealpathStaysInRoot(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "usr/lib"), 0o755))
	must(os.Symlink("/etc/passwd", filepath.Join(dir, "usr/lib/abs"))) // exists on the host, not in the root
	must(os.Symlink("../../../../../../etc/passwd", filepath.Join(dir, "usr/lib/dotdot")))
	must(os.Symlink("loop2", filepath.Join(dir, "usr/lib/loop1")))
	must(os.Symlink("loop1", filepath.Join(dir, "usr/lib/loop2")))
	r := NewResolver(os.DirFS(dir))
	for _, p := range []string{"/usr/lib/abs", "/usr/lib/dotdot"} {
		if _, _, err := r.Realpath(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: escaped the root or wrong error: %v", p, err)
		}
	}
	if _, _, err := r.Realpath("/usr/lib/loop1"); err == nil || !strings.Contains(err.Error(), "too many levels of symbolic links") {
		t.Errorf("loop: %v", err)
	}
	must(os.MkdirAll(filepath.Join(dir, "etc"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "etc/passwd"), nil, 0o644))
	for _, p := range []string{"/usr/lib/abs", "/usr/lib/dotdot"} {
		r := NewResolver(os.DirFS(dir)) // fresh cache
		real, links, err := r.Realpath(p)
		if err != nil || real != "/etc/passwd" || len(links) != 1 || links[0].Path != p {
			t.Errorf("%s: %s %v %v", p, real, links, err)
		}
	}
}

// TestMakeELFParsesWithDebugELF checks the synthetic test objects against
// the standard library's ELF reader, so the fabricated trees are real ELF.
func TestMakeELFParsesWithDebugELF(t *testing.T) {
	for _, s := range []elfSpec{
		{interp: interp64, needed: []string{"libc.so.6"}, runpath: "$ORIGIN"},
		{class: elf.ELFCLASS32, soname: "libD.so.1", needed: []string{"libc.so.6"}, rpath: "/x"},
	} {
		b := makeELF(s)
		f, err := elf.NewFile(strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		var gotInterp string
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				d := make([]byte, p.Filesz)
				p.ReadAt(d, 0)
				gotInterp = strings.TrimRight(string(d), "\x00")
			}
		}
		if gotInterp != s.interp {
			t.Errorf("interp %q want %q", gotInterp, s.interp)
		}
		info, err := parseELF(strings.NewReader(string(b)), int64(len(b)))
		if err != nil || !reflect.DeepEqual(info.needed, s.needed) || info.soname != s.soname {
			t.Errorf("parseELF: %+v %v", info, err)
		}
	}
}

func TestListingText(t *testing.T) {
	r := NewResolver(fabricatedRoot())
	listings, err := r.List([]string{"/usr/bin/miss", "/usr/bin/static", "/usr/bin/notelf"})
	if err == nil || !strings.Contains(err.Error(), "libnope.so.1 not found") || !strings.Contains(err.Error(), "not an ELF file") {
		t.Errorf("joined error %v", err)
	}
	var b strings.Builder
	if err := WriteText(&b, listings); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"/usr/bin/miss:\n",
		"\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (real /usr/lib/x86_64-linux-gnu/libc-2.36.so; links: /lib -> usr/lib, /usr/lib/x86_64-linux-gnu/libc.so.6 -> /lib/x86_64-linux-gnu/libc-2.36.so, /lib -> usr/lib)\n",
		"\tlibnope.so.1 => not found (needed by /usr/bin/miss)\n",
		"\t/lib64/ld-linux-x86-64.so.2 (real /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2; links: ",
		"/usr/bin/static:\n\tstatically linked",
		"/usr/bin/notelf:\n\terror: /usr/bin/notelf: not an ELF file",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("listing lacks %q:\n%s", want, b.String())
		}
	}
}
