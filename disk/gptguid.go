package disk

import (
	"encoding/binary"
	"io"
)

// GPTPartitionGUIDs returns the unique partition GUID (bytes 16..31 of a
// GPT entry, UEFI 2.10 §5.3.3; what Linux calls PARTUUID=) of every
// partition ReadPartitions lists for a GPT disk, by Partition.Index, in
// on-disk byte order (format with GUIDString). The table is validated as
// ReadPartitions validates it (signature, header and entry-array CRC32s,
// bounds), so the errors are the same: ErrBadGPT, wrapped.
func GPTPartitionGUIDs(r io.ReaderAt, size int64) (map[int][16]byte, error) {
	parts, err := readGPT(r, size)
	if err != nil {
		return nil, err
	}
	// readGPT checked the header these offsets come from.
	h := make([]byte, SectorSize)
	if n, _ := r.ReadAt(h, gptHeaderLBA*SectorSize); n < SectorSize {
		return nil, ErrBadGPT
	}
	entriesLBA := binary.LittleEndian.Uint64(h[gptHdrEntriesLBA:])
	esize := int64(binary.LittleEndian.Uint32(h[gptHdrEntrySize:]))
	out := make(map[int][16]byte, len(parts))
	for _, p := range parts {
		var g [16]byte
		off := int64(entriesLBA)*SectorSize + int64(p.Index-1)*esize + gptEntGUID
		if n, _ := r.ReadAt(g[:], off); n < len(g) {
			return nil, ErrBadGPT
		}
		out[p.Index] = g
	}
	return out, nil
}
