// Package iso9660 reads ISO 9660 images, read-only, as an io/fs.FS: the
// primary volume descriptor and its directory tree, with Rock Ridge names,
// modes, symlinks and relocated directories when present (SUSP/RRIP), else
// Joliet's UCS-2 names when present, else the plain ISO names with their
// ";1" version stripped. Names are looked up case-insensitively when the
// exact name is absent (firmware and ISOLINUX read plain ISO names so).
// It also parses the El Torito boot catalog (BootCatalog: each boot
// image's platform — 0 BIOS, 0xEF EFI —, emulation, load size and LBA), and
// Probe tells cheaply whether bytes at an offset start an ISO 9660 volume
// (also behind an isohybrid MBR: the descriptors are at byte 32768 either
// way). Layout facts follow ECMA-119, IEEE P1282 (Rock Ridge), SUSP
// (IEEE P1281), the Joliet specification and El Torito 1.0.
package iso9660

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf16"
)

// ErrCorrupt is wrapped by errors about inconsistent on-disk structures.
var ErrCorrupt = errors.New("corrupt ISO 9660 image")

// ErrPastPartitionEnd is wrapped by read errors for bytes beyond the size
// given to Open.
var ErrPastPartitionEnd = errors.New("past the partition end")

const (
	// SectorSize is the logical sector size of every CD-ROM format; the
	// volume descriptors start at sector 16 whatever the block size.
	SectorSize      = 2048
	descriptorStart = 16 * SectorSize
	// maxDescriptors bounds the volume descriptor set (real images have
	// 3..5; the terminator ends it).
	maxDescriptors = 64
	// maxDirBytes bounds one directory's extent (64 MiB: about a million
	// entries).
	maxDirBytes = 64 << 20
	// maxSUSPHops bounds continuation areas followed for one record.
	maxSUSPHops = 16
)

var le = binary.LittleEndian

// Volume descriptor types (ECMA-119 8.1.1).
const (
	vdBootRecord    = 0
	vdPrimary       = 1
	vdSupplementary = 2
	vdTerminator    = 255
)

// PrimaryVolume is what the primary volume descriptor says.
type PrimaryVolume struct {
	SystemID    string
	VolumeID    string // the label (blkid LABEL=)
	VolumeSet   string
	Publisher   string
	Application string
	BlockSize   int
	Blocks      uint32 // volume space size in blocks
	Created     string // the 17-byte creation date as digits ("2026120110151800"), blkid's UUID is derived from it
}

// UUID is the creation date as blkid formats it for root=UUID= on an ISO:
// "YYYY-MM-DD-HH-MM-SS-CC".
func (p *PrimaryVolume) UUID() string {
	d := p.Created
	if len(d) < 16 || strings.Trim(d, "0") == "" {
		return ""
	}
	return fmt.Sprintf("%s-%s-%s-%s-%s-%s-%s", d[0:4], d[4:6], d[6:8], d[8:10], d[10:12], d[12:14], d[14:16])
}

// dirRecord is one parsed directory record.
type dirRecord struct {
	extent  uint32
	size    uint32
	flags   uint8
	mtime   time.Time
	name    []byte // raw identifier
	sysUse  []byte // system use area (SUSP)
	recLen  int
	isDir   bool
	isMulti bool // not the last extent of a multi-extent file
}

func parseRecord(b []byte) (dirRecord, error) {
	if len(b) < 34 {
		return dirRecord{}, fmt.Errorf("directory record of %d bytes", len(b))
	}
	n := int(b[0])
	if n < 34 || n > len(b) {
		return dirRecord{}, fmt.Errorf("directory record length %d invalid (%d bytes left)", n, len(b))
	}
	nameLen := int(b[32])
	if 33+nameLen > n {
		return dirRecord{}, fmt.Errorf("name length %d does not fit the %d-byte record", nameLen, n)
	}
	r := dirRecord{
		extent: le.Uint32(b[2:]) + uint32(b[1]), // extended attribute record precedes the data
		size:   le.Uint32(b[10:]),
		flags:  b[25],
		mtime:  recordTime(b[18:25]),
		name:   b[33 : 33+nameLen],
		recLen: n,
	}
	su := 33 + nameLen
	if nameLen%2 == 0 {
		su++ // padding byte after an even-length identifier
	}
	if su < n {
		r.sysUse = b[su:n]
	}
	r.isDir = r.flags&0x02 != 0
	r.isMulti = r.flags&0x80 != 0
	return r, nil
}

