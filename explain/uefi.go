package explain

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io/fs"
	"strings"
	"unicode/utf16"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/efi/uki"
	"github.com/minidisk/minidisk/rootfs/fat"
)

const (
	bootX64Path = "EFI/BOOT/BOOTX64.EFI"
	// maxEFIRead bounds the loader read into memory to list its sections.
	maxEFIRead = 256 << 20
)

// BPB fields of a FAT boot sector shown (Microsoft's FAT specification; the
// fields fat.BPB decodes, at rootfs/fat's offsets).
var bpbFields = []struct {
	id, name  string
	off, size int
	meaning   string
}{
	{"bytes_per_sector", "BPB_BytsPerSec", fat.OffsetBytesPerSector, 2, "bytes per sector"},
	{"sectors_per_cluster", "BPB_SecPerClus", fat.OffsetSectorsPerCluster, 1, "sectors per cluster: the allocation unit of files"},
	{"reserved_sectors", "BPB_RsvdSecCnt", fat.OffsetReservedSectors, 2, "sectors before the first FAT (boot sector, FSInfo, backup boot sector)"},
	{"num_fats", "BPB_NumFATs", fat.OffsetNumFATs, 1, "copies of the FAT"},
	{"root_entries", "BPB_RootEntCnt", fat.OffsetRootEntries, 2, "FAT12/16: fixed root directory entries (0 on FAT32, whose root is a cluster chain)"},
	{"total_sectors16", "BPB_TotSec16", fat.OffsetTotalSectors16, 2, "sectors, when they fit 16 bits (else 0 and BPB_TotSec32)"},
	{"fat_size16", "BPB_FATSz16", fat.OffsetFATSize16, 2, "FAT12/16: sectors per FAT (0 on FAT32)"},
	{"hidden_sectors", "BPB_HiddSec", fat.OffsetHiddenSectors, 4, "sectors before this partition on the disk (its start LBA, as formatted)"},
	{"total_sectors32", "BPB_TotSec32", fat.OffsetTotalSectors32, 4, "sectors of the filesystem"},
}

