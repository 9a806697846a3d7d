package disk_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/internal/testutil"
)

// memImage is a sparse in-memory disk: sectors never written read as zeros,
// so tables for terabyte disks cost a few sectors. It is a go-diskfs
// backend.WritableFile too, so both writers write into the same kind of
// image.
type memImage struct {
	size    int64
	sectors map[int64][]byte
}

func newMemImage(size int64) *memImage { return &memImage{size: size, sectors: map[int64][]byte{}} }

func (m *memImage) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > m.size {
		return 0, errors.New("write past the end of the image")
	}
	for n := 0; n < len(p); {
		lba, in := (off+int64(n))/disk.SectorSize, (off+int64(n))%disk.SectorSize
		s, ok := m.sectors[lba]
		if !ok {
			s = make([]byte, disk.SectorSize)
			m.sectors[lba] = s
		}
		n += copy(s[in:], p[n:])
	}
	return len(p), nil
}

func (m *memImage) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= m.size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), m.size)
	for i := off; i < end; {
		lba, in := i/disk.SectorSize, i%disk.SectorSize
		n := min(end-i, disk.SectorSize-in)
		dst := p[i-off : i-off+n]
		if s, ok := m.sectors[lba]; ok {
			copy(dst, s[in:])
		} else {
			clear(dst)
		}
		i += n
	}
	if end-off < int64(len(p)) {
		return int(end - off), io.EOF
	}
	return len(p), nil
}

func (m *memImage) Read([]byte) (int, error)                { return 0, errors.New("memImage: use ReadAt") }
func (m *memImage) Seek(int64, int) (int64, error)          { return 0, errors.New("memImage: not seekable") }
func (m *memImage) Close() error                            { return nil }
func (m *memImage) Stat() (fs.FileInfo, error)              { return nil, errors.New("memImage: no Stat") }
func (m *memImage) equal(o *memImage) (bool, int64, string) { return diffSectors(m, o) }

// diffSectors compares two sparse images sector by sector (a missing
// sector equals a zero one) and names the first difference.
func diffSectors(a, b *memImage) (bool, int64, string) {
	if a.size != b.size {
		return false, -1, "sizes differ"
	}
	zero := make([]byte, disk.SectorSize)
	keys := slices.Sorted(maps.Keys(a.sectors))
	keys = slices.Compact(slices.Sorted(slices.Values(append(keys, slices.Collect(maps.Keys(b.sectors))...))))
	for _, k := range keys {
		x, y := a.sectors[k], b.sectors[k]
		if x == nil {
			x = zero
		}
		if y == nil {
			y = zero
		}
		if !bytes.Equal(x, y) {
			for i := range x {
				if x[i] != y[i] {
					return false, k, "byte " + strconv.Itoa(i)
				}
			}
		}
	}
	return true, 0, ""
}

