package kernel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/minidisk/minidisk/internal/atomicfile"
	"github.com/minidisk/minidisk/internal/hostos"
)

// ErrNoSource means no kernel source was given and none is installed.
var ErrNoSource = errors.New("no kernel source")

// BuildOptions says which kernel to build.
type BuildOptions struct {
	Profile Profile
	// Source is a kernel source directory or tarball (.tar.xz, .tar.gz,
	// .tar.bz2, .tar); empty means the newest /usr/src/linux-source-*.tar.*
	// (Debian's linux-source package).
	Source string
	// Fragment is an optional config fragment applied after the profile.
	Fragment string
	// Initramfs is linked into the kernel (CONFIG_INITRAMFS_SOURCE); it is
	// required by the efi profile, which has no other root.
	Initramfs string
	// CacheDir is the cache root; empty means DefaultCacheDir().
	CacheDir string
	// Jobs is make's -j; 0 means every CPU.
	Jobs int
	// Progress receives phases and build output lines; nil is silent.
	Progress Progress
}

// Result is a built (or cached) kernel.
type Result struct {
	BzImage string // path of the cached bzImage
	Config  string // the .config it was built from
	Log     string // the build log
	Cached  bool   // true when no build ran
	Key     string // cache key (hex)
}

// DefaultCacheDir is ${XDG_CACHE_HOME:-~/.cache}/minidisk.
func DefaultCacheDir() (string, error) {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "minidisk"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory: set XDG_CACHE_HOME or HOME (%w)", err)
	}
	return filepath.Join(home, ".cache", "minidisk"), nil
}

// DefaultSource returns the newest Debian linux-source tarball.
func DefaultSource() (string, error) {
	var found []string
	for _, pat := range []string{"/usr/src/linux-source-*.tar.xz", "/usr/src/linux-source-*.tar.bz2", "/usr/src/linux-source-*.tar.gz"} {
		m, _ := filepath.Glob(pat)
		found = append(found, m...)
	}
	if len(found) == 0 {
		return "", fmt.Errorf("%w: /usr/src/linux-source-*.tar.xz not found (apt-get install linux-source, or give --src DIR|TARBALL)", ErrNoSource)
	}
	sort.Slice(found, func(i, j int) bool { return versionLess(found[i], found[j]) })
	return found[len(found)-1], nil
}

// versionLess orders linux-source-6.1 before linux-source-6.10 by comparing
// digit runs numerically.
func versionLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := leadingDigits(a), leadingDigits(b)
		if da != "" && db != "" {
			na, _ := strconv.Atoi(da)
			nb, _ := strconv.Atoi(db)
			if na != nb {
				return na < nb
			}
			a, b = a[len(da):], b[len(db):]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func leadingDigits(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' && i < 9 {
		i++
	}
	return s[:i]
}

// source is a resolved kernel source.
type source struct {
	path    string // as given, absolute
	tarball bool
	id      string // identity that goes into cache keys
	mtime   time.Time
}

// resolveSource identifies the source without reading it all. A tarball is
// identified by (path, size, mtime): hashing Debian's 138 MB tarball would
// cost about half a second on every cache hit, and a package upgrade
// replaces the file (new size and mtime). A directory is identified by its
// path plus the newest mtime and the number of files in the tree, so
// editing any file invalidates the cached kernel.
func resolveSource(p string) (source, error) {
	if p == "" {
		var err error
		if p, err = DefaultSource(); err != nil {
			return source{}, err
		}
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return source{}, err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return source{}, fmt.Errorf("%s: kernel source not found (give --src a kernel source directory or linux-source tarball)", p)
	}
	if !fi.IsDir() {
		if !isTarball(abs) {
			return source{}, fmt.Errorf("%s: not a kernel source tarball (expected .tar.xz, .tar.gz, .tar.bz2 or .tar; or give --src a source directory)", p)
		}
		return source{path: abs, tarball: true, mtime: fi.ModTime(),
			id: fmt.Sprintf("tarball\x00%s\x00%d\x00%d", abs, fi.Size(), fi.ModTime().UnixNano())}, nil
	}
	if _, err := os.Stat(filepath.Join(abs, "Makefile")); err != nil {
		return source{}, fmt.Errorf("%s: no Makefile, not a kernel source tree (give --src the top directory of a Linux source tree)", p)
	}
	if _, err := os.Stat(filepath.Join(abs, ".config")); err == nil {
		return source{}, fmt.Errorf("%s: source tree has a .config; minidisk builds out of tree (O=) and make refuses that (run `make mrproper` in it)", p)
	}
	var newest time.Time
	files := 0
	err = filepath.WalkDir(abs, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		files++
		if info.ModTime().After(newest) {
			newest = info.ModTime()
		}
		return nil
	})
	if err != nil {
		return source{}, fmt.Errorf("%s: cannot scan kernel source: %w", p, err)
	}
	return source{path: abs, mtime: newest,
		id: fmt.Sprintf("dir\x00%s\x00%d\x00%d", abs, newest.UnixNano(), files)}, nil
}

