package disk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Scheme is the kind of partition table an image carries.
type Scheme string

// Partition table schemes ReadPartitions recognises.
const (
	SchemeNone Scheme = ""    // no 55 AA signature: no table (a bare filesystem, or nothing)
	SchemeMBR  Scheme = "mbr" // DOS/MBR: four primary entries, logical partitions in an extended one
	SchemeGPT  Scheme = "gpt" // a protective MBR (type 0xEE) and a GUID partition table at LBA 1
)

// MBR partition types the partition layer needs to know.
const (
	TypeExtendedCHS   = 0x05 // DOS extended partition
	TypeExtendedLBA   = 0x0F // Windows extended partition (LBA)
	TypeExtendedLinux = 0x85 // Linux extended partition
	TypeGPTProtective = 0xEE // protective MBR entry covering a GPT disk
)

// IsExtended reports whether an MBR type is an extended partition (a
// container of logical partitions, linked by extended boot records), as the
// kernel's is_extended_partition() does.
func IsExtended(t byte) bool {
	return t == TypeExtendedCHS || t == TypeExtendedLBA || t == TypeExtendedLinux
}

// GPT partition type GUIDs, in their on-disk (mixed-endian) byte order.
var (
	// GUIDLinuxFilesystem is 0FC63DAF-8483-4772-8E79-3D69D8477DE4, the GPT
	// counterpart of MBR type 0x83.
	GUIDLinuxFilesystem = guidBytes(0x0FC63DAF, 0x8483, 0x4772, [8]byte{0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47, 0x7D, 0xE4})
	// GUIDEFISystem is C12A7328-F81F-11D2-BA4B-00A0C93EC93B (the ESP).
	GUIDEFISystem = guidBytes(0xC12A7328, 0xF81F, 0x11D2, [8]byte{0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E, 0xC9, 0x3B})
	// GUIDBIOSBoot is 21686148-6449-6E6F-744E-656564454649 ("Hah!IdontNeedEFI"),
	// the BIOS boot partition GRUB 2 embeds core.img in on a GPT disk.
	GUIDBIOSBoot = guidBytes(0x21686148, 0x6449, 0x6E6F, [8]byte{0x74, 0x4E, 0x65, 0x65, 0x64, 0x45, 0x46, 0x49})
)

func guidBytes(a uint32, b, c uint16, d [8]byte) [16]byte {
	var g [16]byte
	binary.LittleEndian.PutUint32(g[0:], a)
	binary.LittleEndian.PutUint16(g[4:], b)
	binary.LittleEndian.PutUint16(g[6:], c)
	copy(g[8:], d[:])
	return g
}

// GUIDString formats an on-disk GUID the way sfdisk and gdisk print it.
func GUIDString(g [16]byte) string {
	return fmt.Sprintf("%08X-%04X-%04X-%X-%X", binary.LittleEndian.Uint32(g[0:]),
		binary.LittleEndian.Uint16(g[4:]), binary.LittleEndian.Uint16(g[6:]), g[8:10], g[10:16])
}

// Errors ReadPartitions and FindRoot return; callers test them with errors.Is.
var (
	// ErrNoTable: sector 0 has no 55 AA signature.
	ErrNoTable = errors.New("no partition table (bytes 510-511 are not 55 AA)")
	// ErrNoPartition (defined with ReadLayout) means no Linux partition.

	// ErrBadGPT: the protective MBR announces a GPT that cannot be read.
	ErrBadGPT = errors.New("unreadable GPT")
)

// Limits that keep a hostile table from making the readers loop or allocate
// without bound.
const (
	// maxLogical bounds the EBR chain. The kernel stops at its partition
	// limit (DISK_MAX_PARTS, 256) and fdisk at 60 logical partitions; 252
	// keeps every number Linux could give (5..256).
	maxLogical = 252
	// maxGPTEntries is four times the 128 entries every GPT tool writes.
	maxGPTEntries = 4 * gptEntryCount
)

