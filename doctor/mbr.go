package doctor

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/rootfs/ext2"
	"github.com/minidisk/minidisk/rootfs/fat"
)

// sectorSize is disk's: partition tables count 512-byte sectors.
const sectorSize = disk.SectorSize

// MBR partition types doctor names (the kernel's include/linux/msdos_partition.h
// and fdisk's type list).
const (
	typeFAT12      = 0x01
	typeFAT16Small = 0x04
	typeExtended   = 0x05
	typeFAT16      = 0x06
	typeFAT32      = 0x0b
	typeFAT32LBA   = 0x0c
	typeFAT16LBA   = 0x0e
	typeExtLBA     = 0x0f
	typeSwap       = 0x82
	typeLinux      = 0x83
	typeLinuxExt   = 0x85
	typeGPT        = 0xee
	typeESP        = 0xef
)

// content is what a partition's first sectors hold.
type content string

const (
	contentUnknown content = ""
	contentExt2    content = "ext2"
	contentFAT     content = "FAT"
	contentSwap    content = "Linux swap"
)

// ext2MagicOffset is where s_magic lies from the start of an ext2-family
// filesystem (byte 1080): the superblock's offset and s_magic's within it,
// as rootfs/ext2 reads them.
var ext2MagicOffset = ext2.SuperblockOffset + ext2.SuperblockLayout.Magic.Offset

// sniff identifies a filesystem by its magic: ext2's s_magic 0xEF53 at byte
// 1080; a FAT boot sector as rootfs/fat's Probe tells it (a consistent BIOS
// parameter block and an x86 jump or "FAT" type string), the reader doctor
// opens FAT filesystems with, so naming and reading a FAT agree; swap's
// "SWAPSPACE2" at the end of its first page.
func (d *diag) sniff(off int64) content {
	b := make([]byte, 4096)
	n, _ := d.r.ReadAt(b, off)
	b = b[:n]
	if len(b) >= ext2MagicOffset+2 && binary.LittleEndian.Uint16(b[ext2MagicOffset:]) == ext2.Magic {
		return contentExt2
	}
	if _, ok := fat.Probe(bytes.NewReader(b), 0); ok {
		return contentFAT
	}
	if len(b) >= 4096 && string(b[4086:4096]) == "SWAPSPACE2" {
		return contentSwap
	}
	return contentUnknown
}

func isFATType(t byte) bool {
	switch t {
	case typeFAT12, typeFAT16Small, typeFAT16, typeFAT32, typeFAT32LBA, typeFAT16LBA, typeESP:
		return true
	}
	return false
}

func isExtendedType(t byte) bool {
	return t == typeExtended || t == typeExtLBA || t == typeLinuxExt
}