func isTarball(p string) bool {
	for _, s := range []string{".tar.xz", ".txz", ".tar.gz", ".tgz", ".tar.bz2", ".tar"} {
		if strings.HasSuffix(p, s) {
			return true
		}
	}
	return false
}

// plan is everything a build needs, computed before any work.
type plan struct {
	src       source
	profile   Profile
	settings  []Setting // every requested assignment, in order
	initramfs []byte
	initExt   string // ".cpio", ".cpio.gz", ...
	key       string // kernel result key
	buildKey  string // build directory key: key minus the initramfs, so an efi rebuild with a new initramfs is incremental
	epoch     string // KBUILD_BUILD_TIMESTAMP source
}

func hashHex(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))[:20]
}

// initramfsSuffix names the initramfs by its format: the kernel's
// usr/Makefile takes a *.cpio or compressed *.cpio.* file as-is (the
// compressed one is unpacked at boot, so its RD_* decompressor must be on).
func initramfsSuffix(data []byte) (ext, option string, err error) {
	switch {
	case bytes.HasPrefix(data, []byte("070701")), bytes.HasPrefix(data, []byte("070702")):
		return ".cpio", "", nil
	case bytes.HasPrefix(data, []byte{0x1f, 0x8b}):
		return ".cpio.gz", "RD_GZIP", nil
	case bytes.HasPrefix(data, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return ".cpio.xz", "RD_XZ", nil
	case bytes.HasPrefix(data, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return ".cpio.zst", "RD_ZSTD", nil
	}
	return "", "", errors.New("not a newc cpio archive, gzip, xz or zstd file")
}

func makePlan(o BuildOptions) (*plan, error) {
	if _, err := ParseProfile(string(o.Profile)); err != nil {
		return nil, err
	}
	src, err := resolveSource(o.Source)
	if err != nil {
		return nil, err
	}
	p := &plan{src: src, profile: o.Profile}
	for _, name := range o.Profile.Options() {
		p.settings = append(p.settings, Setting{name, "y"})
	}
	if o.Profile == EFI {
		p.settings = append(p.settings, Setting{"CMDLINE", quote("console=ttyS0")})
		if o.Initramfs == "" {
			return nil, errors.New("the efi profile needs --initramfs (the kernel is booted alone by the firmware, so its root filesystem is linked in)")
		}
	}
	if o.Initramfs != "" {
		data, err := os.ReadFile(o.Initramfs)
		if err != nil {
			return nil, fmt.Errorf("%s: cannot read initramfs: %w", o.Initramfs, err)
		}
		ext, opt, err := initramfsSuffix(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w (give --initramfs a cpio archive)", o.Initramfs, err)
		}
		p.initramfs, p.initExt = data, ext
		p.settings = append(p.settings, Setting{"BLK_DEV_INITRD", "y"})
		if opt != "" {
			p.settings = append(p.settings, Setting{opt, "y"})
		}
	}
	var fragment []byte
	if o.Fragment != "" {
		fs, err := ParseFragment(o.Fragment)
		if err != nil {
			return nil, err
		}
		p.settings = append(p.settings, fs...)
		for _, s := range fs {
			fragment = append(fragment, settingLine(s)+"\n"...)
		}
	}
	p.settings = dedupe(p.settings)
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return nil, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds", v)
		}
		p.epoch = v
	}
	var settingsText strings.Builder
	for _, s := range p.settings {
		settingsText.WriteString(settingLine(s) + "\n")
	}
	const version = "minidisk-kernel-v1"
	p.buildKey = hashHex(version, src.id, string(o.Profile), settingsText.String())
	initHash := sha256.Sum256(p.initramfs)
	p.key = hashHex(version, src.id, string(o.Profile), settingsText.String(), hex.EncodeToString(initHash[:]), p.epoch)
	return p, nil
}