// PartitionTable is the parsed partition table of an image.
type PartitionTable struct {
	Scheme Scheme
	MBR    *MBR // sector 0 (also the protective MBR of a GPT disk)
	// Partitions in the order Linux numbers them: MBR primaries 1..4 (used
	// entries only, extended ones included), then the logical partitions
	// 5.. of the extended partition; GPT entries 1.. by slot.
	Partitions []Partition
}

// ReadPartitions reads the partition table of an image of size bytes: the
// MBR with the logical partitions of its extended partition, or the GPT
// behind a protective MBR. A disk without the 55 AA signature returns
// ErrNoTable. It never panics, and bounds every chain it follows.
func ReadPartitions(r io.ReaderAt, size int64) (*PartitionTable, error) {
	m, err := ReadMBR(r)
	if err != nil {
		return nil, err
	}
	if !m.HasSignature {
		return &PartitionTable{MBR: m}, ErrNoTable
	}
	t := &PartitionTable{Scheme: SchemeMBR, MBR: m}
	for i, e := range m.Entries {
		if e.Type == TypeGPTProtective {
			t.Scheme = SchemeGPT
			ps, err := readGPT(r, size)
			if err != nil {
				return t, err
			}
			t.Partitions = ps
			return t, nil
		}
		if !e.Used() {
			continue
		}
		t.Partitions = append(t.Partitions, Partition{Index: i + 1, Start: uint64(e.StartLBA),
			Sectors: uint64(e.Sectors), Type: e.Type, Bootable: e.Status == 0x80})
	}
	next := 5
	for _, p := range append([]Partition(nil), t.Partitions...) {
		if IsExtended(p.Type) {
			t.Partitions = append(t.Partitions, readLogical(r, size, p, &next)...)
		}
	}
	return t, nil
}

// readLogical follows the chain of extended boot records (EBRs) inside the
// extended partition ext, as the kernel's parse_extended() does: each EBR is
// a sector with an MBR-style table whose data entries are logical partitions
// (start relative to that EBR) and whose extended entry links the next EBR
// (start relative to ext). A chain that loops, leaves ext or the image, or
// runs past maxLogical stops there; what was read so far is kept.
func readLogical(r io.ReaderAt, size int64, ext Partition, next *int) []Partition {
	var out []Partition
	seen := map[uint64]bool{}
	ebr := ext.Start
	sec := make([]byte, SectorSize)
	for len(out) < maxLogical && len(seen) < maxLogical {
		if seen[ebr] || ebr < ext.Start || ebr >= ext.Start+ext.Sectors {
			break
		}
		seen[ebr] = true
		if n, _ := r.ReadAt(sec, int64(ebr)*SectorSize); n < SectorSize || int64(ebr)*SectorSize+SectorSize > size {
			break
		}
		if sec[SignatureBytes] != 0x55 || sec[SignatureBytes+1] != 0xAA {
			break
		}
		m, _ := ParseMBR(sec)
		// The part of the extended partition this EBR describes: from the
		// EBR to the end of ext (the kernel checks entries 3 and 4 against
		// it, as they often hold garbage).
		room := ext.Start + ext.Sectors - ebr
		for i, e := range m.Entries {
			if e.Sectors == 0 || e.Type == 0 || IsExtended(e.Type) {
				continue
			}
			if i >= 2 && (uint64(e.StartLBA)+uint64(e.Sectors) > room || uint64(e.StartLBA) >= room) {
				continue
			}
			out = append(out, Partition{Index: *next, Start: ebr + uint64(e.StartLBA), Sectors: uint64(e.Sectors),
				Type: e.Type, Bootable: e.Status == 0x80, Logical: true})
			*next++
			if len(out) >= maxLogical {
				return out
			}
		}
		link := -1
		for i, e := range m.Entries {
			if e.Sectors != 0 && IsExtended(e.Type) {
				link = i
				break
			}
		}
		if link < 0 {
			break
		}
		ebr = ext.Start + uint64(m.Entries[link].StartLBA)
	}
	return out
}

