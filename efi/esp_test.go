package efi

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/rootfs/fat"
)

// TestESPSizes: images at the sizes the issue names, images whose ESP is
// exactly one of go-diskfs' short-FAT sizes (64, 129, 194, 259 MiB), and
// the default size for a 15 MB UKI, each with the largest of a 15 MB and a
// 2.3 MB payload that fits: fsck.fat -n finds nothing, it sees the FAT type
// we chose, the cluster count decides that type as the FAT spec does
// (FAT32 from 65,525 clusters), and mtools reads the payload back.
func TestESPSizes(t *testing.T) {
	fsck := testutil.RequireTool(t, "fsck.fat", "dosfstools")
	mcopy := testutil.RequireTool(t, "mcopy", "mtools")
	big, small := blob(t, 15_000_000), blob(t, 2_300_001)
	const mib = 1 << 20
	sizes := []int64{16 * mib, 32 * mib, 33 * mib, 64 * mib, 129 * mib, 194 * mib, 259 * mib}
	for _, esp := range []int64{64, 129, 194, 259} {
		sizes = append(sizes, (esp+2)*mib) // 1 MiB before the ESP, 1 MiB for the GPT's tail
	}
	defaultFor15MB := DefaultUKIImageSize(15_000_000)
	sizes = append(sizes, defaultFor15MB)
	clustersRe := regexp.MustCompile(`(\d+) data clusters`)
	for _, size := range sizes {
		l := mustPlan(t, size)
		// The 15 MB payload where it matters (the default size, a FAT16, a
		// short-FAT size); go-diskfs writes it slowly in 512-byte clusters.
		payload := small
		if !testing.Short() && (size == defaultFor15MB || size == 32*mib || size == 66*mib) {
			payload = big
		}
		img := filepath.Join(t.TempDir(), "efi.img")
		ii, err := writeImage(img, false, payload, l, testEpoch)
		if err != nil {
			t.Errorf("%s: %v", humanSize(size), err)
			continue
		}
		esp := extractPartition(t, img, ii.Layout)
		out, err := exec.Command(fsck, "-n", "-v", esp).CombinedOutput()
		if err != nil {
			t.Errorf("%s (%s, ESP %s): fsck.fat -n: %v\n%s", humanSize(size), ii.FAT, humanSize(int64(ii.End-ii.Start+1)*512), err, out)
			continue
		}
		if !strings.Contains(string(out), fatEntries(ii.FAT)) {
			t.Errorf("%s: fsck.fat does not see %s:\n%s", humanSize(size), ii.FAT, out)
		}
		m := clustersRe.FindSubmatch(out)
		if m == nil {
			t.Fatalf("fsck.fat -v names no cluster count:\n%s", out)
		}
		n, _ := strconv.Atoi(string(m[1]))
		if (n >= fat.MinFAT32Clusters) != (ii.FAT == FAT32) || uint32(n) != ii.Clusters {
			t.Errorf("%s: fsck.fat counts %d clusters, we planned %d as %s", humanSize(size), n, ii.Clusters, ii.FAT)
		}
		got := filepath.Join(t.TempDir(), "BOOTX64.EFI")
		if out, err := exec.Command(mcopy, "-n", "-i", img+"@@1M", "::/EFI/BOOT/BOOTX64.EFI", got).CombinedOutput(); err != nil {
			t.Fatalf("mcopy: %v\n%s", err, out)
		}
		want, _ := os.ReadFile(payload)
		if b, _ := os.ReadFile(got); !bytes.Equal(b, want) {
			t.Errorf("%s: BOOTX64.EFI read back differs", humanSize(size))
		}
		t.Logf("%8s: ESP %8s %s, %6d clusters of %4d bytes, payload %d", humanSize(size), humanSize(int64(ii.End-ii.Start+1)*512), ii.FAT, n, ii.ClusterBytes, ii.EFISize)
	}
	if defaultFor15MB < 30_000_000+16<<20 && defaultFor15MB != DefaultImageSize {
		t.Errorf("default size %d leaves no room for a second 15 MB UKI", defaultFor15MB)
	}
}