// dedupe keeps the last assignment of each symbol (a fragment overrides the
// profile), in first-seen order.
func dedupe(in []Setting) []Setting {
	last := map[string]string{}
	var order []string
	for _, s := range in {
		if _, ok := last[s.Name]; !ok {
			order = append(order, s.Name)
		}
		last[s.Name] = s.Value
	}
	out := make([]Setting, 0, len(order))
	for _, n := range order {
		out = append(out, Setting{n, last[n]})
	}
	return out
}

// Build returns the cached kernel for o, building it first when needed.
// Concurrent callers (go test runs packages in parallel) serialise on a
// per-key flock: one builds, the others wait and reuse its result.
func Build(ctx context.Context, o BuildOptions) (*Result, error) {
	prog := o.Progress
	if prog == nil {
		prog = nopProgress{}
	}
	p, err := makePlan(o)
	if err != nil {
		return nil, err
	}
	cache := o.CacheDir
	if cache == "" {
		if cache, err = DefaultCacheDir(); err != nil {
			return nil, err
		}
	}
	kernels := filepath.Join(cache, "kernels")
	if err := os.MkdirAll(kernels, 0o755); err != nil {
		return nil, fmt.Errorf("%s: cannot create kernel cache: %w", kernels, err)
	}
	res := &Result{Key: p.key, BzImage: filepath.Join(kernels, p.key, "bzImage"),
		Config: filepath.Join(kernels, p.key, "config"), Log: filepath.Join(kernels, p.key, "build.log")}
	if _, err := os.Stat(res.BzImage); err == nil {
		res.Cached = true
		return res, nil
	}
	unlock, err := lockFile(ctx, filepath.Join(kernels, p.key+".lock"), prog)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := os.Stat(res.BzImage); err == nil { // built while we waited
		res.Cached = true
		return res, nil
	}
	srcDir, err := extractSource(ctx, cache, p.src, prog)
	if err != nil {
		return nil, err
	}
	jobs := o.Jobs
	if jobs <= 0 {
		jobs = runtime.NumCPU()
	}
	if err := buildInto(ctx, cache, srcDir, p, jobs, res, prog); err != nil {
		return nil, err
	}
	return res, nil
}