func mustGUID(t testing.TB, s string) [16]byte {
	t.Helper()
	g, err := disk.ParseGUID(s)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// goDiskfsWrite writes the same table with go-diskfs v1.9.4's gpt writer,
// the writer efi used before WriteGPT: the referee for every byte.
func goDiskfsWrite(t testing.TB, img *memImage, g disk.GPT) error {
	t.Helper()
	table := &gpt.Table{LogicalSectorSize: 512, PhysicalSectorSize: 512, ProtectiveMBR: true, GUID: disk.GUIDString(g.DiskGUID)}
	for i, e := range g.Entries {
		if e.Type == ([16]byte{}) {
			continue
		}
		table.Partitions = append(table.Partitions, &gpt.Partition{Index: i + 1, Start: e.First, End: e.Last,
			Type: gpt.Type(disk.GUIDString(e.Type)), GUID: disk.GUIDString(e.GUID), Name: e.Name, Attributes: e.Attributes})
	}
	return table.Write(img, img.size)
}

// sampleGPT is a table with an ESP, a gap, two Linux partitions (one legacy
// BIOS bootable, with a non-ASCII name) on a disk of sectors.
func sampleGPT(t testing.TB, sectors uint64) disk.GPT {
	_, last, ok := disk.GPTUsable(sectors)
	if !ok || last < 2048+3*64 {
		t.Fatalf("sampleGPT: %d sectors is too small", sectors)
	}
	return disk.GPT{
		DiskGUID: mustGUID(t, "3f2a9c1e-7b4d-4e8a-9c21-5d6e7f809a1b"),
		Entries: []disk.GPTEntry{
			{Type: disk.GUIDEFISystem, GUID: mustGUID(t, "11111111-2222-4333-8444-555555555555"), First: 34, Last: 2047, Name: "EFI System Partition"},
			{},
			{Type: disk.GUIDLinuxFilesystem, GUID: mustGUID(t, "A1B2C3D4-E5F6-4789-ABCD-EF0123456789"), First: 2048, Last: 2048 + 63, Attributes: 1 << 2, Name: "root ä€ 𝄞"},
			{Type: disk.GUIDLinuxFilesystem, GUID: mustGUID(t, "deadbeef-0000-4000-8000-00000000cafe"), First: 2048 + 64, Last: last, Attributes: 1<<63 | 1, Name: strings.Repeat("n", 36)},
		},
	}
}

// The bytes equal go-diskfs' for the same table, on disks of even and odd
// sector counts, a trailing partial sector, the smallest usable disk and a
// 2 TiB one (the last whose size fits the protective MBR's 32 bits).
func TestWriteGPTMatchesGoDiskfs(t *testing.T) {
	for _, size := range []int64{68 * 512, 1 << 20, 1<<20 + 512, 1<<20 + 3*512, 1<<20 + 100, 64 << 20, 64<<20 + 7*512, 1 << 30, 2 << 40} {
		sectors := uint64(size) / 512
		tables := map[string]disk.GPT{"empty": {DiskGUID: mustGUID(t, "00000000-0000-0000-0000-000000000001")}}
		if first, last, _ := disk.GPTUsable(sectors); last >= first {
			tables["one whole-disk"] = disk.GPT{DiskGUID: mustGUID(t, "c0ffee00-1234-4abc-8def-0123456789ab"),
				Entries: []disk.GPTEntry{{Type: disk.GUIDLinuxFilesystem, GUID: mustGUID(t, "12345678-9abc-4def-8123-456789abcdef"), First: first, Last: last}}}
		}
		if sectors > 2048+3*64+34 {
			tables["sample"] = sampleGPT(t, sectors)
		}
		for name, g := range tables {
			ours, theirs := newMemImage(size), newMemImage(size)
			if err := disk.WriteGPT(ours, size, g); err != nil {
				t.Fatalf("%d bytes, %s: %v", size, name, err)
			}
			if err := goDiskfsWrite(t, theirs, g); err != nil {
				t.Fatalf("%d bytes, %s: go-diskfs: %v", size, name, err)
			}
			if ok, lba, where := ours.equal(theirs); !ok {
				t.Errorf("%d bytes, %s: differs from go-diskfs at sector %d, %s", size, name, lba, where)
			}
			if n := len(ours.sectors); n != 1+2*33 {
				t.Errorf("%d bytes, %s: %d sectors written, want 67 (MBR, 2×(header+32))", size, name, n)
			}
		}
	}
}

// Past 2 TiB the protective entry's size saturates at 0xFFFFFFFF (UEFI 2.10
// table 5-4); go-diskfs truncates it to 32 bits, the only byte where the two
// writers differ. sgdisk accepts the result.
func TestWriteGPTBeyond2TiB(t *testing.T) {
	var size int64 = 3 << 40
	img := newMemImage(size)
	g := sampleGPT(t, uint64(size)/512)
	if err := disk.WriteGPT(img, size, g); err != nil {
		t.Fatal(err)
	}
	mbr, _ := disk.ReadMBR(img)
	if e := mbr.Entries[0]; e.Type != disk.TypeGPTProtective || e.StartLBA != 1 || e.Sectors != 0xFFFFFFFF {
		t.Errorf("protective entry %+v, want type EE from LBA 1 over 0xFFFFFFFF sectors", e)
	}
	theirs := newMemImage(size)
	if err := goDiskfsWrite(t, theirs, g); err != nil {
		t.Fatal(err)
	}
	if want := uint32(size/512 - 1); binary.LittleEndian.Uint32(theirs.sectors[0][disk.TableOffset+12:]) != want {
		t.Fatalf("go-diskfs no longer truncates the protective size; compare all bytes again")
	}
	binary.LittleEndian.PutUint32(theirs.sectors[0][disk.TableOffset+12:], 0xFFFFFFFF)
	if ok, lba, where := img.equal(theirs); !ok {
		t.Errorf("differs from go-diskfs beyond the protective size, at sector %d, %s", lba, where)
	}
	f := sparseFile(t, size, img)
	sgdiskVerify(t, f)
}

// sparseFile writes img's sectors into a sparse file of its size.
func sparseFile(t *testing.T, size int64, img *memImage) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gpt.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Skipf("the test filesystem cannot hold a sparse %d-byte file: %v", size, err)
	}
	for lba, s := range img.sectors {
		if _, err := f.WriteAt(s, lba*512); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func sgdiskVerify(t *testing.T, img string) {
	t.Helper()
	sgdisk := testutil.RequireTool(t, "sgdisk", "gdisk")
	out, err := exec.Command(sgdisk, "-v", img).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "No problems found") {
		t.Errorf("sgdisk -v: %v\n%s", err, out)
	}
}

