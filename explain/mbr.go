package explain

import (
	"bytes"
	"fmt"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/doctor"
	"github.com/minidisk/minidisk/grub"
)

func (d *Disk) explainMBR() (*View, error) {
	s := d.sector0
	v := &View{Image: d.name, What: "mbr", Title: "sector 0 (bytes 0..511): the master boot record the BIOS loads at 0x7C00"}
	dump := Section{ID: "mbr", Title: "sector 0, as stored", Offset: 0, Size: disk.SectorSize, Dump: true, bytes: s}
	v.Sections = append(v.Sections, dump)
	v.Sections = append(v.Sections, d.bootCodeSection())

	sig := Section{ID: "mbr.disk_signature", Title: "disk signature", Offset: disk.DiskIDOffset, Size: 6}
	f := field("mbr.disk_id", "disk signature", s, 0, disk.DiskIDOffset, 4,
		"identifies the disk: Linux names partitions PARTUUID=<this>-01, Windows its volumes; sfdisk -d prints it as label-id")
	f.Text = fmt.Sprintf("0x%08x", d.mbr.DiskID)
	sig.Fields = append(sig.Fields, f,
		field("mbr.reserved", "reserved", s, 0, disk.DiskIDOffset+4, 2, "0 (\"copy protected\" marker in some MBRs; fdisk writes 0)"))
	v.Sections = append(v.Sections, sig)

	g := disk.DefaultGeometry
	for i, e := range d.mbr.Entries {
		v.Sections = append(v.Sections, entrySection(s, i, e, g))
	}
	bs := Section{ID: "mbr.boot_signature", Title: "boot signature", Offset: disk.SignatureBytes, Size: 2}
	f = field("mbr.signature", "signature", s, 0, disk.SignatureBytes, 2, "")
	f.Text = fmt.Sprintf("%02X %02X", s[510], s[511])
	if d.mbr.HasSignature {
		f.Meaning = "55 AA: the BIOS boots this sector only when its last two bytes are these"
	} else {
		f.Meaning = "not 55 AA: the BIOS will not boot this disk and Linux sees no partition table"
	}
	bs.Fields = append(bs.Fields, f)
	v.Sections = append(v.Sections, bs)
	return v, nil
}

