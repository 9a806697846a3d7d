package ext2

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/minidisk/minidisk/disk"
)

// Location is where a filesystem lies in an image file.
type Location struct {
	Offset    int64 // bytes from the start of the image
	Size      int64 // bytes; the partition's size, or the whole file for a bare filesystem
	Partition int   // 1..4 for an MBR primary partition, 0 for a bare filesystem
}

// FindFilesystem locates the ext2 filesystem in an image of imageSize bytes:
// the first Linux (type 0x83) primary partition of an MBR disk, or the
// whole file when it carries no MBR signature but has the ext2 magic at
// byte 1024+56 (a bare filesystem image). name is used in errors only.
func FindFilesystem(r io.ReaderAt, imageSize int64, name string) (Location, error) {
	var sector [disk.SectorSize]byte
	if n, err := r.ReadAt(sector[:], 0); n < len(sector) {
		return Location{}, fmt.Errorf("%s: too short for a disk image (%d bytes, %v)", name, n, err)
	}
	mbr, err := disk.ParseMBR(sector[:])
	if err != nil {
		return Location{}, fmt.Errorf("%s: %v", name, err)
	}
	var magic [2]byte
	bare := false
	if n, _ := r.ReadAt(magic[:], SuperblockOffset+0x38); n == 2 && binary.LittleEndian.Uint16(magic[:]) == Magic {
		bare = true
	}
	if !mbr.HasSignature {
		if bare {
			return Location{Offset: 0, Size: imageSize}, nil
		}
		return Location{}, fmt.Errorf("%s: no MBR signature (55 AA at byte 510) and no ext2 magic at byte 1080: not a disk image or ext2 filesystem", name)
	}
	// A bare ext2 filesystem made by mke2fs has zeros at 510..511, but one
	// whose boot block was written could carry 55 AA; the partition table
	// decides then: a valid Linux entry wins.
	for i, e := range mbr.Entries {
		if e.Type != disk.TypeLinux || e.Sectors == 0 {
			continue
		}
		start, count := int64(e.StartLBA), int64(e.Sectors)
		off := start * disk.SectorSize
		if imageSize > 0 && off >= imageSize {
			return Location{}, fmt.Errorf("%s: partition %d starts at sector %d, beyond the image's end (%d bytes): the image is truncated", name, i+1, start, imageSize)
		}
		return Location{Offset: off, Size: count * disk.SectorSize, Partition: i + 1}, nil
	}
	if bare {
		return Location{Offset: 0, Size: imageSize}, nil
	}
	return Location{}, fmt.Errorf("%s: the MBR has no Linux (type 0x83) partition", name)
}
