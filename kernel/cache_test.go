package kernel

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minidisk/minidisk/internal/testutil"
)

// fakeTreeMakefile stands in for the kernel's top Makefile so the cache,
// locking and verification logic can be tested in milliseconds: the real
// targets minidisk calls, with one real Kconfig behaviour (olddefconfig
// drops an option whose dependency is off: UNIX needs NET).
const fakeTreeMakefile = `
tinyconfig:
	printf '# fake tinyconfig\nCONFIG_EXT2_FS=m\n' > $(O)/.config
olddefconfig:
	if ! grep -q '^CONFIG_NET=y' $(O)/.config; then grep -v '^CONFIG_UNIX=' $(O)/.config > $(O)/.c; mv $(O)/.c $(O)/.config; fi
bzImage:
	if grep -q '^CONFIG_FAIL=y' $(O)/.config; then echo 'fake: error: compiler exploded'; exit 1; fi
	mkdir -p $(O)/arch/x86/boot
	sleep 0.3
	cp $(O)/.config $(O)/arch/x86/boot/bzImage
	echo build >> $(O)/../builds-$(notdir $(O))
`

func fakeTree(t testing.TB) string {
	testutil.RequireTool(t, "make", "make")
	dir := filepath.Join(t.TempDir(), "linux-fake")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mk := strings.ReplaceAll(fakeTreeMakefile, "\n\t", "\n\t@")
	if err := os.WriteFile(filepath.Join(dir, "Makefile"), []byte(mk), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Kconfig"), []byte("# fake\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func countBuilds(t *testing.T, cache string) int {
	m, _ := filepath.Glob(filepath.Join(cache, "build", "builds-*"))
	n := 0
	for _, f := range m {
		b, _ := os.ReadFile(f)
		n += strings.Count(string(b), "build")
	}
	return n
}

func TestBuildCachesAndVerifies(t *testing.T) {
	src, cache := fakeTree(t), t.TempDir()
	o := BuildOptions{Profile: Legacy, Source: src, CacheDir: cache}
	r1, err := Build(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Cached {
		t.Error("first build reported cached")
	}
	cfg, _ := os.ReadFile(r1.BzImage) // the fake "image" is its config
	for _, opt := range Legacy.Options() {
		if !strings.Contains(string(cfg), "\nCONFIG_"+opt+"=y\n") {
			t.Errorf("built config lacks CONFIG_%s=y", opt)
		}
	}
	if strings.Contains(string(cfg), "CONFIG_EXT2_FS=m") {
		t.Error("tinyconfig's CONFIG_EXT2_FS=m survived the merge")
	}
	r2, err := Build(context.Background(), o)
	if err != nil || !r2.Cached || r2.BzImage != r1.BzImage {
		t.Fatalf("second build: %+v, %v", r2, err)
	}
	if n := countBuilds(t, cache); n != 1 {
		t.Errorf("%d builds ran, want 1", n)
	}

	// A fragment option whose dependency is off does not stick.
	frag := filepath.Join(t.TempDir(), "frag.config")
	os.WriteFile(frag, []byte("# extra\nCONFIG_UNIX=y\n"), 0o644)
	o.Fragment = frag
	_, err = Build(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "CONFIG_UNIX=y (got unset)") {
		t.Fatalf("err = %v, want CONFIG_UNIX reported as not sticking", err)
	}
	// With its dependency it does, as a separately cached kernel.
	os.WriteFile(frag, []byte("CONFIG_NET=y\nCONFIG_UNIX=y\n"), 0o644)
	r3, err := Build(context.Background(), o)
	if err != nil || r3.BzImage == r1.BzImage {
		t.Fatalf("fragment build: %+v, %v", r3, err)
	}
}

func TestBuildFailureNamesLog(t *testing.T) {
	src, cache := fakeTree(t), t.TempDir()
	frag := filepath.Join(t.TempDir(), "frag.config")
	os.WriteFile(frag, []byte("CONFIG_FAIL=y\n"), 0o644)
	_, err := Build(context.Background(), BuildOptions{Profile: Legacy, Source: src, CacheDir: cache, Fragment: frag})
	if err == nil || !strings.Contains(err.Error(), "compiler exploded") || !strings.Contains(err.Error(), ".log") {
		t.Fatalf("err = %v, want the log path and its last lines", err)
	}
	if m, _ := filepath.Glob(filepath.Join(cache, "kernels", "*", "bzImage")); len(m) != 0 {
		t.Errorf("a failed build published %v", m)
	}
}

// TestBuildConcurrentCallersShareOneBuild is what `go test ./...` does:
// several test binaries ask for the same kernel at once.
func TestBuildConcurrentCallersShareOneBuild(t *testing.T) {
	src, cache := fakeTree(t), t.TempDir()
	var wg sync.WaitGroup
	paths := make([]string, 4)
	errs := make([]error, 4)
	for i := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := Build(context.Background(), BuildOptions{Profile: Legacy, Source: src, CacheDir: cache})
			errs[i] = err
			if err == nil {
				paths[i] = r.BzImage
			}
		}()
	}
	wg.Wait()
	for i := range paths {
		if errs[i] != nil || paths[i] != paths[0] {
			t.Fatalf("caller %d: %q, %v (caller 0: %q)", i, paths[i], errs[i], paths[0])
		}
	}
	if n := countBuilds(t, cache); n != 1 {
		t.Errorf("%d builds ran, want 1", n)
	}
}