// GPT header and entry layout (UEFI 2.10 §5.3). readGPT and WriteGPT share
// them.
const (
	gptSignature      = "EFI PART"
	gptRevision       = 0x00010000 // revision 1.0, the only one defined
	gptHeaderMinSize  = 92         // the defined header fields; WriteGPT writes exactly these
	gptEntryMinSize   = 128        // bytes per entry; WriteGPT writes this size
	gptAttrLegacyBoot = 1 << 2     // "Legacy BIOS bootable" attribute bit

	// gptHeaderLBA is the primary header's sector; its entry array follows
	// at gptEntriesLBA. The backup header is the disk's last sector, its
	// array the gptArraySectors before it.
	gptHeaderLBA  = 1
	gptEntriesLBA = 2
	// gptEntryCount is the 128 entries every GPT tool writes: the minimum
	// array of 16 KiB the spec reserves, 32 sectors.
	gptEntryCount   = 128
	gptArraySectors = gptEntryCount * gptEntryMinSize / SectorSize
	// gptNameUnits: the partition name is 72 bytes of UTF-16LE.
	gptNameUnits = 36

	// Header field offsets (UEFI 2.10 table 5-5).
	gptHdrRevision     = 8
	gptHdrSize         = 12
	gptHdrCRC          = 16 // CRC32 of the header bytes with this field zero
	gptHdrMyLBA        = 24
	gptHdrAlternateLBA = 32
	gptHdrFirstUsable  = 40
	gptHdrLastUsable   = 48
	gptHdrDiskGUID     = 56
	gptHdrEntriesLBA   = 72
	gptHdrEntryCount   = 80
	gptHdrEntrySize    = 84
	gptHdrEntriesCRC   = 88 // CRC32 of the whole entry array

	// Entry field offsets (UEFI 2.10 table 5-6).
	gptEntType  = 0 // partition type GUID; all zero = unused slot
	gptEntGUID  = 16
	gptEntFirst = 32 // first and last LBA, inclusive
	gptEntLast  = 40
	gptEntAttrs = 48
	gptEntName  = 56
)

// Field is where one fixed-size field of an on-disk structure lies: its
// byte offset from the start of the structure and its size in bytes. The
// *Layout tables (one per structure: here, in grub and in rootfs/ext2)
// are made of them, built from the offsets each parser uses, so a view that
// shows the bytes (explain) needs no copy of its own.
type Field struct{ Offset, Size int }

// GPTHeaderLayout is the layout of the GPT header (UEFI 2.10 §5.3.2, table 5-5),
// each field named as the spec names it; bytes 20..23 are Reserved (zero)
// and the fields end at byte 92, the HeaderSize WriteGPT writes. readGPT and WriteGPT read and write at the
// same offsets (the gptHdr* constants). For a view that shows the bytes
// (explain); read-only.
var GPTHeaderLayout = struct {
	Signature, Revision, HeaderSize, HeaderCRC32, MyLBA, AlternateLBA,
	FirstUsableLBA, LastUsableLBA, DiskGUID, PartitionEntryLBA,
	NumberOfPartitionEntries, SizeOfPartitionEntry, PartitionEntryArrayCRC32 Field
}{
	Signature:                Field{0, len(gptSignature)},
	Revision:                 Field{gptHdrRevision, 4},
	HeaderSize:               Field{gptHdrSize, 4},
	HeaderCRC32:              Field{gptHdrCRC, 4},
	MyLBA:                    Field{gptHdrMyLBA, 8},
	AlternateLBA:             Field{gptHdrAlternateLBA, 8},
	FirstUsableLBA:           Field{gptHdrFirstUsable, 8},
	LastUsableLBA:            Field{gptHdrLastUsable, 8},
	DiskGUID:                 Field{gptHdrDiskGUID, 16},
	PartitionEntryLBA:        Field{gptHdrEntriesLBA, 8},
	NumberOfPartitionEntries: Field{gptHdrEntryCount, 4},
	SizeOfPartitionEntry:     Field{gptHdrEntrySize, 4},
	PartitionEntryArrayCRC32: Field{gptHdrEntriesCRC, 4},
}

