package disk

import (
	"fmt"
	"strconv"
	"strings"
)

// Geometry is the fake cylinder/head/sector shape a BIOS reports for a disk.
// MBR entries still carry CHS addresses, and 2007-era fdisk aligned
// partitions to it: the first partition starts on head 1 of cylinder 0,
// i.e. at sector SectorsPerTrack (63).
type Geometry struct {
	Heads           int // 1..255
	SectorsPerTrack int // 1..63
}

// DefaultGeometry is what BIOSes report for any disk larger than 504 MiB and
// what fdisk and sfdisk assume: 255 heads, 63 sectors per track.
var DefaultGeometry = Geometry{Heads: 255, SectorsPerTrack: 63}

// ParseGeometry reads "H/S", e.g. "255/63" or "16/63".
func ParseGeometry(s string) (Geometry, error) {
	h, sp, ok := strings.Cut(s, "/")
	if !ok {
		return Geometry{}, fmt.Errorf("geometry %q: give heads/sectors-per-track, e.g. 255/63", s)
	}
	heads, err1 := strconv.Atoi(h)
	spt, err2 := strconv.Atoi(sp)
	g := Geometry{Heads: heads, SectorsPerTrack: spt}
	if err1 != nil || err2 != nil {
		return Geometry{}, fmt.Errorf("geometry %q: give heads/sectors-per-track as numbers, e.g. 255/63", s)
	}
	return g, g.Validate()
}

// Validate checks the limits of the MBR's CHS fields: the head is one byte
// (0..254 usable, so at most 255 heads) and the sector number has 6 bits (1..63).
func (g Geometry) Validate() error {
	if g.Heads < 1 || g.Heads > 255 {
		return fmt.Errorf("geometry: %d heads; an MBR CHS address holds 1 to 255", g.Heads)
	}
	if g.SectorsPerTrack < 1 || g.SectorsPerTrack > 63 {
		return fmt.Errorf("geometry: %d sectors per track; an MBR CHS address holds 1 to 63", g.SectorsPerTrack)
	}
	return nil
}

func (g Geometry) String() string { return fmt.Sprintf("%d/%d", g.Heads, g.SectorsPerTrack) }

// CylinderSectors is the number of sectors in one cylinder (16065 for 255/63).
func (g Geometry) CylinderSectors() uint64 {
	return uint64(g.Heads) * uint64(g.SectorsPerTrack)
}

// CHS is a cylinder/head/sector address; Sector counts from 1.
type CHS struct {
	Cylinder, Head, Sector int
}

// MaxCylinder is the largest cylinder an MBR CHS field holds (10 bits).
const MaxCylinder = 1023

// CHS converts an LBA to a CHS address. Addresses beyond cylinder 1023 cannot
// be expressed; by convention (fdisk, sfdisk, Windows) they are written as
// 1023/254/63 for 255-head geometries — generally 1023/Heads-1/SectorsPerTrack —
// and the BIOS uses the LBA fields instead.
func (g Geometry) CHS(lba uint64) CHS {
	spt := uint64(g.SectorsPerTrack)
	cyl := lba / g.CylinderSectors()
	if cyl > MaxCylinder {
		return CHS{Cylinder: MaxCylinder, Head: g.Heads - 1, Sector: g.SectorsPerTrack}
	}
	return CHS{
		Cylinder: int(cyl),
		Head:     int((lba / spt) % uint64(g.Heads)),
		Sector:   int(lba%spt) + 1,
	}
}

// Bytes packs the address as the MBR stores it: head; sector in bits 0-5
// with cylinder bits 8-9 in bits 6-7; then cylinder bits 0-7.
func (c CHS) Bytes() [3]byte {
	return [3]byte{
		byte(c.Head),
		byte(c.Sector&0x3f) | byte((c.Cylinder>>8)&0x3)<<6,
		byte(c.Cylinder),
	}
}

// DecodeCHS unpacks the three MBR bytes.
func DecodeCHS(b [3]byte) CHS {
	return CHS{
		Head:     int(b[0]),
		Sector:   int(b[1] & 0x3f),
		Cylinder: int(b[1]&0xc0)<<2 | int(b[2]),
	}
}

func (c CHS) String() string { return fmt.Sprintf("%d/%d/%d", c.Cylinder, c.Head, c.Sector) }
