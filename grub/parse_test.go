package grub

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/minidisk/minidisk/disk"
)

// The parsers read back what the real GRUB shell wrote.
func TestParseGrubShellInstall(t *testing.T) {
	st := hostStages(t)
	b := buildImage(t, st, layout{sizeMiB: 8, sfdisk: "start=2048, size=4096, type=83\nstart=6144, type=83, bootable\n", part: 1})
	img := filepath.Join(t.TempDir(), "grub.img")
	copyFile(t, b.path, img)
	grubShell(t, img, "root (hd0,1)", "setup (hd0)")
	n := st.Stage15Sectors()
	head := readAt(t, img, 0, int64(1+n)*sectorSize)
	s1, err := ParseStage1(head)
	if err != nil {
		t.Fatal(err)
	}
	if s1.Stage2Sector != 1 || s1.Stage2Address != stage15LoadAddress || s1.Stage2Segment != stage15LoadAddress>>4 || !s1.DriveCheckNOPed || s1.BootDrive != 0xFF || !s1.BootSignature {
		t.Fatalf("stage1 = %+v", s1)
	}
	s15, err := ParseStage15(head[sectorSize:])
	if err != nil {
		t.Fatal(err)
	}
	want := []BlockRun{{Start: 2, Count: uint16(n - 1), Segment: 0x220}}
	if s15.Kind != E2fsStage15Name || len(s15.Blocklist) != 1 || s15.Blocklist[0] != want[0] ||
		s15.Stage2Path != DefaultStage2Path || s15.ConfigPath != DefaultConfigPath || s15.VersionString != "0.97" ||
		PartitionName(byte(s15.Stage2Device>>24), s15.Stage2Device&0xFFFFFF) != "(hd0,1)" {
		t.Fatalf("stage1.5 = %+v", s15)
	}
	s2, err := ParseStage15(st.Stage2)
	if err != nil || s2.Kind != "stage2" || s2.ConfigPath != DefaultConfigPath || len(s2.Blocklist) != 1 {
		t.Fatalf("stage2 = %+v, %v", s2, err)
	}
	if _, err := ParseStage1(make([]byte, 512)); err == nil {
		t.Fatal("zero sector parsed as stage1")
	}
}

func FuzzParseStage(f *testing.F) {
	for _, p := range []string{filepath.Join(hostGrubDir, Stage1Name), filepath.Join(hostGrubDir, E2fsStage15Name)} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	if b, err := os.ReadFile(filepath.Join(hostGrubDir, Stage2Name)); err == nil {
		f.Add(b[:2048])
	}
	f.Add(make([]byte, 1024))
	f.Add([]byte{0xEB, 0x48})
	f.Fuzz(func(t *testing.T, b []byte) {
		if in, err := ParseStage1(b); err == nil && in == nil {
			t.Fatal("nil info without error")
		}
		if in, err := ParseStage15(b); err == nil {
			if len(in.Blocklist) > maxBlocklistEntries {
				t.Fatal("blocklist not capped")
			}
			_ = PartitionName(byte(in.Stage2Device>>24), in.Stage2Device)
		}
		_, _ = disk.ReadPartitions(bytes.NewReader(b), int64(len(b)))
	})
}
