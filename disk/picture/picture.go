// Package picture draws a disk image's layout: one horizontal bar from
// sector 0 to the end of the image, with the MBR, GRUB's embedded stage1.5,
// the free gap, the partition, the ext2 filesystem inside it and anything
// that runs past the partition's end, each region labelled and the numbers
// (sectors, byte offset, block counts) listed under the bar.
//
// The same Picture renders as terminal text (RenderText) and as a
// standalone SVG (RenderSVG). plan, create and doctor build their Picture
// with FromLayout, Naive and FromImage.
//
// # Scale
//
// Real layouts mix regions of 1 sector (the MBR) with regions of millions
// (the partition), so a strictly proportional bar would hide the regions the
// 2007 recipe is about. The bar is therefore cut at every region boundary of
// every row into elementary segments, and segment k of s_k sectors gets
// w_k units (terminal columns, SVG pixels) by this rule:
//
//	w_k = m                        if s_k × R / S < m
//	w_k = s_k × R / S, rounded     otherwise
//
// where m is the minimum visible width, R is the total width less m for
// each minimum segment, and S is the sum of the sectors of the segments that
// are not at the minimum. Rounding is largest-remainder (the fractions that
// floor drops go, one unit each, to the largest fractions, ties to the
// leftmost segment), so the widths add up exactly and every non-minimum
// segment is within one unit of its proportional share. A region's width is
// the sum of the widths of its segments. See Scale.
package picture

import (
	"fmt"

	"github.com/minidisk/minidisk/disk"
)

// Kind says what a region is; it picks the region's fill and colour.
type Kind int

const (
	MBR        Kind = iota + 1 // sector 0: boot code and partition table
	Embed                      // GRUB Legacy's stage1.5, embedded after the MBR
	Gap                        // free sectors between the MBR (or stage1.5) and the partition
	Partition                  // the partition as the partition table records it
	Filesystem                 // the ext2 filesystem's blocks inside the partition
	Slack                      // partition sectors after the filesystem (block-count rounding)
	Overrun                    // filesystem blocks past the partition's end
	Tail                       // image sectors after the partition
)

var kindNames = map[Kind]string{
	MBR: "mbr", Embed: "embed", Gap: "gap", Partition: "partition",
	Filesystem: "filesystem", Slack: "slack", Overrun: "overrun", Tail: "tail",
}

// String is the kind's name, also used as the SVG class.
func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind%d", int(k))
}

// defaultKey is the one-letter tag shown in a region too narrow for its
// label; the legend under the bar spells it out.
func (k Kind) defaultKey() string {
	switch k {
	case MBR:
		return "M"
	case Embed:
		return "S"
	case Gap:
		return "g"
	case Partition:
		return "P"
	case Filesystem:
		return "F"
	case Slack:
		return "u"
	case Overrun:
		return "X"
	case Tail:
		return "t"
	}
	return "?"
}

// Region is a run of sectors of one kind.
type Region struct {
	Label   string // e.g. "partition 1"
	Key     string // short tag when the label does not fit; "" = by Kind
	Start   uint64 // first sector
	Sectors uint64 // length in 512-byte sectors (> 0)
	Kind    Kind
	Note    string // one more fact for the legend, e.g. "8001 KiB"
	// Range, when set, is the range the bar's label names instead of the
	// region's own: a filesystem that overruns its partition is drawn in
	// two regions (inside, past the end) but labelled with all of it.
	Range string
}

// End is the first sector after the region.
func (r Region) End() uint64 { return r.Start + r.Sectors }

// Last is the region's last sector (inclusive, as fdisk prints it).
func (r Region) Last() uint64 { return r.Start + r.Sectors - 1 }

func (r Region) key() string {
	if r.Key != "" {
		return r.Key
	}
	return r.Kind.defaultKey()
}

// Row is one layer of the picture: "disk" (what the partition table says)
// above "ext2" (what the filesystem occupies). Regions are sorted and do not
// overlap; sectors no region covers are drawn empty.
type Row struct {
	Name    string
	Regions []Region
}

// Mark points at one sector under the bar, e.g. the first block of a file
// that lies past the partition's end.
type Mark struct {
	Sector uint64
	Label  string
}

// Picture is everything a renderer draws.
type Picture struct {
	Title       string
	DiskSectors uint64
	Rows        []Row
	Marks       []Mark
	Numbers     []string // lines under the legend: offsets, block counts, what to type
}

// Limits keep a picture built from an untrusted image drawable.
const (
	MaxRegions = 64 // per picture, all rows
	MaxMarks   = 16 // drawn; more are counted in one line
)