// lockFile takes an exclusive flock on path, polling so ctx can cancel the
// wait (flock itself cannot be interrupted).
func lockFile(ctx context.Context, path string, prog Progress) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot open lock file: %w", path, err)
	}
	told := false
	for {
		ok, err := hostos.TryLock(f)
		if ok {
			return func() { hostos.Unlock(f); f.Close() }, nil
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: cannot lock: %w", path, err)
		}
		if !told {
			prog.Phase("waiting for another minidisk build (" + path + ")")
			told = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// extractSource returns the source tree, unpacking a tarball once into
// <cache>/src/<key>/ (shared by every profile: builds go to separate O=
// directories and never write into the tree).
func extractSource(ctx context.Context, cache string, src source, prog Progress) (string, error) {
	if !src.tarball {
		return src.path, nil
	}
	srcRoot := filepath.Join(cache, "src")
	if err := os.MkdirAll(srcRoot, 0o755); err != nil {
		return "", fmt.Errorf("%s: %w", srcRoot, err)
	}
	id := hashHex(src.id)
	dest := filepath.Join(srcRoot, id)
	if dir, err := findTree(dest); err == nil {
		return dir, nil
	}
	unlock, err := lockFile(ctx, dest+".lock", prog)
	if err != nil {
		return "", err
	}
	defer unlock()
	if dir, err := findTree(dest); err == nil {
		return dir, nil
	}
	prog.Phase("extracting " + filepath.Base(src.path))
	tmp, err := os.MkdirTemp(srcRoot, ".extract-"+id+"-")
	if err != nil {
		return "", fmt.Errorf("%s: %w", srcRoot, err)
	}
	defer os.RemoveAll(tmp)
	// tar is part of the kernel build toolchain anyway (the kernel's own
	// scripts call it); it keeps modes and symlinks that the build needs.
	cmd := exec.CommandContext(ctx, "tar", "-xf", src.path, "-C", tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s: cannot extract kernel source: %w: %s", src.path, err, lastLines(out, 5))
	}
	if _, err := findTree(tmp); err != nil {
		return "", fmt.Errorf("%s: %w", src.path, err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		return "", fmt.Errorf("%s: %w", dest, err)
	}
	return findTree(dest)
}

// findTree finds the kernel tree in an extraction directory: the directory
// itself or its single top-level directory, holding Makefile and Kconfig.
func findTree(dir string) (string, error) {
	isTree := func(d string) bool {
		_, e1 := os.Stat(filepath.Join(d, "Makefile"))
		_, e2 := os.Stat(filepath.Join(d, "Kconfig"))
		return e1 == nil && e2 == nil
	}
	if isTree(dir) {
		return dir, nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	for _, e := range ents {
		if e.IsDir() && isTree(filepath.Join(dir, e.Name())) {
			return filepath.Join(dir, e.Name()), nil
		}
	}
	return "", errors.New("no kernel source tree (Makefile and Kconfig) inside")
}

// buildInto configures and builds in <cache>/build/<buildKey> and publishes
// bzImage, config and log to res's directory by renaming a finished
// temporary directory.
func buildInto(ctx context.Context, cache, srcDir string, p *plan, jobs int, res *Result, prog Progress) error {
	buildRoot := filepath.Join(cache, "build")
	if err := os.MkdirAll(buildRoot, 0o755); err != nil {
		return fmt.Errorf("%s: %w", buildRoot, err)
	}
	unlock, err := lockFile(ctx, filepath.Join(buildRoot, p.buildKey+".lock"), prog)
	if err != nil {
		return err
	}
	defer unlock()
	out := filepath.Join(buildRoot, p.buildKey)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("%s: %w", out, err)
	}
	logPath := filepath.Join(buildRoot, p.buildKey+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("%s: %w", logPath, err)
	}
	defer logf.Close()

	settings := p.settings
	if p.initramfs != nil {
		// Named by content: a new initramfs changes CONFIG_INITRAMFS_SOURCE,
		// so kbuild relinks just usr/ and the image (about 16 s, not 5 min).
		initPath := filepath.Join(out, "minidisk-initramfs-"+hashHex(string(p.initramfs))+p.initExt)
		if err := os.WriteFile(initPath, p.initramfs, 0o644); err != nil {
			return fmt.Errorf("%s: %w", initPath, err)
		}
		settings = append(settings, Setting{"INITRAMFS_SOURCE", quote(initPath)})
	}

	env := append(os.Environ(), "LC_ALL=C", "KBUILD_BUILD_USER=minidisk", "KBUILD_BUILD_HOST=minidisk", "KBUILD_BUILD_VERSION=1")
	epoch := p.epoch
	if epoch == "" {
		epoch = strconv.FormatInt(p.src.mtime.Unix(), 10)
	}
	sec, _ := strconv.ParseInt(epoch, 10, 64)
	env = append(env, "KBUILD_BUILD_TIMESTAMP="+time.Unix(sec, 0).UTC().Format("Mon Jan 2 15:04:05 UTC 2006"))

	runMake := func(args ...string) error {
		full := append([]string{"-C", srcDir, "O=" + out, "ARCH=x86_64"}, args...)
		fmt.Fprintf(logf, "+ make %s\n", strings.Join(full, " "))
		cmd := exec.CommandContext(ctx, "make", full...)
		cmd.Env = env
		lw := &lineWriter{fn: prog.Line}
		cmd.Stdout = io.MultiWriter(logf, lw)
		cmd.Stderr = cmd.Stdout
		// make spawns a tree of compilers: kill the whole process group.
		hostos.NewProcessGroup(cmd)
		cmd.Cancel = func() error { return hostos.KillProcessGroup(cmd) }
		cmd.WaitDelay = 5 * time.Second
		err := cmd.Run()
		lw.flush()
		if err != nil {
			logf.Sync()
			tail, _ := os.ReadFile(logPath)
			return fmt.Errorf("kernel build failed: make %s: %w; log %s ends:\n%s", args[len(args)-1], err, logPath, lastLines(tail, 15))
		}
		return nil
	}
	if _, err := exec.LookPath("make"); err != nil {
		return errors.New("make not found: building a kernel needs make, gcc, flex, bison, bc, libelf-dev and libssl-dev (apt-get install build-essential flex bison bc libelf-dev libssl-dev)")
	}

	prog.Phase(fmt.Sprintf("configuring %s kernel (tinyconfig + %d options)", p.profile, len(settings)))
	if err := runMake("tinyconfig"); err != nil {
		return err
	}
	cfgPath := filepath.Join(out, ".config")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		return fmt.Errorf("%s: %w", cfgPath, err)
	}
	if err := os.WriteFile(cfgPath, mergeConfig(cfg, settings), 0o644); err != nil {
		return fmt.Errorf("%s: %w", cfgPath, err)
	}
	if err := runMake("olddefconfig"); err != nil {
		return err
	}
	cfg, err = os.ReadFile(cfgPath)
	if err != nil {
		return fmt.Errorf("%s: %w", cfgPath, err)
	}
	if bad := missingSettings(cfg, settings); len(bad) > 0 {
		return fmt.Errorf("kernel config: %d requested option(s) did not stick after olddefconfig (unmet dependencies?): %s; see %s", len(bad), strings.Join(bad, ", "), cfgPath)
	}

	prog.Phase(fmt.Sprintf("compiling %s bzImage with %d jobs (log %s)", p.profile, jobs, logPath))
	if err := runMake(fmt.Sprintf("-j%d", jobs), "bzImage"); err != nil {
		return err
	}
	logf.Sync()

	kernels := filepath.Dir(filepath.Dir(res.BzImage))
	tmp, err := os.MkdirTemp(kernels, ".tmp-"+p.key+"-")
	if err != nil {
		return fmt.Errorf("%s: %w", kernels, err)
	}
	defer os.RemoveAll(tmp)
	for _, c := range [][2]string{
		{filepath.Join(out, "arch/x86/boot/bzImage"), "bzImage"},
		{cfgPath, "config"},
		{logPath, "build.log"},
	} {
		if err := copyFile(c[0], filepath.Join(tmp, c[1])); err != nil {
			return err
		}
	}
	// MkdirTemp makes 0700; the cache is meant to be shared like the rest
	// of ~/.cache.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("%s: %w", tmp, err)
	}
	if err := os.Rename(tmp, filepath.Dir(res.BzImage)); err != nil {
		return fmt.Errorf("%s: cannot publish kernel: %w", res.BzImage, err)
	}
	prog.Phase("done: " + res.BzImage)
	return nil
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("%s: %w", from, err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		return fmt.Errorf("%s: %w", to, err)
	}
	return nil
}

// lastLines returns up to n trailing non-empty lines of b.
func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// lineWriter splits a byte stream into lines for a callback.
type lineWriter struct {
	fn  func(string)
	buf []byte
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.fn(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64*1024 { // a runaway line: pass it on, keep memory bounded
		w.flush()
	}
	return len(b), nil
}

func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.fn(string(w.buf))
		w.buf = nil
	}
}

// CopyOut copies a cached bzImage to out atomically (never a partial file;
// refuses to replace out unless force).
func CopyOut(bzImage, out string, force bool) error {
	data, err := os.ReadFile(bzImage)
	if err != nil {
		return fmt.Errorf("%s: %w", bzImage, err)
	}
	f, err := atomicfile.Create(out, force)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("%s: %w", out, err)
	}
	return f.Commit()
}
