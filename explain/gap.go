package explain

import (
	"bytes"
	"fmt"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/grub"
)

// firstPartitionStart is the lowest start sector of a used MBR entry, or
// the image's sector count when there is none.
func (d *Disk) firstPartitionStart() uint64 {
	first := uint64(d.size / disk.SectorSize)
	for _, e := range d.mbr.Entries {
		if e.Used() && e.StartLBA > 0 {
			first = min(first, uint64(e.StartLBA))
		}
	}
	return first
}

func (d *Disk) explainGap() (*View, error) {
	first := d.firstPartitionStart()
	v := &View{Image: d.name, What: "gap", Title: fmt.Sprintf("sectors 1..%d: the gap between the MBR and the first partition (at sector %d)", first-1, first)}
	st1, err := grub.ParseStage1(d.sector0)
	if st1 == nil {
		return nil, fmt.Errorf("%s: no GRUB Legacy stage1 in the MBR (%w), so nothing was embedded in the gap; see `minidisk explain %s mbr`", d.name, err, d.name)
	}
	sec := uint64(st1.Stage2Sector)
	two := make([]byte, 2*disk.SectorSize)
	base := int64(sec) * disk.SectorSize
	if sec == 0 || d.readFull(two, base) != nil {
		return nil, fmt.Errorf("%s: stage1's stage2_sector is %d, which cannot be read (the image has %d sectors)", d.name, sec, d.size/disk.SectorSize)
	}
	info, perr := grub.ParseStage15(two)
	if info == nil || (perr != nil && len(info.Blocklist) == 0 && info.VersionMajor != 3) {
		return nil, fmt.Errorf("%s: sector %d (stage1's stage2_sector) holds no GRUB stage header: %w", d.name, sec, perr)
	}
	total := uint64(1)
	for _, r := range info.Blocklist {
		total += uint64(r.Count)
	}
	embedded := sec < first
	gap := Section{ID: "gap", Title: "the gap", Offset: disk.SectorSize, Size: int64(first-1) * disk.SectorSize}
	if embedded {
		gap.Notes = append(gap.Notes,
			fmt.Sprintf("%d sectors (1..%d) lie between the MBR and partition 1; no partition owns them, so setup (hd0) embeds GRUB's %s there: sectors %d..%d (%d sectors, %d bytes), the rest is unused",
				first-1, first-1, info.Kind, sec, sec+total-1, total, total*disk.SectorSize))
	} else {
		gap.Notes = append(gap.Notes, fmt.Sprintf("stage1 loads sector %d, inside a partition: no stage1.5 is embedded, stage1 loads %s directly by its blocklist", sec, info.Kind))
	}
	if perr != nil {
		gap.Notes = append(gap.Notes, "header: "+perr.Error())
	}
	v.Sections = append(v.Sections, gap)

	// The blocklist: entries downward from 0x1F8 of the first sector.
	bl := Section{ID: "gap.sector1", Title: fmt.Sprintf("sector %d (byte %d): the %s's first sector — a loader and its blocklist", sec, base, info.Kind),
		Offset: base + 0x1F0, Size: 16, Dump: true, bytes: two[0x1F0:0x200]}
	bl.Notes = append(bl.Notes, fmt.Sprintf("stage1 loaded this sector to 0x%04X; its code reads each blocklist entry {start LBA u32, count u16, segment u16}, from 0x1F8 downwards until a zero count", st1.Stage2Address))
	// The entries at grub's layout (ParseStage15's): the first is the
	// sector's last 8 bytes, the next 8 below it.
	be := &grub.BlocklistEntryLayout
	entrySize := be.Segment.Offset + be.Segment.Size
	for i, r := range info.Blocklist {
		o := disk.SectorSize - entrySize*(i+1)
		id := fmt.Sprintf("gap.blocklist%d", i)
		f := field(id+".start", fmt.Sprintf("blocklist[%d].start", i), two, base, o+be.Start.Offset, be.Start.Size, fmt.Sprintf("first LBA of this run: byte %d", int64(r.Start)*disk.SectorSize))
		f.Refs = []string{"mbr.grub.stage2_sector"}
		bl.Fields = append(bl.Fields, f)
		f = field(id+".count", fmt.Sprintf("blocklist[%d].count", i), two, base, o+be.Count.Offset, be.Count.Size,
			fmt.Sprintf("sectors %d..%d (bytes %d..%d) — setup wrote the stage's remaining size here", r.Start, uint64(r.Start)+uint64(r.Count)-1, int64(r.Start)*disk.SectorSize, (int64(r.Start)+int64(r.Count))*disk.SectorSize-1))
		f.Patched = true
		bl.Fields = append(bl.Fields, f)
		f = field(id+".segment", fmt.Sprintf("blocklist[%d].segment", i), two, base, o+be.Segment.Offset, be.Segment.Size, fmt.Sprintf("loaded at segment 0x%04X = address 0x%X", r.Segment, int(r.Segment)*16))
		f.Text = fmt.Sprintf("0x%04X", r.Segment)
		bl.Fields = append(bl.Fields, f)
	}
	if len(info.Blocklist) == 0 {
		bl.Notes = append(bl.Notes, "the blocklist is empty (count 0 at 0x1FC): the stage's other sectors are never loaded")
	}
	v.Sections = append(v.Sections, bl)

	hb := base + disk.SectorSize
	h := two[disk.SectorSize:]
	// The header at grub's offsets, the ones ParseStage15 reads; code
	// resumes where its strings end.
	sh := &grub.StageHeaderLayout
	headerEnd := sh.Strings.Offset + sh.Strings.Size
	hdr := Section{ID: "gap.header", Title: fmt.Sprintf("sector %d (byte %d): the stage header", sec+1, hb), Offset: hb, Size: int64(headerEnd), Dump: true, bytes: h[:headerEnd]}
	f := field("gap.version", "version", h, hb, sh.Version.Offset, sh.Version.Size, "COMPAT_VERSION 3.2, as in stage1")
	f.Text = fmt.Sprintf("%d.%d", info.VersionMajor, info.VersionMinor)
	hdr.Fields = append(hdr.Fields, f)
	f = field("gap.install_partition", "install_partition", h, hb, sh.InstallPartition.Offset, sh.InstallPartition.Size,
		fmt.Sprintf("bits 16..23 = %d: %s", (info.InstallPartition>>16)&0xFF, partWords((info.InstallPartition>>16)&0xFF)))
	if info.ID != 0 {
		f.Meaning += "; a stage1.5 does not use it — the stage2 device below says where stage2 is"
	}
	f.Text = fmt.Sprintf("0x%08X", info.InstallPartition)
	hdr.Fields = append(hdr.Fields, f)
	hdr.Fields = append(hdr.Fields, field("gap.saved_entry", "saved_entryno", h, hb, sh.SavedEntry.Offset, sh.SavedEntry.Size, "the menu entry `savedefault` stored (0)"))
	f = field("gap.stage_id", "stage id", h, hb, sh.StageID.Offset, sh.StageID.Size, fmt.Sprintf("%d = %s", info.ID, info.Kind))
	f.Text = info.Kind
	hdr.Fields = append(hdr.Fields, f)
	hdr.Fields = append(hdr.Fields, field("gap.force_lba", "force_lba", h, hb, sh.ForceLBA.Offset, sh.ForceLBA.Size, "0: LBA when the BIOS has it"))
	vs := sh.Strings.Offset
	nul := bytes.IndexByte(h[vs:headerEnd], 0)
	if nul >= 0 {
		f = field("gap.version_string", "version string", h, hb, vs, nul+1, "GRUB's version, NUL-terminated")
		f.Text = info.VersionString
		hdr.Fields = append(hdr.Fields, f)
		o := vs + nul + 1
		if info.ID != 0 && o+4 <= headerEnd {
			f = field("gap.stage2_device", "stage2 device", h, hb, o, 4,
				fmt.Sprintf("where stage2 is: drive byte 0x%02X (%s), partition %d → %s", info.Stage2Device>>24, driveWords(byte(info.Stage2Device>>24)), (info.Stage2Device>>16)&0xFF, grub.PartitionName(byte(info.Stage2Device>>24), info.Stage2Device)))
			f.Text = fmt.Sprintf("0x%08X", info.Stage2Device)
			f.Refs = []string{"fs.superblock"}
			f.Patched = true // setup writes the partition GRUB's root command named
			hdr.Fields = append(hdr.Fields, f)
			o += 4
			end := bytes.IndexByte(h[o:headerEnd], 0)
			if end < 0 {
				end = headerEnd - o
			}
			f = field("gap.stage2_path", "stage2 path", h, hb, o, end+1,
				fmt.Sprintf("the file this %s reads from the ext2 filesystem and runs at 0x8000; setup appended the config file, \"%s\", which stage2 reads as its menu", info.Kind, info.ConfigPath))
			f.Text = info.Stage2Path
			if info.ConfigPath != "" {
				f.Text += " " + info.ConfigPath
			}
			f.Patched = true
			hdr.Fields = append(hdr.Fields, f)
		} else if info.ID == 0 && o < headerEnd {
			end := bytes.IndexByte(h[o:headerEnd], 0)
			if end < 0 {
				end = headerEnd - o
			}
			f = field("gap.config_file", "config_file", h, hb, o, end+1, "the menu stage2 reads")
			f.Text = info.ConfigPath
			hdr.Fields = append(hdr.Fields, f)
		}
	}
	v.Sections = append(v.Sections, hdr)
	return v, nil
}

func partWords(p uint32) string {
	if p == 0xFF {
		return "the whole disk (no partition)"
	}
	return fmt.Sprintf("GRUB partition %d = MBR partition %d", p, p+1)
}

func driveWords(b byte) string {
	switch {
	case b == 0xFF:
		return "the drive the BIOS booted"
	case b&0x80 != 0:
		return fmt.Sprintf("hard disk %d", b&0x7F)
	}
	return fmt.Sprintf("floppy %d", b)
}
