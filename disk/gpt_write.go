package disk

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"unicode/utf16"
)

// GPT is a GUID partition table to write: WriteGPT's counterpart of what
// ReadPartitions reads. GUIDs are in their on-disk (mixed-endian) byte order,
// as GUIDEFISystem is; ParseGUID turns text into that order.
type GPT struct {
	DiskGUID [16]byte
	// Entries go to slots 1, 2, ... in order (the numbers Linux gives
	// them: /dev/sda1 ...). An entry with a zero Type leaves its slot
	// unused, so a table can have gaps.
	Entries []GPTEntry
}

// GPTEntry is one partition of a GPT.
type GPTEntry struct {
	Type        [16]byte // partition type GUID (GUIDEFISystem, GUIDLinuxFilesystem, ...)
	GUID        [16]byte // unique partition GUID (PARTUUID)
	First, Last uint64   // first and last LBA, inclusive
	Attributes  uint64   // bit 2: legacy BIOS bootable (UEFI 2.10 table 5-7)
	Name        string   // at most 36 UTF-16 code units
}

// Errors WriteGPT returns (wrapped, with the numbers); nothing is written
// when it returns one.
var (
	// ErrGPTDiskTooSmall: the disk has no room for the protective MBR,
	// both headers and both 32-sector entry arrays plus one usable sector.
	ErrGPTDiskTooSmall = errors.New("disk too small for a GPT")
	// ErrGPTOutsideUsable: an entry starts before the first usable LBA
	// (it would overlap the primary header or entry array) or ends past
	// the last usable LBA (the backup array and header).
	ErrGPTOutsideUsable = errors.New("GPT partition outside the usable sectors")
	// ErrGPTOverlap: two entries share sectors.
	ErrGPTOverlap = errors.New("GPT partitions overlap")
	// ErrGPTBadEntry: an entry the spec does not allow (last before first,
	// a zero or repeated unique GUID, a name too long, more than 128).
	ErrGPTBadEntry = errors.New("invalid GPT entry")
	// ErrBadGUID: ParseGUID's input is not a GUID.
	ErrBadGUID = errors.New("not a GUID")
)

// gptMinSectors is the smallest GPT disk: the protective MBR, two headers,
// two entry arrays and one usable sector.
const gptMinSectors = 1 + 2*(1+gptArraySectors) + 1

// GPTUsable returns the first and last LBA partitions may use on a disk of
// diskSectors, as WriteGPT lays it out: after the primary header and array
// (34), before the backup array and header (the last 33 sectors). ok is
// false when the disk is too small for a GPT.
func GPTUsable(diskSectors uint64) (first, last uint64, ok bool) {
	first = gptEntriesLBA + gptArraySectors
	if diskSectors < gptMinSectors {
		return first, 0, false
	}
	return first, diskSectors - 1 - gptArraySectors - 1, true
}

