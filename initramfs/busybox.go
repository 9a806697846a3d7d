package initramfs

import (
	"context"
	"os"
	"path/filepath"

	"github.com/minidisk/minidisk/internal/debpkg"
)

// StaticBusyBoxPackage is Debian's static BusyBox. It conflicts with
// busybox (both own /bin/busybox), so it is fetched and unpacked into the
// cache, never installed.
const StaticBusyBoxPackage = "busybox-static"

// FetchStaticBusyBox returns Debian's static BusyBox: the one
// scripts/fetch-busybox-static.sh put at StaticBusyBoxPath, else the
// busybox-static package unpacked in the cache, fetched first (apt-get
// download + dpkg-deb -x, no root) when it is not there. This is the
// script's job done in Go, so no step is hidden in a script.
func FetchStaticBusyBox(ctx context.Context) (string, error) {
	if p := StaticBusyBoxPath(); p != "" && isRegular(p) {
		return p, nil
	}
	cache, err := debpkg.CacheDir()
	if err != nil {
		return "", err
	}
	root, err := debpkg.Fetch(ctx, cache, StaticBusyBoxPackage, nil)
	if err != nil {
		return "", err
	}
	return busyBoxIn(root)
}

// busyBoxIn finds the binary in an unpacked busybox-static: /bin (or
// /usr/bin on merged-/usr releases).
func busyBoxIn(root string) (string, error) {
	for _, p := range []string{"bin/busybox", "usr/bin/busybox"} {
		if f := filepath.Join(root, p); isRegular(f) {
			return f, checkBusyBox(f)
		}
	}
	return "", &os.PathError{Op: "find", Path: filepath.Join(root, "bin/busybox"), Err: os.ErrNotExist}
}

// cachedStaticBusyBox is the static BusyBox already in the cache, or "".
func cachedStaticBusyBox() string {
	if p := StaticBusyBoxPath(); p != "" && isRegular(p) {
		return p
	}
	cache, err := debpkg.CacheDir()
	if err != nil {
		return ""
	}
	p, err := busyBoxIn(debpkg.Root(cache, StaticBusyBoxPackage))
	if err != nil {
		return ""
	}
	return p
}

func isRegular(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// BusyBoxForInitramfs picks the BusyBox of an initramfs when none is
// given: the static one (fetched into the cache when it is not there yet),
// else the host's dynamic one, whose libraries then come along. The second
// result says which and why, for summaries.
func BusyBoxForInitramfs(ctx context.Context) (string, string) {
	p, err := FetchStaticBusyBox(ctx)
	if err == nil {
		return p, "Debian's static BusyBox (busybox-static, in the cache)"
	}
	return "/bin/busybox", "the host's /bin/busybox with its libraries (no static BusyBox: " + err.Error() + ")"
}