// sgdisk -v finds no problem, sfdisk reads the same partitions, GUIDs and
// names, and ReadPartitions reads back what was written.
func TestWriteGPTOracles(t *testing.T) {
	sfdisk := testutil.RequireTool(t, "sfdisk", "fdisk")
	for _, size := range []int64{8 << 20, 8<<20 + 5*512, 64 << 20} {
		sectors := uint64(size) / 512
		g := sampleGPT(t, sectors)
		p := filepath.Join(t.TempDir(), "gpt.img")
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		if err := disk.WriteGPT(f, size, g); err != nil {
			t.Fatal(err)
		}
		f.Close()
		sgdiskVerify(t, p)

		out, err := exec.Command(sfdisk, "--json", p).Output()
		if err != nil {
			t.Fatalf("sfdisk --json: %v", err)
		}
		var dump struct {
			PartitionTable struct {
				Label, ID         string
				FirstLBA, LastLBA uint64
				Partitions        []struct {
					Node             string
					Start, Size      uint64
					Type, UUID, Name string
					Attrs            string
				}
			}
		}
		if err := json.Unmarshal(out, &dump); err != nil {
			t.Fatal(err)
		}
		pt := dump.PartitionTable
		first, last, _ := disk.GPTUsable(sectors)
		if pt.Label != "gpt" || !strings.EqualFold(pt.ID, disk.GUIDString(g.DiskGUID)) || pt.FirstLBA != first || pt.LastLBA != last {
			t.Errorf("%d bytes: sfdisk sees label %s id %s usable %d..%d; want gpt %s %d..%d", size, pt.Label, pt.ID, pt.FirstLBA, pt.LastLBA,
				disk.GUIDString(g.DiskGUID), first, last)
		}
		var want []disk.GPTEntry
		var slots []int
		for i, e := range g.Entries {
			if e.Type != ([16]byte{}) {
				want, slots = append(want, e), append(slots, i+1)
			}
		}
		if len(pt.Partitions) != len(want) {
			t.Fatalf("%d bytes: sfdisk lists %d partitions, want %d", size, len(pt.Partitions), len(want))
		}
		for i, sp := range pt.Partitions {
			e := want[i]
			if sp.Node != p+strconv.Itoa(slots[i]) || sp.Start != e.First || sp.Size != e.Last-e.First+1 || !strings.EqualFold(sp.Type, disk.GUIDString(e.Type)) ||
				!strings.EqualFold(sp.UUID, disk.GUIDString(e.GUID)) || sp.Name != e.Name {
				t.Errorf("%d bytes: sfdisk partition %+v, want slot %d %+v", size, sp, slots[i], e)
			}
			if boot := strings.Contains(sp.Attrs, "LegacyBIOSBootable"); boot != (e.Attributes&(1<<2) != 0) {
				t.Errorf("%d bytes: partition %d attrs %q, attributes %#x", size, slots[i], sp.Attrs, e.Attributes)
			}
		}

		b, _ := os.ReadFile(p)
		checkReadBack(t, bytes.NewReader(b), size, g)
	}
}