// WriteGPT writes t to a disk of size bytes (the sectors are the whole 512-byte
// ones, a trailing partial sector is no LBA): the protective MBR entries,
// the primary header at LBA 1 with its 128-entry array at LBA 2, and the
// backup array and header in the last 33 sectors (UEFI 2.10 §5.3). The
// bytes are those go-diskfs v1.9.4's gpt.Table.Write gives the same table
// (revision 1.0, a 92-byte header, the rest of each header sector zero).
//
// The protective MBR is written as bytes 446..511 only, so the boot code
// and disk signature in 0..445 stay as they were: one entry of type 0xEE
// from LBA 1 over the rest of the disk (0xFFFFFFFF sectors when that does
// not fit in 32 bits, UEFI 2.10 table 5-4), CHS fields zero as go-diskfs
// writes them, entries 2..4 zero, then 55 AA.
//
// The table is checked and laid out in memory first: on an error (one of
// the ErrGPT sentinels, wrapped) nothing is written.
func WriteGPT(w io.WriterAt, size int64, t GPT) error {
	if size < 0 {
		size = 0
	}
	sectors := uint64(size) / SectorSize
	first, last, ok := GPTUsable(sectors)
	if !ok {
		return fmt.Errorf("%w: %d bytes (%d sectors), a GPT needs at least %d sectors (%d bytes)",
			ErrGPTDiskTooSmall, size, sectors, gptMinSectors, gptMinSectors*SectorSize)
	}
	array, err := gptEntryArray(t.Entries, first, last)
	if err != nil {
		return err
	}
	backupLBA := sectors - 1
	backupArrayLBA := backupLBA - gptArraySectors
	primary := gptHeader(t.DiskGUID, gptHeaderLBA, backupLBA, gptEntriesLBA, first, last, array)
	backup := gptHeader(t.DiskGUID, backupLBA, gptHeaderLBA, backupArrayLBA, first, last, array)

	pmbr := make([]byte, SectorSize-TableOffset)
	e := pmbr[:EntrySize]
	e[entType] = TypeGPTProtective
	binary.LittleEndian.PutUint32(e[entStartLBA:], gptHeaderLBA)
	binary.LittleEndian.PutUint32(e[entSectors:], uint32(min(sectors-1, 0xFFFFFFFF)))
	pmbr[SignatureBytes-TableOffset], pmbr[SignatureBytes-TableOffset+1] = 0x55, 0xAA

	// The backup side first, then the primary, each array before its
	// header (go-diskfs' order): rewriting a table in place, an interrupted
	// write leaves one header whose CRCs match a complete array.
	for _, part := range []struct {
		b   []byte
		lba uint64
	}{{pmbr, 0}, {array, backupArrayLBA}, {backup, backupLBA}, {array, gptEntriesLBA}, {primary, gptHeaderLBA}} {
		off := int64(part.lba) * SectorSize
		if part.lba == 0 {
			off = TableOffset
		}
		if _, err := w.WriteAt(part.b, off); err != nil {
			return fmt.Errorf("writing the GPT at sector %d: %w", part.lba, err)
		}
	}
	return nil
}

// gptEntryArray checks the entries against the usable area [first, last]
// and each other, and encodes the 128-entry array.
func gptEntryArray(entries []GPTEntry, first, last uint64) ([]byte, error) {
	if len(entries) > gptEntryCount {
		return nil, fmt.Errorf("%w: %d entries, a GPT holds %d", ErrGPTBadEntry, len(entries), gptEntryCount)
	}
	array := make([]byte, gptEntryCount*gptEntryMinSize)
	type span struct {
		slot        int
		first, last uint64
	}
	var used []span
	guids := map[[16]byte]int{}
	for i, e := range entries {
		slot := i + 1
		if e.Type == ([16]byte{}) {
			continue
		}
		switch {
		case e.Last < e.First:
			return nil, fmt.Errorf("%w: partition %d ends at sector %d, before its start %d", ErrGPTBadEntry, slot, e.Last, e.First)
		case e.First < first || e.Last > last:
			return nil, fmt.Errorf("%w: partition %d is sectors %d..%d, the usable sectors are %d..%d", ErrGPTOutsideUsable, slot, e.First, e.Last, first, last)
		case e.GUID == ([16]byte{}):
			return nil, fmt.Errorf("%w: partition %d has a zero unique GUID", ErrGPTBadEntry, slot)
		}
		if other, dup := guids[e.GUID]; dup {
			return nil, fmt.Errorf("%w: partitions %d and %d share the unique GUID %s", ErrGPTBadEntry, other, slot, GUIDString(e.GUID))
		}
		guids[e.GUID] = slot
		name := utf16.Encode([]rune(e.Name))
		if len(name) > gptNameUnits {
			return nil, fmt.Errorf("%w: partition %d name %q is %d UTF-16 code units, at most %d fit", ErrGPTBadEntry, slot, e.Name, len(name), gptNameUnits)
		}
		used = append(used, span{slot, e.First, e.Last})
		b := array[i*gptEntryMinSize : (i+1)*gptEntryMinSize]
		copy(b[gptEntType:], e.Type[:])
		copy(b[gptEntGUID:], e.GUID[:])
		binary.LittleEndian.PutUint64(b[gptEntFirst:], e.First)
		binary.LittleEndian.PutUint64(b[gptEntLast:], e.Last)
		binary.LittleEndian.PutUint64(b[gptEntAttrs:], e.Attributes)
		for j, u := range name {
			binary.LittleEndian.PutUint16(b[gptEntName+2*j:], u)
		}
	}
	slices.SortFunc(used, func(a, b span) int { return cmp.Compare(a.first, b.first) })
	for i := 1; i < len(used); i++ {
		if a, b := used[i-1], used[i]; b.first <= a.last {
			return nil, fmt.Errorf("%w: partition %d (sectors %d..%d) and partition %d (sectors %d..%d)", ErrGPTOverlap, a.slot, a.first, a.last, b.slot, b.first, b.last)
		}
	}
	return array, nil
}