// bootCodeSection names the loader in bytes 0..439 and, for GRUB Legacy's
// stage1, every field setup writes.
func (d *Disk) bootCodeSection() Section {
	s := d.sector0
	sec := Section{ID: "mbr.boot_code", Title: "boot code (bytes 0..439)", Offset: 0, Size: disk.BootCodeSize}
	code := s[:disk.BootCodeSize]
	if bytes.Count(code, []byte{0}) == len(code) {
		sec.Notes = append(sec.Notes, "no boot code: all 440 bytes are zero. The BIOS jumps to 0x7C00 and runs nothing (SeaBIOS hangs after \"Booting from Hard Disk...\"); install GRUB with `minidisk grub install` or the GRUB shell's setup (hd0)")
		return sec
	}
	st1, err := grub.ParseStage1(s)
	if st1 == nil {
		// Not GRUB Legacy: name the loader as doctor identified it by its
		// signature; only GRUB Legacy's fields are decoded here.
		if b := d.report().Boot; b != nil && b.MBRCode != "" && b.MBRCode != doctor.CodeUnknown {
			sec.Title = fmt.Sprintf("boot code: %s (bytes 0..439)", b.MBRCode)
			sec.Notes = append(sec.Notes, fmt.Sprintf("identified by its signature (doctor): %s. explain decodes GRUB Legacy's stage1 fields only; see `minidisk doctor` for this loader's chain", b.Summary))
		} else {
			sec.Notes = append(sec.Notes, fmt.Sprintf("unknown boot code: it starts %02X %02X, neither GRUB Legacy's EB 48 (jmp 0x4A) nor another loader doctor recognises", s[0], s[1]))
		}
		f := field("mbr.boot_code.first", "first bytes", s, 0, 0, 4, "the first instructions the BIOS runs at 0x7C00")
		f.Text = hexBytes(s[:4])
		sec.Fields = append(sec.Fields, f)
		return sec
	}
	sec.Title = "boot code: GRUB Legacy stage1 (bytes 0..439)"
	if err != nil {
		sec.Notes = append(sec.Notes, err.Error())
	}
	sec.Notes = append(sec.Notes, "GRUB's stage1 (the 512-byte file /boot/grub/stage1) copied over bytes 0..439 by setup (hd0); setup keeps the BPB area and the partition table, and patches the fields marked *")
	l := &grub.Stage1Layout // the offsets ParseStage1 reads and Install patches
	f := field("mbr.grub.jump", "jmp after the BPB", s, 0, l.Jump.Offset, l.Jump.Size, "EB 48 90: jmp short to 0x4A, over the BIOS parameter block; nop")
	f.Text = hexBytes(s[0:3])
	sec.Fields = append(sec.Fields, f)
	f = field("mbr.grub.bpb", "BPB area", s, 0, l.BPB.Offset, l.BPB.Size, "bytes 0x03..0x3D: where a FAT boot sector keeps its BIOS parameter block; setup keeps the old sector's bytes here (zeros on a fresh disk)")
	f.Text = fmt.Sprintf("%d bytes", l.BPB.Size)
	sec.Fields = append(sec.Fields, f)
	f = field("mbr.grub.version", "stage1 version", s, 0, l.Version.Offset, l.Version.Size, "COMPAT_VERSION major.minor: GRUB 0.97 writes 3.2 and stage2 refuses other versions")
	f.Text = fmt.Sprintf("%d.%d", st1.VersionMajor, st1.VersionMinor)
	sec.Fields = append(sec.Fields, f)
	f = field("mbr.grub.boot_drive", "boot_drive", s, 0, l.BootDrive.Offset, l.BootDrive.Size, "")
	f.Text = fmt.Sprintf("0x%02X", st1.BootDrive)
	if st1.BootDrive == 0xFF {
		f.Meaning = "0xFF: use the drive number the BIOS passes in DL (the disk it booted from)"
	} else {
		f.Meaning = fmt.Sprintf("0x%02X: always read from BIOS drive 0x%02X, whatever the BIOS booted", st1.BootDrive, st1.BootDrive)
	}
	sec.Fields = append(sec.Fields, f)
	f = field("mbr.grub.force_lba", "force_lba", s, 0, l.ForceLBA.Offset, l.ForceLBA.Size, "0: use LBA reads (INT 13h AH=42h) when the BIOS offers them, else CHS; non-zero: LBA always")
	sec.Fields = append(sec.Fields, f)
	f = field("mbr.grub.stage2_address", "stage2_address", s, 0, l.Stage2Address.Offset, l.Stage2Address.Size, "")
	f.Text, f.Patched = fmt.Sprintf("0x%04X", st1.Stage2Address), true
	switch st1.Stage2Address {
	case 0x2000:
		f.Meaning = "0x2000: memory address of the next stage — a stage1.5 runs at 0x2000 (setup patched the file's 0x8000)"
	case 0x8000:
		f.Meaning = "0x8000: memory address of the next stage — stage2 itself, loaded directly (no stage1.5)"
	default:
		f.Meaning = "memory address of the next stage: neither 0x2000 (stage1.5) nor 0x8000 (stage2), GRUB will crash"
	}
	sec.Fields = append(sec.Fields, f)
	f = field("mbr.grub.stage2_sector", "stage2_sector", s, 0, l.Stage2Sector.Offset, l.Stage2Sector.Size,
		fmt.Sprintf("LBA of the next stage's first sector: stage1 reads sector %d (bytes %d..%d) to address 0x%04X", st1.Stage2Sector, int64(st1.Stage2Sector)*disk.SectorSize, int64(st1.Stage2Sector)*disk.SectorSize+disk.SectorSize-1, st1.Stage2Address))
	f.Patched = true
	f.Refs = []string{"gap.sector1"}
	sec.Fields = append(sec.Fields, f)
	f = field("mbr.grub.stage2_segment", "stage2_segment", s, 0, l.Stage2Segment.Offset, l.Stage2Segment.Size,
		fmt.Sprintf("segment of the next stage's loader: 0x%04X × 16 = 0x%X", st1.Stage2Segment, int(st1.Stage2Segment)*16))
	f.Text, f.Patched = fmt.Sprintf("0x%04X", st1.Stage2Segment), true
	sec.Fields = append(sec.Fields, f)
	f = field("mbr.grub.drive_check", "boot drive check", s, 0, l.BootDriveCheck.Offset, l.BootDriveCheck.Size, "")
	f.Text = hexBytes(s[l.BootDriveCheck.Offset : l.BootDriveCheck.Offset+l.BootDriveCheck.Size])
	if st1.DriveCheckNOPed {
		f.Meaning, f.Patched = "90 90: two NOPs — setup removed the \"is DL a hard disk?\" jump, as it does for a hard-disk install", true
	} else {
		f.Meaning = "the \"is DL a hard disk?\" test, left in place (a floppy install)"
	}
	sec.Fields = append(sec.Fields, f)
	return sec
}

