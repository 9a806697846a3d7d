package disk_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/internal/testutil"
)

// The unique partition GUIDs are the ones sfdisk -J prints as "uuid", and a
// GPT whose header CRC32 is broken gives ErrBadGPT, as ReadPartitions does.
func TestGPTPartitionGUIDs(t *testing.T) {
	img := layoutImage(t, 16, "label: gpt\nstart=2048, size=4096, type=U\nstart=8192, size=2048, type=L\nstart=12288, type=L\n")
	var ref struct {
		Table struct {
			Partitions []struct {
				Node string `json:"node"`
				UUID string `json:"uuid"`
			} `json:"partitions"`
		} `json:"partitiontable"`
	}
	out := testutil.Run(t, testutil.RequireTool(t, "sfdisk", "fdisk"), "-J", img)
	if err := json.Unmarshal([]byte(out), &ref); err != nil {
		t.Fatalf("sfdisk -J: %v\n%s", err, out)
	}
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	guids, err := disk.GPTPartitionGUIDs(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if len(guids) != len(ref.Table.Partitions) || len(guids) != 3 {
		t.Fatalf("%d GUIDs %v, sfdisk lists %d partitions", len(guids), guids, len(ref.Table.Partitions))
	}
	for _, p := range ref.Table.Partitions {
		n, err := strconv.Atoi(strings.TrimPrefix(p.Node, img))
		if err != nil {
			t.Fatalf("node %q", p.Node)
		}
		if got := disk.GUIDString(guids[n]); !strings.EqualFold(got, p.UUID) {
			t.Errorf("partition %d: GUID %s, sfdisk says %s", n, got, p.UUID)
		}
	}
	b[512+16] ^= 0xFF // the header CRC32 field
	if _, err := disk.GPTPartitionGUIDs(bytes.NewReader(b), int64(len(b))); !errors.Is(err, disk.ErrBadGPT) {
		t.Errorf("header CRC32 broken: %v, want ErrBadGPT", err)
	}
}

// FuzzGPTPartitionGUIDs: hostile GPTs never panic (nor does
// ReadBackupGPT on them), and a GUID is returned
// for exactly the partitions ReadPartitions lists.
func FuzzGPTPartitionGUIDs(f *testing.F) {
	f.Add(make([]byte, 4096))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = disk.ReadBackupGPT(bytes.NewReader(b), int64(len(b)))
		guids, err := disk.GPTPartitionGUIDs(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		tbl, err := disk.ReadPartitions(bytes.NewReader(b), int64(len(b)))
		if err != nil && !errors.Is(err, disk.ErrNoTable) {
			t.Fatalf("GUIDs read, but ReadPartitions: %v", err)
		}
		if tbl.Scheme != disk.SchemeGPT {
			return // GPTPartitionGUIDs does not look at the protective MBR
		}
		if len(guids) != len(tbl.Partitions) {
			t.Fatalf("%d GUIDs, %d partitions", len(guids), len(tbl.Partitions))
		}
		for _, p := range tbl.Partitions {
			if _, ok := guids[p.Index]; !ok {
				t.Fatalf("no GUID for partition %d", p.Index)
			}
		}
	})
}

// The backup GPT (last sector) lists what sfdisk lists when it falls back
// on it because the primary header's CRC32 is broken; with the backup
// broken too, both readers refuse the disk.
func TestReadBackupGPT(t *testing.T) {
	img := layoutImage(t, 16, "label: gpt\nstart=2048, size=4096, type=U\nstart=8192, type=L\n")
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	b[512+16] ^= 0xFF // the primary header's CRC32 field
	if _, err := disk.ReadPartitions(bytes.NewReader(b), int64(len(b))); !errors.Is(err, disk.ErrBadGPT) {
		t.Fatalf("primary CRC32 broken: ReadPartitions %v, want ErrBadGPT", err)
	}
	if err := os.WriteFile(img, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// sfdisk says "The primary GPT table is corrupt, but the backup appears
	// OK, so that will be used." before its JSON.
	out := testutil.Run(t, testutil.RequireTool(t, "sfdisk", "fdisk"), "-J", img)
	i := strings.Index(out, "{")
	if i < 0 || !strings.Contains(out[:i], "backup") {
		t.Fatalf("sfdisk -J does not say it uses the backup GPT:\n%s", out)
	}
	var ref sfdiskJSON
	if err := json.Unmarshal([]byte(out[i:]), &ref); err != nil {
		t.Fatalf("sfdisk -J: %v\n%s", err, out)
	}
	ps, err := disk.ReadBackupGPT(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != len(ref.Table.Partitions) || len(ps) != 2 {
		t.Fatalf("backup GPT: %+v, sfdisk lists %+v", ps, ref.Table.Partitions)
	}
	for i, p := range ps {
		r := ref.Table.Partitions[i]
		if r.Node != img+strconv.Itoa(p.Index) || r.Start != p.Start || r.Size != p.Sectors || !strings.EqualFold(r.Type, disk.GUIDString(p.TypeGUID)) {
			t.Errorf("backup partition %+v, sfdisk: %+v", p, r)
		}
	}
	b[len(b)-512+16] ^= 0xFF // the backup header's CRC32 field
	if _, err := disk.ReadBackupGPT(bytes.NewReader(b), int64(len(b))); !errors.Is(err, disk.ErrBadGPT) {
		t.Errorf("backup CRC32 broken: %v, want ErrBadGPT", err)
	}
	if err := os.WriteFile(img, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(testutil.RequireTool(t, "sfdisk", "fdisk"), "-d", img).CombinedOutput(); err == nil && strings.Contains(string(out), "label: gpt") {
		t.Errorf("sfdisk still reads a GPT with both headers broken:\n%s", out)
	}
}
