package ext2

import (
	"errors"
	"os"
	"syscall"
)

// Linux lseek(2) whence values and fallocate(2) modes.
const (
	linuxSeekData   = 3
	linuxSeekHole   = 4
	fallocKeepSize  = 0x01
	fallocPunchHole = 0x02
)

var (
	errNoDataAfter = errors.New("no data after the offset")
	errNoSeekData  = errors.New("SEEK_DATA not supported")
)

// seekData is lseek(SEEK_DATA): the next offset at or after off that holds
// data.
func seekData(f *os.File, off int64) (int64, error) {
	n, err := f.Seek(off, linuxSeekData)
	switch {
	case errors.Is(err, syscall.ENXIO):
		return 0, errNoDataAfter
	case errors.Is(err, syscall.EINVAL):
		return 0, errNoSeekData
	}
	return n, err
}

// seekHole is lseek(SEEK_HOLE): the next hole (or the end) at or after off.
func seekHole(f *os.File, off int64) (int64, error) { return f.Seek(off, linuxSeekHole) }

// punchHole deallocates [off, off+n) keeping the file size; an error means
// the caller writes zeros instead.
func punchHole(f *os.File, off, n int64) error {
	return syscall.Fallocate(int(f.Fd()), fallocPunchHole|fallocKeepSize, off, n)
}