// Validate checks that every region lies inside the disk, has sectors, and
// that each row's regions are sorted and disjoint.
func (p Picture) Validate() error {
	if p.DiskSectors == 0 {
		return fmt.Errorf("picture: empty disk")
	}
	if len(p.Rows) == 0 {
		return fmt.Errorf("picture: no rows")
	}
	n := 0
	for _, row := range p.Rows {
		var prev uint64
		for i, r := range row.Regions {
			n++
			if r.Sectors == 0 {
				return fmt.Errorf("picture: row %q region %q has no sectors", row.Name, r.Label)
			}
			if r.End() < r.Start || r.End() > p.DiskSectors {
				return fmt.Errorf("picture: row %q region %q (sectors %d..%d) is outside the %d-sector disk", row.Name, r.Label, r.Start, r.Last(), p.DiskSectors)
			}
			if i > 0 && r.Start < prev {
				return fmt.Errorf("picture: row %q region %q overlaps or precedes the one before it", row.Name, r.Label)
			}
			prev = r.End()
		}
	}
	if n > MaxRegions {
		return fmt.Errorf("picture: %d regions (at most %d)", n, MaxRegions)
	}
	for _, m := range p.Marks {
		if m.Sector >= p.DiskSectors {
			return fmt.Errorf("picture: mark %q at sector %d is outside the %d-sector disk", m.Label, m.Sector, p.DiskSectors)
		}
	}
	return nil
}

// boundaries returns the sorted distinct cut points of all rows, from 0 to
// DiskSectors: the edges of the elementary segments of the scale.
func (p Picture) boundaries() []uint64 {
	set := map[uint64]bool{0: true, p.DiskSectors: true}
	for _, row := range p.Rows {
		for _, r := range row.Regions {
			set[r.Start] = true
			set[r.End()] = true
		}
	}
	out := make([]uint64, 0, len(set))
	for b := range set {
		out = append(out, b)
	}
	sortUint64(out)
	return out
}

func sortUint64(a []uint64) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// DefaultStage15Sectors is the size of GRUB Legacy 0.97's e2fs_stage1_5
// (Debian grub-legacy 0.97-80: 9460 bytes = 19 sectors), which `setup (hd0)`
// embeds in sectors 1..19. plan uses it; create and doctor pass what they
// installed or found.
const DefaultStage15Sectors = 19

// diskRow is the partition-table view: MBR, stage1.5, gap, partition, tail.
func diskRow(diskSectors, start, sectors, stage15 uint64, index int) Row {
	row := Row{Name: "disk"}
	row.Regions = append(row.Regions, Region{Label: "MBR", Start: 0, Sectors: 1, Kind: MBR, Note: "boot code + partition table"})
	gapStart := uint64(1)
	if stage15 > 0 && stage15 < start {
		row.Regions = append(row.Regions, Region{Label: "GRUB stage1.5", Start: 1, Sectors: stage15, Kind: Embed, Note: "e2fs_stage1_5, embedded by setup (hd0)"})
		gapStart = 1 + stage15
	}
	if start > gapStart {
		row.Regions = append(row.Regions, Region{Label: "free gap", Start: gapStart, Sectors: start - gapStart, Kind: Gap})
	}
	row.Regions = append(row.Regions, Region{Label: fmt.Sprintf("partition %d", index), Start: start, Sectors: sectors, Kind: Partition,
		Note: fmt.Sprintf("%d KiB; offset %d bytes", sectors/2, start*disk.SectorSize)})
	if end := start + sectors; end < diskSectors {
		row.Regions = append(row.Regions, Region{Label: "unused tail", Start: end, Sectors: diskSectors - end, Kind: Tail, Note: "not in any partition"})
	}
	return row
}

