package ext2

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Location is where a filesystem lies in an image file.
type Location struct {
	Offset    int64 // bytes from the start of the image
	Size      int64 // bytes; the partition's size, or the whole file for a bare filesystem
	Partition int   // 1..4 for an MBR primary partition, 0 for a bare filesystem
}

// mbrLinux is the MBR partition type of a Linux filesystem.
const mbrLinux = 0x83

// FindFilesystem locates the ext2 filesystem in an image of imageSize bytes:
// the first Linux (type 0x83) primary partition of an MBR disk, or the
// whole file when it carries no MBR signature but has the ext2 magic at
// byte 1024+56 (a bare filesystem image). name is used in errors only.
func FindFilesystem(r io.ReaderAt, imageSize int64, name string) (Location, error) {
	var mbr [512]byte
	if n, err := r.ReadAt(mbr[:], 0); n < len(mbr) {
		return Location{}, fmt.Errorf("%s: too short for a disk image (%d bytes, %v)", name, n, err)
	}
	var magic [2]byte
	bare := false
	if n, _ := r.ReadAt(magic[:], SuperblockOffset+0x38); n == 2 && binary.LittleEndian.Uint16(magic[:]) == Magic {
		bare = true
	}
	if mbr[510] != 0x55 || mbr[511] != 0xAA {
		if bare {
			return Location{Offset: 0, Size: imageSize}, nil
		}
		return Location{}, fmt.Errorf("%s: no MBR signature (55 AA at byte 510) and no ext2 magic at byte 1080: not a disk image or ext2 filesystem", name)
	}
	// A bare ext2 filesystem made by mke2fs has zeros at 510..511, but one
	// whose boot block was written could carry 55 AA; the partition table
	// decides then: a valid Linux entry wins.
	for i := 0; i < 4; i++ {
		e := mbr[0x1BE+16*i : 0x1BE+16*(i+1)]
		typ := e[4]
		start := int64(binary.LittleEndian.Uint32(e[8:]))
		count := int64(binary.LittleEndian.Uint32(e[12:]))
		if typ != mbrLinux || count == 0 {
			continue
		}
		off := start * 512
		if imageSize > 0 && off >= imageSize {
			return Location{}, fmt.Errorf("%s: partition %d starts at sector %d, beyond the image's end (%d bytes): the image is truncated", name, i+1, start, imageSize)
		}
		return Location{Offset: off, Size: count * 512, Partition: i + 1}, nil
	}
	if bare {
		return Location{Offset: 0, Size: imageSize}, nil
	}
	return Location{}, fmt.Errorf("%s: the MBR has no Linux (type 0x83) partition", name)
}
