//go:build !linux

package atomicfile

import "os"

// copyFile makes dst a copy of src, skipping zero blocks (no reflink or
// SEEK_DATA outside Linux here).
func copyFile(dst, src *os.File, size int64) error {
	if err := dst.Truncate(size); err != nil {
		return err
	}
	lastCopy = "zero-skipping"
	return copyZeroSkipping(dst, src, 0, size)
}
