package disk_test

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/internal/testutil"
)

// tiles checks that the fields of a layout struct, in declaration order,
// cover bytes 0..end-1 with no overlap and no gap but the reserved bytes
// (offset: length) the spec leaves unnamed.
func tiles(t *testing.T, name string, layout any, end int, reserved map[int]int) {
	t.Helper()
	v := reflect.ValueOf(layout)
	next := 0
	for i := range v.NumField() {
		f := v.Field(i).Interface().(disk.Field)
		next += reserved[next]
		if f.Offset != next || f.Size <= 0 {
			t.Errorf("%s.%s at %d (%d bytes), want it at %d", name, v.Type().Field(i).Name, f.Offset, f.Size, next)
		}
		next = f.Offset + f.Size
	}
	if next != end {
		t.Errorf("%s ends at byte %d, want %d", name, next, end)
	}
}

// The exported GPT layouts tile the spec's 92-byte header and 128-byte
// entry, and each field holds what go-diskfs (the independent referee
// writer) wrote there for a known table: so explain shows the bytes readGPT
// and WriteGPT mean.
func TestGPTLayoutMatchesTheirWriter(t *testing.T) {
	h, e := disk.GPTHeaderLayout, disk.GPTEntryLayout
	tiles(t, "GPTHeaderLayout", h, 92, map[int]int{20: 4}) // Reserved, must be zero
	tiles(t, "GPTEntryLayout", e, 128, nil)

	const size = 64 << 20
	sectors := uint64(size / disk.SectorSize)
	g := sampleGPT(t, sectors)
	img := newMemImage(size)
	if err := goDiskfsWrite(t, img, g); err != nil {
		t.Fatal(err)
	}
	hdr := make([]byte, disk.SectorSize)
	if _, err := img.ReadAt(hdr, disk.SectorSize); err != nil {
		t.Fatal(err)
	}
	at := func(b []byte, f disk.Field) []byte { return b[f.Offset : f.Offset+f.Size] }
	u := func(b []byte, f disk.Field) uint64 {
		switch f.Size {
		case 4:
			return uint64(binary.LittleEndian.Uint32(at(b, f)))
		case 8:
			return binary.LittleEndian.Uint64(at(b, f))
		}
		t.Fatalf("field of %d bytes read as a number", f.Size)
		return 0
	}
	first, last, _ := disk.GPTUsable(sectors)
	for name, c := range map[string]struct{ got, want uint64 }{
		"Revision":                 {u(hdr, h.Revision), 0x00010000},
		"HeaderSize":               {u(hdr, h.HeaderSize), 92},
		"MyLBA":                    {u(hdr, h.MyLBA), 1},
		"AlternateLBA":             {u(hdr, h.AlternateLBA), sectors - 1},
		"FirstUsableLBA":           {u(hdr, h.FirstUsableLBA), first},
		"LastUsableLBA":            {u(hdr, h.LastUsableLBA), last},
		"PartitionEntryLBA":        {u(hdr, h.PartitionEntryLBA), 2},
		"NumberOfPartitionEntries": {u(hdr, h.NumberOfPartitionEntries), 128},
		"SizeOfPartitionEntry":     {u(hdr, h.SizeOfPartitionEntry), 128},
	} {
		if c.got != c.want {
			t.Errorf("header %s = %d, want %d", name, c.got, c.want)
		}
	}
	if s := string(at(hdr, h.Signature)); s != "EFI PART" {
		t.Errorf("header Signature = %q", s)
	}
	if !bytes.Equal(at(hdr, h.DiskGUID), g.DiskGUID[:]) {
		t.Errorf("header DiskGUID = % x, want % x", at(hdr, h.DiskGUID), g.DiskGUID)
	}
	array := make([]byte, 128*128)
	if _, err := img.ReadAt(array, 2*disk.SectorSize); err != nil {
		t.Fatal(err)
	}
	if got := u(hdr, h.PartitionEntryArrayCRC32); got != uint64(crc32.ChecksumIEEE(array)) {
		t.Errorf("header PartitionEntryArrayCRC32 = %#x, want the array's %#x", got, crc32.ChecksumIEEE(array))
	}
	crc := u(hdr, h.HeaderCRC32)
	clear(at(hdr, h.HeaderCRC32))
	if want := crc32.ChecksumIEEE(hdr[:92]); crc != uint64(want) {
		t.Errorf("header HeaderCRC32 = %#x, want %#x", crc, want)
	}

	for i, want := range g.Entries {
		b := array[i*128 : (i+1)*128]
		if !bytes.Equal(at(b, e.PartitionTypeGUID), want.Type[:]) || !bytes.Equal(at(b, e.UniquePartitionGUID), want.GUID[:]) {
			t.Errorf("entry %d: type % x, GUID % x, want %x, %x", i+1, at(b, e.PartitionTypeGUID), at(b, e.UniquePartitionGUID), want.Type, want.GUID)
		}
		if want.Type == ([16]byte{}) {
			continue
		}
		if f, l, a := u(b, e.StartingLBA), u(b, e.EndingLBA), u(b, e.Attributes); f != want.First || l != want.Last || a != want.Attributes {
			t.Errorf("entry %d: LBAs %d..%d, attributes %#x, want %d..%d, %#x", i+1, f, l, a, want.First, want.Last, want.Attributes)
		}
		name := at(b, e.PartitionName)
		units := make([]uint16, 0, len(name)/2)
		for j := 0; j < len(name); j += 2 {
			if c := binary.LittleEndian.Uint16(name[j:]); c != 0 {
				units = append(units, c)
			}
		}
		if got := string(utf16.Decode(units)); got != want.Name {
			t.Errorf("entry %d: name %q, want %q", i+1, got, want.Name)
		}
	}
}

