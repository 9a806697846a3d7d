package disk

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/diskfs/go-diskfs/partition/mbr"
)

// Byte offsets in the MBR sector.
const (
	// BootCodeSize: bytes 0..439 are boot code (GRUB's stage1 goes there);
	// partitioning never touches them.
	BootCodeSize   = 440
	DiskIDOffset   = 0x1B8 // 4-byte disk signature (Windows, Linux PARTUUID)
	TableOffset    = 0x1BE // four 16-byte partition entries
	EntrySize      = 16
	SignatureBytes = 0x1FE // 0x55 0xAA
)

// Byte offsets of a partition entry's fields, from the entry's start at
// TableOffset + i × EntrySize: the ones ParseMBR reads and WriteGPT's
// protective entry is written at.
const (
	entStatus   = 0  // 1 byte
	entStartCHS = 1  // 3 bytes, packed (DecodeCHS)
	entType     = 4  // 1 byte
	entEndCHS   = 5  // 3 bytes, packed
	entStartLBA = 8  // 4 bytes
	entSectors  = 12 // 4 bytes
)

// MBREntryLayout is where a partition entry's fields lie (the ent*
// offsets ParseMBR reads), named as Entry's fields. For a view that shows
// the bytes (explain); read-only.
var MBREntryLayout = struct{ Status, StartCHS, Type, EndCHS, StartLBA, Sectors Field }{
	Status:   Field{entStatus, 1},
	StartCHS: Field{entStartCHS, 3},
	Type:     Field{entType, 1},
	EndCHS:   Field{entEndCHS, 3},
	StartLBA: Field{entStartLBA, 4},
	Sectors:  Field{entSectors, 4},
}

// Entry is one raw MBR partition entry, as stored.
type Entry struct {
	Status   byte    // 0x80 = bootable ("active"), 0x00 = not; anything else is invalid
	StartCHS [3]byte // packed CHS of the first sector
	Type     byte    // partition type, 0 = unused
	EndCHS   [3]byte // packed CHS of the last sector
	StartLBA uint32
	Sectors  uint32
}

// Used reports whether the entry describes a partition.
func (e Entry) Used() bool { return e.Type != 0 && e.Sectors != 0 }

// MBR is a parsed master boot record.
type MBR struct {
	DiskID       uint32
	Entries      [4]Entry
	HasSignature bool // bytes 510-511 are 55 AA
}

// ParseMBR decodes sector 0. It never fails on content (doctor reports
// what is wrong), only on a short buffer.
func ParseMBR(sector []byte) (*MBR, error) {
	if len(sector) < SectorSize {
		return nil, fmt.Errorf("MBR: need 512 bytes, have %d", len(sector))
	}
	m := &MBR{
		DiskID:       binary.LittleEndian.Uint32(sector[DiskIDOffset:]),
		HasSignature: sector[SignatureBytes] == 0x55 && sector[SignatureBytes+1] == 0xAA,
	}
	for i := range m.Entries {
		b := sector[TableOffset+i*EntrySize:]
		m.Entries[i] = Entry{
			Status:   b[entStatus],
			StartCHS: [3]byte(b[entStartCHS : entStartCHS+3]),
			Type:     b[entType],
			EndCHS:   [3]byte(b[entEndCHS : entEndCHS+3]),
			StartLBA: binary.LittleEndian.Uint32(b[entStartLBA:]),
			Sectors:  binary.LittleEndian.Uint32(b[entSectors:]),
		}
	}
	return m, nil
}

// ReadMBR reads and decodes sector 0 of an image.
func ReadMBR(r io.ReaderAt) (*MBR, error) {
	b := make([]byte, SectorSize)
	if n, err := r.ReadAt(b, 0); n < SectorSize {
		if err == nil || err == io.EOF {
			err = errors.New("image is shorter than one sector")
		}
		return nil, fmt.Errorf("reading the MBR: %w", err)
	}
	return ParseMBR(b)
}

// ErrNoPartition is returned when the partition table has no Linux partition.
var ErrNoPartition = errors.New("no Linux (type 0x83) partition in the partition table")

// ReadLayout recovers the layout of an existing image from its MBR: the
// partition FindRoot picks (holdsFS says which partitions hold a
// filesystem; nil = any). The geometry is not stored in an MBR; the default
// is assumed.
func ReadLayout(r io.ReaderAt, imageBytes int64, blockSize int, holdsFS func(offset, length int64) bool) (*Layout, error) {
	t, err := ReadPartitions(r, imageBytes)
	if errors.Is(err, ErrNoTable) {
		return nil, fmt.Errorf("no MBR (bytes 510-511 are not 55 AA); run `minidisk part` first")
	}
	if err != nil {
		return nil, err
	}
	if t.Scheme != SchemeMBR {
		return nil, fmt.Errorf("the image has a %s partition table; this command needs an MBR disk (`minidisk part`)", t.Scheme)
	}
	p, err := t.Root(imageBytes, holdsFS)
	if err != nil {
		return nil, fmt.Errorf("%w; run `minidisk part` first", err)
	}
	if blockSize == 0 {
		blockSize = 1024
	}
	l := &Layout{
		DiskSectors: uint64(imageBytes / SectorSize),
		Geometry:    DefaultGeometry,
		Partition:   p,
		BlockSize:   blockSize,
		FromTable:   true,
	}
	if l.Partition.Start+l.Partition.Sectors > l.DiskSectors {
		return nil, fmt.Errorf("partition %d (sectors %d..%d) ends past the image (%d sectors); the image was truncated or the table is wrong",
			l.Partition.Index, l.Partition.Start, l.Partition.End(), l.DiskSectors)
	}
	return l, nil
}

