package disk

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
)

func TestParseSize(t *testing.T) {
	good := map[string]int64{"12M": 12 << 20, "8MiB": 8 << 20, "1G": 1 << 30, "16384s": 16384 * 512, "4096": 4096, "64k": 64 << 10, "2T": 2 << 40}
	for in, want := range good {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "M", "12X", "-5M", "99999999999999999999", "9999999999T"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
}

// The numbers of the 2007 recipe: an 8 MiB image partitioned by fdisk on
// cylinder boundaries gives partition 63..16064, 8001 blocks in fdisk's
// listing, 8000 for mke2fs, while mke2fs without a count takes 8160.
func TestRecipe2007Numbers(t *testing.T) {
	l, err := PlanLayout(LayoutOptions{DiskBytes: 8 << 20, CylinderAlign: true})
	if err != nil {
		t.Fatal(err)
	}
	p := l.Partition
	check := func(name string, got, want uint64) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	check("start", p.Start, 63)
	check("end", p.End(), 16064)
	check("sectors", p.Sectors, 16002)
	check("KiB", l.PartitionKiB(), 8001)
	check("aligned", l.AlignedBlocks(), 8000)
	check("naive", l.NaiveBlocks(), 8160)
	check("overrun", l.Overrun(), 159)
	check("offset", uint64(l.OffsetBytes()), 32256)
	check("gap", l.GapSectors(), 62)
	if !p.Bootable || p.Type != 0x83 {
		t.Errorf("partition %+v", p)
	}
}

// The layout's numbers agree with the tools the recipe uses: sfdisk says
// how many sectors a partition from sector 63 (or 2048) gets, mke2fs how many
// blocks it makes in the partition (AlignedBlocks) and in everything from
// the partition offset to the image end (NaiveBlocks, whose excess is the
// Overrun).
func TestStarts63And2048(t *testing.T) {
	sfdisk := testutil.RequireTool(t, "sfdisk", "fdisk")
	mke2fs := testutil.RequireTool(t, "mke2fs", "e2fsprogs")
	blocksRE := regexp.MustCompile(`Creating filesystem with (\d+) (\d)k blocks`)
	mke2fsBlocks := func(t *testing.T, bytes int64, bs int) uint64 {
		f := filepath.Join(t.TempDir(), "fs.img")
		testutil.Run(t, "truncate", "-s", strconv.FormatInt(bytes, 10), f)
		out := testutil.Run(t, mke2fs, "-F", "-n", "-t", "ext2", "-b", strconv.Itoa(bs), "-I", "128", f)
		m := blocksRE.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("mke2fs -n: no block count in\n%s", out)
		}
		n, _ := strconv.ParseUint(m[1], 10, 64)
		return n
	}
	for _, tc := range []struct {
		opt    LayoutOptions
		sfdisk string // the same partition described to sfdisk
	}{
		{LayoutOptions{DiskBytes: 12 << 20}, "start=63"},
		{LayoutOptions{DiskBytes: 12 << 20, Align1MiB: true}, "start=2048"},
		{LayoutOptions{DiskBytes: 64 << 20, Align1MiB: true, PartBytes: 32 << 20}, "start=2048, size=32M"},
		{LayoutOptions{DiskBytes: 64 << 20, BlockSize: 4096}, "start=63"},
	} {
		t.Run(tc.sfdisk, func(t *testing.T) {
			l, err := PlanLayout(tc.opt)
			if err != nil {
				t.Fatalf("%+v: %v", tc.opt, err)
			}
			img := filepath.Join(t.TempDir(), "disk.img")
			testutil.Run(t, "truncate", "-s", strconv.FormatInt(tc.opt.DiskBytes, 10), img)
			testutil.RunStdin(t, tc.sfdisk+", type=83\n", sfdisk, "-q", "--no-reread", "--no-tell-kernel", img)
			m := regexp.MustCompile(`start=\s*(\d+), size=\s*(\d+)`).FindStringSubmatch(testutil.Run(t, sfdisk, "-d", img))
			start, _ := strconv.ParseUint(m[1], 10, 64)
			sectors, _ := strconv.ParseUint(m[2], 10, 64)
			if l.Partition.Start != start || l.Partition.Sectors != sectors {
				t.Errorf("partition %d+%d, sfdisk made %d+%d", l.Partition.Start, l.Partition.Sectors, start, sectors)
			}
			if want := mke2fsBlocks(t, l.PartitionBytes(), l.BlockSize); l.AlignedBlocks() != want {
				t.Errorf("AlignedBlocks %d, mke2fs makes %d in the partition", l.AlignedBlocks(), want)
			}
			naive := mke2fsBlocks(t, l.DiskBytes()-l.OffsetBytes(), l.BlockSize)
			if l.NaiveBlocks() != naive {
				t.Errorf("NaiveBlocks %d, mke2fs makes %d from the offset to the image end", l.NaiveBlocks(), naive)
			}
			if room := uint64(sectors) * 512 / uint64(l.BlockSize); l.Overrun() != max(naive, room)-room {
				t.Errorf("Overrun %d, mke2fs's naive filesystem has %d blocks for %d blocks of partition", l.Overrun(), naive, room)
			}
		})
	}
}