// checkPartitions reads the MBR's four primary entries.
func (d *diag) checkPartitions() {
	switch d.rep.Scheme {
	case SchemeSuperfloppy, SchemeGRUBFloppy, SchemeISO, SchemeISOHybrid:
		// Sector 0 is a boot sector or a filesystem, not a partition
		// table: its bytes 446..509 are code or data.
		return
	case SchemeBareExt2:
		if d.rep.Boot.Loader == LoaderNothing {
			d.add(Finding{ID: IDMBRBareFilesystem, Area: AreaPartition, Severity: Error,
				Title:    "this is a bare ext2 filesystem, not a partitioned disk",
				Evidence: "ext2 magic at byte 1080 and no boot code in the boot block: a BIOS boots sector 0, which here is the filesystem's unused boot block",
				Fix:      "make a disk: truncate a larger image, partition it (sfdisk or `minidisk part`), then dd this filesystem to the partition's offset"})
		}
		return
	}
	m, err := disk.ParseMBR(d.mbr)
	if err != nil { // cannot happen: checkImage read 512 bytes
		d.add(Finding{ID: IDMBRUnreadable, Area: AreaPartition, Severity: Error, Title: "the MBR cannot be parsed", Evidence: err.Error()})
		return
	}
	if !m.HasSignature {
		d.add(Finding{ID: IDMBRSignatureMissing, Area: AreaPartition, Severity: Error,
			Title:    "no MBR boot signature",
			Evidence: fmt.Sprintf("bytes 510-511 are %02X %02X, not 55 AA: the BIOS will not boot this disk and Linux sees no partitions", d.mbr[510], d.mbr[511]),
			Fix:      "partition the image: `echo 'start=63, type=83, bootable' | sfdisk IMG` or `minidisk part IMG`"})
		return
	}
	defer d.listPartitions()
	d.rep.Scheme = SchemeMBR
	diskSectors := d.rep.DiskSectors
	var used []PartitionInfo
	for i, e := range m.Entries {
		idx := i + 1
		if e.Type == 0 && e.Sectors == 0 {
			continue
		}
		if e.Type == typeGPT {
			// A protective MBR: the GPT describes the disk (checkUEFI).
			d.rep.Scheme = SchemeGPT
			d.rep.Partitions = append(d.rep.Partitions, PartitionInfo{Index: idx, Type: e.Type, Start: uint64(e.StartLBA), Sectors: uint64(e.Sectors)})
			return
		}
		if e.Sectors == 0 {
			d.add(Finding{ID: IDPartZeroSize, Area: AreaPartition, Severity: Warning,
				Title:    fmt.Sprintf("partition %d has a type but no sectors", idx),
				Evidence: fmt.Sprintf("entry %d: type 0x%02X, start %d, 0 sectors; Linux ignores it", idx, e.Type, e.StartLBA),
				Fix:      "delete the entry or give it a size (sfdisk IMG)"})
			continue
		}
		if e.Type == 0 {
			d.add(Finding{ID: IDPartTypeZero, Area: AreaPartition, Severity: Warning,
				Title:    fmt.Sprintf("partition %d has sectors but type 0 (empty)", idx),
				Evidence: fmt.Sprintf("entry %d: start %d, %d sectors, type 0x00; GRUB and many tools treat it as unused", idx, e.StartLBA, e.Sectors),
				Fix:      fmt.Sprintf("set the type: sfdisk --part-type IMG %d 83", idx)})
			continue
		}
		p := PartitionInfo{Index: idx, Type: e.Type, Bootable: e.Status == 0x80, Start: uint64(e.StartLBA), Sectors: uint64(e.Sectors)}
		used = append(used, p)
		if e.Status != 0x00 && e.Status != 0x80 {
			d.add(Finding{ID: IDPartStatusInvalid, Area: AreaPartition, Severity: Warning,
				Title:    fmt.Sprintf("partition %d has an invalid status byte", idx),
				Evidence: fmt.Sprintf("status 0x%02X; only 0x00 and 0x80 (bootable) are valid, and DOS-style MBR code rejects the table (\"Invalid partition table\")", e.Status),
				Fix:      fmt.Sprintf("sfdisk --activate IMG %d (or rewrite the table)", idx)})
		}
		if p.Start == 0 {
			d.add(Finding{ID: IDPartOverlapsMBR, Area: AreaPartition, Severity: Error,
				Title:    fmt.Sprintf("partition %d starts at sector 0, on top of the MBR", idx),
				Evidence: fmt.Sprintf("start 0, %d sectors: writing the filesystem destroys the partition table and boot code", p.Sectors),
				Fix:      "start the partition at sector 63 (2007 recipe) or 2048"})
		}
		if end := p.Start + p.Sectors; end > diskSectors {
			fix := fmt.Sprintf("grow the image (truncate -s %d IMG) or shrink the partition to %d sectors", int64(end)*sectorSize, int64(diskSectors)-int64(p.Start))
			switch {
			case end-diskSectors > diskSectors:
				// More than the file again: not a truncated copy, so no
				// truncate to a size that cannot be meant.
				fix = "give doctor the whole disk image: this file is less than half of the disk its partition table describes"
			case p.Start >= diskSectors:
				fix = fmt.Sprintf("grow the image (truncate -s %d IMG); the partition starts past its end", int64(end)*sectorSize)
			}
			d.add(Finding{ID: IDPartPastEnd, Area: AreaPartition, Severity: Error,
				Title: fmt.Sprintf("partition %d ends past the end of the image", idx),
				Evidence: fmt.Sprintf("sectors %d..%d, but the image has %d sectors (%d bytes): %d sectors missing; reads there fail (\"attempt to access beyond end of device\")",
					p.Start, p.End(), diskSectors, d.size, end-diskSectors),
				Fix: fix})
		}
		if p.Sectors%2 != 0 && !isExtendedType(p.Type) {
			// Harmless (the guide's own sfdisk partition is odd), but it is the
			// mark of sizes computed by hand.
			d.add(Finding{ID: IDPartOddSize, Area: AreaPartition, Severity: Info,
				Title:    fmt.Sprintf("partition %d is an odd number of sectors", idx),
				Evidence: fmt.Sprintf("%d sectors = %d KiB + 512 bytes; the last sector can never hold a 1 KiB filesystem block", p.Sectors, p.Sectors/2)})
		}
		d.checkCHS(idx, e)
		d.checkType(p)
	}
	d.rep.Partitions = used
	if len(used) == 0 {
		d.add(Finding{ID: IDMBRNoPartitions, Area: AreaPartition, Severity: Error,
			Title:    "the partition table is empty",
			Evidence: "all four primary entries are unused",
			Fix:      "create a partition: `echo 'start=63, type=83, bootable' | sfdisk IMG`"})
		return
	}
	for i := range used {
		for j := i + 1; j < len(used); j++ {
			a, b := used[i], used[j]
			if isExtendedType(a.Type) || isExtendedType(b.Type) {
				// Logical partitions live inside the extended one by design.
				continue
			}
			if a.Start <= b.End() && b.Start <= a.End() {
				lo, hi := max(a.Start, b.Start), min(a.End(), b.End())
				d.add(Finding{ID: IDPartOverlap, Area: AreaPartition, Severity: Error,
					Title:    fmt.Sprintf("partitions %d and %d overlap", a.Index, b.Index),
					Evidence: fmt.Sprintf("partition %d is sectors %d..%d, partition %d is %d..%d: %d shared sectors (%d..%d); writing one corrupts the other", a.Index, a.Start, a.End(), b.Index, b.Start, b.End(), hi-lo+1, lo, hi),
					Fix:      "rewrite the table so the partitions are disjoint (sfdisk IMG)"})
			}
		}
	}
	if d.rep.Scheme == SchemeGPT {
		return // the protective MBR's flags mean nothing; checkUEFI takes over
	}
	boot := 0
	for _, p := range used {
		if p.Bootable {
			boot++
		}
	}
	switch {
	case boot == 0:
		d.add(Finding{ID: IDPartNoBootable, Area: AreaPartition, Severity: Warning,
			Title:    "no partition is marked bootable",
			Evidence: "no entry has status 0x80; GRUB's stage1 and SeaBIOS do not care, but some BIOSes skip a disk without an active partition",
			Fix:      fmt.Sprintf("sfdisk --activate IMG %d", d.linuxPartitionIndex(used))})
	case boot > 1:
		d.add(Finding{ID: IDPartManyBootable, Area: AreaPartition, Severity: Warning,
			Title:    fmt.Sprintf("%d partitions are marked bootable", boot),
			Evidence: "DOS-style MBR code refuses a table with more than one active partition",
			Fix:      "leave exactly one partition active (sfdisk --activate IMG N)"})
	}
	if !d.hasArea(AreaPartition, Warning, Error) {
		var parts []string
		for _, p := range used {
			parts = append(parts, fmt.Sprintf("%d: type %02X, sectors %d..%d%s", p.Index, p.Type, p.Start, p.End(), map[bool]string{true: ", bootable"}[p.Bootable]))
		}
		d.add(Finding{ID: IDPartOK, Area: AreaPartition, Severity: OK,
			Title: "partition table is consistent", Evidence: strings.Join(parts, "; ")})
	}
}

