package doctor

import "github.com/minidisk/minidisk/disk/picture"

// PictureFacts gives disk/picture the numbers doctor read, so the layout
// (partition, filesystem, overrun, files past the end) can be drawn under
// the findings. ok is false when doctor found no MBR partition with a
// filesystem to draw.
func (r *Report) PictureFacts() (f picture.ImageFacts, ok bool) {
	if r.FS == nil || r.FS.Partition == 0 {
		return f, false
	}
	f = picture.ImageFacts{DiskSectors: r.DiskSectors, PartIndex: r.FS.Partition, BlockSize: r.FS.BlockSize, FSBlocks: r.FS.Blocks}
	for _, p := range r.Partitions {
		if p.Index == r.FS.Partition {
			f.PartStart, f.PartSectors = p.Start, p.Sectors
		}
	}
	if r.GRUB != nil && len(r.GRUB.Stage15Sectors) == 2 {
		f.Stage15Sectors = r.GRUB.Stage15Sectors[1] - r.GRUB.Stage15Sectors[0] + 1
	}
	for _, p := range r.FS.PastEnd {
		f.PastEnd = append(f.PastEnd, picture.FileBlocks{Path: p.Path, First: p.First, Count: p.Count})
	}
	return f, true
}