// GPTEntryLayout is the layout of a GPT partition entry (UEFI 2.10 §5.3.3, table
// 5-6), named as the spec names its fields; they end at byte 128, the
// SizeOfPartitionEntry WriteGPT writes. readGPT and WriteGPT use the same
// offsets (the gptEnt* constants). Read-only.
var GPTEntryLayout = struct {
	PartitionTypeGUID, UniquePartitionGUID, StartingLBA, EndingLBA, Attributes, PartitionName Field
}{
	PartitionTypeGUID:   Field{gptEntType, 16},
	UniquePartitionGUID: Field{gptEntGUID, 16},
	StartingLBA:         Field{gptEntFirst, 8},
	EndingLBA:           Field{gptEntLast, 8},
	Attributes:          Field{gptEntAttrs, 8},
	PartitionName:       Field{gptEntName, 2 * gptNameUnits},
}

// readGPT reads the primary GPT (header at LBA 1). The header and entry
// array CRC32s must match, as in every GPT reader, so random bytes after a
// protective MBR are not taken for partitions.
func readGPT(r io.ReaderAt, size int64) ([]Partition, error) {
	h := make([]byte, SectorSize)
	if n, _ := r.ReadAt(h, gptHeaderLBA*SectorSize); n < SectorSize {
		return nil, fmt.Errorf("%w: the image ends before the GPT header at sector 1", ErrBadGPT)
	}
	if string(h[:len(gptSignature)]) != gptSignature {
		return nil, fmt.Errorf("%w: no \"EFI PART\" signature at sector 1", ErrBadGPT)
	}
	hsize := binary.LittleEndian.Uint32(h[gptHdrSize:])
	if hsize < gptHeaderMinSize || hsize > SectorSize {
		return nil, fmt.Errorf("%w: header size %d outside %d..%d", ErrBadGPT, hsize, gptHeaderMinSize, SectorSize)
	}
	hdr := append([]byte(nil), h[:hsize]...)
	want := binary.LittleEndian.Uint32(hdr[gptHdrCRC:])
	clear(hdr[gptHdrCRC : gptHdrCRC+4])
	if crc32.ChecksumIEEE(hdr) != want {
		return nil, fmt.Errorf("%w: header CRC32 mismatch", ErrBadGPT)
	}
	entriesLBA := binary.LittleEndian.Uint64(h[gptHdrEntriesLBA:])
	count := binary.LittleEndian.Uint32(h[gptHdrEntryCount:])
	esize := binary.LittleEndian.Uint32(h[gptHdrEntrySize:])
	if esize < gptEntryMinSize || esize%8 != 0 || esize > 4096 || count > maxGPTEntries {
		return nil, fmt.Errorf("%w: %d entries of %d bytes", ErrBadGPT, count, esize)
	}
	total := int64(count) * int64(esize)
	if entriesLBA < gptEntriesLBA || entriesLBA > uint64(size)/SectorSize || int64(entriesLBA)*SectorSize+total > size {
		return nil, fmt.Errorf("%w: entry array at sector %d lies outside the %d-byte image", ErrBadGPT, entriesLBA, size)
	}
	arr := make([]byte, total)
	if n, _ := r.ReadAt(arr, int64(entriesLBA)*SectorSize); int64(n) < total {
		return nil, fmt.Errorf("%w: short read of the entry array", ErrBadGPT)
	}
	if crc32.ChecksumIEEE(arr) != binary.LittleEndian.Uint32(h[gptHdrEntriesCRC:]) {
		return nil, fmt.Errorf("%w: entry array CRC32 mismatch", ErrBadGPT)
	}
	var out []Partition
	var zero [16]byte
	for i := range int(count) {
		e := arr[i*int(esize):]
		var typ [16]byte
		copy(typ[:], e[gptEntType:])
		if typ == zero {
			continue
		}
		first, last := binary.LittleEndian.Uint64(e[gptEntFirst:]), binary.LittleEndian.Uint64(e[gptEntLast:])
		if last < first {
			continue
		}
		attrs := binary.LittleEndian.Uint64(e[gptEntAttrs:])
		out = append(out, Partition{Index: i + 1, Start: first, Sectors: last - first + 1,
			TypeGUID: typ, Bootable: attrs&gptAttrLegacyBoot != 0})
	}
	return out, nil
}

