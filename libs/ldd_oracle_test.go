package libs

import (
	"bytes"
	"debug/elf"
	"errors"
	"io/fs"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
)

// hostELFFiles lists the regular ELF executables and shared objects (ET_EXEC,
// ET_DYN) in dirs, recursively, each real file once (on merged-/usr /bin is
// /usr/bin). Paths are given as found under the first directory naming them.
func hostELFFiles(t testing.TB, dirs ...string) []string {
	t.Helper()
	seen := map[string]bool{}
	var out []string
	for _, dir := range dirs {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if !d.Type().IsRegular() {
				return nil
			}
			real, err := filepath.EvalSymlinks(p)
			if err != nil || seen[real] {
				return nil
			}
			seen[real] = true
			f, err := elf.Open(p)
			if err != nil {
				return nil
			}
			typ := f.Type
			f.Close()
			if typ == elf.ET_EXEC || typ == elf.ET_DYN {
				out = append(out, p)
			}
			return nil
		})
	}
	sort.Strings(out)
	return out
}

// lddSection is what ldd printed for one file.
type lddSection struct {
	paths    []string // "=> path" and bare "/path" entries; "notfound:NAME" for misses
	static   bool     // "statically linked"
	rejected bool     // "not a dynamic executable", or nothing printed (ldd failed)
}

// runLdd runs ldd on files (several per invocation: ldd then prints a
// "FILE:" header before each file's lines) and parses its listing.
func runLdd(t testing.TB, ldd string, files []string) map[string]*lddSection {
	args := files
	if len(files) == 1 {
		// ldd prints no header for a single file; add a harmless second
		// argument so the format is uniform.
		args = append([]string{}, files[0], "/dev/null")
	}
	cmd := exec.Command(ldd, args...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	_ = cmd.Run() // ldd exits 1 when any file is not dynamic; parse anyway
	out := parseLddOutput(stdout.String())
	for _, f := range files {
		s := out[f]
		if s == nil {
			out[f] = &lddSection{rejected: true}
		} else if len(s.paths) == 0 && !s.static {
			s.rejected = true // ldd printed the header but failed (error on stderr)
		}
	}
	return out
}

// parseLddOutput parses ldd's listing of several files: a "FILE:" header,
// then one tab-indented line per object.
func parseLddOutput(stdout string) map[string]*lddSection {
	out := map[string]*lddSection{}
	var cur *lddSection
	for _, line := range strings.Split(stdout, "\n") {
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, "\t") {
			name := strings.TrimSuffix(line, ":")
			cur = &lddSection{}
			out[name] = cur
			continue
		}
		if cur == nil {
			continue
		}
		l := strings.TrimSpace(line)
		switch {
		case l == "statically linked":
			cur.static = true
		case l == "not a dynamic executable":
			cur.rejected = true
		case strings.HasPrefix(l, "linux-vdso.so") || strings.HasPrefix(l, "linux-gate.so"):
			// The vDSO is mapped by the kernel, not a file.
		case strings.Contains(l, " => not found"):
			cur.paths = append(cur.paths, "notfound:"+strings.TrimSuffix(l, " => not found"))
		case strings.Contains(l, " => "):
			p := strings.SplitN(l, " => ", 2)[1]
			if i := strings.LastIndex(p, " (0x"); i >= 0 {
				p = p[:i]
			}
			cur.paths = append(cur.paths, p)
		case strings.HasPrefix(l, "/"):
			if i := strings.LastIndex(l, " (0x"); i >= 0 {
				l = l[:i]
			}
			cur.paths = append(cur.paths, l)
		}
	}
	return out
}

// rtldFor is the loader ldd runs a shared object without PT_INTERP with:
// the RTLDLIST entry of Debian's ldd that accepts the object's class.
func rtldFor(t testing.TB, file string) string {
	f, err := elf.Open(file)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	defer f.Close()
	if f.Class == elf.ELFCLASS32 {
		return "/lib/ld-linux.so.2"
	}
	return "/lib64/ld-linux-x86-64.so.2"
}