func (d *diag) linuxPartitionIndex(used []PartitionInfo) int {
	for _, p := range used {
		if p.Type == typeLinux {
			return p.Index
		}
	}
	return used[0].Index
}

// hasArea reports whether a finding of area with one of the severities exists.
func (d *diag) hasArea(a Area, sev ...Severity) bool {
	for _, f := range d.rep.Findings {
		if f.Area != a {
			continue
		}
		for _, s := range sev {
			if f.Severity == s {
				return true
			}
		}
	}
	return false
}

// checkCHS compares the entry's CHS fields with its LBA fields. The BIOS,
// GRUB and Linux use LBA; only CHS-only BIOSes read these, so a mismatch is
// a warning. A table is consistent when some geometry — the 255/63 that
// fdisk and sfdisk assume, or the one the end address implies — explains
// both ends.
func (d *diag) checkCHS(idx int, e disk.Entry) {
	start, end := disk.DecodeCHS(e.StartCHS), disk.DecodeCHS(e.EndCHS)
	last := uint64(e.StartLBA) + uint64(e.Sectors) - 1
	geoms := []disk.Geometry{disk.DefaultGeometry}
	if end.Head >= 1 && end.Sector >= 1 && (end.Head+1) <= 255 {
		geoms = append(geoms, disk.Geometry{Heads: end.Head + 1, SectorsPerTrack: end.Sector})
	}
	for _, g := range geoms {
		if g.CHS(uint64(e.StartLBA)) == start && g.CHS(last) == end {
			return
		}
	}
	g := disk.DefaultGeometry
	d.add(Finding{ID: IDPartCHSMismatch, Area: AreaPartition, Severity: Warning,
		Title: fmt.Sprintf("partition %d's CHS fields disagree with its LBA fields", idx),
		Evidence: fmt.Sprintf("stored CHS %v..%v, but sectors %d..%d are %v..%v in the 255/63 geometry; BIOSes that boot by CHS would read the wrong sectors",
			start, end, e.StartLBA, last, g.CHS(uint64(e.StartLBA)), g.CHS(last)),
		Fix: "rewrite the entry with sfdisk or `minidisk part` (both write 255/63 CHS)"})
}

