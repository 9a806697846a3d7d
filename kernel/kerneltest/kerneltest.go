// Package kerneltest gives other packages' tests a bootable kernel: the
// cached minidisk build (built on first use, shared between concurrently
// running test binaries through the cache's flock).
package kerneltest

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel"
)

// EnvKernel names a prebuilt legacy bzImage that Legacy returns instead of
// building one.
const EnvKernel = "MINIDISK_TEST_KERNEL"

// buildTimeout bounds one kernel build: a clean build takes about 5 min on 2
// cores; waiting behind another package's build adds up to that again.
const buildTimeout = 30 * time.Minute

// Legacy returns the path of a legacy-profile bzImage (ext2 root on IDE,
// serial console). It skips the test when no kernel source is installed
// (fails under CI=true).
func Legacy(t testing.TB) string {
	t.Helper()
	skipShort(t)
	if p := os.Getenv(EnvKernel); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: %v", EnvKernel, p, err)
		}
		return p
	}
	return build(t, kernel.BuildOptions{Profile: kernel.Legacy})
}

// EFI returns the path of an efi-profile bzImage (EFI stub) with initramfs
// linked in.
func EFI(t testing.TB, initramfs string) string {
	t.Helper()
	skipShort(t)
	return build(t, kernel.BuildOptions{Profile: kernel.EFI, Initramfs: initramfs})
}

// skipShort keeps kernel builds and the QEMU boots that need a kernel out
// of the fast tier (go test -short).
func skipShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: needs a kernel build and a QEMU boot")
	}
}

func build(t testing.TB, o kernel.BuildOptions) string {
	t.Helper()
	if _, err := kernel.DefaultSource(); errors.Is(err, kernel.ErrNoSource) {
		testutil.Missing(t, err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	start := time.Now()
	res, err := kernel.Build(ctx, o)
	if err != nil {
		t.Fatalf("building the %s test kernel: %v", o.Profile, err)
	}
	if !res.Cached {
		t.Logf("built %s kernel %s in %s", o.Profile, res.BzImage, time.Since(start).Round(time.Second))
	}
	return res.BzImage
}
