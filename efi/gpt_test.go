package efi

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/minidisk/minidisk/disk"
)

// The image's protective MBR and GPT are the bytes go-diskfs v1.9.4's
// gpt.Table.Write (the writer efi used before disk.WriteGPT) gives the same
// table: a copy of the image with go-diskfs' table written over it is equal,
// for the default size, an odd sector count and the minimum size. Images
// made before the change stay byte-identical.
func TestImageGPTAsGoDiskfs(t *testing.T) {
	payload := blob(t, 700_001)
	for _, size := range []int64{DefaultImageSize, DefaultImageSize + 3*512, MinImageSize()} {
		img := filepath.Join(t.TempDir(), "efi.img")
		ii, err := writeImage(img, false, payload, mustPlan(t, size), testEpoch)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		ours, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(img, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		table := &gpt.Table{LogicalSectorSize: sectorSize, PhysicalSectorSize: sectorSize, ProtectiveMBR: true, GUID: ii.DiskGUID,
			Partitions: []*gpt.Partition{{Index: 1, Start: ii.Start, End: ii.End, Type: gpt.EFISystemPartition, Name: "EFI System Partition", GUID: ii.PartGUID}}}
		err = table.Write(f, size)
		f.Close()
		if err != nil {
			t.Fatalf("go-diskfs: %v", err)
		}
		theirs, _ := os.ReadFile(img)
		if !bytes.Equal(ours, theirs) {
			for i := range ours {
				if ours[i] != theirs[i] {
					t.Fatalf("size %d: differs from go-diskfs' GPT at byte %d (sector %d)", size, i, i/sectorSize)
				}
			}
		}
		// The reader reads what the writer wrote.
		tbl, err := disk.ReadPartitions(bytes.NewReader(ours), size)
		if err != nil || len(tbl.Partitions) != 1 || tbl.Partitions[0].TypeGUID != disk.GUIDEFISystem || tbl.Partitions[0].Start != ii.Start || tbl.Partitions[0].End() != ii.End {
			t.Errorf("size %d: ReadPartitions %+v, %v", size, tbl, err)
		}
	}
}