func utf16Name(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// explainUEFIBoot describes the UEFI chain of a GPT disk: the protective
// MBR, the GPT header and the ESP's entry, the ESP's FAT, BOOTX64.EFI and
// its PE sections, and what the kernel runs from its initramfs.
func (d *Disk) explainUEFIBoot() (*View, error) {
	pt, err := disk.ReadPartitions(d.r, d.size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.name, err)
	}
	v := &View{Image: d.name, What: "boot", Title: "the UEFI boot chain, in order: what the firmware and the kernel read"}
	step := func(s Step, sec Section) {
		v.Chain = append(v.Chain, s)
		sec.Title = fmt.Sprintf("%d. %s: %s", len(v.Chain), s.Stage, sec.Title)
		sec.Notes = append([]string{"reads " + s.Reads, s.Does}, sec.Notes...)
		v.Sections = append(v.Sections, sec)
	}
	// 1. The protective MBR.
	pm := Section{ID: "boot.protective_mbr", Title: "sector 0", Offset: 0, Size: 512}
	e := d.mbr.Entries[0]
	f := field("mbr.p1.type", "entry 1 type", d.sector0, 0, disk.TableOffset+disk.MBREntryLayout.Type.Offset, disk.MBREntryLayout.Type.Size, "ee: a protective entry covering the disk, so MBR-only tools see it as used; UEFI firmware ignores the MBR's code and reads the GPT")
	f.Text = fmt.Sprintf("%02x", e.Type)
	pm.Fields = append(pm.Fields, f)
	step(Step{Stage: "protective MBR", Reads: "sector 0 (bytes 0..511)", Offset: 0, Size: 512, Does: "tells the firmware and old tools that a GPT follows"}, pm)

	// 2. The GPT header at LBA 1, its fields at disk's offsets (the ones
	// readGPT checks and WriteGPT writes); the defined ones end with the
	// entry array's CRC32 (92 bytes), an entry's with its name (128).
	hdr, ent := &disk.GPTHeaderLayout, &disk.GPTEntryLayout
	gptHeaderBytes := int64(hdr.PartitionEntryArrayCRC32.Offset + hdr.PartitionEntryArrayCRC32.Size)
	entryBytes := ent.PartitionName.Offset + ent.PartitionName.Size
	h := make([]byte, disk.SectorSize)
	if err := d.readFull(h, disk.SectorSize); err != nil {
		return nil, fmt.Errorf("%s: GPT header: %w", d.name, err)
	}
	hb := int64(disk.SectorSize)
	hs := Section{ID: "gpt.header", Title: "the GPT header (sector 1)", Offset: hb, Size: gptHeaderBytes, Dump: true, bytes: h[:gptHeaderBytes]}
	f = field("gpt.signature", "Signature", h, hb, hdr.Signature.Offset, hdr.Signature.Size, "\"EFI PART\"")
	f.Text = string(h[hdr.Signature.Offset : hdr.Signature.Offset+hdr.Signature.Size])
	hs.Fields = append(hs.Fields, f)
	f = field("gpt.revision", "Revision", h, hb, hdr.Revision.Offset, hdr.Revision.Size, "1.0 (0x00010000)")
	f.Text = fmt.Sprintf("0x%08X", f.Value)
	hs.Fields = append(hs.Fields, f,
		field("gpt.header_size", "HeaderSize", h, hb, hdr.HeaderSize.Offset, hdr.HeaderSize.Size, "bytes of the header the CRC covers"))
	f = field("gpt.header_crc32", "HeaderCRC32", h, hb, hdr.HeaderCRC32.Offset, hdr.HeaderCRC32.Size, "CRC32 of the header with this field zero: checked before anything is trusted")
	f.Text = fmt.Sprintf("0x%08X", f.Value)
	hs.Fields = append(hs.Fields, f,
		field("gpt.my_lba", "MyLBA", h, hb, hdr.MyLBA.Offset, hdr.MyLBA.Size, "where this header is: sector 1"),
		field("gpt.alternate_lba", "AlternateLBA", h, hb, hdr.AlternateLBA.Offset, hdr.AlternateLBA.Size, "the backup header: the disk's last sector"),
		field("gpt.first_usable_lba", "FirstUsableLBA", h, hb, hdr.FirstUsableLBA.Offset, hdr.FirstUsableLBA.Size, "first sector a partition may use (after the entry array)"),
		field("gpt.last_usable_lba", "LastUsableLBA", h, hb, hdr.LastUsableLBA.Offset, hdr.LastUsableLBA.Size, "last sector a partition may use (before the backup array)"))
	var guid [16]byte
	copy(guid[:], h[hdr.DiskGUID.Offset:])
	f = field("gpt.disk_guid", "DiskGUID", h, hb, hdr.DiskGUID.Offset, hdr.DiskGUID.Size, "the disk's GUID (sfdisk's label-id); stored mixed-endian: the first three groups little-endian")
	f.Text = disk.GUIDString(guid)
	hs.Fields = append(hs.Fields, f)
	entriesLBA := binary.LittleEndian.Uint64(h[hdr.PartitionEntryLBA.Offset:])
	esize := int64(binary.LittleEndian.Uint32(h[hdr.SizeOfPartitionEntry.Offset:]))
	hs.Fields = append(hs.Fields,
		field("gpt.entries_lba", "PartitionEntryLBA", h, hb, hdr.PartitionEntryLBA.Offset, hdr.PartitionEntryLBA.Size, fmt.Sprintf("the entry array starts at sector %d (byte %d)", entriesLBA, entriesLBA*disk.SectorSize)),
		field("gpt.num_entries", "NumberOfPartitionEntries", h, hb, hdr.NumberOfPartitionEntries.Offset, hdr.NumberOfPartitionEntries.Size, "slots in the array (128 by convention)"),
		field("gpt.entry_size", "SizeOfPartitionEntry", h, hb, hdr.SizeOfPartitionEntry.Offset, hdr.SizeOfPartitionEntry.Size, "bytes per entry"))
	f = field("gpt.entries_crc32", "PartitionEntryArrayCRC32", h, hb, hdr.PartitionEntryArrayCRC32.Offset, hdr.PartitionEntryArrayCRC32.Size, "CRC32 of the whole entry array")
	f.Text = fmt.Sprintf("0x%08X", f.Value)
	hs.Fields = append(hs.Fields, f)
	step(Step{Stage: "firmware reads the GPT", Reads: fmt.Sprintf("the header in sector 1 (bytes 512..%d) and the entry array from sector %d", 512+gptHeaderBytes-1, entriesLBA),
		Offset: hb, Size: gptHeaderBytes, Does: "checks both CRC32s, then looks for an entry whose type is the EFI System Partition GUID"}, hs)

	// 3. The ESP's entry.
	var esp *disk.Partition
	for i := range pt.Partitions {
		if pt.Partitions[i].TypeGUID == disk.GUIDEFISystem {
			esp = &pt.Partitions[i]
			break
		}
	}
	if esp == nil {
		v.Sections = append(v.Sections, Section{ID: "boot.stop", Title: "no EFI System Partition", Notes: []string{"no GPT entry has type C12A7328-F81F-11D2-BA4B-00A0C93EC93B: the firmware has nothing to boot"}})
		return v, nil
	}
	eoff := int64(entriesLBA)*disk.SectorSize + int64(esp.Index-1)*esize
	eb := make([]byte, entryBytes)
	if err := d.readFull(eb, eoff); err != nil {
		return nil, fmt.Errorf("%s: GPT entry %d: %w", d.name, esp.Index, err)
	}
	es := Section{ID: "gpt.esp", Title: fmt.Sprintf("GPT entry %d, the ESP (bytes %d..%d)", esp.Index, eoff, eoff+int64(len(eb))-1), Offset: eoff, Size: int64(len(eb)), Dump: true, bytes: eb}
	copy(guid[:], eb[ent.PartitionTypeGUID.Offset:])
	f = field("gpt.esp.type_guid", "PartitionTypeGUID", eb, eoff, ent.PartitionTypeGUID.Offset, ent.PartitionTypeGUID.Size, "EFI System Partition: the firmware boots from a partition of this type")
	f.Text = disk.GUIDString(guid)
	es.Fields = append(es.Fields, f)
	copy(guid[:], eb[ent.UniquePartitionGUID.Offset:])
	f = field("gpt.esp.unique_guid", "UniquePartitionGUID", eb, eoff, ent.UniquePartitionGUID.Offset, ent.UniquePartitionGUID.Size, "this partition's own GUID (PARTUUID=)")
	f.Text = disk.GUIDString(guid)
	es.Fields = append(es.Fields, f,
		field("gpt.esp.first_lba", "StartingLBA", eb, eoff, ent.StartingLBA.Offset, ent.StartingLBA.Size, fmt.Sprintf("first sector: byte %d", esp.Start*disk.SectorSize)),
		field("gpt.esp.last_lba", "EndingLBA", eb, eoff, ent.EndingLBA.Offset, ent.EndingLBA.Size, fmt.Sprintf("last sector (inclusive): %d sectors", esp.Sectors)))
	f = field("gpt.esp.attributes", "Attributes", eb, eoff, ent.Attributes.Offset, ent.Attributes.Size, "bit 0 required, bit 2 legacy BIOS bootable")
	f.Text = fmt.Sprintf("0x%X", f.Value)
	es.Fields = append(es.Fields, f)
	f = field("gpt.esp.name", "PartitionName", eb, eoff, ent.PartitionName.Offset, ent.PartitionName.Size, "UTF-16LE, for people")
	f.Text = utf16Name(eb[ent.PartitionName.Offset:])
	es.Fields = append(es.Fields, f)
	step(Step{Stage: "firmware finds the ESP", Reads: fmt.Sprintf("GPT entry %d (bytes %d..%d)", esp.Index, eoff, eoff+esize-1), Offset: eoff, Size: esize,
		Does: fmt.Sprintf("partition %d, sectors %d..%d", esp.Index, esp.Start, esp.End())}, es)

	// 4. The ESP's FAT.
	base, size := int64(esp.Start)*disk.SectorSize, int64(esp.Sectors)*disk.SectorSize
	fsys, err := fat.Open(d.r, base, size)
	if err != nil {
		v.Sections = append(v.Sections, Section{ID: "boot.stop", Title: "the ESP's FAT cannot be read", Notes: []string{err.Error()}})
		return v, nil
	}
	bs := make([]byte, disk.SectorSize)
	if err := d.readFull(bs, base); err != nil {
		return nil, fmt.Errorf("%s: ESP boot sector: %w", d.name, err)
	}
	bpb := fsys.BPB()
	fs32 := fsys.Type() == 32
	fb := Section{ID: "esp.bpb", Title: fmt.Sprintf("the ESP's boot sector (sector %d): FAT%d", esp.Start, fsys.Type()), Offset: base, Size: disk.SectorSize}
	for _, b := range bpbFields {
		fb.Fields = append(fb.Fields, field("esp."+b.id, b.name, bs, base, b.off, b.size, b.meaning))
	}
	if fs32 {
		fb.Fields = append(fb.Fields,
			field("esp.fat_size32", "BPB_FATSz32", bs, base, fat.OffsetFATSize32, 4, "FAT32: sectors per FAT"),
			field("esp.root_cluster", "BPB_RootClus", bs, base, fat.OffsetRootCluster, 4, "FAT32: first cluster of the root directory"))
	}
	spc := uint64(bpb.SectorsPerCluster)
	bps := uint64(bpb.BytesPerSector)
	rootDirSectors := (uint64(bpb.RootEntries)*fat.DirEntrySize + bps - 1) / bps
	fatStart := esp.Start + uint64(bpb.ReservedSectors)*bps/disk.SectorSize
	// Where cluster 2 lies is rootfs/fat's arithmetic, the reader's; the
	// note spells out the same sum. fat.Open refuses a FAT without data
	// clusters, so cluster 2 exists.
	data2, _ := fsys.ClusterOffset(2)
	dataStart := esp.Start + uint64(data2)/disk.SectorSize
	fb.Notes = append(fb.Notes, fmt.Sprintf("the FATs start at sector %d + %d = %d; the data region at %d + %d + %d × %d + %d = sector %d; cluster N lies at sector %d + (N − 2) × %d",
		esp.Start, bpb.ReservedSectors, fatStart, esp.Start, bpb.ReservedSectors, bpb.NumFATs, bpb.FATSize(), rootDirSectors, dataStart, dataStart, spc*bps/disk.SectorSize))
	step(Step{Stage: "firmware mounts the ESP", Reads: fmt.Sprintf("its boot sector (byte %d) and FAT (from sector %d)", base, fatStart), Offset: base, Size: disk.SectorSize,
		Does: fmt.Sprintf("FAT%d, %d clusters of %d bytes", fsys.Type(), fsys.Clusters(), fsys.ClusterSize())}, fb)

	// 5. \EFI\BOOT\BOOTX64.EFI.
	fi, err := fsys.Stat(bootX64Path)
	if err != nil {
		v.Sections = append(v.Sections, Section{ID: "boot.stop", Title: "no \\EFI\\BOOT\\BOOTX64.EFI", Notes: []string{err.Error() + ": the removable-media path x86-64 firmware boots"}})
		return v, nil
	}
	var cluster uint32
	if ffi, ok := fi.Sys().(*fat.FileInfo); ok {
		cluster = ffi.Cluster
	}
	off, err := fsys.ClusterOffset(cluster)
	if err != nil {
		// An empty file has cluster 0: nothing for the firmware to load.
		v.Sections = append(v.Sections, Section{ID: "boot.stop", Title: "\\EFI\\BOOT\\BOOTX64.EFI has no data",
			Notes: []string{fmt.Sprintf("%d bytes, first cluster %d (%v): the firmware finds no PE image to run", fi.Size(), cluster, err)}})
		return v, nil
	}
	first := esp.Start + uint64(off)/disk.SectorSize
	bx := Section{ID: "esp.bootx64", Title: "\\EFI\\BOOT\\BOOTX64.EFI", Offset: int64(first) * disk.SectorSize, Size: fi.Size()}
	bx.Fields = append(bx.Fields,
		Field{ID: "esp.bootx64.size", Name: "size", Offset: -2, Value: uint64(fi.Size()), Text: fmt.Sprint(fi.Size()), Meaning: "bytes, from its directory entry"},
		Field{ID: "esp.bootx64.cluster", Name: "first cluster", Offset: -2, Value: uint64(cluster), Text: fmt.Sprint(cluster),
			Meaning: fmt.Sprintf("→ sector %d + (%d − 2) × %d = %d (byte %d): dd if=%s bs=512 skip=%d count=1 shows its \"MZ\" header; the FAT chains the other clusters", dataStart, cluster, spc*bps/disk.SectorSize, first, first*disk.SectorSize, d.name, first)})
	for i := range bx.Fields {
		bx.Fields[i].Offset = int64(first) * disk.SectorSize
	}
	step(Step{Stage: "firmware loads BOOTX64.EFI", Reads: fmt.Sprintf("directories EFI → BOOT → BOOTX64.EFI, then %d bytes from cluster %d (sector %d)", fi.Size(), cluster, first),
		Offset: int64(first) * disk.SectorSize, Size: fi.Size(), Does: "the removable-media default path of x86-64 UEFI (no boot entry needed); the firmware checks its PE header and runs it"}, bx)

	// 6. Its PE sections.
	data, err := fsys.ReadFile(bootX64Path)
	if err != nil || int64(len(data)) > maxEFIRead {
		return v, nil
	}
	pe, err := uki.Parse(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		v.Sections = append(v.Sections, Section{ID: "boot.stop", Title: "BOOTX64.EFI is not a PE image", Notes: []string{err.Error()}})
		return v, nil
	}
	ps := Section{ID: "efi.sections", Title: "BOOTX64.EFI's PE sections (offsets within the file)", Offset: int64(first) * disk.SectorSize, Size: int64(len(data)),
		Notes: []string{"the image offsets beside each section assume the file's clusters follow each other, as mcopy and minidisk write a file to a fresh FAT; the FAT's chain is the authority"}}
	kind := "an EFI-stub kernel: the firmware runs the kernel's own PE entry point"
	if pe.IsUKI() {
		kind = "a unified kernel image: systemd's stub runs first and hands the kernel .linux, .initrd and .cmdline"
	}
	for _, s := range pe.Sections {
		ps.Fields = append(ps.Fields, Field{ID: "efi.section" + s.Name, Name: s.Name, Offset: int64(first)*disk.SectorSize + int64(s.Offset), Size: 0,
			Value: uint64(s.Offset), Text: fmt.Sprintf("file offset 0x%X, %d bytes", s.Offset, s.Size()),
			Meaning: fmt.Sprintf("RVA 0x%X; %s", s.VirtualAddress, sectionWords(s.Name))})
	}
	step(Step{Stage: "BOOTX64.EFI runs", Reads: fmt.Sprintf("%d sections", len(pe.Sections)), Offset: int64(first) * disk.SectorSize, Size: int64(len(data)), Does: kind}, ps)

	// 7. The initramfs' /init, as doctor found it.
	rep := d.report()
	init := Section{ID: "efi.init", Title: "the initramfs' /init"}
	for _, fd := range rep.Findings {
		if id := string(fd.ID); strings.Contains(id, "init") || strings.HasPrefix(id, "console") || strings.Contains(id, "cmdline") {
			init.Notes = append(init.Notes, fd.Title+": "+fd.Evidence)
		}
	}
	step(Step{Stage: "Linux runs /init", Reads: "the initramfs (the UKI's .initrd, or the cpio linked into the kernel) unpacked into a tmpfs", Offset: -1,
		Does: "the kernel runs /init as PID 1: the shell prompt follows"}, init)
	return v, nil
}

func sectionWords(name string) string {
	switch name {
	case ".linux":
		return "the kernel (bzImage) the stub starts"
	case ".initrd":
		return "the initramfs the stub hands the kernel"
	case ".cmdline":
		return "the kernel command line"
	case ".osrel":
		return "os-release: the name boot menus show"
	case ".uname":
		return "the kernel version"
	case ".sbat":
		return "Secure Boot revocation metadata"
	case ".text":
		return "code"
	case ".data", ".rodata":
		return "data"
	case ".reloc":
		return "relocations the firmware applies"
	}
	return "section"
}

var _ fs.FileInfo = (*fat.FileInfo)(nil)
