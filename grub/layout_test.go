package grub

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/minidisk/minidisk/disk"
)

// The exported layouts name the bytes the parsers read: GRUB's own stage
// files have their fixed values there, and a value written at a layout
// field comes back from ParseStage1/ParseStage15 in the field of that name.
func TestLayoutsMatchParsers(t *testing.T) {
	st := hostStages(t)
	at := func(b []byte, f disk.Field) []byte { return b[f.Offset : f.Offset+f.Size] }

	l := Stage1Layout
	mbr := append([]byte(nil), st.Stage1...)
	if got := at(mbr, l.Jump); !bytes.Equal(got, []byte{0xEB, 0x48, 0x90}) {
		t.Errorf("stage1 Jump = % x, want eb 48 90", got)
	}
	if got := at(mbr, l.Version); !bytes.Equal(got, []byte{compatMajor, compatMinor}) {
		t.Errorf("stage1 Version = % x, want 03 02", got)
	}
	at(mbr, l.BootDrive)[0] = 0x81
	at(mbr, l.ForceLBA)[0] = 1
	binary.LittleEndian.PutUint16(at(mbr, l.Stage2Address), 0x1234)
	binary.LittleEndian.PutUint32(at(mbr, l.Stage2Sector), 0xA1B2C3D4)
	binary.LittleEndian.PutUint16(at(mbr, l.Stage2Segment), 0x5678)
	copy(at(mbr, l.BootDriveCheck), []byte{nopOpcode, nopOpcode})
	s1, err := ParseStage1(mbr)
	if err != nil {
		t.Fatal(err)
	}
	if s1.BootDrive != 0x81 || !s1.ForceLBA || s1.Stage2Address != 0x1234 || s1.Stage2Sector != 0xA1B2C3D4 || s1.Stage2Segment != 0x5678 || !s1.DriveCheckNOPed {
		t.Errorf("stage1 written at Stage1Layout parses as %+v", s1)
	}
	if l.BPB.Offset+l.BPB.Size != l.Version.Offset {
		t.Errorf("stage1 BPB area ends at %#x, the version is at %#x", l.BPB.Offset+l.BPB.Size, l.Version.Offset)
	}

	h, be := StageHeaderLayout, BlocklistEntryLayout
	for _, c := range []struct {
		file []byte
		id   byte
	}{{st.E2fsStage15, stage2IDE2fsStage15}, {st.Stage2, stage2IDStage2}} {
		b := append([]byte(nil), c.file[:2*sectorSize]...)
		hdr := b[sectorSize:]
		if got := at(hdr, h.Version); !bytes.Equal(got, []byte{compatMajor, compatMinor}) {
			t.Errorf("stage %d Version = % x, want 03 02", c.id, got)
		}
		if got := at(hdr, h.StageID)[0]; got != c.id {
			t.Errorf("StageID = %d, want %d", got, c.id)
		}
		if s := at(hdr, h.Strings); !bytes.HasPrefix(s, []byte("0.97\x00")) {
			t.Errorf("stage %d Strings start % x, want \"0.97\\0\"", c.id, s[:8])
		}
		binary.LittleEndian.PutUint32(at(hdr, h.InstallPartition), 0x00ABFFFF)
		at(hdr, h.ForceLBA)[0] = 1
		// Two blocklist entries: the first in the sector's last 8 bytes,
		// the next below it; the one below that ends the list (count 0).
		size := be.Segment.Offset + be.Segment.Size
		for i, r := range []BlockRun{{Start: 0x01020304, Count: 0x0506, Segment: 0x0708}, {Start: 0x11121314, Count: 0x1516, Segment: 0x1718}} {
			e := b[sectorSize-size*(i+1):]
			binary.LittleEndian.PutUint32(at(e, be.Start), r.Start)
			binary.LittleEndian.PutUint16(at(e, be.Count), r.Count)
			binary.LittleEndian.PutUint16(at(e, be.Segment), r.Segment)
		}
		clear(b[sectorSize-3*size : sectorSize-2*size])
		in, err := ParseStage15(b)
		if err != nil {
			t.Fatal(err)
		}
		want := []BlockRun{{0x01020304, 0x0506, 0x0708}, {0x11121314, 0x1516, 0x1718}}
		if in.ID != c.id || in.InstallPartition != 0x00ABFFFF || !in.ForceLBA || in.VersionString != "0.97" || len(in.Blocklist) != 2 || in.Blocklist[0] != want[0] || in.Blocklist[1] != want[1] {
			t.Errorf("stage %d written at the layouts parses as %+v", c.id, in)
		}
	}
}