// recordTime decodes the 7-byte recording date (ECMA-119 9.1.5): years
// since 1900, month, day, hour, minute, second, offset from GMT in 15
// minute units.
func recordTime(b []byte) time.Time {
	if b[0] == 0 && b[1] == 0 {
		return time.Time{}
	}
	t := time.Date(1900+int(b[0]), time.Month(b[1]), int(b[2]), int(b[3]), int(b[4]), int(b[5]), 0, time.UTC)
	return t.Add(-time.Duration(int8(b[6])) * 15 * time.Minute)
}

// isoName turns a plain ISO identifier into a file name: ";1" version
// and a trailing "." (no extension) dropped.
func isoName(id []byte) string {
	s := string(id)
	if i := strings.LastIndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSuffix(s, ".")
	return s
}

// jolietName decodes a Joliet UCS-2 big-endian identifier.
func jolietName(id []byte) string {
	u := make([]uint16, len(id)/2)
	for i := range u {
		u[i] = binary.BigEndian.Uint16(id[2*i:])
	}
	s := string(utf16.Decode(u))
	if i := strings.LastIndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSuffix(s, ".")
}

// ProbeResult is what Probe learns from the volume descriptors.
type ProbeResult struct {
	Label    string // volume identifier
	UUID     string // creation date as blkid spells it
	Bytes    int64  // volume space size × block size
	Joliet   bool
	ElTorito bool // a boot record volume descriptor is present
}

// Probe reports whether the bytes at off of r start an ISO 9660 volume:
// "CD001" descriptors from byte 32768 on, ending in a terminator, with a
// primary volume descriptor among them.
func Probe(r io.ReaderAt, off int64) (ProbeResult, bool) {
	if off < 0 {
		return ProbeResult{}, false
	}
	var res ProbeResult
	var pvd bool
	b := make([]byte, SectorSize)
	for i := int64(0); i < maxDescriptors; i++ {
		if n, _ := r.ReadAt(b, off+descriptorStart+i*SectorSize); n != len(b) {
			return ProbeResult{}, false
		}
		if string(b[1:6]) != "CD001" {
			return ProbeResult{}, false
		}
		switch b[0] {
		case vdPrimary:
			p, err := parsePrimary(b)
			if err != nil {
				return ProbeResult{}, false
			}
			pvd = true
			res.Label, res.UUID, res.Bytes = p.VolumeID, p.UUID(), int64(p.Blocks)*int64(p.BlockSize)
		case vdSupplementary:
			if isJoliet(b) {
				res.Joliet = true
			}
		case vdBootRecord:
			if isElTorito(b) {
				res.ElTorito = true
			}
		case vdTerminator:
			return res, pvd
		}
	}
	return ProbeResult{}, false
}

func trimA(b []byte) string { return strings.TrimRight(string(b), " \x00") }

func parsePrimary(b []byte) (*PrimaryVolume, error) {
	p := &PrimaryVolume{
		SystemID:    trimA(b[8:40]),
		VolumeID:    trimA(b[40:72]),
		Blocks:      le.Uint32(b[80:]),
		BlockSize:   int(le.Uint16(b[128:])),
		VolumeSet:   trimA(b[190:318]),
		Publisher:   trimA(b[318:446]),
		Application: trimA(b[574:702]),
		Created:     string(bytes.TrimRight(b[813:829], "\x00")),
	}
	bs := p.BlockSize
	if bs < 512 || bs > SectorSize || bs&(bs-1) != 0 {
		return nil, fmt.Errorf("iso9660: logical block size %d invalid (512, 1024 or 2048)", bs)
	}
	return p, nil
}

// isJoliet reports a supplementary descriptor with a Joliet UCS-2 escape
// sequence (%/@, %/C or %/E at byte 88).
func isJoliet(b []byte) bool {
	esc := b[88:91]
	return esc[0] == '%' && esc[1] == '/' && (esc[2] == '@' || esc[2] == 'C' || esc[2] == 'E')
}

func isElTorito(b []byte) bool {
	return strings.HasPrefix(string(b[7:39]), "EL TORITO SPECIFICATION")
}
