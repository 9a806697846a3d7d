package grub

import (
	"errors"
	"testing"

	"github.com/minidisk/minidisk/rootfs/ext2"
)

// CheckFilesystem's verdicts come as typed errors a caller (doctor, the
// CLI) can tell apart without reading the message.
func TestCheckFilesystemTypedErrors(t *testing.T) {
	ok := ext2.Superblock{RevLevel: 1, InodeSize: 128, FeatureIncompat: ext2.FeatureIncompatFiletype | ext2.FeatureIncompatFlexBG}
	if err := CheckFilesystem(&ok); err != nil {
		t.Fatalf("plain ext2: %v", err)
	}
	for name, c := range map[string]struct {
		sb   ext2.Superblock
		want error
		in   func(*FilesystemError) bool
	}{
		"256-byte inodes": {ext2.Superblock{RevLevel: 1, InodeSize: 256}, ErrInodeSize, func(e *FilesystemError) bool { return e.InodeSize == 256 }},
		"64 KiB blocks":   {ext2.Superblock{RevLevel: 1, InodeSize: 128, LogBlockSize: 6}, ErrBlockSize, func(e *FilesystemError) bool { return e.BlockSize == 64<<10 }},
		"ext4": {ext2.Superblock{RevLevel: 1, InodeSize: 128, FeatureIncompat: ext2.FeatureIncompatExtents | ext2.FeatureIncompat64Bit | ext2.FeatureIncompatFiletype}, ErrFeatures,
			func(e *FilesystemError) bool {
				return len(e.Features) == 2 && e.Features[0] == "extent" && e.Features[1] == "64bit"
			}},
	} {
		err := CheckFilesystem(&c.sb)
		var fe *FilesystemError
		if !errors.Is(err, c.want) || !errors.As(err, &fe) || !c.in(fe) {
			t.Errorf("%s: %v (%+v), want %v", name, err, fe, c.want)
		}
	}
}
