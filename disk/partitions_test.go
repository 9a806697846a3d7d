package disk_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/rootfs/ext2"
)

// sfdiskJSON is what `sfdisk -J` prints: the referee for the partition list.
type sfdiskJSON struct {
	Table struct {
		Label      string `json:"label"`
		Partitions []struct {
			Node     string `json:"node"`
			Start    uint64 `json:"start"`
			Size     uint64 `json:"size"`
			Type     string `json:"type"`
			Bootable bool   `json:"bootable"`
			Attrs    string `json:"attrs"`
		} `json:"partitions"`
	} `json:"partitiontable"`
}

// layoutImage partitions a fresh image with sfdisk and makes an ext2 (mke2fs
// -E offset=) in the partitions numbered in fsIn.
func layoutImage(t *testing.T, sizeMiB int, script string, fsIn ...int) string {
	t.Helper()
	sfdisk := testutil.RequireTool(t, "sfdisk", "fdisk")
	mke2fs := testutil.RequireTool(t, "mke2fs", "e2fsprogs")
	img := filepath.Join(t.TempDir(), "disk.img")
	testutil.Run(t, "truncate", "-s", strconv.Itoa(sizeMiB)+"M", img)
	testutil.RunStdin(t, script, sfdisk, "-q", "--no-reread", "--no-tell-kernel", img)
	parts := sfdiskParts(t, img)
	for _, n := range fsIn {
		node := img + strconv.Itoa(n)
		var found bool
		for _, p := range parts.Table.Partitions {
			if p.Node == node {
				found = true
				blocks := p.Size * 512 / 1024
				testutil.Run(t, mke2fs, "-q", "-F", "-t", "ext2", "-b", "1024", "-I", "128",
					"-E", "offset="+strconv.FormatUint(p.Start*512, 10), img, strconv.FormatUint(blocks, 10))
			}
		}
		if !found {
			t.Fatalf("sfdisk lists no partition %d", n)
		}
	}
	return img
}

func sfdiskParts(t *testing.T, img string) sfdiskJSON {
	t.Helper()
	var j sfdiskJSON
	out := testutil.Run(t, testutil.RequireTool(t, "sfdisk", "fdisk"), "-J", img)
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatalf("sfdisk -J: %v\n%s", err, out)
	}
	return j
}

// The partition list equals sfdisk's, and FindRoot picks the partition the
// rule names, for the layouts that used to disagree between commands.
func TestFindRootRule(t *testing.T) {
	const (
		esp   = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
		linux = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
	)
	for _, c := range []struct {
		name   string
		script string
		fsIn   []int
		want   int
	}{
		{"empty 83 first, ext2 in 2", "start=2048, size=4096, type=83\nstart=6144, type=83\n", []int{2}, 2},
		{"active 83 holding ext2 wins over an earlier one", "start=2048, size=4096, type=83\nstart=6144, type=83, bootable\n", []int{1, 2}, 2},
		{"active flag on a FAT partition", "start=2048, size=4096, type=c, bootable\nstart=6144, type=83\n", []int{2}, 2},
		{"active but empty 83 loses to one holding ext2", "start=2048, size=4096, type=83, bootable\nstart=6144, type=83\n", []int{2}, 2},
		{"no filesystem anywhere: the active one", "start=2048, size=4096, type=83\nstart=6144, type=83, bootable\n", nil, 2},
		{"no filesystem anywhere: the first one", "start=2048, size=4096, type=83\nstart=6144, type=83\n", nil, 1},
		{"logical partition", "start=2048, size=4096, type=82\nstart=6144, type=5\nstart=8192, size=4096, type=83\nstart=14336, type=83\n", []int{6}, 6},
		{"logical before primary in number order", "start=2048, size=4096, type=f\nstart=6144, type=83\nstart=4096, size=1024, type=83\n", []int{2, 5}, 2},
		{"GPT", "label: gpt\nstart=2048, size=4096, type=" + esp + "\nstart=6144, size=4096, type=" + linux + "\nstart=10240, type=" + linux + "\n", []int{3}, 3},
		{"GPT legacy BIOS bootable", "label: gpt\nstart=2048, size=4096, type=" + linux + "\nstart=6144, size=4096, type=" + linux + ", attrs=\"LegacyBIOSBootable\"\n", []int{1, 2}, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := layoutImage(t, 16, c.script, c.fsIn...)
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fi, _ := f.Stat()
			tbl, err := disk.ReadPartitions(f, fi.Size())
			if err != nil {
				t.Fatal(err)
			}
			ref := sfdiskParts(t, img)
			if string(tbl.Scheme) != ref.Table.Label && !(tbl.Scheme == disk.SchemeMBR && ref.Table.Label == "dos") {
				t.Errorf("scheme %q, sfdisk says %q", tbl.Scheme, ref.Table.Label)
			}
			if len(tbl.Partitions) != len(ref.Table.Partitions) {
				t.Fatalf("%d partitions %+v, sfdisk lists %d", len(tbl.Partitions), tbl.Partitions, len(ref.Table.Partitions))
			}
			for i, p := range tbl.Partitions {
				r := ref.Table.Partitions[i]
				typ := strconv.FormatUint(uint64(p.Type), 16)
				if tbl.Scheme == disk.SchemeGPT {
					typ = disk.GUIDString(p.TypeGUID)
				}
				boot := r.Bootable || strings.Contains(r.Attrs, "LegacyBIOSBootable")
				if r.Node != img+strconv.Itoa(p.Index) || r.Start != p.Start || r.Size != p.Sectors || !strings.EqualFold(r.Type, typ) || boot != p.Bootable {
					t.Errorf("partition %+v (type %s), sfdisk: %+v", p, typ, r)
				}
			}
			got, err := disk.FindRoot(f, fi.Size(), ext2.HoldsFilesystem(f))
			if err != nil || got.Index != c.want {
				t.Fatalf("FindRoot = partition %d, %v; want %d", got.Index, err, c.want)
			}
		})
	}
}

