package kernel_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel"
	"github.com/minidisk/minidisk/kernel/kerneltest"
)

// TestLegacyKernelInspect builds (or reuses) the legacy kernel and checks
// Inspect against two oracles: file(1) for the header's version string,
// and the kernel's own scripts/extract-vmlinux for the decompressed image.
func TestLegacyKernelInspect(t *testing.T) {
	bz := kerneltest.Legacy(t)
	fi, err := os.Stat(bz)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d bytes", bz, fi.Size())
	info, err := kernel.InspectFile(bz)
	if err != nil {
		t.Fatal(err)
	}
	if info.DecompressError != "" {
		t.Fatalf("decompress: %s", info.DecompressError)
	}
	if info.EFIStub {
		t.Error("legacy kernel reports an EFI stub (CONFIG_EFI_STUB is not in the legacy profile)")
	}
	for _, f := range []string{"ext2", "ata_piix", "ata", "devtmpfs", "serial"} {
		if ok, ev := info.Builtin(f); !ok {
			t.Errorf("Builtin(%s) = false (%s); the legacy profile builds it in", f, ev)
		}
	}
	for _, f := range []string{"ahci", "vfat", "ext4"} {
		if ok, ev := info.Builtin(f); ok {
			t.Errorf("Builtin(%s) = true (%s); the legacy profile does not have it", f, ev)
		}
	}
	if fileTool, err := exec.LookPath("file"); err == nil {
		out, _ := exec.Command(fileTool, "-b", bz).Output()
		if info.Version == "" || !strings.Contains(string(out), "version "+info.Version+",") {
			t.Errorf("Version %q; file(1) says %s", info.Version, out)
		}
	}
	if xz := testutil.RequireTool(t, "xz", "xz-utils"); xz != "" && os.Getenv("MINIDISK_TEST_KERNEL") == "" {
		srcs, _ := filepath.Glob(filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(bz))), "src", "*", "*", "scripts", "extract-vmlinux"))
		if len(srcs) == 0 {
			t.Skip("no extracted source with scripts/extract-vmlinux")
		}
		want, err := exec.Command(srcs[0], bz).Output()
		if err != nil {
			t.Fatalf("extract-vmlinux: %v", err)
		}
		got := kernel.DecompressedImage(info)
		if !bytes.Equal(got, want) {
			t.Errorf("decompressed %d bytes, extract-vmlinux %d bytes: they differ", len(got), len(want))
		}
	}
}

// BenchmarkInspectLegacy: header parse plus xz+BCJ decompression of the
// whole legacy kernel (what create and doctor pay per --kernel).
func BenchmarkInspectLegacy(b *testing.B) {
	bz := kerneltest.Legacy(b)
	for b.Loop() {
		if _, err := kernel.InspectFile(bz); err != nil {
			b.Fatal(err)
		}
	}
}
