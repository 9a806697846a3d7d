package disk

import (
	"fmt"

	"github.com/minidisk/minidisk/internal/atomicfile"
)

// CreateImage makes a sparse raw image of size bytes, like `qemu-img create
// -f raw`: the file has its full length but no data blocks until written.
func CreateImage(path string, size int64, force bool) error {
	if size <= 0 || size%SectorSize != 0 {
		return fmt.Errorf("%s: size %d bytes is not a positive whole number of 512-byte sectors (e.g. 12M)", path, size)
	}
	f, err := atomicfile.Create(path, force)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Commit()
}
