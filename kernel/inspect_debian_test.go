package kernel

import (
	"context"
	"os"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
)

func debianKernelFile(tb testing.TB, flavour string) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("-short: no Debian kernel download")
	}
	testutil.RequireTool(tb, "apt-get", "apt")
	testutil.RequireTool(tb, "dpkg-deb", "dpkg")
	k, err := FetchDebian(context.Background(), DebianOptions{Flavour: flavour})
	if err != nil {
		tb.Fatal(err)
	}
	return k.Kernel
}

// BenchmarkInspectDebian decompresses Debian's kernels: cloud-amd64 is
// lz4, the generic amd64 xz.
func BenchmarkInspectDebian(b *testing.B) {
	for _, flavour := range []string{"cloud-amd64", "amd64"} {
		b.Run(flavour, func(b *testing.B) {
			path := debianKernelFile(b, flavour)
			b.ReportAllocs()
			for b.Loop() {
				info, err := InspectFile(path)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(len(info.Vmlinux())), "vmlinux-bytes")
				if info.DecompressError != "" {
					b.ReportMetric(1, "decompress-errors")
				}
			}
		})
	}
}

// BenchmarkInspectConfigDebian streams Debian's kernels for an embedded
// config (they have none, so the whole payload is decoded) without
// keeping the decompressed kernel.
func BenchmarkInspectConfigDebian(b *testing.B) {
	for _, flavour := range []string{"cloud-amd64", "amd64"} {
		b.Run(flavour, func(b *testing.B) {
			path := debianKernelFile(b, flavour)
			b.ReportAllocs()
			for b.Loop() {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				st, _ := f.Stat()
				if _, err := InspectConfig(f, st.Size()); err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
		})
	}
}
