//go:build !linux

package ext2

import (
	"errors"
	"os"
)

// Outside Linux ClearRegion does not look for holes (the SEEK_DATA and
// SEEK_HOLE values differ between systems); it writes zeros over the range.
var (
	errNoDataAfter = errors.New("no data after the offset")
	errNoSeekData  = errors.New("SEEK_DATA not used on this operating system")
)

func seekData(f *os.File, off int64) (int64, error) { return 0, errNoSeekData }
func seekHole(f *os.File, off int64) (int64, error) { return 0, errNoSeekData }
func punchHole(f *os.File, off, n int64) error      { return errNoSeekData }