func TestLayoutErrors(t *testing.T) {
	for _, tc := range []struct {
		opt  LayoutOptions
		want string
	}{
		{LayoutOptions{DiskBytes: 4 << 20, CylinderAlign: true}, "no whole cylinder"},
		{LayoutOptions{DiskBytes: 1000}, "512-byte sectors"},
		{LayoutOptions{DiskBytes: 1 << 20, Align1MiB: true}, "beyond"},
		{LayoutOptions{DiskBytes: 8 << 20, PartBytes: 8 << 20}, "ends past"},
		{LayoutOptions{DiskBytes: 8 << 20, Start: 63, Align1MiB: true}, "not both"},
		{LayoutOptions{DiskBytes: 8 << 20, BlockSize: 512}, "block size"},
		{LayoutOptions{DiskBytes: 8 << 20, Geometry: Geometry{Heads: 256, SectorsPerTrack: 63}}, "heads"},
		{LayoutOptions{DiskBytes: 4 << 40}, "2 TiB"},
	} {
		_, err := PlanLayout(tc.opt)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want %q", tc.opt, err, tc.want)
		}
	}
}

func TestCHS(t *testing.T) {
	g := DefaultGeometry
	for _, tc := range []struct {
		lba  uint64
		want CHS
	}{
		{0, CHS{0, 0, 1}},
		{63, CHS{0, 1, 1}},
		{16064, CHS{0, 254, 63}},
		{16065, CHS{1, 0, 1}},
		{1024*16065 - 1, CHS{1023, 254, 63}}, // last addressable sector
		{1024 * 16065, CHS{1023, 254, 63}},   // beyond: the conventional fill
		{1 << 31, CHS{1023, 254, 63}},
	} {
		got := g.CHS(tc.lba)
		if got != tc.want {
			t.Errorf("CHS(%d) = %v, want %v", tc.lba, got, tc.want)
		}
		if back := DecodeCHS(got.Bytes()); back != got {
			t.Errorf("CHS round trip %v -> %v", got, back)
		}
	}
	// Cylinder 1023 puts both high bits into the sector byte: 0xFF = 0xC0 | 63.
	if b := (CHS{1023, 254, 63}).Bytes(); b != [3]byte{254, 0xFF, 0xFF} {
		t.Errorf("bytes of 1023/254/63 = % x", b)
	}
	if b := (CHS{512, 1, 1}).Bytes(); b != [3]byte{1, 0x81, 0x00} {
		t.Errorf("bytes of 512/1/1 = % x", b)
	}
	small := Geometry{Heads: 16, SectorsPerTrack: 63}
	if got := small.CHS(1024 * 16 * 63); got != (CHS{1023, 15, 63}) {
		t.Errorf("16/63 fill = %v", got)
	}
}

func TestMBRSectorKeepsBootCode(t *testing.T) {
	l, _ := PlanLayout(LayoutOptions{DiskBytes: 8 << 20})
	old := make([]byte, 512)
	for i := range old {
		old[i] = byte(i * 7)
	}
	sec, err := MBRSector(old, l, 0x12345678)
	if err != nil {
		t.Fatal(err)
	}
	if string(sec[:BootCodeSize]) != string(old[:BootCodeSize]) {
		t.Fatal("boot code changed")
	}
	m, _ := ParseMBR(sec)
	e := m.Entries[0]
	if !m.HasSignature || m.DiskID != 0x12345678 || e.Status != 0x80 || e.Type != 0x83 || e.StartLBA != 63 || e.Sectors != uint32(16384-63) {
		t.Fatalf("parsed %+v", m)
	}
	for i := 1; i < 4; i++ {
		if m.Entries[i].Used() || m.Entries[i] != (Entry{}) {
			t.Fatalf("entry %d not cleared: %+v", i+1, m.Entries[i])
		}
	}
	if DecodeCHS(e.StartCHS) != (CHS{0, 1, 1}) {
		t.Fatalf("start CHS %v", DecodeCHS(e.StartCHS))
	}
}