// fsRow is the filesystem view: blocks inside the partition, slack after
// them, and blocks past the partition end (clipped to the image).
func fsRow(diskSectors, start, partSectors, fsSectors uint64, blockSize int, blocks uint64) Row {
	row := Row{Name: "ext2"}
	partEnd := start + partSectors
	fsEnd := diskSectors // clipped to the image (and safe from overflow)
	if fsSectors < diskSectors-start {
		fsEnd = start + fsSectors
	}
	perBlock := uint64(blockSize / disk.SectorSize)
	inside := fsEnd
	if inside > partEnd {
		inside = partEnd
	}
	if inside > start {
		note := fmt.Sprintf("%d blocks × %d B from the partition's first sector", blocks, blockSize)
		if fsEnd > partEnd {
			note = fmt.Sprintf("blocks 0..%d of %d (× %d B) lie inside the partition", (partEnd-start)/perBlock-1, blocks, blockSize)
		}
		r := Region{Label: fmt.Sprintf("ext2, %d blocks", blocks), Key: "F", Start: start, Sectors: inside - start, Kind: Filesystem, Note: note}
		if fsEnd > partEnd {
			r.Range = fmt.Sprintf("%d..%d", start, fsEnd-1)
		}
		row.Regions = append(row.Regions, r)
	}
	if fsEnd < partEnd && fsEnd >= start {
		row.Regions = append(row.Regions, Region{Label: "unused", Start: fsEnd, Sectors: partEnd - fsEnd, Kind: Slack,
			Note: "after the last whole page of blocks (mke2fs rounds down)"})
	}
	if fsEnd > partEnd {
		first := (partEnd - start) / perBlock
		over := (fsEnd - partEnd) / perBlock
		row.Regions = append(row.Regions, Region{Label: fmt.Sprintf("%d blocks PAST THE END", over), Key: "X", Start: partEnd, Sectors: fsEnd - partEnd, Kind: Overrun,
			Note: fmt.Sprintf("blocks %d..%d: GRUB Error 24, kernel \"attempt to access beyond end of device\"", first, first+over-1)})
	}
	return row
}

// FromLayout draws a planned layout: the partition table's view and the
// ext2 filesystem of AlignedBlocks inside the partition. stage15Sectors is
// the size of GRUB's embedded stage1.5 (0: not shown).
func FromLayout(l *disk.Layout, stage15Sectors uint64) Picture {
	p := l.Partition
	perBlock := uint64(l.BlockSize / disk.SectorSize)
	blocks := l.AlignedBlocks()
	pic := Picture{
		Title:       fmt.Sprintf("%s image, %d sectors: the planned layout", disk.FormatSize(l.DiskBytes()), l.DiskSectors),
		DiskSectors: l.DiskSectors,
		Rows: []Row{
			diskRow(l.DiskSectors, p.Start, p.Sectors, stage15Sectors, p.Index),
			fsRow(l.DiskSectors, p.Start, p.Sectors, blocks*perBlock, l.BlockSize, blocks),
		},
		Numbers: []string{
			fmt.Sprintf("offset %d bytes = sector %d × 512: for dd seek=, losetup -o, mount -o offset=", l.OffsetBytes(), p.Start),
			fmt.Sprintf("ext2: %d blocks of %d B, the count to give mke2fs", blocks, l.BlockSize),
		},
	}
	return pic
}

// Naive draws the same disk with the filesystem mke2fs makes when it is run
// from the partition offset without a block count: it sizes itself to the
// end of the image file, so when the partition ends earlier its last blocks
// (Overrun) lie past the partition's end.
func Naive(l *disk.Layout, stage15Sectors uint64) Picture {
	p := l.Partition
	perBlock := uint64(l.BlockSize / disk.SectorSize)
	blocks := l.NaiveBlocks()
	pic := Picture{
		Title:       fmt.Sprintf("%s image: mke2fs WITHOUT a block count", disk.FormatSize(l.DiskBytes())),
		DiskSectors: l.DiskSectors,
		Rows: []Row{
			diskRow(l.DiskSectors, p.Start, p.Sectors, stage15Sectors, p.Index),
			fsRow(l.DiskSectors, p.Start, p.Sectors, blocks*perBlock, l.BlockSize, blocks),
		},
	}
	line := fmt.Sprintf("mke2fs without a count: %d blocks = (%d - %d) / %d, rounded down to a multiple of %d",
		blocks, l.DiskBytes(), l.OffsetBytes(), l.BlockSize, l.BlockMultiple())
	if o := l.Overrun(); o > 0 {
		pic.Numbers = []string{line,
			fmt.Sprintf("the partition holds %d blocks: %d blocks (%d..%d) run past its end", l.CapacityBlocks(), o, l.CapacityBlocks(), blocks-1)}
	} else {
		pic.Numbers = []string{line, "the partition reaches the end of the image, so this fits too"}
	}
	return pic
}

// FileBlocks names a file that owns filesystem blocks past the partition's
// end (doctor's finding).
type FileBlocks struct {
	Path  string
	First uint64 // first such block, a filesystem block number; 0 with Count 0 = unknown
	Count uint64 // how many of its blocks lie past the end; 0 = unknown
}