// IsLinux reports whether p is a Linux filesystem partition: MBR type 0x83,
// or the GPT Linux filesystem data GUID.
func (p Partition) IsLinux() bool {
	if p.TypeGUID != ([16]byte{}) {
		return bytes.Equal(p.TypeGUID[:], GUIDLinuxFilesystem[:])
	}
	return p.Type == TypeLinux
}

// FindRoot picks the partition that holds the root filesystem. This is THE
// rule every minidisk command (ls, cat, mount, mkfs, rootfs add, grub
// install, doctor) uses, so they all agree on which partition an image boots:
//
//  1. The candidates are the Linux partitions (MBR type 0x83, or the GPT
//     Linux filesystem GUID) in Linux's numbering: primaries 1..4, then
//     the logical partitions 5.. of an extended partition (0x05, 0x0F,
//     0x85); GPT entries 1.. by slot.
//  2. The active one (MBR status 0x80; GPT "legacy BIOS bootable"
//     attribute) wins when it holds a filesystem: it is what a BIOS MBR
//     boot code loads.
//  3. Else the first candidate that holds a filesystem (holdsFS says,
//     from the partition's byte offset and length).
//  4. Else, when no candidate holds one (an image about to get its
//     filesystem, as for mkfs), the active candidate, else the first.
//
// holdsFS may be nil: every partition then counts as holding one. Partitions
// that start past the image end never hold a filesystem. ErrNoTable and
// ErrNoPartition (wrapped) say why nothing was picked.
func FindRoot(r io.ReaderAt, size int64, holdsFS func(offset, length int64) bool) (Partition, error) {
	t, err := ReadPartitions(r, size)
	if err != nil {
		return Partition{}, err
	}
	return t.Root(size, holdsFS)
}

// Root applies FindRoot's rule to an already read table.
func (t *PartitionTable) Root(size int64, holdsFS func(offset, length int64) bool) (Partition, error) {
	var cands []Partition
	for _, p := range t.Partitions {
		if p.IsLinux() && p.Sectors > 0 {
			cands = append(cands, p)
		}
	}
	if len(cands) == 0 {
		if t.Scheme == SchemeGPT {
			return Partition{}, fmt.Errorf("%w (no GPT entry has the Linux filesystem type %s)", ErrNoPartition, GUIDString(GUIDLinuxFilesystem))
		}
		return Partition{}, ErrNoPartition
	}
	has := func(p Partition) bool {
		off := int64(p.Start) * SectorSize
		if off < 0 || off >= size || p.Start > uint64(size) {
			return false
		}
		return holdsFS == nil || holdsFS(off, int64(p.Sectors)*SectorSize)
	}
	var firstFS *Partition
	for i, p := range cands {
		if !has(p) {
			continue
		}
		if p.Bootable {
			return p, nil
		}
		if firstFS == nil {
			firstFS = &cands[i]
		}
	}
	if firstFS != nil {
		return *firstFS, nil
	}
	for _, p := range cands {
		if p.Bootable {
			return p, nil
		}
	}
	return cands[0], nil
}