// gptHeader encodes one header sector: the 92 bytes of revision 1.0 and
// zeros to the end of the sector (UEFI 2.10 table 5-5).
func gptHeader(disk [16]byte, my, alternate, entries, first, last uint64, array []byte) []byte {
	h := make([]byte, SectorSize)
	copy(h, gptSignature)
	binary.LittleEndian.PutUint32(h[gptHdrRevision:], gptRevision)
	binary.LittleEndian.PutUint32(h[gptHdrSize:], gptHeaderMinSize)
	binary.LittleEndian.PutUint64(h[gptHdrMyLBA:], my)
	binary.LittleEndian.PutUint64(h[gptHdrAlternateLBA:], alternate)
	binary.LittleEndian.PutUint64(h[gptHdrFirstUsable:], first)
	binary.LittleEndian.PutUint64(h[gptHdrLastUsable:], last)
	copy(h[gptHdrDiskGUID:], disk[:])
	binary.LittleEndian.PutUint64(h[gptHdrEntriesLBA:], entries)
	binary.LittleEndian.PutUint32(h[gptHdrEntryCount:], gptEntryCount)
	binary.LittleEndian.PutUint32(h[gptHdrEntrySize:], gptEntryMinSize)
	binary.LittleEndian.PutUint32(h[gptHdrEntriesCRC:], crc32.ChecksumIEEE(array))
	binary.LittleEndian.PutUint32(h[gptHdrCRC:], crc32.ChecksumIEEE(h[:gptHeaderMinSize]))
	return h
}

// ParseGUID reads a GUID written as text, 8-4-4-4-12 hex digits in either
// case ("C12A7328-F81F-11D2-BA4B-00A0C93EC93B"), and returns it in on-disk
// byte order: the first three groups little-endian, the last two as
// written (UEFI 2.10 appendix A). GUIDString is its inverse.
func ParseGUID(s string) ([16]byte, error) {
	var text [16]byte // the bytes in the order they are written
	if len(s) != 36 {
		return [16]byte{}, fmt.Errorf("%w: %q is %d characters, want 36 (8-4-4-4-12 hex digits)", ErrBadGUID, s, len(s))
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if s[i] != '-' {
				return [16]byte{}, fmt.Errorf("%w: %q has %q where a dash belongs (character %d)", ErrBadGUID, s, s[i], i+1)
			}
			continue
		}
		hi, ok1 := hexDigit(s[i])
		lo, ok2 := hexDigit(s[i+1])
		if !ok1 || !ok2 {
			return [16]byte{}, fmt.Errorf("%w: %q has a non-hex digit at character %d", ErrBadGUID, s, i+1)
		}
		text[n] = hi<<4 | lo
		n++
		i++
	}
	return guidBytes(binary.BigEndian.Uint32(text[0:]), binary.BigEndian.Uint16(text[4:]), binary.BigEndian.Uint16(text[6:]),
		[8]byte(text[8:16])), nil
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