func TestFindRootErrors(t *testing.T) {
	blank := make([]byte, 1<<20)
	if _, err := disk.FindRoot(bytes.NewReader(blank), int64(len(blank)), nil); !errors.Is(err, disk.ErrNoTable) {
		t.Errorf("blank image: %v, want ErrNoTable", err)
	}
	img := layoutImage(t, 8, "start=2048, type=c\n")
	b, _ := os.ReadFile(img)
	if _, err := disk.FindRoot(bytes.NewReader(b), int64(len(b)), nil); !errors.Is(err, disk.ErrNoPartition) {
		t.Errorf("FAT only: %v, want ErrNoPartition", err)
	}
	// A protective MBR whose GPT is gone.
	img = layoutImage(t, 8, "label: gpt\nstart=2048, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n")
	b, _ = os.ReadFile(img)
	clear(b[512:1024])
	if _, err := disk.FindRoot(bytes.NewReader(b), int64(len(b)), nil); !errors.Is(err, disk.ErrBadGPT) {
		t.Errorf("GPT header wiped: %v, want ErrBadGPT", err)
	}
}

// An EBR chain that points back at itself stops: no hang, each logical
// partition listed once.
func TestLogicalChainLoop(t *testing.T) {
	img := layoutImage(t, 16, "start=2048, type=5\nstart=4096, size=2048, type=83\nstart=8192, size=2048, type=83\n")
	b, _ := os.ReadFile(img)
	// The second EBR's link entry: point it at the first EBR (relative 0).
	ref := sfdiskParts(t, img)
	second := ref.Table.Partitions[2].Start - 2048 // the EBR precedes its partition by 2048 sectors
	link := int(second)*512 + disk.TableOffset + disk.EntrySize
	b[link+4] = disk.TypeExtendedCHS
	binary.LittleEndian.PutUint32(b[link+8:], 0)
	binary.LittleEndian.PutUint32(b[link+12:], 2048)
	tbl, err := disk.ReadPartitions(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(tbl.Partitions); n != 3 {
		t.Fatalf("%d partitions %+v, want the extended one and two logical", n, tbl.Partitions)
	}
}

// FuzzPartitionTable feeds hostile tables and EBR chains: ReadPartitions
// never panics, lists at most 4 primaries plus the logical bound, and every
// logical partition lies inside an extended one.
func FuzzPartitionTable(f *testing.F) {
	seed := make([]byte, 64*512)
	seed[510], seed[511] = 0x55, 0xAA
	e := seed[disk.TableOffset:]
	e[4] = disk.TypeExtendedCHS
	binary.LittleEndian.PutUint32(e[8:], 2)
	binary.LittleEndian.PutUint32(e[12:], 60)
	for ebr := 2; ebr < 60; ebr += 8 {
		s := seed[ebr*512:]
		s[510], s[511] = 0x55, 0xAA
		d := s[disk.TableOffset:]
		d[4] = disk.TypeLinux
		binary.LittleEndian.PutUint32(d[8:], 1)
		binary.LittleEndian.PutUint32(d[12:], 4)
		l := d[disk.EntrySize:]
		l[4] = disk.TypeExtendedCHS
		binary.LittleEndian.PutUint32(l[8:], uint32(ebr+8-2))
		binary.LittleEndian.PutUint32(l[12:], 8)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, b []byte) {
		tbl, err := disk.ReadPartitions(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		var exts []disk.Partition
		logical := 0
		for _, p := range tbl.Partitions {
			if disk.IsExtended(p.Type) && !p.Logical {
				exts = append(exts, p)
			}
			if !p.Logical {
				continue
			}
			logical++
			inside := false
			for _, x := range exts {
				inside = inside || p.Start >= x.Start
			}
			if !inside {
				t.Fatalf("logical partition %+v before every extended partition %+v", p, exts)
			}
		}
		if logical > 252 || len(tbl.Partitions)-logical > 4 && tbl.Scheme == disk.SchemeMBR {
			t.Fatalf("%d partitions, %d logical", len(tbl.Partitions), logical)
		}
		_, _ = tbl.Root(int64(len(b)), nil)
	})
}
