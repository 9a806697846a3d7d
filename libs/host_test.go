package libs

import (
	"bytes"
	"debug/elf"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/minidisk/minidisk/internal/testutil"
)

// checkLinks verifies a Library against the host: every hop is a real
// symlink holding Target, and Real is what the kernel resolves Path to.
func checkLinks(t *testing.T, l *Library) {
	t.Helper()
	for _, h := range l.Links {
		got, err := os.Readlink(h.Path)
		if err != nil || got != h.Target {
			t.Errorf("%s: link %s -> %q, host says %q (%v)", l.Name, h.Path, h.Target, got, err)
		}
	}
	real, err := filepath.EvalSymlinks(l.Path)
	if err != nil || real != l.Real {
		t.Errorf("%s: Real %s, host resolves %s to %s (%v)", l.Name, l.Real, l.Path, real, err)
	}
}

// TestBusyBox is the 2007 recipe's case: Debian's dynamic /bin/busybox
// (package busybox, not busybox-static) needs libresolv.so.2 and libc.so.6
// and the interpreter, each with the links to copy.
func TestBusyBox(t *testing.T) {
	bb := testutil.RequireFile(t, "/bin/busybox", "apt-get install busybox")
	ldd := testutil.RequireTool(t, "ldd", "libc-bin")
	c, err := Host().Resolve(bb)
	if err != nil {
		t.Fatal(err)
	}
	if c.Interpreter == nil {
		t.Fatal("no interpreter: is /bin/busybox the static build (busybox-static)?")
	}
	var names []string
	for i := range c.Libraries {
		names = append(names, c.Libraries[i].Name)
		checkLinks(t, &c.Libraries[i])
	}
	checkLinks(t, c.Interpreter)
	if want := []string{"libresolv.so.2", "libc.so.6"}; !reflect.DeepEqual(names, want) {
		t.Errorf("libraries %v, want %v", names, want)
	}
	// The interpreter on merged-/usr Debian is a chain of links (/lib64 ->
	// usr/lib64, then an absolute link into /lib/x86_64-linux-gnu); the
	// copy needs all of them.
	if len(c.Interpreter.Links) == 0 {
		t.Errorf("interpreter %s: no links recorded, but the host has %v", c.Interpreter.Path, c.Interpreter)
	}
	// And ldd agrees on the paths.
	out := testutil.Run(t, ldd, bb)
	for _, l := range append([]Library{*c.Interpreter}, c.Libraries...) {
		if !strings.Contains(out, l.Path+" (0x") {
			t.Errorf("ldd does not list %s:\n%s", l.Path, out)
		}
	}
	t.Logf("interpreter %s links %v -> %s", c.Interpreter.Path, c.Interpreter.Links, c.Interpreter.Real)
}

// TestParseELFMatchesDebugELF checks our program-header reader against
// debug/elf's section-based reader on the host's binaries: both must see
// the same DT_NEEDED, DT_RPATH, DT_RUNPATH, DT_SONAME and PT_INTERP.
func TestParseELFMatchesDebugELF(t *testing.T) {
	files := hostELFFiles(t, "/usr/bin", "/usr/sbin")
	if len(files) > 400 {
		files = files[:400]
	}
	if len(files) < 50 {
		testutil.Missing(t, "fewer than 50 ELF files in /usr/bin and /usr/sbin")
	}
	checked := 0
	for _, p := range files {
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		needed, err1 := f.DynString(elf.DT_NEEDED)
		rpath, _ := f.DynString(elf.DT_RPATH)
		runpath, _ := f.DynString(elf.DT_RUNPATH)
		soname, _ := f.DynString(elf.DT_SONAME)
		interp := ""
		for _, pr := range f.Progs {
			if pr.Type == elf.PT_INTERP {
				b := make([]byte, pr.Filesz)
				pr.ReadAt(b, 0)
				interp = string(bytes.TrimRight(b, "\x00"))
			}
		}
		f.Close()
		if err1 != nil {
			continue // no .dynamic section (static)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		info, err := parseELF(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		split := func(v []string) []string {
			var out []string
			for _, s := range v {
				out = append(out, splitPathList(s)...)
			}
			return out
		}
		so := ""
		if len(soname) > 0 {
			so = soname[0]
		}
		if !eqStrings(info.needed, needed) || !eqStrings(info.rpath, split(rpath)) || !eqStrings(info.runpath, split(runpath)) || info.soname != so || info.interp != interp {
			t.Errorf("%s: parseELF %+v; debug/elf needed %v rpath %v runpath %v soname %v interp %q", p, info, needed, rpath, runpath, soname, interp)
		}
		checked++
	}
	t.Logf("checked %d files against debug/elf", checked)
}

