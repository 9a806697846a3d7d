package testutil

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/minidisk/minidisk/internal/debpkg"
)

// DebianCloudKernel is Debian's metapackage for its cloud kernel flavour.
const DebianCloudKernel = "linux-image-cloud-amd64"

// DebianPackage returns the unpacked root of a Debian package, fetched into
// minidisk's cache through debpkg (apt-get download + dpkg-deb -x) on first
// use. It skips the test without apt (fails under CI=true).
func DebianPackage(t testing.TB, pkg string) string {
	t.Helper()
	cache, err := debpkg.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	root, err := debpkg.Fetch(ctx, cache, pkg, func(s string) { t.Log(s) })
	if err != nil {
		Missing(t, err.Error())
	}
	return root
}

// DebianKernel returns Debian's cloud-amd64 kernel (vmlinuz, an EFI-stub
// bzImage with its drivers mostly modules) and its modules directory. The
// metapackage only depends on the real, versioned package, which apt-cache
// names.
func DebianKernel(t testing.TB) (vmlinuz, modules string) {
	t.Helper()
	aptCache := RequireTool(t, "apt-cache", "apt")
	out, err := exec.Command(aptCache, "depends", DebianCloudKernel).Output()
	if err != nil {
		Missing(t, "apt-cache depends "+DebianCloudKernel+": "+err.Error())
	}
	m := regexp.MustCompile(`Depends: (linux-image-([0-9][^\s]*-cloud-amd64))\b`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("apt-cache depends %s names no linux-image-VERSION-cloud-amd64:\n%s", DebianCloudKernel, out)
	}
	root := DebianPackage(t, string(m[1]))
	version := string(m[2])
	return RequireFile(t, filepath.Join(root, "boot", "vmlinuz-"+version), "the package has no vmlinuz"),
		filepath.Join(root, "lib", "modules", version)
}

// DebianStaticBusyBox returns Debian's static BusyBox (package
// busybox-static, which conflicts with busybox and is never installed).
func DebianStaticBusyBox(t testing.TB) string {
	t.Helper()
	root := DebianPackage(t, "busybox-static")
	for _, p := range []string{"bin/busybox", "usr/bin/busybox"} {
		if IsFile(filepath.Join(root, p)) {
			return filepath.Join(root, p)
		}
	}
	t.Fatalf("%s has no bin/busybox", root)
	return ""
}

// IsFile reports whether p is a regular file.
func IsFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}
