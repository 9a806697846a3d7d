package disk

import (
	"fmt"
	"io"
	"strconv"
	"strings"
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
	OffsetNaive   uint64 `json:"offset_naive_blocks"`
	OffsetGrowth  int64  `json:"offset_naive_growth_bytes"`
	FromTable     bool   `json:"from_partition_table"`
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
	bs := l.BlockSize
	f := []Fact{
		{"disk", l.DiskSectors, "sectors", fmt.Sprintf("%s image / 512 bytes per sector", FormatSize(l.DiskBytes()))},
		{"partition start", p.Start, "sector", startWhy(l)},
		{"partition end", p.End(), "sector", endWhy(l)},
		{"partition size", p.Sectors, "sectors", fmt.Sprintf("end - start + 1 = %d - %d + 1; `fdisk -l` prints Start %d, End %d, Sectors %d, Size %s", p.End(), p.Start, p.Start, p.End(), p.Sectors, FdiskSize(l.PartitionBytes()))},
		{"partition size", l.PartitionKiB(), "KiB", "sectors / 2: the Blocks column 2007's `fdisk -l -u` printed (today's fdisk prints Sectors and Size instead)"},
		{"offset", uint64(l.OffsetBytes()), "bytes", fmt.Sprintf("start × 512 = %d × 512: give this to mke2fs -E offset=, losetup -o, mount -o offset=, dd seek=", p.Start)},
		{"ext2 blocks", l.AlignedBlocks(), fmt.Sprintf("× %d B", bs),
			fmt.Sprintf("%d bytes / %d = %d, rounded down to a multiple of %d (page size / block size): the count to give mke2fs (`minidisk mkfs` does)",
				l.PartitionBytes(), bs, l.CapacityBlocks(), l.BlockMultiple())},
		{"mke2fs on losetup -o", l.NaiveBlocks(), fmt.Sprintf("× %d B", bs),
			fmt.Sprintf("2007 route, no count: `losetup -o %d` makes a device from the offset to the END OF THE FILE, and mke2fs fills it: (image bytes - offset) / %d, rounded the same way", l.OffsetBytes(), bs)},
		{"mke2fs -E offset=", l.OffsetNaiveBlocks(), fmt.Sprintf("× %d B", bs),
			offsetNaiveWhy(l)},
	}
	if o := l.Overrun(); o > 0 {
		f = append(f, Fact{"overrun", o, "blocks", fmt.Sprintf("%d - %d: a filesystem made without a count runs past the partition end (by %d with -E offset=) -> GRUB \"Error 24\", kernel \"attempt to access beyond end of device\"", l.NaiveBlocks(), l.CapacityBlocks(), l.OffsetNaiveBlocks()-l.CapacityBlocks())})
	} else {
		f = append(f, Fact{"overrun", 0, "blocks", "the partition reaches the end of the image, so even mke2fs without a count fits"})
	}
	f = append(f, Fact{"gap before partition", l.GapSectors(), "sectors", "sectors 1..start-1: GRUB Legacy embeds e2fs_stage1_5 (19 sectors) here"})
	return f
}

func offsetNaiveWhy(l *Layout) string {
	bs := uint64(l.BlockSize)
	s := fmt.Sprintf("today's route, no count: `mke2fs -E offset=%d IMG` sizes the whole file in 4 KiB units (%d blocks) minus offset / %d (%d)",
		l.OffsetBytes(), uint64(l.DiskBytes())/PageSize*PageSize/bs, bs, uint64(l.OffsetBytes())/bs)
	if g := l.OffsetNaiveGrowthBytes(); g > 0 {
		s += fmt.Sprintf(", and grows the file by %d bytes", g)
	}
	return s
}

// FdiskSize writes a size as util-linux's fdisk does in its Size column:
// powers of 1024 with one decimal when not whole (7.8M, 1G).
func FdiskSize(n int64) string {
	units := []string{"B", "K", "M", "G", "T"}
	v := float64(n)
	u := 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	return s + units[u]
}

func startWhy(l *Layout) string {
	start := l.Partition.Start
	var s string
	switch start {
	case LegacyStart:
		s = "63 = head 1 of cylinder 0 with 63 sectors/track: where DOS-era fdisk put the first partition (the 2007 recipe)"
	case AlignedStart:
		s = "2048 = 1 MiB: modern alignment (4 KiB sectors, SSD pages), what fdisk uses since 2010"
	default:
		s = "chosen with --start"
		if l.FromTable {
			s = "as the partition table records it"
		}
	}
	if l.FromTable {
		s = fmt.Sprintf("partition %d in the image's table: ", l.Partition.Index) + s
	}
	return s
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
	if l.FromTable {
		return "as the partition table records it"
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
		OffsetNaive: l.OffsetNaiveBlocks(), OffsetGrowth: l.OffsetNaiveGrowthBytes(), FromTable: l.FromTable,
		GapSectors: l.GapSectors(), TailSectors: l.TailSectors(),
		StartCHS: l.Geometry.CHS(p.Start).String(), EndCHS: l.Geometry.CHS(p.End()).String(),
		Bootable: p.Bootable, PartitionType: fmt.Sprintf("%02x", p.Type),
		Facts: l.Facts(),
	}
}

// WriteText prints the plan as aligned lines: value, unit, why; 80 columns.
func (l *Layout) WriteText(w io.Writer) error { return l.WriteTextWidth(w, 80) }

// WriteTextWidth prints the plan as aligned lines no wider than width
// columns: the why column is wrapped, and moves under the numbers (indented)
// when less than 24 columns are left beside them.
func (l *Layout) WriteTextWidth(w io.Writer, width int) error {
	const lead = 24 + 1 + 12 + 1 + 9 + 1
	for _, f := range l.Facts() {
		head := fmt.Sprintf("%-24s %12d %-9s ", f.Name, f.Value, f.Unit)
		var lines []string
		if width-lead >= 24 {
			for i, part := range WrapWords(f.Why, width-lead) {
				if i == 0 {
					lines = append(lines, head+part)
				} else {
					lines = append(lines, strings.Repeat(" ", lead)+part)
				}
			}
		} else {
			lines = append(lines, strings.TrimRight(head, " "))
			for _, part := range WrapWords(f.Why, max(width-4, 8)) {
				lines = append(lines, "    "+part)
			}
		}
		for _, line := range lines {
			if _, err := fmt.Fprintln(w, line); err != nil {
				return err
			}
		}
	}
	return nil
}

// WrapWords breaks s into lines of at most width runes, at spaces; a word
// longer than width is cut.
func WrapWords(s string, width int) []string {
	var lines []string
	var cur []rune
	for _, word := range strings.Fields(s) {
		r := []rune(word)
		for len(r) > width {
			if len(cur) > 0 {
				lines = append(lines, string(cur))
				cur = nil
			}
			lines = append(lines, string(r[:width]))
			r = r[width:]
		}
		switch {
		case len(cur) == 0:
			cur = r
		case len(cur)+1+len(r) <= width:
			cur = append(append(cur, ' '), r...)
		default:
			lines = append(lines, string(cur))
			cur = r
		}
	}
	if len(cur) > 0 || len(lines) == 0 {
		lines = append(lines, string(cur))
	}
	return lines
}
