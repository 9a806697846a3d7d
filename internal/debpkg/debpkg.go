// Package debpkg fetches a Debian package's files without installing it:
// `apt-get download PKG` and `dpkg-deb -x PKG.deb ROOT` into minidisk's
// cache. It serves packages that must not be installed on the host
// (busybox-static conflicts with busybox) or need not be (systemd-boot-efi
// for its stub, a distro kernel).
package debpkg

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// ErrNoApt means the host has no apt-get or dpkg-deb (not Debian/Ubuntu).
var ErrNoApt = errors.New("apt-get and dpkg-deb are needed to fetch Debian packages")

// validName is a Debian package name (Debian Policy §5.6.1).
// Compiled on first use, not at start-up (every command pays for package
// initialisation).
var validName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`) })

// CacheDir is minidisk's cache, ${XDG_CACHE_HOME:-~/.cache}/minidisk (the
// kernel package's DefaultCacheDir, which this package cannot import: the
// kernel package does not build for every GOOS).
func CacheDir() (string, error) {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "minidisk"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory: set XDG_CACHE_HOME or HOME (%w)", err)
	}
	return filepath.Join(home, ".cache", "minidisk"), nil
}

// Root is where Fetch unpacks pkg under cacheDir:
// CACHE/debian/PKG/root.
func Root(cacheDir, pkg string) string {
	return filepath.Join(cacheDir, "debian", pkg, "root")
}

// Fetch returns the unpacked root of pkg in cacheDir, downloading and
// unpacking it first unless it is there. The root appears whole or not at
// all (unpacked beside it, then renamed), so an interrupted fetch is
// retried, never half-used. log, when not nil, receives apt-get's output.
func Fetch(ctx context.Context, cacheDir, pkg string, log func(string)) (string, error) {
	if !validName().MatchString(pkg) {
		return "", fmt.Errorf("%q is not a Debian package name", pkg)
	}
	root := Root(cacheDir, pkg)
	if fi, err := os.Stat(root); err == nil && fi.IsDir() {
		return root, nil
	}
	apt, err1 := exec.LookPath("apt-get")
	dpkg, err2 := exec.LookPath("dpkg-deb")
	if err1 != nil || err2 != nil {
		return "", fmt.Errorf("fetching %s: %w (a Debian or Ubuntu host)", pkg, ErrNoApt)
	}
	dir := filepath.Dir(root)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(dir, ".fetch-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if log != nil {
		log(fmt.Sprintf("fetching Debian package %s (apt-get download) into %s", pkg, dir))
	}
	cmd := exec.CommandContext(ctx, apt, "download", pkg)
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("apt-get download %s: %w: %s", pkg, err, lastLine(out))
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, pkg+"_*.deb"))
	if len(debs) != 1 {
		return "", fmt.Errorf("apt-get download %s: expected one %s_*.deb, found %d", pkg, pkg, len(debs))
	}
	unpacked := filepath.Join(tmp, "root")
	if out, err := exec.CommandContext(ctx, dpkg, "-x", debs[0], unpacked).CombinedOutput(); err != nil {
		return "", fmt.Errorf("dpkg-deb -x %s: %w: %s", filepath.Base(debs[0]), err, lastLine(out))
	}
	// Keep the .deb's name: it records the version that was fetched.
	if err := os.WriteFile(filepath.Join(unpacked, ".minidisk-deb"), []byte(filepath.Base(debs[0])+"\n"), 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(unpacked, root); err != nil {
		// Another process may have won the race; its root is as good.
		if fi, serr := os.Stat(root); serr == nil && fi.IsDir() {
			return root, nil
		}
		return "", err
	}
	return root, nil
}

// Deb names the .deb a root was unpacked from ("" if unknown).
func Deb(root string) string {
	b, err := os.ReadFile(filepath.Join(root, ".minidisk-deb"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func lastLine(out []byte) string {
	s := strings.TrimSpace(string(out))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}
