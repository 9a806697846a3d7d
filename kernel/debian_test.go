package kernel

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
)

// TestCachedDebianFlavours: the generic flavour's lookup must not take the
// cloud package (both end in "amd64"), and the highest version wins.
func TestCachedDebianFlavours(t *testing.T) {
	dir := t.TempDir()
	mk := func(pkg, version string) {
		release := strings.TrimPrefix(pkg, "linux-image-")
		root := filepath.Join(dir, pkg+"_"+version)
		os.MkdirAll(filepath.Join(root, "boot"), 0o755)
		os.MkdirAll(filepath.Join(root, "lib", "modules", release), 0o755)
		os.WriteFile(filepath.Join(root, "boot", "vmlinuz-"+release), []byte("k"), 0o644)
	}
	mk("linux-image-6.1.0-57-cloud-amd64", "6.1.192-3")
	mk("linux-image-6.1.0-9-amd64", "6.1.27-1")
	mk("linux-image-6.1.0-10-amd64", "6.1.38-1")
	os.MkdirAll(filepath.Join(dir, "linux-image-6.1.0-11-amd64_6.1.40-1"), 0o755) // incomplete: no kernel
	if k := newestCachedDebian(dir, "amd64"); k == nil || k.Release != "6.1.0-10-amd64" || k.Version != "6.1.38-1" {
		t.Errorf("amd64: %+v", k)
	}
	if k := newestCachedDebian(dir, "cloud-amd64"); k == nil || k.Release != "6.1.0-57-cloud-amd64" {
		t.Errorf("cloud-amd64: %+v", k)
	}
	if k := newestCachedDebian(dir, "rt-amd64"); k != nil {
		t.Errorf("rt-amd64: %+v", k)
	}
	if _, err := FetchDebian(context.Background(), DebianOptions{Flavour: "../x", CacheDir: dir}); err == nil || !strings.Contains(err.Error(), "--flavour") {
		t.Errorf("bad flavour: %v", err)
	}
}

// TestFetchDebian downloads (once; cached afterwards) Debian's cloud
// kernel and checks the result against the package: the kernel's header
// names the release the package name says, and its modules sit beside it.
func TestFetchDebian(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no download")
	}
	testutil.RequireTool(t, "apt-get", "apt")
	testutil.RequireTool(t, "dpkg-deb", "dpkg")
	k, err := FetchDebian(context.Background(), DebianOptions{Flavour: "cloud-amd64"})
	if err != nil {
		t.Fatal(err)
	}
	info, err := InspectHeaderFile(k.Kernel)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(info.Version, k.Release+" ") {
		t.Errorf("kernel version %q, package release %s", info.Version, k.Release)
	}
	for _, p := range []string{k.Config, filepath.Join(k.ModulesDir, "modules.builtin")} {
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
	again, err := FetchDebian(context.Background(), DebianOptions{Flavour: "cloud-amd64"})
	if err != nil || !again.Cached || again.Kernel != k.Kernel {
		t.Errorf("second fetch: %+v %v", again, err)
	}
}
