package iso9660

import (
	"fmt"
	"io/fs"
)

// El Torito platform IDs (El Torito 1.0, 2.0; UEFI 2.x 12.3.2.1).
const (
	PlatformBIOS = 0x00 // 80x86 PC BIOS
	PlatformPPC  = 0x01
	PlatformMac  = 0x02
	PlatformEFI  = 0xEF
)

// Emulation types of a boot entry's media byte (low 4 bits).
const (
	EmulationNone     = 0
	Emulation12Floppy = 1
	Emulation144      = 2
	Emulation288      = 3
	EmulationHardDisk = 4
)

// BootEntry is one initial/default or section entry of the boot catalog.
type BootEntry struct {
	Platform    uint8  // Platform*: of the validation entry or the section header
	Bootable    bool   // boot indicator 0x88
	Emulation   uint8  // Emulation*
	LoadSegment uint16 // 0 means the BIOS default 0x7C0
	SystemType  uint8  // partition type of a hard-disk image
	SectorCount uint16 // 512-byte sectors the BIOS loads (no emulation)
	LBA         uint32 // 2048-byte block of the image
}

// PlatformName is "BIOS", "EFI", "PowerPC", "Mac" or the number.
func (e BootEntry) PlatformName() string {
	switch e.Platform {
	case PlatformBIOS:
		return "BIOS"
	case PlatformEFI:
		return "EFI"
	case PlatformPPC:
		return "PowerPC"
	case PlatformMac:
		return "Mac"
	}
	return fmt.Sprintf("platform %#02x", e.Platform)
}

// BootCatalog is the El Torito boot catalog.
type BootCatalog struct {
	LBA     uint32 // block of the catalog (from the boot record descriptor)
	ID      string // the validation entry's ID string (manufacturer)
	Entries []BootEntry
}

// maxCatalogSectors bounds the catalog read (each holds 64 entries).
const maxCatalogSectors = 4

// BootCatalog parses the El Torito boot catalog; nil, nil when the image
// has no El Torito boot record.
func (f *FS) BootCatalog() (*BootCatalog, error) {
	if !f.hasBoot {
		return nil, nil
	}
	b := make([]byte, SectorSize)
	if err := f.readAt(b, f.bootLBA*SectorSize, "El Torito boot catalog"); err != nil {
		return nil, err
	}
	// Validation entry: header 01, platform, ID (24 bytes), checksum
	// making the 16 little-endian words sum to 0, key 55 AA.
	if b[0] != 0x01 || b[30] != 0x55 || b[31] != 0xAA {
		return nil, fmt.Errorf("iso9660: El Torito catalog at block %d: no validation entry (header %#02x, key %02x %02x): %w", f.bootLBA, b[0], b[30], b[31], ErrCorrupt)
	}
	var sum uint16
	for i := 0; i < 32; i += 2 {
		sum += le.Uint16(b[i:])
	}
	if sum != 0 {
		return nil, fmt.Errorf("iso9660: El Torito catalog at block %d: validation checksum %#04x, want 0: %w", f.bootLBA, sum, ErrCorrupt)
	}
	cat := &BootCatalog{LBA: uint32(f.bootLBA), ID: trimA(b[4:28])}
	cat.Entries = append(cat.Entries, bootEntry(b[32:64], b[1]))
	raw := b
	for off := 64; ; {
		if off+32 > len(raw) {
			if len(raw) >= maxCatalogSectors*SectorSize {
				break
			}
			more := make([]byte, SectorSize)
			if err := f.readAt(more, f.bootLBA*SectorSize+int64(len(raw)), "El Torito boot catalog"); err != nil {
				break // entries beyond the image: what was read stands
			}
			raw = append(raw, more...)
		}
		h := raw[off]
		if h != 0x90 && h != 0x91 {
			break
		}
		platform, count := raw[off+1], int(le.Uint16(raw[off+2:]))
		off += 32
		for i := 0; i < count; {
			if off+32 > len(raw) {
				if len(raw) >= maxCatalogSectors*SectorSize {
					return cat, nil
				}
				more := make([]byte, SectorSize)
				if err := f.readAt(more, f.bootLBA*SectorSize+int64(len(raw)), "El Torito boot catalog"); err != nil {
					return cat, nil
				}
				raw = append(raw, more...)
			}
			e := raw[off : off+32]
			off += 32
			if e[0] == 0x44 {
				continue // extension of the previous entry's selection criteria
			}
			cat.Entries = append(cat.Entries, bootEntry(e, platform))
			i++
		}
		if h == 0x91 {
			break
		}
	}
	return cat, nil
}

func bootEntry(e []byte, platform uint8) BootEntry {
	return BootEntry{
		Platform:    platform,
		Bootable:    e[0] == 0x88,
		Emulation:   e[1] & 0x0F,
		LoadSegment: le.Uint16(e[2:]),
		SystemType:  e[4],
		SectorCount: le.Uint16(e[6:]),
		LBA:         le.Uint32(e[8:]),
	}
}

// PathAtLBA returns the path of the file whose data starts at block lba
// (to name a boot image), walking the tree; "" when none does.
func (f *FS) PathAtLBA(lba uint32) (string, error) {
	found := ""
	stop := fmt.Errorf("found")
	err := f.Walk(func(name string, fi *FileInfo) error {
		if fi.Mode().IsRegular() && fi.LBA == lba && fi.Extents > 0 {
			found = name
			return stop
		}
		return nil
	})
	if err != nil && err != stop {
		return "", err
	}
	return found, nil
}

var _ fs.FileInfo = (*FileInfo)(nil)