// DefaultDiskID derives a disk signature from the layout, so the same
// layout gives the same bytes (reproducible images) while different layouts
// differ. Zero is avoided: tools treat a zero signature as "none".
func DefaultDiskID(l *Layout) uint32 {
	h := sha256.Sum256(fmt.Appendf(nil, "minidisk mbr %d %d %d", l.DiskSectors, l.Partition.Start, l.Partition.Sectors))
	id := binary.LittleEndian.Uint32(h[:])
	if id == 0 {
		id = 1
	}
	return id
}

// MBRSector returns sector 0 with the layout's partition table written over
// old (the current sector 0): bytes 0..439 (boot code) are kept, the disk
// signature is diskID, entries 2..4 are cleared and 510-511 are 55 AA.
func MBRSector(old []byte, l *Layout, diskID uint32) ([]byte, error) {
	if len(old) != SectorSize {
		return nil, fmt.Errorf("MBR: need 512 bytes, have %d", len(old))
	}
	p := l.Partition
	s := l.Geometry.CHS(p.Start).Bytes()
	e := l.Geometry.CHS(p.End()).Bytes()
	t := &mbr.Table{
		LogicalSectorSize:  SectorSize,
		PhysicalSectorSize: SectorSize,
		Partitions: []*mbr.Partition{{
			Index: 1, Bootable: p.Bootable, Type: mbr.Type(p.Type),
			Start: uint32(p.Start), Size: uint32(p.Sectors),
			StartHead: s[0], StartSector: s[1], StartCylinder: s[2],
			EndHead: e[0], EndSector: e[1], EndCylinder: e[2],
		}},
	}
	buf := &sectorFile{b: append([]byte(nil), old...)}
	// go-diskfs writes the four entries and the 55 AA signature only.
	if err := t.Write(buf, l.DiskBytes()); err != nil {
		return nil, err
	}
	binary.LittleEndian.PutUint32(buf.b[DiskIDOffset:], diskID)
	// Bytes 0x1BC-0x1BD: "copy protected" marker, 0 in every MBR fdisk writes.
	buf.b[0x1BC], buf.b[0x1BD] = 0, 0
	return buf.b, nil
}

// WritePartitionTable writes the layout's MBR into sector 0 of img in one
// 512-byte write, keeping the boot code. An existing non-zero disk signature
// is kept unless diskID is non-zero (as fdisk keeps it).
func WritePartitionTable(img interface {
	io.ReaderAt
	io.WriterAt
}, l *Layout, diskID uint32) (uint32, error) {
	old := make([]byte, SectorSize)
	if n, err := img.ReadAt(old, 0); n != SectorSize && err != io.EOF {
		return 0, err
	}
	if diskID == 0 {
		diskID = binary.LittleEndian.Uint32(old[DiskIDOffset:])
	}
	if diskID == 0 {
		diskID = DefaultDiskID(l)
	}
	sec, err := MBRSector(old, l, diskID)
	if err != nil {
		return 0, err
	}
	_, err = img.WriteAt(sec, 0)
	return diskID, err
}

// sectorFile is a 512-byte in-memory file: go-diskfs' mbr.Table.Write wants
// a backend.WritableFile, and composing the sector in memory lets us write
// it to the image in one piece.
type sectorFile struct{ b []byte }

func (s *sectorFile) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(s.b)) {
		return 0, errors.New("write outside the MBR sector")
	}
	return copy(s.b[off:], p), nil
}
func (s *sectorFile) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= int64(len(s.b)) {
		return 0, io.EOF
	}
	n := copy(p, s.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
func (s *sectorFile) Read(p []byte) (int, error)                { return s.ReadAt(p, 0) }
func (s *sectorFile) Seek(off int64, whence int) (int64, error) { return 0, errors.New("not seekable") }
func (s *sectorFile) Close() error                              { return nil }
func (s *sectorFile) Stat() (fs.FileInfo, error)                { return sectorInfo{}, nil }

type sectorInfo struct{}

func (sectorInfo) Name() string       { return "mbr" }
func (sectorInfo) Size() int64        { return SectorSize }
func (sectorInfo) Mode() fs.FileMode  { return 0o644 }
func (sectorInfo) ModTime() time.Time { return time.Time{} }
func (sectorInfo) IsDir() bool        { return false }
func (sectorInfo) Sys() any           { return nil }
