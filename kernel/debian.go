package kernel

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// DebianFlavours are the linux-image flavours of Debian's amd64 archive
// that `minidisk kernel --debian` knows: cloud-amd64 (cloud and virtual
// hardware only: no ahci, USB storage or xhci) and amd64 (generic).
var DebianFlavours = []string{"cloud-amd64", "amd64"}

// DebianKernel is an unpacked Debian linux-image package in the cache.
type DebianKernel struct {
	Package    string // linux-image-6.1.0-57-cloud-amd64
	Version    string // the package version, 6.1.192-3
	Release    string // the kernel release, 6.1.0-57-cloud-amd64
	Root       string // where the package was unpacked (dpkg-deb -x)
	Kernel     string // Root/boot/vmlinuz-<release>
	Config     string // Root/boot/config-<release>
	ModulesDir string // Root/lib/modules/<release>
	Cached     bool   // no download: the cache had it
}

// Compiled on first use, not at start-up (every command pays for package
// initialisation).
var flavourRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`) })

// DebianOptions says which Debian kernel FetchDebian gets.
type DebianOptions struct {
	Flavour  string // see DebianFlavours; "" means cloud-amd64
	CacheDir string // "" means DefaultCacheDir()
	// Refresh asks apt for the current package even when one of the
	// flavour is cached (asking costs seconds: apt-cache reads its lists).
	Refresh  bool
	Progress Progress
}

// FetchDebian returns Debian's linux-image package of a flavour, unpacked
// in the cache: the newest cached one, else (or with Refresh) the one apt
// names, downloaded with `apt-get download` (no root, nothing installed)
// and unpacked with `dpkg-deb -x` into <cache>/debian/<package>_<version>/,
// published by renaming a finished temporary directory. When apt cannot be
// asked (offline, no apt), a cached package of the flavour is used.
func FetchDebian(ctx context.Context, o DebianOptions) (*DebianKernel, error) {
	prog, cache, flavour := o.Progress, o.CacheDir, o.Flavour
	if prog == nil {
		prog = nopProgress{}
	}
	if flavour == "" {
		flavour = "cloud-amd64"
	}
	if !flavourRE().MatchString(flavour) {
		return nil, fmt.Errorf("--flavour %q: not a Debian kernel flavour (known: %s)", flavour, strings.Join(DebianFlavours, ", "))
	}
	if cache == "" {
		var err error
		if cache, err = DefaultCacheDir(); err != nil {
			return nil, err
		}
	}
	dir := filepath.Join(cache, "debian")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%s: cannot create the Debian package cache: %w", dir, err)
	}
	if !o.Refresh {
		if k := newestCachedDebian(dir, flavour); k != nil {
			return k, nil
		}
	}
	pkg, version, aptErr := debianPackageOf(ctx, flavour)
	if aptErr != nil {
		if k := newestCachedDebian(dir, flavour); k != nil {
			prog.Phase("apt unavailable (" + aptErr.Error() + "): using the cached " + k.Package + " " + k.Version)
			return k, nil
		}
		return nil, aptErr
	}
	key := pkg + "_" + strings.ReplaceAll(version, ":", "%3a")
	dest := filepath.Join(dir, key)
	if k, err := debianKernelAt(dest, pkg, version); err == nil {
		k.Cached = true
		return k, nil
	}
	unlock, err := lockFile(ctx, dest+".lock", prog)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if k, err := debianKernelAt(dest, pkg, version); err == nil { // fetched while we waited
		k.Cached = true
		return k, nil
	}
	tmp, err := os.MkdirTemp(dir, "."+key+"-")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	defer os.RemoveAll(tmp)
	prog.Phase("apt-get download " + pkg + "=" + version)
	cmd := exec.CommandContext(ctx, "apt-get", "download", pkg+"="+version)
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("apt-get download %s=%s: %w: %s (check the network and `apt-get update`)", pkg, version, err, lastLines(out, 3))
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(debs) != 1 {
		return nil, fmt.Errorf("apt-get download %s=%s left %d .deb files in %s, want 1", pkg, version, len(debs), tmp)
	}
	prog.Phase("dpkg-deb -x " + filepath.Base(debs[0]))
	root := filepath.Join(tmp, "root")
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", debs[0], root).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("dpkg-deb -x %s: %w: %s", debs[0], err, lastLines(out, 3))
	}
	if _, err := debianKernelAt(root, pkg, version); err != nil {
		return nil, fmt.Errorf("%s: %w", debs[0], err)
	}
	if err := os.Rename(root, dest); err != nil {
		return nil, fmt.Errorf("%s: %w", dest, err)
	}
	return debianKernelAt(dest, pkg, version)
}

// debianPackageOf asks apt which package the flavour's metapackage
// (linux-image-<flavour>) depends on, and its candidate version.
func debianPackageOf(ctx context.Context, flavour string) (pkg, version string, err error) {
	meta := "linux-image-" + flavour
	if _, err := exec.LookPath("apt-cache"); err != nil {
		return "", "", errors.New("apt-cache not found: --debian needs Debian's or Ubuntu's apt (elsewhere, unpack a linux-image package and give --kernel and --modules)")
	}
	out, err := exec.CommandContext(ctx, "apt-cache", "depends", meta).Output()
	if err != nil {
		return "", "", fmt.Errorf("apt-cache depends %s: %w (is it in the apt sources? run `apt-get update`)", meta, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-") && strings.HasSuffix(f[1], "-"+flavour) {
			pkg = f[1]
			break
		}
	}
	if pkg == "" {
		return "", "", fmt.Errorf("apt-cache depends %s names no linux-image-*-%s package (known flavours: %s)", meta, flavour, strings.Join(DebianFlavours, ", "))
	}
	out, err = exec.CommandContext(ctx, "apt-cache", "show", "--no-all-versions", pkg).Output()
	if err != nil {
		return "", "", fmt.Errorf("apt-cache show %s: %w", pkg, err)
	}
	sc = bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Version: "); ok {
			return pkg, strings.TrimSpace(v), nil
		}
	}
	return "", "", fmt.Errorf("apt-cache show %s: no Version field", pkg)
}

// debianKernelAt describes an unpacked package at root, checking that it
// holds a kernel and its modules.
func debianKernelAt(root, pkg, version string) (*DebianKernel, error) {
	release := strings.TrimPrefix(pkg, "linux-image-")
	k := &DebianKernel{Package: pkg, Version: version, Release: release, Root: root,
		Kernel:     filepath.Join(root, "boot", "vmlinuz-"+release),
		Config:     filepath.Join(root, "boot", "config-"+release),
		ModulesDir: filepath.Join(root, "lib", "modules", release)}
	if _, err := os.Stat(k.Kernel); err != nil {
		return nil, fmt.Errorf("no boot/vmlinuz-%s in the package", release)
	}
	if st, err := os.Stat(k.ModulesDir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("no lib/modules/%s in the package", release)
	}
	return k, nil
}

// newestCachedDebian returns the cached package of flavour with the
// highest version, or nil. Names are <package>_<version>, where the
// package is linux-image-<upstream>-<abi>-<flavour>: the flavour must
// follow the ABI number exactly, so "amd64" does not match "cloud-amd64".
func newestCachedDebian(dir, flavour string) *DebianKernel {
	re := regexp.MustCompile(`^(linux-image-[0-9]+\.[0-9]+\.[0-9]+-[0-9]+-` + regexp.QuoteMeta(flavour) + `)_(.+)$`)
	ents, _ := os.ReadDir(dir)
	var found []*DebianKernel
	for _, e := range ents {
		m := re.FindStringSubmatch(e.Name())
		if m == nil || !e.IsDir() {
			continue
		}
		if k, err := debianKernelAt(filepath.Join(dir, e.Name()), m[1], strings.ReplaceAll(m[2], "%3a", ":")); err == nil {
			k.Cached = true
			found = append(found, k)
		}
	}
	if len(found) == 0 {
		return nil
	}
	sort.Slice(found, func(i, j int) bool {
		if found[i].Release != found[j].Release {
			return versionLess(found[i].Release, found[j].Release)
		}
		return versionLess(found[i].Version, found[j].Version)
	})
	return found[len(found)-1]
}
