package disk

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
)

// TestParseSizeAsTruncate: every size truncate(1) accepts means the same
// number of bytes to minidisk (truncate is the oracle: the file it makes).
func TestParseSizeAsTruncate(t *testing.T) {
	truncate := testutil.RequireTool(t, "truncate", "coreutils")
	dir := t.TempDir()
	for _, in := range []string{"8M", "8MB", "8m", "8MiB", "8k", "8K", "8KB", "8kB", "8KiB", "1G", "1GB", "1GiB", "12345", "2T", "2TB"} {
		f := filepath.Join(dir, "f")
		os.Remove(f)
		if out, err := exec.Command(truncate, "-s", in, f).CombinedOutput(); err != nil {
			t.Fatalf("truncate -s %s: %v %s", in, err, out)
		}
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseSize(in)
		if err != nil || got != fi.Size() {
			t.Errorf("ParseSize(%q) = %d, %v; truncate makes %d bytes", in, got, err, fi.Size())
		}
	}
	// What truncate refuses, minidisk refuses too (but "8b", bytes for qemu-img).
	for _, in := range []string{"8mb", "8Mb", "8X", "8.", ".", "1..5M"} {
		if exec.Command(truncate, "-s", in, filepath.Join(dir, "g")).Run() == nil {
			t.Fatalf("truncate accepts %q", in)
		}
		if n, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, n)
		}
	}
}

// Decimals as qemu-img takes them (8.5M), exact, or refused when they are
// not whole bytes.
func TestParseSizeDecimals(t *testing.T) {
	for in, want := range map[string]int64{"8.5M": 8912896, "0.5K": 512, "1.25G": 1342177280, "2.5MB": 2500000, "8.0M": 8388608, "16384s": 8388608, "8b": 8} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"0.3K", "1.5"} {
		if n, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want not-whole-bytes error", in, n)
		}
	}
	if got := DescribeSize(8000000); got != "8000000 bytes (7.6 MiB)" {
		t.Errorf("DescribeSize(8000000) = %q", got)
	}
	if got := DescribeSize(8 << 20); got != "8 MiB (8388608 bytes)" {
		t.Errorf("DescribeSize(8 MiB) = %q", got)
	}
}
