package libs

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
)

// TestOracleSysrootChroot builds a sysroot with real gcc-built libraries and
// the host's glibc, with RUNPATH $ORIGIN, RPATH, an ld.so.conf include,
// absolute symlinks inside the root and decoys later in the search order,
// then compares Resolve (over os.DirFS) with the real loader run inside
// the root: `ldconfig -r ROOT` builds the root's cache from its
// ld.so.conf, and ld.so run chrooted in the root with LD_TRACE_LOADED_OBJECTS
// (what ldd does) prints what it loads. Needs root for chroot(2).
func TestOracleSysrootChroot(t *testing.T) {
	testutil.RequireRoot(t)
	gcc := testutil.RequireTool(t, "gcc", "gcc")
	ldconfig := testutil.RequireTool(t, "ldconfig", "libc-bin")
	hostRtld := testutil.RequireFile(t, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "x86_64 glibc")
	hostLibc := testutil.RequireFile(t, "/usr/lib/x86_64-linux-gnu/libc.so.6", "x86_64 glibc")

	root := t.TempDir()
	if d := os.Getenv("LIBS_KEEP_ROOT"); d != "" {
		root = d
	}
	build := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	in := func(p string) string { return filepath.Join(root, p) }
	mkdir := func(p string) { must(os.MkdirAll(in(p), 0o755)) }
	symlink := func(target, p string) { mkdir(filepath.Dir(p)); must(os.Symlink(target, in(p))) }
	copyFile := func(src, p string) {
		b, err := os.ReadFile(src)
		must(err)
		mkdir(filepath.Dir(p))
		must(os.WriteFile(in(p), b, 0o755))
	}
	write := func(p, s string) { mkdir(filepath.Dir(p)); must(os.WriteFile(in(p), []byte(s), 0o644)) }
	gccRun := func(args ...string) {
		t.Helper()
		cmd := exec.Command(gcc, args...)
		cmd.Dir = build
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("gcc %v: %v\n%s", args, err, out)
		}
	}
	must(os.WriteFile(filepath.Join(build, "empty.c"), []byte("int x_marker;\n"), 0o644))
	must(os.WriteFile(filepath.Join(build, "main.c"), []byte("int main(void){return 0;}\n"), 0o644))
	// lib builds libNAME.so.1 (soname libNAME.so.1) with DT_NEEDED on the
	// given already-built libraries and optional extra linker flags.
	lib := func(name string, flags []string, needs ...string) string {
		out := "lib" + name + ".so.1"
		args := []string{"-shared", "-fPIC", "-o", out, "-Wl,-soname," + out, "empty.c", "-Wl,--no-as-needed"}
		args = append(args, flags...)
		for _, n := range needs {
			args = append(args, "./lib"+n+".so.1")
		}
		gccRun(args...)
		return filepath.Join(build, out)
	}

	// Merged-/usr layout with the host's glibc, reached through relative
	// and absolute links.
	symlink("usr/bin", "bin")
	symlink("usr/lib", "lib")
	symlink("usr/lib64", "lib64")
	copyFile(hostRtld, "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
	symlink("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "usr/lib64/ld-linux-x86-64.so.2")
	copyFile(hostLibc, "usr/lib/x86_64-linux-gnu/libc-real.so")
	symlink("/lib/x86_64-linux-gnu/libc-real.so", "usr/lib/x86_64-linux-gnu/libc.so.6")

	write("etc/ld.so.conf", "include ld.so.conf.d/*.conf\n")
	write("etc/ld.so.conf.d/a.conf", "/opt/conf\n")
	write("etc/ld.so.conf.d/x.txt", "/opt/never\n")

	e := lib("E", nil)
	copyFile(e, "opt/rp/libE.so.1")                   // via libA's RPATH
	copyFile(e, "usr/lib/x86_64-linux-gnu/libE.so.1") // decoy
	a := lib("A", []string{"-Wl,--disable-new-dtags", "-Wl,-rpath,/opt/rp"}, "E")
	copyFile(a, "usr/lib/app/libA.so.1")              // via the app's RUNPATH
	copyFile(a, "usr/lib/x86_64-linux-gnu/libA.so.1") // decoy
	b := lib("B", nil)
	copyFile(b, "opt/conf/libB.so.1")                 // via ld.so.conf include
	copyFile(b, "opt/never/libB.so.1")                // not included
	copyFile(b, "usr/lib/x86_64-linux-gnu/libB.so.1") // decoy: the cache puts ld.so.conf directories first
	g := lib("G", nil)
	copyFile(g, "usr/lib/x86_64-linux-gnu/libG.so.1")      // default directory only
	symlink("/opt/conf/libB.so.1", "opt/conf/libBlink.so") // absolute link, inside the root

	gccRun("-o", "app", "main.c", "-Wl,--no-as-needed", "./libA.so.1", "./libB.so.1", "./libG.so.1",
		"-Wl,--enable-new-dtags", "-Wl,-rpath,$ORIGIN/../lib/app", "-Wl,-rpath-link,.")
	copyFile(filepath.Join(build, "app"), "usr/bin/app")

	// DF_1_NODEFLIB: app-nodeflib must not find libH in the default
	// /usr/lib (reached as /lib), app-deflib (same but without the flag) must.
	h := lib("H", nil)
	copyFile(h, "usr/lib/libH.so.1")
	for name, flags := range map[string][]string{"app-nodeflib": {"-Wl,-z,nodefaultlib"}, "app-deflib": nil} {
		args := append([]string{"-o", name, "main.c", "-Wl,--no-as-needed", "./libB.so.1", "./libH.so.1",
			"-Wl,--enable-new-dtags", "-Wl,-rpath,/opt/conf:/lib/x86_64-linux-gnu"}, flags...)
		gccRun(args...)
		copyFile(filepath.Join(build, name), "usr/bin/"+name)
	}

	testutil.Run(t, ldconfig, "-r", root)

	r := NewResolver(os.DirFS(root))
	for _, bin := range []string{"/usr/bin/app", "/bin/app", "/opt/conf/libBlink.so", "/usr/lib/app/libA.so.1", "/usr/bin/app-nodeflib", "/usr/bin/app-deflib"} {
		// As ldd runs it: the RTLDLIST loader with LD_TRACE_LOADED_OBJECTS
		// (unlike --list, tracing reports missing libraries and goes on).
		// Chroot in the child itself: a chroot(1) binary would be traced
		// by the host's loader instead.
		cmd := exec.Command("/lib64/ld-linux-x86-64.so.2", bin)
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
		cmd.Dir = "/"
		cmd.Env = []string{"LD_TRACE_LOADED_OBJECTS=1"}
		out, err := cmd.CombinedOutput()
		if err != nil && !strings.Contains(string(out), "=> not found") {
			t.Fatalf("ld.so tracing %s in the root: %v\n%s", bin, err, out)
		}
		// Reuse ldd's parser: give the output the header ldd prints.
		want := parseLddSection(t, bin, string(out))
		c, rerr := r.Resolve(bin)
		var nf *NotFoundError
		if rerr != nil && !errors.As(rerr, &nf) {
			t.Fatalf("%s: %v", bin, rerr)
		}
		got := lddView(t, r, c, nf, "/lib64/ld-linux-x86-64.so.2")
		if !sameSet(got, want) {
			t.Errorf("%s: Resolve gives %v, ld.so in the root gives %v\n%s", bin, keys(got), keys(want), out)
		}
		if bin == "/usr/bin/app-nodeflib" && !want["notfound:libH.so.1"] || bin == "/usr/bin/app-deflib" && !want["/lib/libH.so.1"] {
			t.Errorf("%s: the root was not built as intended, ld.so gives %v", bin, keys(want))
		}
		if bin == "/usr/bin/app" {
			// Guard against a vacuous pass: the decoys must not win.
			if !want["/usr/bin/../lib/app/libA.so.1"] || !want["/opt/rp/libE.so.1"] || !want["/opt/conf/libB.so.1"] {
				t.Errorf("the root was not built as intended, ld.so gives %v", keys(want))
			}
		}
	}
}

func parseLddSection(t testing.TB, name, out string) map[string]bool {
	// runLdd's parser reads "NAME:" headers followed by tab-indented lines.
	sec := parseLddOutput(name + ":\n" + out)[name]
	want := map[string]bool{}
	if sec != nil {
		for _, p := range sec.paths {
			want[p] = true
		}
	}
	return want
}
