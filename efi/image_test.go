package efi

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minidisk/minidisk/internal/testutil"
)

var testEpoch = time.Unix(1735689600, 0).UTC() // 2025-01-01

// blob writes n pseudo-random bytes (fixed seed) standing in for a kernel.
func blob(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	p := filepath.Join(t.TempDir(), "payload.efi")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustPlan(t *testing.T, size int64) Layout {
	t.Helper()
	l, err := PlanImage(size)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestImageOracles checks the GPT with sfdisk --verify and its JSON dump,
// the ESP with fsck.vfat -n, and the file with mtools, for the default size
// and the minimum size.
func TestImageOracles(t *testing.T) {
	sfdisk := testutil.RequireTool(t, "sfdisk", "fdisk")
	fsck := testutil.RequireTool(t, "fsck.vfat", "dosfstools")
	mcopy := testutil.RequireTool(t, "mcopy", "mtools")
	payload := blob(t, 2_300_001)
	want, _ := os.ReadFile(payload)
	for _, size := range []int64{DefaultImageSize, MinImageSize()} {
		img := filepath.Join(t.TempDir(), "efi.img")
		ii, err := writeImage(img, false, payload, mustPlan(t, size), testEpoch)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if fi, _ := os.Stat(img); fi.Size() != size {
			t.Fatalf("image is %d bytes, want %d", fi.Size(), size)
		}
		out, err := exec.Command(sfdisk, "--verify", img).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "No errors detected") {
			t.Errorf("sfdisk --verify: %v\n%s", err, out)
		}
		out, err = exec.Command(sfdisk, "--json", img).Output()
		if err != nil {
			t.Fatal(err)
		}
		var dump struct {
			PartitionTable struct {
				Label      string
				ID         string
				Partitions []struct {
					Start, Size int64
					Type, UUID  string
				}
			}
		}
		if err := json.Unmarshal(out, &dump); err != nil {
			t.Fatal(err)
		}
		pt := dump.PartitionTable
		if pt.Label != "gpt" || len(pt.Partitions) != 1 {
			t.Fatalf("sfdisk sees %+v", pt)
		}
		p := pt.Partitions[0]
		if p.Type != "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" || p.Start != 2048 || p.Start+p.Size-1 != int64(ii.End) {
			t.Errorf("partition %+v, want ESP type at 2048..%d", p, ii.End)
		}
		if !strings.EqualFold(p.UUID, ii.PartGUID) || !strings.EqualFold(pt.ID, ii.DiskGUID) {
			t.Errorf("GUIDs %s/%s, want %s/%s", pt.ID, p.UUID, ii.DiskGUID, ii.PartGUID)
		}
		esp := extractPartition(t, img, ii.Layout)
		out, err = exec.Command(fsck, "-n", "-v", esp).CombinedOutput()
		if err != nil {
			t.Errorf("fsck.vfat -n: %v\n%s", err, out)
		}
		if want := fatEntries(ii.FAT); !strings.Contains(string(out), want) {
			t.Errorf("fsck.vfat does not see %s (%q):\n%s", ii.FAT, want, out)
		}
		got := filepath.Join(t.TempDir(), "BOOTX64.EFI")
		if out, err := exec.Command(mcopy, "-n", "-i", img+"@@1M", "::/EFI/BOOT/BOOTX64.EFI", got).CombinedOutput(); err != nil {
			t.Fatalf("mcopy: %v\n%s", err, out)
		}
		if b, _ := os.ReadFile(got); !bytes.Equal(b, want) {
			t.Errorf("BOOTX64.EFI read back by mtools differs (%d bytes, want %d)", len(b), len(want))
		}
		// The serial is ours, in the boot sector (and its FAT32 backup).
		raw, _ := os.ReadFile(esp)
		if ii.FAT == FAT16 {
			if s1 := binary.LittleEndian.Uint32(raw[39:]); s1 != ii.Serial {
				t.Errorf("volume serial %08x, want %08x", s1, ii.Serial)
			}
		} else if s1, s2 := binary.LittleEndian.Uint32(raw[67:]), binary.LittleEndian.Uint32(raw[6*512+67:]); s1 != ii.Serial || s2 != ii.Serial {
			t.Errorf("volume serial %08x/%08x, want %08x", s1, s2, ii.Serial)
		}
	}
}

// fatEntries is how fsck.fat -v names a FAT type.
func fatEntries(f FATType) string {
	if f == FAT16 {
		return "16 bit entries"
	}
	return "32 bit entries"
}

func extractPartition(t *testing.T, img string, l Layout) string {
	t.Helper()
	raw, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "esp.fat")
	if err := os.WriteFile(p, raw[l.Start*512:(l.End+1)*512], 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestImageDeterministic(t *testing.T) {
	payload := blob(t, 1_000_003)
	var imgs [2][]byte
	for i := range imgs {
		img := filepath.Join(t.TempDir(), "efi.img")
		if _, err := writeImage(img, false, payload, mustPlan(t, DefaultImageSize), testEpoch); err != nil {
			t.Fatal(err)
		}
		imgs[i], _ = os.ReadFile(img)
		if i == 0 {
			time.Sleep(2100 * time.Millisecond) // FAT times have 2-second resolution
		}
	}
	if !bytes.Equal(imgs[0], imgs[1]) {
		for i := range imgs[0] {
			if imgs[0][i] != imgs[1][i] {
				t.Fatalf("two images of the same payload differ, first at byte %d (sector %d)", i, i/512)
			}
		}
	}
	// A different payload must give different GUIDs.
	other := blob(t, 1_000_004)
	a, _ := writeImage(filepath.Join(t.TempDir(), "a.img"), false, payload, mustPlan(t, DefaultImageSize), testEpoch)
	b, _ := writeImage(filepath.Join(t.TempDir(), "b.img"), false, other, mustPlan(t, DefaultImageSize), testEpoch)
	if a.DiskGUID == b.DiskGUID || a.PartGUID == b.PartGUID {
		t.Error("different payloads share GUIDs")
	}
}

func TestPlanImage(t *testing.T) {
	min := MinImageSize()
	if _, err := PlanImage(min); err != nil {
		t.Errorf("MinImageSize %d rejected: %v", min, err)
	}
	if _, err := PlanImage(min - 1<<20); err == nil || !strings.Contains(err.Error(), "FAT16 needs") {
		t.Errorf("one MiB below the minimum: %v", err)
	}
	if _, err := PlanImage(DefaultImageSize + 1); err == nil {
		t.Error("a size that is not whole sectors was accepted")
	}
	l := mustPlan(t, DefaultImageSize)
	if l.Start != 2048 || (l.End+1)%2048 != 0 || int64(l.End+1+33)*512 > DefaultImageSize {
		t.Errorf("layout %+v not 1 MiB aligned inside the GPT's usable area", l)
	}
}

func TestWriteImageRefusals(t *testing.T) {
	dir := t.TempDir()
	notKernel := filepath.Join(dir, "k")
	os.WriteFile(notKernel, bytes.Repeat([]byte{0}, 4096), 0o644)
	out := filepath.Join(dir, "efi.img")
	if _, err := WriteImage(out, false, notKernel, DefaultImageSize, testEpoch); err == nil {
		t.Error("a file of zeros was accepted as an EFI kernel")
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("an image was written anyway")
	}
	big := blob(t, 40<<20)
	if _, err := writeImage(out, false, big, mustPlan(t, MinImageSize()), testEpoch); err == nil || !strings.Contains(err.Error(), "does not fit") {
		t.Errorf("oversized payload: %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("an image was written anyway")
	}
}

func BenchmarkWriteImage(b *testing.B) {
	dir := b.TempDir()
	payload := filepath.Join(dir, "payload")
	os.WriteFile(payload, bytes.Repeat([]byte{0x4d, 0x5a, 1, 2}, 560_000), 0o644)
	l, err := PlanImage(DefaultImageSize)
	if err != nil {
		b.Fatal(err)
	}
	img := filepath.Join(dir, "efi.img")
	for b.Loop() {
		if _, err := writeImage(img, true, payload, l, testEpoch); err != nil {
			b.Fatal(err)
		}
	}
}