// checkReadBack reads the table with ReadPartitions and compares it with g.
func checkReadBack(t testing.TB, image io.ReaderAt, size int64, g disk.GPT) {
	t.Helper()
	tbl, err := disk.ReadPartitions(image, size)
	if err != nil {
		t.Fatalf("ReadPartitions: %v", err)
	}
	if tbl.Scheme != disk.SchemeGPT {
		t.Fatalf("ReadPartitions: scheme %q", tbl.Scheme)
	}
	var want []disk.Partition
	for i, e := range g.Entries {
		if e.Type != ([16]byte{}) {
			want = append(want, disk.Partition{Index: i + 1, Start: e.First, Sectors: e.Last - e.First + 1, TypeGUID: e.Type, Bootable: e.Attributes&(1<<2) != 0})
		}
	}
	if !slices.Equal(tbl.Partitions, want) {
		t.Fatalf("ReadPartitions: %+v, want %+v", tbl.Partitions, want)
	}
}

// Bad tables fail with their sentinel and write nothing.
func TestWriteGPTRefusals(t *testing.T) {
	const size = 8 << 20
	sectors := uint64(size / 512)
	first, last, _ := disk.GPTUsable(sectors)
	linux := func(a, b uint64, guid string) disk.GPTEntry {
		return disk.GPTEntry{Type: disk.GUIDLinuxFilesystem, GUID: mustGUID(t, guid), First: a, Last: b}
	}
	const g1, g2 = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
	for _, c := range []struct {
		name    string
		size    int64
		entries []disk.GPTEntry
		want    error
	}{
		{"over the primary array", size, []disk.GPTEntry{linux(first-1, 2047, g1)}, disk.ErrGPTOutsideUsable},
		{"over the primary header", size, []disk.GPTEntry{linux(1, 2047, g1)}, disk.ErrGPTOutsideUsable},
		{"over the backup array", size, []disk.GPTEntry{linux(2048, last+1, g1)}, disk.ErrGPTOutsideUsable},
		{"past the disk", size, []disk.GPTEntry{linux(2048, sectors+10, g1)}, disk.ErrGPTOutsideUsable},
		{"overlap", size, []disk.GPTEntry{linux(2048, 4095, g1), {}, linux(4095, 8191, g2)}, disk.ErrGPTOverlap},
		{"overlap out of order", size, []disk.GPTEntry{linux(4096, 8191, g1), linux(2048, 4096, g2)}, disk.ErrGPTOverlap},
		{"end before start", size, []disk.GPTEntry{linux(4096, 4095, g1)}, disk.ErrGPTBadEntry},
		{"same unique GUID", size, []disk.GPTEntry{linux(2048, 4095, g1), linux(4096, 8191, g1)}, disk.ErrGPTBadEntry},
		{"zero unique GUID", size, []disk.GPTEntry{{Type: disk.GUIDLinuxFilesystem, First: 2048, Last: 4095}}, disk.ErrGPTBadEntry},
		{"name of 37 UTF-16 units", size, []disk.GPTEntry{{Type: disk.GUIDLinuxFilesystem, GUID: mustGUID(t, g1), First: 2048, Last: 4095, Name: strings.Repeat("𝄞", 18) + "x"}}, disk.ErrGPTBadEntry},
		{"129 entries", size, make([]disk.GPTEntry, 129), disk.ErrGPTBadEntry},
		{"disk of 67 sectors", 67 * 512, nil, disk.ErrGPTDiskTooSmall},
		{"disk of 68 sectors less one byte", 68*512 - 1, nil, disk.ErrGPTDiskTooSmall},
		{"empty disk", 0, nil, disk.ErrGPTDiskTooSmall},
	} {
		img := newMemImage(max(c.size, 1))
		err := disk.WriteGPT(img, c.size, disk.GPT{DiskGUID: mustGUID(t, g2), Entries: c.entries})
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		if len(img.sectors) != 0 {
			t.Errorf("%s: %d sectors written on error", c.name, len(img.sectors))
		}
	}
	// The limits themselves are fine: 36 units, the whole usable area, 68 sectors.
	ok := disk.GPT{DiskGUID: mustGUID(t, g2), Entries: []disk.GPTEntry{{Type: disk.GUIDLinuxFilesystem, GUID: mustGUID(t, g1), First: first, Last: last, Name: strings.Repeat("𝄞", 18)}}}
	if err := disk.WriteGPT(newMemImage(size), size, ok); err != nil {
		t.Errorf("a table at the limits: %v", err)
	}
	if err := disk.WriteGPT(newMemImage(68*512), 68*512, disk.GPT{}); err != nil {
		t.Errorf("68 sectors: %v", err)
	}
}