func eqStrings(a, b []string) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

// TestParseELFRejectsTruncated cuts real binaries at every interesting
// length: each prefix gives either a clean result or an error, never a
// panic, and a prefix that loses the dynamic segment is an error.
func TestParseELFRejectsTruncated(t *testing.T) {
	data, err := os.ReadFile(testutil.RequireFile(t, "/bin/busybox", "apt-get install busybox"))
	if err != nil {
		t.Fatal(err)
	}
	full, err := parseELF(bytes.NewReader(data), int64(len(data)))
	if err != nil || len(full.needed) == 0 {
		t.Fatalf("full file: %+v %v", full, err)
	}
	for _, n := range []int{0, 3, 16, 40, 63, 64, 100, 500, 1000, 4096} {
		_, err := parseELF(bytes.NewReader(data[:n]), int64(n))
		if err == nil {
			t.Errorf("busybox cut to %d bytes parsed without error", n)
		}
	}
}

func FuzzResolveELF(f *testing.F) {
	f.Add(makeELF(elfSpec{interp: interp64, needed: []string{"libc.so.6"}, runpath: "$ORIGIN/../lib"}))
	f.Add(makeELF(elfSpec{class: elf.ELFCLASS32, interp: "/lib/ld-linux.so.2", needed: []string{"libc.so.6"}, rpath: "${ORIGIN}:$LIB"}))
	f.Add(makeELF(elfSpec{static: true, typ: elf.ET_EXEC}))
	f.Add(makeELF(elfSpec{soname: "libx.so", needed: []string{"libc.so.6", "../x/libc.so.6", "/lib/y.so"}}))
	f.Add(makeELF(elfSpec{interp: interp64, needed: []string{"libfuzz.so", "libc.so.6"}, rpath: "$PLATFORM/${LIB}"}))
	f.Add([]byte("\x7fELF"))
	f.Add([]byte("#!/bin/sh\n"))
	if b, err := os.ReadFile("/bin/busybox"); err == nil && len(b) > 8192 {
		f.Add(b[:8192]) // the headers of a real binary, truncated
	}
	root := fabricatedRoot()
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := fstest.MapFS{}
		for k, v := range root {
			fsys[k] = v
		}
		fsys["usr/bin/fuzz"] = &fstest.MapFile{Mode: 0o755, Data: data}
		// Also as a library the binary's closure may load.
		fsys["usr/lib/x86_64-linux-gnu/libfuzz.so"] = &fstest.MapFile{Mode: 0o755, Data: data}
		r := NewResolver(fsys)
		c, err := r.Resolve("/usr/bin/fuzz")
		if err == nil && c == nil {
			t.Fatal("nil closure without error")
		}
		if err != nil && strings.Contains(err.Error(), "parser panic") {
			t.Fatalf("parser panicked: %v", err)
		}
	})
}

// BenchmarkResolveThousand resolves 1000 host binaries with one Resolver
// (as `create` resolving a root's executables would).
func BenchmarkResolveThousand(b *testing.B) {
	files := hostELFFiles(b, "/usr/bin", "/usr/sbin", "/usr/lib/x86_64-linux-gnu")
	if len(files) < 1000 {
		b.Skipf("only %d ELF files on this host", len(files))
	}
	files = files[:1000]
	sort.Strings(files)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := Host()
		for _, f := range files {
			r.Resolve(f)
		}
	}
}
