package grub

import (
	"bytes"
	"testing"
	"testing/fstest"
)

// TestSameFile: the streamed comparison of an installed stage file with
// the host's, across several 8 KiB pieces, and the one allowed difference
// (an installed stage2's first two sectors).
func TestSameFile(t *testing.T) {
	want := bytes.Repeat([]byte("stage2.."), 3000) // 24,000 bytes
	// A stage2 header in sector 1: GRUB 0.97's version and the stage2 ID.
	want[sectorSize+stage2VersionOff], want[sectorSize+stage2VersionOff+1] = compatMajor, compatMinor
	want[sectorSize+stage2IDOff] = stage2IDStage2
	copy(want[sectorSize+stage2VersionStrOff:], "0.97\x00/boot/grub/menu.lst\x00")
	patched := bytes.Clone(want)
	patched[sectorSize+stage2InstallPart] ^= 0xFF // setup patches the install partition
	lastByte := bytes.Clone(want)
	lastByte[len(lastByte)-1] ^= 1
	noHeader := bytes.Clone(patched)
	noHeader[sectorSize+stage2VersionOff] = 2
	fsys := fstest.MapFS{
		"same": {Data: want}, "patched": {Data: patched}, "last": {Data: lastByte},
		"short": {Data: want[:len(want)-1]}, "noheader": {Data: noHeader},
	}
	for _, c := range []struct {
		name    string
		stage2  bool
		want    bool
		wantErr bool
	}{
		{"same", false, true, false},
		{"last", false, false, false},
		{"short", false, false, false},
		{"patched", false, false, false},
		{"patched", true, true, false},
		{"last", true, false, false},
		{"noheader", true, false, false},
		{"missing", false, false, true},
	} {
		got, err := sameFile(fsys, c.name, want, c.stage2)
		if got != c.want || (err != nil) != c.wantErr {
			t.Errorf("sameFile(%s, stage2=%v) = %v, %v; want %v (error %v)", c.name, c.stage2, got, err, c.want, c.wantErr)
		}
	}
}