// checkType compares the partition type with what the partition holds.
func (d *diag) checkType(p PartitionInfo) {
	if isExtendedType(p.Type) {
		d.add(Finding{ID: IDPartExtended, Area: AreaPartition, Severity: Info,
			Title:    fmt.Sprintf("partition %d is an extended partition", p.Index),
			Evidence: fmt.Sprintf("type 0x%02X; logical partitions inside it are not checked", p.Type)})
		return
	}
	if p.Type == typeGPT || p.Start*sectorSize >= uint64(d.size) {
		return
	}
	c := d.sniff(int64(p.Start) * sectorSize)
	want := ""
	switch {
	case c == contentExt2 && p.Type != typeLinux:
		want = "83 (Linux)"
	case c == contentFAT && !isFATType(p.Type):
		want = "0C (FAT32 LBA) or EF (EFI System)"
	case c == contentSwap && p.Type != typeSwap:
		want = "82 (Linux swap)"
	case p.Type == typeLinux && c != contentExt2 && c != contentUnknown:
		want = "one matching " + string(c)
	}
	if want == "" {
		return
	}
	d.add(Finding{ID: IDPartTypeMismatch, Area: AreaPartition, Severity: Warning,
		Title:    fmt.Sprintf("partition %d's type does not match its content", p.Index),
		Evidence: fmt.Sprintf("type 0x%02X, but sector %d holds a %s filesystem; tools that trust the type (and a human reading fdisk -l) are misled", p.Type, p.Start, c),
		Fix:      fmt.Sprintf("sfdisk --part-type IMG %d %s", p.Index, strings.Fields(want)[0])})
}
