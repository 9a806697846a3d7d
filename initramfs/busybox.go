package initramfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// FetchStaticBusyBox puts Debian's static BusyBox at StaticBusyBoxPath and
// returns that path; when it is already there, it only returns it. The
// package busybox-static conflicts with busybox (both own /bin/busybox), so
// it is downloaded with `apt-get download` and unpacked with `dpkg-deb -x`
// into the cache, never installed; no root is needed. This is what
// scripts/fetch-busybox-static.sh does, so no step is hidden in a script.
func FetchStaticBusyBox(ctx context.Context) (string, error) {
	bin := StaticBusyBoxPath()
	if bin == "" {
		return "", errors.New("no cache directory for the static BusyBox (set HOME or XDG_CACHE_HOME)")
	}
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() {
		return bin, nil
	}
	for _, tool := range []string{"apt-get", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", fmt.Errorf("fetching Debian's busybox-static needs %s (Debian/Ubuntu); give --busybox a BusyBox binary instead", tool)
		}
	}
	dir := filepath.Dir(filepath.Dir(bin))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("%s: %v", dir, err)
	}
	tmp, err := os.MkdirTemp(dir, ".fetch-")
	if err != nil {
		return "", fmt.Errorf("%s: %v", dir, err)
	}
	defer os.RemoveAll(tmp)
	dl := exec.CommandContext(ctx, "apt-get", "download", "busybox-static")
	dl.Dir = tmp
	if out, err := dl.CombinedOutput(); err != nil {
		return "", fmt.Errorf("apt-get download busybox-static: %v: %s (give --busybox a BusyBox binary instead)", err, lastLine(out))
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "busybox-static_*.deb"))
	if len(debs) != 1 {
		return "", fmt.Errorf("apt-get download busybox-static left %d packages in %s", len(debs), tmp)
	}
	root := filepath.Join(tmp, "root")
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", debs[0], root).CombinedOutput(); err != nil {
		return "", fmt.Errorf("dpkg-deb -x %s: %v: %s", filepath.Base(debs[0]), err, lastLine(out))
	}
	// Debian's package has it in /bin (or /usr/bin on merged-/usr releases).
	src := filepath.Join(root, "bin", "busybox")
	if _, err := os.Stat(src); err != nil {
		src = filepath.Join(root, "usr", "bin", "busybox")
	}
	if err := checkBusyBox(src); err != nil {
		return "", fmt.Errorf("%s: the busybox-static package holds no usable busybox: %v", filepath.Base(debs[0]), err)
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return "", err
	}
	if err := os.Chmod(src, 0o755); err != nil {
		return "", err
	}
	// Same filesystem (both in the cache directory): the rename publishes
	// the finished file at once, so a concurrent run never sees half of it.
	if err := os.Rename(src, bin); err != nil {
		return "", fmt.Errorf("%s: %v", bin, err)
	}
	return bin, nil
}

func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
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