func TestParseGUID(t *testing.T) {
	for text, want := range map[string][16]byte{
		"C12A7328-F81F-11D2-BA4B-00A0C93EC93B": disk.GUIDEFISystem,
		"0fc63daf-8483-4772-8e79-3d69d8477de4": disk.GUIDLinuxFilesystem,
	} {
		got, err := disk.ParseGUID(text)
		if err != nil || got != want {
			t.Errorf("ParseGUID(%s) = % x, %v; want % x", text, got, err, want)
		}
		if back := disk.GUIDString(got); back != strings.ToUpper(text) {
			t.Errorf("GUIDString(ParseGUID(%s)) = %s", text, back)
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 1000 {
		var g [16]byte
		for i := range g {
			g[i] = byte(r.Uint32())
		}
		if back, err := disk.ParseGUID(disk.GUIDString(g)); err != nil || back != g {
			t.Fatalf("% x → %s → % x, %v", g, disk.GUIDString(g), back, err)
		}
	}
	for _, bad := range []string{"", "C12A7328F81F11D2BA4B00A0C93EC93B", "{C12A7328-F81F-11D2-BA4B-00A0C93EC93B}",
		"C12A7328-F81F-11D2-BA4B-00A0C93EC93G", "C12A7328-F81F-11D2-BA4B_00A0C93EC93B", "C12A7328-F81F-11D2-BA4B-00A0C93EC93", "C12A73-28F81F-11D2-BA4B-00A0C93EC93B"} {
		if _, err := disk.ParseGUID(bad); !errors.Is(err, disk.ErrBadGUID) {
			t.Errorf("ParseGUID(%q): %v, want ErrBadGUID", bad, err)
		}
	}
}

// FuzzWriteGPT builds tables from fuzz bytes: a table WriteGPT accepts is
// what go-diskfs writes, byte for byte, and ReadPartitions reads it back;
// one it refuses gets a sentinel and leaves the image untouched.
func FuzzWriteGPT(f *testing.F) {
	entry := func(kind byte, first, length, attrs uint32, name string) []byte {
		b := []byte{kind}
		b = binary.LittleEndian.AppendUint32(b, first)
		b = binary.LittleEndian.AppendUint32(b, length)
		return append(binary.LittleEndian.AppendUint32(b, attrs), name...)
	}
	f.Add(uint32(20000), entry(1|1<<2, 2048, 2048, 0, "ESP  ")) // an ESP named "ESP"
	f.Add(uint32(131072+7), append(entry(1, 34, 2014, 0, ""), append(entry(0, 0, 0, 0, ""), entry(2|2<<2, 2048, 129024, 4, "root ä€ 𝄞")...)...))
	f.Add(uint32(68), entry(2, 34, 1, 0, ""))
	f.Add(uint32(4096), bytes.Repeat(entry(2, 40, 8, 0, ""), 5)) // overlapping
	f.Fuzz(func(t *testing.T, sectors uint32, spec []byte) {
		size := int64(sectors%(1<<22))*512 + int64(sectors>>22)%512
		img := newMemImage(max(size, 1))
		g := disk.GPT{DiskGUID: [16]byte{0xd1, byte(sectors), byte(len(spec))}}
		// 13 bytes an entry: kind (type, unique GUID, name length), first
		// LBA, length and attributes (little-endian uint32), then the name.
		for i := 0; len(spec) >= 13 && i < 130; i++ {
			kind := spec[0]
			first := uint64(binary.LittleEndian.Uint32(spec[1:]))
			length := uint64(int32(binary.LittleEndian.Uint32(spec[5:])))
			e := disk.GPTEntry{First: first, Last: first + length - 1, Attributes: uint64(binary.LittleEndian.Uint32(spec[9:]))}
			spec = spec[13:]
			switch kind % 4 {
			case 1:
				e.Type = disk.GUIDEFISystem
			case 2, 3:
				e.Type = disk.GUIDLinuxFilesystem
			}
			if kind%4 != 3 || i%2 == 0 {
				e.GUID = [16]byte{0x9a, byte(i), kind, 0x40}
			}
			if n := int(kind>>2) % 8; n > 0 && len(spec) > 0 {
				n = min(n*5, len(spec))
				e.Name, spec = string(spec[:n]), spec[n:]
			}
			g.Entries = append(g.Entries, e)
		}
		err := disk.WriteGPT(img, size, g)
		if err != nil {
			if !errors.Is(err, disk.ErrGPTDiskTooSmall) && !errors.Is(err, disk.ErrGPTOutsideUsable) && !errors.Is(err, disk.ErrGPTOverlap) && !errors.Is(err, disk.ErrGPTBadEntry) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			if len(img.sectors) != 0 {
				t.Fatalf("%v, yet %d sectors were written", err, len(img.sectors))
			}
			return
		}
		theirs := newMemImage(img.size)
		if err := goDiskfsWrite(t, theirs, g); err != nil {
			t.Fatalf("go-diskfs refuses a table WriteGPT accepted: %v", err)
		}
		if ok, lba, where := img.equal(theirs); !ok {
			t.Fatalf("differs from go-diskfs at sector %d, %s", lba, where)
		}
		checkReadBack(t, img, size, g)
	})
}

// BenchmarkWriteGPT writes the table of a 64 MiB disk into a sparse file,
// with WriteGPT and with go-diskfs (which fsyncs the file after each of its
// five writes).
func BenchmarkWriteGPT(b *testing.B) {
	const size = 64 << 20
	g := sampleGPT(b, size/512)
	for _, w := range []struct {
		name  string
		write func(f *os.File) error
	}{
		{"WriteGPT", func(f *os.File) error { return disk.WriteGPT(f, size, g) }},
		{"go-diskfs", func(f *os.File) error {
			table := &gpt.Table{LogicalSectorSize: 512, PhysicalSectorSize: 512, ProtectiveMBR: true, GUID: disk.GUIDString(g.DiskGUID)}
			for i, e := range g.Entries {
				if e.Type != ([16]byte{}) {
					table.Partitions = append(table.Partitions, &gpt.Partition{Index: i + 1, Start: e.First, End: e.Last,
						Type: gpt.Type(disk.GUIDString(e.Type)), GUID: disk.GUIDString(e.GUID), Name: e.Name, Attributes: e.Attributes})
				}
			}
			return table.Write(f, size)
		}},
	} {
		b.Run(w.name, func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "gpt.img"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(size); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if err := w.write(f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
