package hostos

import (
	"os"

	"golang.org/x/sys/unix"
)

// StartWriteback asks the kernel to start writing f's dirty pages to disk
// now, without waiting (sync_file_range SYNC_FILE_RANGE_WRITE over the
// whole file). A later fsync then waits only for what is still in flight:
// an image's writeback overlaps with the checks made before it is
// committed.
func StartWriteback(f *os.File) error {
	return unix.SyncFileRange(int(f.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
}
