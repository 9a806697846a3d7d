package disk

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
)

// partitionImage runs the same two steps as `minidisk image create` and
// `minidisk part`, with bootCode pre-written into bytes 0..439.
func partitionImage(t *testing.T, opt LayoutOptions, bootCode []byte) (string, *Layout) {
	t.Helper()
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := CreateImage(img, opt.DiskBytes, false); err != nil {
		t.Fatal(err)
	}
	l, err := PlanLayout(opt)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if bootCode != nil {
		f.WriteAt(bootCode, 0)
	}
	if _, err := WritePartitionTable(f, l, 0); err != nil {
		t.Fatal(err)
	}
	return img, l
}

// sfdisk -d is the referee for LBA facts; its dump lines look like
// "disk.img1 : start=          63, size=       16002, type=83, bootable".
func TestSfdiskAgrees(t *testing.T) {
	sfdisk := testutil.RequireTool(t, "sfdisk", "fdisk")
	fdisk := testutil.RequireTool(t, "fdisk", "fdisk")
	line := regexp.MustCompile(`start=\s*(\d+), size=\s*(\d+), type=(\w+)(, bootable)?`)
	for _, opt := range []LayoutOptions{
		{DiskBytes: 8 << 20, CylinderAlign: true},
		{DiskBytes: 12 << 20},
		{DiskBytes: 12 << 20, Align1MiB: true},
		{DiskBytes: 64 << 20, Align1MiB: true, PartBytes: 40 << 20},
		{DiskBytes: 1 << 30, NoBootFlag: true},
		{DiskBytes: 10 << 30, CylinderAlign: true}, // past cylinder 1023: CHS fill
	} {
		t.Run(fmt.Sprintf("%s-%+v", FormatSize(opt.DiskBytes), opt.Align1MiB), func(t *testing.T) {
			boot := bytes.Repeat([]byte{0xEB, 0x63, 0x90}, 150)[:BootCodeSize]
			img, l := partitionImage(t, opt, boot)
			dump := testutil.Run(t, sfdisk, "-d", img)
			m := line.FindStringSubmatch(dump)
			if m == nil {
				t.Fatalf("no partition in sfdisk -d:\n%s", dump)
			}
			want := []string{fmt.Sprint(l.Partition.Start), fmt.Sprint(l.Partition.Sectors), "83"}
			if m[1] != want[0] || m[2] != want[1] || m[3] != want[2] || (m[4] != "") != l.Partition.Bootable {
				t.Fatalf("sfdisk says start=%s size=%s type=%s boot=%q; planned %v bootable=%v", m[1], m[2], m[3], m[4], want, l.Partition.Bootable)
			}
			if c := strings.Count(dump, "start="); c != 1 {
				t.Fatalf("sfdisk sees %d partitions", c)
			}
			if !strings.Contains(dump, fmt.Sprintf("label-id: 0x%08x", DefaultDiskID(l))) {
				t.Fatalf("disk id missing in:\n%s", dump)
			}
			out, err := exec.Command(sfdisk, "--verify", img).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "No errors detected") {
				t.Fatalf("sfdisk --verify: %v\n%s", err, out)
			}
			// fdisk -l agrees on the CHS-free facts (start, end, sectors).
			fl := testutil.Run(t, fdisk, "-l", img)
			wantRow := fmt.Sprintf("%d %d %d", l.Partition.Start, l.Partition.End(), l.Partition.Sectors)
			if !strings.Contains(strings.Join(strings.Fields(fl), " "), wantRow) {
				t.Fatalf("fdisk -l has no row with %q:\n%s", wantRow, fl)
			}
			got := readHead(t, img, 4096)
			if !bytes.Equal(got[:BootCodeSize], boot) {
				t.Fatal("bytes 0..439 changed by part")
			}
			if bytes.Count(got[SectorSize:], []byte{0}) != len(got)-SectorSize || hasDataAfter(t, img, 4096) {
				t.Fatal("part wrote outside sector 0")
			}
			// CHS fields: fdisk/sfdisk compute them the same way; compare
			// our bytes with the geometry's encoding of the LBAs.
			mb, _ := ParseMBR(got)
			e := mb.Entries[0]
			if DecodeCHS(e.StartCHS) != l.Geometry.CHS(uint64(e.StartLBA)) || DecodeCHS(e.EndCHS) != l.Geometry.CHS(uint64(e.StartLBA+e.Sectors-1)) {
				t.Fatalf("CHS %v..%v", DecodeCHS(e.StartCHS), DecodeCHS(e.EndCHS))
			}
		})
	}
}

// sfdisk writes CHS fields too: for a layout below cylinder 1023 ours must
// be the same bytes as sfdisk's for the same start and size.
func TestCHSBytesMatchSfdisk(t *testing.T) {
	sfdisk := testutil.RequireTool(t, "sfdisk", "fdisk")
	for _, opt := range []LayoutOptions{{DiskBytes: 8 << 20, CylinderAlign: true}, {DiskBytes: 100 << 20, Align1MiB: true}, {DiskBytes: 9 << 30}} {
		ours, l := partitionImage(t, opt, nil)
		theirs := filepath.Join(t.TempDir(), "sfdisk.img")
		if err := CreateImage(theirs, opt.DiskBytes, false); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(sfdisk, "-q", theirs)
		cmd.Stdin = strings.NewReader(fmt.Sprintf("start=%d, size=%d, type=83, bootable\n", l.Partition.Start, l.Partition.Sectors))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sfdisk: %v\n%s", err, out)
		}
		a, b := readHead(t, ours, SectorSize), readHead(t, theirs, SectorSize)
		if !bytes.Equal(a[TableOffset:TableOffset+EntrySize], b[TableOffset:TableOffset+EntrySize]) {
			t.Errorf("%s: entry\n ours   % x\n sfdisk % x", FormatSize(opt.DiskBytes), a[TableOffset:TableOffset+16], b[TableOffset:TableOffset+16])
		}
	}
}

func TestPartKeepsExistingDiskID(t *testing.T) {
	img, l := partitionImage(t, LayoutOptions{DiskBytes: 8 << 20}, nil)
	f, _ := os.OpenFile(img, os.O_RDWR, 0)
	defer f.Close()
	if _, err := WritePartitionTable(f, l, 0xCAFE0001); err != nil {
		t.Fatal(err)
	}
	got, err := WritePartitionTable(f, l, 0)
	if err != nil || got != 0xCAFE0001 {
		t.Fatalf("disk id %x, %v", got, err)
	}
	rl, err := ReadLayout(f, 8<<20, 1024, nil)
	if err != nil || rl.Partition != l.Partition {
		t.Fatalf("ReadLayout %+v %v", rl, err)
	}
}

func readHead(t *testing.T, path string, n int) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return b
}

// hasDataAfter asks the filesystem (lseek SEEK_DATA) whether any data
// extent of the sparse image starts at or after off, without reading it.
func hasDataAfter(t *testing.T, path string, off int64) bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const seekData = 3
	_, err = f.Seek(off, seekData)
	return err == nil
}