// TestOracleLdd compares Resolve with the real ldd on every ELF executable
// and shared library of the host's binary and library directories.
func TestOracleLdd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ldd on thousands of files")
	}
	ldd := testutil.RequireTool(t, "ldd", "libc-bin")
	files := hostELFFiles(t, "/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/lib/x86_64-linux-gnu")
	if len(files) < 300 {
		testutil.Missing(t, "fewer than 300 ELF files on this host: the oracle comparison would prove little")
	}

	// Two workers (CI has 2 cores), 64 files per ldd invocation.
	const batch = 64
	jobs := make(chan []string)
	results := map[string]*lddSection{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range jobs {
				res := runLdd(t, ldd, b)
				mu.Lock()
				for k, v := range res {
					results[k] = v
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < len(files); i += batch {
		jobs <- files[i:min(i+batch, len(files))]
	}
	close(jobs)
	wg.Wait()

	r := Host()
	compared, skipped, static, mismatches := 0, 0, 0, 0
	for _, f := range files {
		s := results[f]
		if s == nil || s.rejected {
			skipped++
			continue
		}
		c, err := r.Resolve(f)
		var nf *NotFoundError
		if err != nil && !errors.As(err, &nf) {
			t.Errorf("%s: ldd lists it but Resolve fails: %v", f, err)
			mismatches++
			continue
		}
		got := lddView(t, r, c, nf, rtldFor(t, f))
		want := map[string]bool{}
		for _, p := range s.paths {
			want[p] = true
		}
		if s.static {
			static++
		}
		compared++
		if !sameSet(got, want) {
			mismatches++
			if mismatches <= 20 {
				t.Errorf("%s: Resolve gives %v, ldd gives %v", f, keys(got), keys(want))
			}
		}
	}
	t.Logf("compared %d files with ldd (%d of them static, empty closure), skipped %d that ldd rejects, %d mismatches", compared, static, skipped, mismatches)
	if compared < 300 {
		t.Fatalf("only %d files compared with ldd; the oracle test must cover hundreds", compared)
	}
}

// lddView is what ldd would print for closure c (paths, "notfound:NAME"),
// vDSO aside. defaultRtld is the loader ldd runs an object without
// PT_INTERP with.
func lddView(t testing.TB, r *Resolver, c *Closure, nf *NotFoundError, defaultRtld string) map[string]bool {
	t.Helper()
	got := map[string]bool{}
	if c.Interpreter != nil {
		got[c.Interpreter.Path] = true
	}
	for _, l := range c.Libraries {
		got[l.Path] = true
	}
	if nf != nil {
		for _, m := range nf.Missing {
			got["notfound:"+m.Name] = true
		}
	}
	// ldd lists the loader only when some loaded object needs it by
	// its soname (nearly always: libc.so.6 needs
	// ld-linux-x86-64.so.2); otherwise ld.so --list drops its own
	// map from the list (elf/rtld.c, "Remove _dl_rtld_map from the
	// chain"), although the loader still runs the program, so
	// Resolve always reports PT_INTERP. And a shared object without
	// PT_INTERP is listed by running the default loader on it, which
	// then satisfies a DT_NEEDED of its soname (libm.so.6 needs
	// ld-linux-x86-64.so.2) where Resolve, asked about the object
	// alone, finds that name by search. Map both to what ldd shows.
	rtld := defaultRtld
	if c.Interpreter != nil {
		rtld = c.Interpreter.Path
		delete(got, rtld)
	}
	rtldReal, _, err := r.Realpath(rtld)
	if err != nil {
		t.Fatalf("loader %s: %v", rtld, err)
	}
	rtldSoname := ""
	if ri, err := r.elf(rtldReal); err == nil {
		rtldSoname = ri.soname
	}
	needsRtld := false
	objs := []string{c.Binary}
	for _, l := range c.Libraries {
		if l.Real == rtldReal {
			delete(got, l.Path)
		} else {
			objs = append(objs, l.Path)
		}
	}
	for _, o := range objs {
		real, _, _ := r.Realpath(o)
		info, err := r.elf(real)
		if err != nil {
			continue
		}
		for _, n := range info.needed {
			if n == rtldSoname {
				needsRtld = true
			}
		}
	}
	if needsRtld {
		got[rtld] = true
	}
	return got
}

func sameSet(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
