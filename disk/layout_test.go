package disk

import (
	"strings"
	"testing"
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

func TestStarts63And2048(t *testing.T) {
	for _, tc := range []struct {
		opt              LayoutOptions
		start, sectors   uint64
		aligned, overrun uint64
	}{
		{LayoutOptions{DiskBytes: 12 << 20}, 63, 24576 - 63, (24576 - 63) / 2 / 4 * 4, 0},
		{LayoutOptions{DiskBytes: 12 << 20, Align1MiB: true}, 2048, 24576 - 2048, (24576 - 2048) / 2 / 4 * 4, 0},
		{LayoutOptions{DiskBytes: 64 << 20, Align1MiB: true, PartBytes: 32 << 20}, 2048, 65536, 32768, (131072-2048)/2/4*4 - 32768},
		{LayoutOptions{DiskBytes: 64 << 20, BlockSize: 4096}, 63, 131072 - 63, (131072 - 63) * 512 / 4096, 0},
	} {
		l, err := PlanLayout(tc.opt)
		if err != nil {
			t.Fatalf("%+v: %v", tc.opt, err)
		}
		if l.Partition.Start != tc.start || l.Partition.Sectors != tc.sectors || l.AlignedBlocks() != tc.aligned || l.Overrun() != tc.overrun {
			t.Errorf("%+v: got start %d sectors %d aligned %d overrun %d; want %d %d %d %d", tc.opt,
				l.Partition.Start, l.Partition.Sectors, l.AlignedBlocks(), l.Overrun(), tc.start, tc.sectors, tc.aligned, tc.overrun)
		}
		if uint64(l.AlignedBlocks())*uint64(l.BlockSize) > uint64(l.PartitionBytes()) {
			t.Errorf("aligned blocks overrun the partition")
		}
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