// MBREntryLayout tiles the 16-byte entry, and sfdisk's entries (the
// referee) hold at its offsets what sfdisk was told: status, type, start,
// size, and the CHS bytes ParseMBR decodes.
func TestMBREntryLayoutMatchesSfdisk(t *testing.T) {
	l := disk.MBREntryLayout
	tiles(t, "MBREntryLayout", l, disk.EntrySize, nil)
	testutil.RequireTool(t, "sfdisk", "fdisk")
	img := filepath.Join(t.TempDir(), "mbr.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sfdisk", "-q", "--no-reread", "--no-tell-kernel", img)
	cmd.Stdin = strings.NewReader("label: dos\nstart=63, size=20000, type=83, bootable\nstart=20480, size=4096, type=c\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v: %s", err, out)
	}
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	m, err := disk.ParseMBR(b[:disk.SectorSize])
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		status, typ    byte
		start, sectors uint32
	}{{0x80, 0x83, 63, 20000}, {0, 0x0C, 20480, 4096}} {
		e := b[disk.TableOffset+i*disk.EntrySize:]
		at := func(f disk.Field) []byte { return e[f.Offset : f.Offset+f.Size] }
		if at(l.Status)[0] != want.status || at(l.Type)[0] != want.typ ||
			binary.LittleEndian.Uint32(at(l.StartLBA)) != want.start || binary.LittleEndian.Uint32(at(l.Sectors)) != want.sectors {
			t.Errorf("entry %d: status % x type % x start % x sectors % x, want %#x %#x %d %d", i+1,
				at(l.Status), at(l.Type), at(l.StartLBA), at(l.Sectors), want.status, want.typ, want.start, want.sectors)
		}
		got := m.Entries[i]
		if !bytes.Equal(at(l.StartCHS), got.StartCHS[:]) || !bytes.Equal(at(l.EndCHS), got.EndCHS[:]) {
			t.Errorf("entry %d: CHS bytes % x, % x; ParseMBR read % x, % x", i+1, at(l.StartCHS), at(l.EndCHS), got.StartCHS, got.EndCHS)
		}
		if got.Status != want.status || got.Type != want.typ || got.StartLBA != want.start || got.Sectors != want.sectors {
			t.Errorf("entry %d: ParseMBR read %+v", i+1, got)
		}
	}
}
