package ext2

import (
	"errors"
	"fmt"
	"os"
)

const clearChunkBytes = 1 << 20

// ClearRegion makes bytes [off, off+n) of f read as zeros, as Write
// expects of its target (it skips all-zero blocks): holes are left alone,
// data is punched out (staying sparse) or, where the filesystem cannot punch
// holes, overwritten with zeros. Use it before writing a filesystem over an
// old one in an existing image.
func ClearRegion(f *os.File, off, n int64) error {
	end := off + n
	for pos := off; pos < end; {
		data, err := seekData(f, pos)
		if err != nil {
			if errors.Is(err, errNoDataAfter) {
				return nil // no data after pos
			}
			if errors.Is(err, errNoSeekData) {
				return zeroRange(f, pos, end)
			}
			return fmt.Errorf("%s: %w", f.Name(), err)
		}
		if data >= end {
			return nil
		}
		hole, err := seekHole(f, data)
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name(), err)
		}
		hole = min(hole, end)
		if err := punchHole(f, data, hole-data); err != nil {
			if err := zeroRange(f, data, hole); err != nil {
				return err
			}
		}
		pos = hole
	}
	return nil
}

func zeroRange(f *os.File, from, to int64) error {
	zero := make([]byte, min(clearChunkBytes, to-from))
	for p := from; p < to; {
		k := min(int64(len(zero)), to-p)
		if _, err := f.WriteAt(zero[:k], p); err != nil {
			return fmt.Errorf("%s: clearing the filesystem area: %w", f.Name(), err)
		}
		p += k
	}
	return nil
}