// ImageFacts are the numbers doctor reads from an image.
type ImageFacts struct {
	DiskSectors    uint64 // image size / 512
	PartIndex      int    // 1..4; 0 = 1
	PartStart      uint64 // first sector of the partition
	PartSectors    uint64 // its length
	Stage15Sectors uint64 // embedded stage1.5 found after the MBR; 0 = none
	BlockSize      int    // ext2 block size (1024 << s_log_block_size)
	FSBlocks       uint64 // s_blocks_count
	PastEnd        []FileBlocks
}

// FromImage draws an existing image from doctor's numbers: partition,
// filesystem extent, blocks past the partition end, and a mark under the
// first such block of each file that owns one. Numbers from a damaged
// image are checked, never trusted: a filesystem reaching past the image
// file is clipped to it and said so.
func FromImage(f ImageFacts) (Picture, error) {
	if f.DiskSectors == 0 {
		return Picture{}, fmt.Errorf("picture: empty image")
	}
	if f.BlockSize < disk.SectorSize || f.BlockSize%disk.SectorSize != 0 || f.BlockSize > 65536 {
		return Picture{}, fmt.Errorf("picture: block size %d is not a multiple of 512 up to 64 KiB", f.BlockSize)
	}
	if f.PartStart == 0 || f.PartSectors == 0 || f.PartStart >= f.DiskSectors || f.PartSectors > f.DiskSectors-f.PartStart {
		return Picture{}, fmt.Errorf("picture: partition at sector %d of %d sectors does not fit the %d-sector image", f.PartStart, f.PartSectors, f.DiskSectors)
	}
	idx := f.PartIndex
	if idx == 0 {
		idx = 1
	}
	perBlock := uint64(f.BlockSize / disk.SectorSize)
	fsSectors := f.FSBlocks * perBlock
	if f.FSBlocks > (1<<62)/perBlock {
		fsSectors = 1 << 62
	}
	pic := Picture{
		Title:       fmt.Sprintf("%s image, %d sectors: as found", disk.FormatSize(int64(f.DiskSectors)*disk.SectorSize), f.DiskSectors),
		DiskSectors: f.DiskSectors,
		Rows: []Row{
			diskRow(f.DiskSectors, f.PartStart, f.PartSectors, f.Stage15Sectors, idx),
			fsRow(f.DiskSectors, f.PartStart, f.PartSectors, fsSectors, f.BlockSize, f.FSBlocks),
		},
	}
	capacity := f.PartSectors / perBlock
	pic.Numbers = append(pic.Numbers, fmt.Sprintf("offset %d bytes = sector %d × 512; partition %d sectors holds %d blocks of %d B",
		f.PartStart*disk.SectorSize, f.PartStart, f.PartSectors, capacity, f.BlockSize))
	if f.FSBlocks > capacity {
		pic.Numbers = append(pic.Numbers, fmt.Sprintf("ext2 claims %d blocks: %d blocks (%d..%d) lie past the partition end",
			f.FSBlocks, f.FSBlocks-capacity, capacity, f.FSBlocks-1))
	} else {
		pic.Numbers = append(pic.Numbers, fmt.Sprintf("ext2 has %d blocks: all inside the partition", f.FSBlocks))
	}
	if fsSectors > f.DiskSectors-f.PartStart {
		pic.Numbers = append(pic.Numbers, fmt.Sprintf("the filesystem needs %d sectors from sector %d, past the image's last sector %d: the image is truncated",
			fsSectors, f.PartStart, f.DiskSectors-1))
	}
	for i, fb := range f.PastEnd {
		if i == MaxMarks {
			pic.Numbers = append(pic.Numbers, fmt.Sprintf("... and %d more files past the partition end", len(f.PastEnd)-MaxMarks))
			break
		}
		if fb.First == 0 && fb.Count == 0 {
			// Only the name is known: point at the first sector past the
			// partition end, where its blocks begin to be out of reach.
			if end := f.PartStart + f.PartSectors; end < f.DiskSectors {
				pic.Marks = append(pic.Marks, Mark{Sector: end, Label: fb.Path + " has blocks past the partition end"})
			} else {
				pic.Numbers = append(pic.Numbers, fb.Path+" has blocks past the partition end")
			}
			continue
		}
		sector := f.PartStart + fb.First*perBlock
		if fb.First > (1<<62)/perBlock || sector >= f.DiskSectors {
			pic.Numbers = append(pic.Numbers, fmt.Sprintf("%s: block %d lies past the end of the image", fb.Path, fb.First))
			continue
		}
		pic.Marks = append(pic.Marks, Mark{Sector: sector, Label: fmt.Sprintf("%s (%d blocks from block %d)", fb.Path, fb.Count, fb.First)})
	}
	return pic, pic.Validate()
}