// entrySection decodes one 16-byte partition entry field by field.
func entrySection(s []byte, i int, e disk.Entry, g disk.Geometry) Section {
	n := i + 1
	off := disk.TableOffset + i*disk.EntrySize
	p := fmt.Sprintf("mbr.p%d", n)
	sec := Section{ID: p, Title: fmt.Sprintf("partition entry %d (bytes 0x%03X..0x%03X)", n, off, off+disk.EntrySize-1), Offset: int64(off), Size: disk.EntrySize}
	if !e.Used() {
		sec.Notes = append(sec.Notes, "unused: type 0 or no sectors")
		if e == (disk.Entry{}) {
			return sec
		}
	}
	el := &disk.MBREntryLayout // the offsets disk.ParseMBR reads
	f := field(p+".status", "status", s, 0, off+el.Status.Offset, el.Status.Size, "")
	f.Text = fmt.Sprintf("0x%02X", e.Status)
	switch e.Status {
	case 0x80:
		f.Meaning = "0x80: bootable (\"active\"); DOS-style MBR code boots the active partition (GRUB does not need it)"
	case 0x00:
		f.Meaning = "0x00: not bootable"
	default:
		f.Meaning = "invalid: only 0x00 and 0x80 are allowed"
	}
	sec.Fields = append(sec.Fields, f)
	start, end := disk.DecodeCHS(e.StartCHS), disk.DecodeCHS(e.EndCHS)
	f = field(p+".start_chs", "start CHS", s, 0, off+el.StartCHS.Offset, el.StartCHS.Size, chsMeaning(e.StartCHS, uint64(e.StartLBA), g))
	f.Text = start.String()
	f.Refs = []string{p + ".start_lba"}
	sec.Fields = append(sec.Fields, f)
	f = field(p+".type", "type", s, 0, off+el.Type.Offset, el.Type.Size, typeMeaning(e.Type))
	f.Text = fmt.Sprintf("%02x", e.Type)
	sec.Fields = append(sec.Fields, f)
	last := uint64(e.StartLBA) + uint64(e.Sectors) - 1
	if e.Sectors == 0 {
		last = uint64(e.StartLBA)
	}
	f = field(p+".end_chs", "end CHS", s, 0, off+el.EndCHS.Offset, el.EndCHS.Size, chsMeaning(e.EndCHS, last, g))
	f.Text = end.String()
	f.Refs = []string{p + ".start_lba", p + ".sectors"}
	sec.Fields = append(sec.Fields, f)
	f = field(p+".start_lba", "start LBA", s, 0, off+el.StartLBA.Offset, el.StartLBA.Size,
		fmt.Sprintf("first sector: byte offset %d × 512 = %d (dd skip=%d, losetup -o %d, mount -o offset=%d)", e.StartLBA, int64(e.StartLBA)*512, e.StartLBA, int64(e.StartLBA)*512, int64(e.StartLBA)*512))
	sec.Fields = append(sec.Fields, f)
	f = field(p+".sectors", "sectors", s, 0, off+el.Sectors.Offset, el.Sectors.Size,
		fmt.Sprintf("length: %d sectors = %d KiB%s; last sector %d + %d − 1 = %d", e.Sectors, e.Sectors/2, halfKiB(e.Sectors), e.StartLBA, e.Sectors, last))
	sec.Fields = append(sec.Fields, f)
	return sec
}

func halfKiB(n uint32) string {
	if n%2 == 1 {
		return " + 512 bytes"
	}
	return ""
}

// chsMeaning shows how the three packed bytes decode and what CHS the LBA
// gives with the geometry fdisk assumes.
func chsMeaning(b [3]byte, lba uint64, g disk.Geometry) string {
	c := disk.DecodeCHS(b)
	dec := fmt.Sprintf("head = byte 0 = %d; sector = byte 1 & 0x3F = 0x%02X & 0x3F = %d; cylinder = (byte 1 >> 6) × 256 + byte 2 = %d × 256 + %d = %d",
		b[0], b[1], c.Sector, b[1]>>6, b[2], c.Cylinder)
	want := g.CHS(lba)
	cyl := g.CylinderSectors()
	var calc string
	if lba/cyl > disk.MaxCylinder {
		calc = fmt.Sprintf("LBA %d lies beyond cylinder 1023 with %s geometry, so the entry holds the conventional maximum %s and the BIOS uses the LBA fields", lba, g, want)
	} else {
		calc = fmt.Sprintf("from LBA %d with %s geometry: C = %d / %d = %d, H = (%d / %d) mod %d = %d, S = %d mod %d + 1 = %d",
			lba, g, lba, cyl, want.Cylinder, lba, g.SectorsPerTrack, g.Heads, want.Head, lba, g.SectorsPerTrack, want.Sector)
	}
	if want != c {
		calc += fmt.Sprintf(" — the entry says %s instead (another geometry, or stale)", c)
	}
	return dec + ". " + calc
}

func typeMeaning(t byte) string {
	switch t {
	case 0x00:
		return "00: empty entry"
	case 0x83:
		return "83: Linux; GRUB Legacy's ext2 reader mounts only type 83 (or fd) partitions"
	case 0x82:
		return "82: Linux swap"
	case 0xEE:
		return "ee: protective MBR — a GPT describes this disk"
	case 0xEF:
		return "ef: EFI System Partition (MBR style)"
	case 0x05, 0x0F, 0x85:
		return fmt.Sprintf("%02x: extended partition (holds logical partitions)", t)
	case 0x0B, 0x0C:
		return fmt.Sprintf("%02x: FAT32", t)
	case 0x06, 0x0E:
		return fmt.Sprintf("%02x: FAT16", t)
	case 0x07:
		return "07: NTFS/exFAT"
	case 0xFD:
		return "fd: Linux RAID autodetect"
	}
	return fmt.Sprintf("%02x: partition type", t)
}
