package disk

import (
	"fmt"
	"io"
)

// Fact is one number of a plan with the reason it has that value: the
// classroom view of a layout.
type Fact struct {
	Name  string `json:"name"`
	Value uint64 `json:"value"`
	Unit  string `json:"unit"`
	Why   string `json:"why"`
}

// PlanJSON is the machine-readable plan (`minidisk plan --json`).
type PlanJSON struct {
	DiskBytes     int64  `json:"disk_bytes"`
	DiskSectors   uint64 `json:"disk_sectors"`
	Geometry      string `json:"geometry"`
	PartStart     uint64 `json:"partition_start_sector"`
	PartEnd       uint64 `json:"partition_end_sector"`
	PartSectors   uint64 `json:"partition_sectors"`
	PartKiB       uint64 `json:"partition_kib"`
	OffsetBytes   int64  `json:"offset_bytes"`
	BlockSize     int    `json:"block_size"`
	AlignedBlocks uint64 `json:"aligned_blocks"`
	NaiveBlocks   uint64 `json:"naive_blocks"`
	OverrunBlocks uint64 `json:"overrun_blocks"`
	GapSectors    uint64 `json:"gap_sectors"`
	TailSectors   uint64 `json:"tail_sectors"`
	StartCHS      string `json:"start_chs"`
	EndCHS        string `json:"end_chs"`
	Bootable      bool   `json:"bootable"`
	PartitionType string `json:"partition_type"`
	Facts         []Fact `json:"facts"`
}

// Facts lists the layout's numbers, each with why it is what it is.
func (l *Layout) Facts() []Fact {
	p := l.Partition
	f := []Fact{
		{"disk", l.DiskSectors, "sectors", fmt.Sprintf("%s image / 512 bytes per sector", FormatSize(l.DiskBytes()))},
		{"partition start", p.Start, "sector", startWhy(p.Start)},
		{"partition end", p.End(), "sector", endWhy(l)},
		{"partition size", p.Sectors, "sectors", fmt.Sprintf("end - start + 1 = %d - %d + 1", p.End(), p.Start)},
		{"partition size", l.PartitionKiB(), "KiB", "sectors / 2: the Blocks column of `fdisk -l -u`"},
		{"offset", uint64(l.OffsetBytes()), "bytes", fmt.Sprintf("start × 512 = %d × 512: give this to dd seek=, losetup -o, mount -o offset=", p.Start)},
		{"ext2 blocks", l.AlignedBlocks(), fmt.Sprintf("× %d B", l.BlockSize),
			fmt.Sprintf("%d bytes / %d = %d, rounded down to a multiple of %d (page size / block size): the count to give mke2fs",
				l.PartitionBytes(), l.BlockSize, l.CapacityBlocks(), l.BlockMultiple())},
		{"mke2fs without a count", l.NaiveBlocks(), fmt.Sprintf("× %d B", l.BlockSize),
			fmt.Sprintf("(image bytes - offset) / %d, rounded the same way: mke2fs sizes the filesystem to the END OF THE FILE, not the partition", l.BlockSize)},
	}
	if o := l.Overrun(); o > 0 {
		f = append(f, Fact{"overrun", o, "blocks", fmt.Sprintf("%d - %d: a filesystem made without a count runs past the partition end → GRUB \"Error 24\", kernel \"attempt to access beyond end of device\"", l.NaiveBlocks(), l.CapacityBlocks())})
	} else {
		f = append(f, Fact{"overrun", 0, "blocks", "the partition reaches the end of the image, so even mke2fs without a count fits"})
	}
	f = append(f, Fact{"gap before partition", l.GapSectors(), "sectors", "sectors 1..start-1: GRUB Legacy embeds e2fs_stage1_5 (19 sectors) here"})
	return f
}

func startWhy(start uint64) string {
	switch start {
	case LegacyStart:
		return "63 = head 1 of cylinder 0 with 63 sectors/track: where DOS-era fdisk put the first partition (the 2007 recipe)"
	case AlignedStart:
		return "2048 = 1 MiB: modern alignment (4 KiB sectors, SSD pages), what fdisk uses since 2010"
	}
	return "chosen with --start"
}

func endWhy(l *Layout) string {
	p := l.Partition
	if p.End() == l.DiskSectors-1 {
		return "the last sector of the image"
	}
	cyl := l.Geometry.CylinderSectors()
	if (p.End()+1)%cyl == 0 {
		return fmt.Sprintf("the last sector of cylinder %d (%d sectors/cylinder with %s geometry): 2007-era fdisk ended partitions on cylinder boundaries", (p.End()+1)/cyl-1, cyl, l.Geometry)
	}
	return "start + --part-size"
}

// JSON returns the plan for scripts.
func (l *Layout) JSON() PlanJSON {
	p := l.Partition
	return PlanJSON{
		DiskBytes: l.DiskBytes(), DiskSectors: l.DiskSectors, Geometry: l.Geometry.String(),
		PartStart: p.Start, PartEnd: p.End(), PartSectors: p.Sectors, PartKiB: l.PartitionKiB(),
		OffsetBytes: l.OffsetBytes(), BlockSize: l.BlockSize,
		AlignedBlocks: l.AlignedBlocks(), NaiveBlocks: l.NaiveBlocks(), OverrunBlocks: l.Overrun(),
		GapSectors: l.GapSectors(), TailSectors: l.TailSectors(),
		StartCHS: l.Geometry.CHS(p.Start).String(), EndCHS: l.Geometry.CHS(p.End()).String(),
		Bootable: p.Bootable, PartitionType: fmt.Sprintf("%02x", p.Type),
		Facts: l.Facts(),
	}
}

// WriteText prints the plan as aligned lines: value, unit, why.
func (l *Layout) WriteText(w io.Writer) error {
	for _, f := range l.Facts() {
		if _, err := fmt.Fprintf(w, "%-24s %12d %-9s %s\n", f.Name, f.Value, f.Unit, f.Why); err != nil {
			return err
		}
	}
	return nil
}