// An efi kernel with a new initramfs is a new cache entry built in the
// same O= directory (so kbuild relinks instead of recompiling).
func TestBuildEFIInitramfsReusesBuildDir(t *testing.T) {
	src, cache := fakeTree(t), t.TempDir()
	dir := t.TempDir()
	var keys []string
	for i, content := range []string{"070701first", "070701second"} {
		p := filepath.Join(dir, "init.cpio")
		os.WriteFile(p, []byte(content), 0o644)
		r, err := Build(context.Background(), BuildOptions{Profile: EFI, Source: src, CacheDir: cache, Initramfs: p})
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := os.ReadFile(r.Config)
		if !strings.Contains(string(cfg), `CONFIG_CMDLINE="console=ttyS0"`) || !strings.Contains(string(cfg), "CONFIG_INITRAMFS_SOURCE=") {
			t.Errorf("build %d config lacks CMDLINE or INITRAMFS_SOURCE:\n%s", i, cfg)
		}
		keys = append(keys, r.Key)
	}
	if keys[0] == keys[1] {
		t.Error("a different initramfs gave the same cache key")
	}
	dirs, _ := filepath.Glob(filepath.Join(cache, "build", "*.log"))
	if len(dirs) != 1 {
		t.Errorf("build directories %v, want one shared by both initramfs versions", dirs)
	}
	if _, err := Build(context.Background(), BuildOptions{Profile: EFI, Source: src, CacheDir: cache}); err == nil {
		t.Error("efi without --initramfs accepted")
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("hello"), 0o644)
	if _, err := Build(context.Background(), BuildOptions{Profile: EFI, Source: src, CacheDir: cache, Initramfs: bad}); err == nil || !strings.Contains(err.Error(), "cpio") {
		t.Errorf("non-cpio initramfs: err = %v", err)
	}
}

// A tarball source is extracted once (by tar, the oracle packs it) and
// keyed by path, size and mtime.
func TestBuildFromTarball(t *testing.T) {
	tarTool := testutil.RequireTool(t, "tar", "tar")
	src, cache := fakeTree(t), t.TempDir()
	tarball := filepath.Join(t.TempDir(), "linux-source-9.9.tar.gz")
	if out, err := exec.Command(tarTool, "-czf", tarball, "-C", filepath.Dir(src), filepath.Base(src)).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	r, err := Build(context.Background(), BuildOptions{Profile: Legacy, Source: tarball, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	trees, _ := filepath.Glob(filepath.Join(cache, "src", "*", "linux-fake", "Makefile"))
	if len(trees) != 1 {
		t.Fatalf("extracted trees %v, want one", trees)
	}
	// Touching the tarball (a package upgrade would) invalidates the key.
	future := time.Now().Add(time.Hour)
	os.Chtimes(tarball, future, future)
	r2, err := Build(context.Background(), BuildOptions{Profile: Legacy, Source: tarball, CacheDir: cache})
	if err != nil || r2.Key == r.Key {
		t.Fatalf("after touch: %+v %v", r2, err)
	}
}

func TestLockFileWaitsAndCancels(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := lockFile(context.Background(), p, nopProgress{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := lockFile(ctx, p, nopProgress{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second lock while held: %v", err)
	}
	unlock()
	unlock2, err := lockFile(context.Background(), p, nopProgress{})
	if err != nil {
		t.Fatal(err)
	}
	unlock2()
}

func TestParseFragmentAndMerge(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("# comment\n\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_S=\"x y\"\n"), 0o644)
	s, err := ParseFragment(p)
	if err != nil || len(s) != 3 || s[1] != (Setting{"B", "n"}) || s[2].Value != `"x y"` {
		t.Fatalf("%+v %v", s, err)
	}
	os.WriteFile(p, []byte("CONFIG_A=y\nEXT2=y\n"), 0o644)
	if _, err := ParseFragment(p); err == nil || !strings.Contains(err.Error(), ":2:") {
		t.Fatalf("bad line: %v", err)
	}
	merged := string(mergeConfig([]byte("CONFIG_A=m\n# CONFIG_B is not set\nCONFIG_C=y\n"), []Setting{{"A", "y"}, {"B", "y"}}))
	if merged != "CONFIG_C=y\nCONFIG_A=y\nCONFIG_B=y\n" {
		t.Fatalf("merged:\n%s", merged)
	}
}

// BenchmarkBuildCacheHit is the cost of asking for an already built kernel
// (a stat of the source tree plus the cached file).
func BenchmarkBuildCacheHit(b *testing.B) {
	src, cache := fakeTree(b), b.TempDir()
	o := BuildOptions{Profile: Legacy, Source: src, CacheDir: cache}
	if _, err := Build(context.Background(), o); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if r, err := Build(context.Background(), o); err != nil || !r.Cached {
			b.Fatal(r, err)
		}
	}
}
