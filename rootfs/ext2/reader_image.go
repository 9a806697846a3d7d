package ext2

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/minidisk/minidisk/disk"
)

// Location is where a filesystem lies in an image file.
type Location struct {
	Offset    int64 // bytes from the start of the image
	Size      int64 // bytes; the partition's size, or the whole file for a bare filesystem
	Partition int   // the partition's number as Linux gives it (1..4 primary, 5.. logical, GPT slot), 0 for a bare filesystem
}

// FindFilesystem locates the ext2 filesystem in an image of imageSize bytes:
// on a partitioned disk (MBR with logical partitions, or GPT) the partition
// disk.FindRoot picks; the whole file when it carries no partition table but
// has the ext2 magic at byte 1024+56 (a bare filesystem image). name is used
// in errors only.
func FindFilesystem(r io.ReaderAt, imageSize int64, name string) (Location, error) {
	var sector [disk.SectorSize]byte
	if n, err := r.ReadAt(sector[:], 0); n < len(sector) {
		return Location{}, fmt.Errorf("%s: too short for a disk image (%d bytes, %w)", name, n, err)
	}
	bare := hasMagic(r, 0)
	t, err := disk.ReadPartitions(r, imageSize)
	switch {
	case errors.Is(err, disk.ErrNoTable):
		if bare {
			return Location{Offset: 0, Size: imageSize}, nil
		}
		return Location{}, fmt.Errorf("%s: no MBR signature (55 AA at byte 510) and no ext2 magic at byte 1080: not a disk image or ext2 filesystem", name)
	case err != nil:
		return Location{}, fmt.Errorf("%s: %w", name, err)
	}
	// A bare ext2 filesystem made by mke2fs has zeros at 510..511, but one
	// whose boot block was written could carry 55 AA; the partition table
	// decides then: a Linux partition wins.
	p, err := t.Root(imageSize, HoldsFilesystem(r))
	if errors.Is(err, disk.ErrNoPartition) && bare {
		return Location{Offset: 0, Size: imageSize}, nil
	}
	if err != nil {
		return Location{}, fmt.Errorf("%s: %w", name, err)
	}
	off := int64(p.Start) * disk.SectorSize
	if imageSize > 0 && off >= imageSize {
		return Location{}, fmt.Errorf("%s: partition %d starts at sector %d, beyond the image's end (%d bytes): the image is truncated", name, p.Index, p.Start, imageSize)
	}
	return Location{Offset: off, Size: int64(p.Sectors) * disk.SectorSize, Partition: p.Index}, nil
}

// HoldsFilesystem returns the test disk.FindRoot needs: whether the bytes
// at offset in r start an ext2 (or ext3/ext4) filesystem, judged by the
// superblock magic 0xEF53 at offset+1024+56.
func HoldsFilesystem(r io.ReaderAt) func(offset, length int64) bool {
	return func(offset, length int64) bool {
		if length > 0 && length < magicOffset+2 {
			return false
		}
		return hasMagic(r, offset)
	}
}

// magicOffset is s_magic's byte from the filesystem's start.
var magicOffset = int64(SuperblockOffset + SuperblockLayout.Magic.Offset)

func hasMagic(r io.ReaderAt, offset int64) bool {
	var magic [2]byte
	n, _ := r.ReadAt(magic[:], offset+magicOffset)
	return n == 2 && binary.LittleEndian.Uint16(magic[:]) == Magic
}
