package disk

import (
	"encoding/binary"
	"fmt"
	"io"
)

// ReadBackupGPT reads the backup GPT: its header in the last sector of the
// disk (UEFI 2.10 §5.3.2), with the same checks ReadPartitions makes of
// the primary one (signature, header and entry-array CRC32s, bounds) plus
// the header's own LBA field, which must name that last sector. It is what
// firmware and Linux fall back on when the primary GPT is invalid: EDK2's
// PartitionDxe (Gpt.c) validates the header at the last block and restores
// the primary from it; Linux's find_valid_gpt() reads it at last_lba() and
// says "Primary GPT is invalid, using alternate GPT."
func ReadBackupGPT(r io.ReaderAt, size int64) ([]Partition, error) {
	last := size/SectorSize - 1
	if last < 2 {
		return nil, fmt.Errorf("%w: a %d-byte image has no room for a backup GPT", ErrBadGPT, size)
	}
	h := make([]byte, SectorSize)
	if n, _ := r.ReadAt(h, last*SectorSize); n < SectorSize {
		return nil, fmt.Errorf("%w: short read of the backup header at sector %d", ErrBadGPT, last)
	}
	// readGPT reads the header at LBA 1 (and the entry array at the LBA the
	// header names, which it requires to be 2 or more): show it the last
	// sector there, so one reader checks both copies.
	ps, err := readGPT(backupHeaderView{r: r, header: h}, size)
	if err != nil {
		return nil, fmt.Errorf("backup header at sector %d: %w", last, err)
	}
	if my := binary.LittleEndian.Uint64(h[gptHdrMyLBA:]); my != uint64(last) {
		return nil, fmt.Errorf("%w: backup header at sector %d says it is at sector %d", ErrBadGPT, last, my)
	}
	return ps, nil
}

// backupHeaderView is the disk with sector 1 replaced by a backup header.
type backupHeaderView struct {
	r      io.ReaderAt
	header []byte
}

func (v backupHeaderView) ReadAt(p []byte, off int64) (int, error) {
	if off == SectorSize && len(p) <= SectorSize {
		return copy(p, v.header), nil
	}
	return v.r.ReadAt(p, off)
}
