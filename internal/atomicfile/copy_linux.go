//go:build linux

package atomicfile

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// copyFile makes dst a copy of src (size bytes): a reflink when the
// filesystem shares extents (FICLONE: btrfs, XFS with reflink=1), else the
// data extents only, found with SEEK_DATA/SEEK_HOLE, so holes stay holes.
func copyFile(dst, src *os.File, size int64) error {
	if err := unix.IoctlFileClone(int(dst.Fd()), int(src.Fd())); err == nil {
		lastCopy = "reflink"
		return nil
	}
	if err := dst.Truncate(size); err != nil {
		return err
	}
	lastCopy = "sparse"
	for off := int64(0); off < size; {
		data, err := unix.Seek(int(src.Fd()), off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			return nil // only a hole is left
		}
		if err != nil {
			// No SEEK_DATA on this filesystem: read everything.
			lastCopy = "zero-skipping"
			return copyZeroSkipping(dst, src, off, size)
		}
		hole, err := unix.Seek(int(src.Fd()), data, unix.SEEK_HOLE)
		if err != nil {
			hole = size
		}
		if err := copyRange(dst, src, data, min(hole, size)); err != nil {
			return err
		}
		off = hole
	}
	return nil
}

// copyRange copies bytes [from, to) to the same place, with
// copy_file_range where the kernel offers it.
func copyRange(dst, src *os.File, from, to int64) error {
	for from < to {
		roff, woff := from, from
		n, err := unix.CopyFileRange(int(src.Fd()), &roff, int(dst.Fd()), &woff, int(to-from), 0)
		if err != nil || n == 0 {
			return copyZeroSkipping(dst, src, from, to)
		}
		from += int64(n)
	}
	return nil
}
