package doctor

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/rootfs"
	"github.com/minidisk/minidisk/rootfs/ext2"
)

// fsView is the root filesystem as the boot sees it.
type fsView struct {
	part  PartitionInfo // Index 0 for a bare filesystem
	base  int64         // byte offset in the image
	bytes int64         // the partition's size
	// fs reads only inside the partition, as GRUB and the kernel do: a read
	// past the end fails with ext2.ErrPastPartitionEnd.
	fs *ext2.Reader
	sb *ext2.Superblock
}

// maxFilesListed caps Files in the beyond-partition finding; the count is
// still exact.
const maxFilesListed = 50

// findRoot picks the partition that holds the root filesystem by the rule
// every minidisk command uses (disk.FindRoot: the active Linux partition
// holding ext2, else the first one holding ext2, logical partitions
// included). When no Linux partition holds ext2, a partition of another
// type that does is examined instead, as the one the user meant (its type
// is a finding of its own); else the Linux partition the rule falls back to
// is reported as empty.
func (d *diag) findRoot() (PartitionInfo, bool) {
	holds := func(off, _ int64) bool { return off < d.size && d.sniff(off) == contentExt2 }
	var root PartitionInfo
	if t, err := disk.ReadPartitions(d.r, d.size); err == nil {
		if p, err := t.Root(d.size, holds); err == nil {
			root = PartitionInfo{Index: p.Index, Type: p.Type, Bootable: p.Bootable, Start: p.Start, Sectors: p.Sectors}
			if holds(int64(p.Start)*sectorSize, 0) {
				return root, true
			}
		}
	}
	for _, p := range d.rep.Partitions {
		if !isExtendedType(p.Type) && p.Start*sectorSize < uint64(d.size) && d.sniff(int64(p.Start)*sectorSize) == contentExt2 {
			return p, true
		}
	}
	return root, false
}

// checkFS opens the root filesystem and compares it with its partition.
func (d *diag) checkFS() {
	var v fsView
	if d.rep.Boot.Loader == LoaderUEFI && d.target == nil {
		return // the EFI application carries its own root (checkUEFI)
	}
	switch d.rep.Scheme {
	case SchemeMBR, SchemeGPT:
		p, ok, decided := d.rootFromTarget()
		if !decided {
			p, ok = d.findRoot()
		}
		if !ok {
			if decided {
				return
			}
			if p.Index != 0 {
				d.add(Finding{ID: IDFSMissing, Area: AreaFS, Severity: Error,
					Title:    fmt.Sprintf("partition %d holds no ext2 filesystem", p.Index),
					Evidence: fmt.Sprintf("no ext2 magic (0xEF53) at byte %d (partition start %d × 512 + 1080)", int64(p.Start)*sectorSize+1080, p.Start),
					Fix:      fmt.Sprintf("make it: `minidisk mkfs IMG` (by hand: mke2fs -t ext2 -b 1024 -I 128 -E offset=%d IMG COUNT, with the count `minidisk plan IMG` gives)", int64(p.Start)*sectorSize)})
			} else if len(d.rep.Partitions) > 0 {
				d.add(Finding{ID: IDFSMissing, Area: AreaFS, Severity: Error,
					Title:    "no partition holds an ext2 filesystem",
					Evidence: fmt.Sprintf("none of the %d partitions is type 83 or has ext2 magic", len(d.rep.Partitions)),
					Fix:      "create a Linux (83) partition and an ext2 filesystem in it"})
			}
			return
		}
		v = fsView{part: p, base: int64(p.Start) * sectorSize, bytes: int64(p.Sectors) * sectorSize}
	case SchemeBareExt2:
		v = fsView{base: 0, bytes: d.size}
	default:
		return
	}
	// The partition may run past the image end; the bytes that exist bound
	// what can be read.
	avail := d.size - v.base
	// Open without a limit first: the superblock says how large the
	// filesystem thinks it is, which may be more than the partition.
	raw, err := ext2.Open(d.r, v.base, 0)
	if sb := d.readSuperblock(v.base); err != nil && sb != nil && sb.Validate() == nil {
		// A sound superblock whose features the reader does not follow
		// (ext4's extents, 64bit, ...): the files are unchecked, not broken.
		d.rootSB = sb
		d.add(Finding{ID: IDFSUnchecked, Area: AreaFS, Severity: Info,
			Title:    fmt.Sprintf("the %s filesystem in %s is not readable by doctor: its files are unchecked", ext2Kind(sb), partName(v.part)),
			Evidence: err.Error()})
		return
	}
	if err != nil {
		d.add(Finding{ID: IDFSUnreadable, Area: AreaFS, Severity: Error,
			Title:    fmt.Sprintf("the ext2 filesystem in %s cannot be read", partName(v.part)),
			Evidence: err.Error(),
			Fix:      "check it with `e2fsck -fn` on the partition (dd it out first), or recreate it"})
		return
	}
	sb := raw.Superblock()
	bs := int64(raw.BlockSize())
	info := &FSInfo{Partition: v.part.Index, OffsetBytes: v.base, PartitionBytes: v.bytes, BlockSize: int(bs),
		Blocks: uint64(sb.BlocksCount), PartitionBlocks: uint64(v.bytes / bs), InodeSize: sb.InodeSizeOrDefault()}
	d.rep.FS = info
	fsBytes := int64(sb.BlocksCount) * bs
	if info.Blocks > info.PartitionBlocks {
		info.OverrunBlocks = info.Blocks - info.PartitionBlocks
		d.beyondPartition(raw, v, info)
	} else if fsBytes > avail {
		d.add(Finding{ID: IDFSPastImageEnd, Area: AreaFS, Severity: Error,
			Title:    "the filesystem runs past the end of the image file",
			Evidence: fmt.Sprintf("%d blocks × %d bytes = %d bytes from byte %d, but the image has only %d bytes after it: the image was truncated", sb.BlocksCount, bs, fsBytes, v.base, avail),
			Fix:      fmt.Sprintf("restore the full image, or grow it: truncate -s %d IMG", v.base+fsBytes)})
	}
	if info.OverrunBlocks == 0 && info.PartitionBlocks-info.Blocks > info.PartitionBlocks/10 && info.PartitionBlocks-info.Blocks > 1024 {
		d.add(Finding{ID: IDFSSmallerThanPartition, Area: AreaFS, Severity: Info,
			Title:    "the filesystem does not fill its partition",
			Evidence: fmt.Sprintf("%d of the partition's %d blocks are used by the filesystem; %d blocks (%s) lie unused", info.Blocks, info.PartitionBlocks, info.PartitionBlocks-info.Blocks, disk.FormatSize(int64(info.PartitionBlocks-info.Blocks)*bs)),
			Fix:      fmt.Sprintf("resize2fs the filesystem to %d blocks if the space is wanted", info.PartitionBlocks)})
	}
	if per := int64(disk.PageSize) / bs; per > 1 && int64(sb.BlocksCount)%per != 0 {
		d.add(Finding{ID: IDFSBlocksNotPageMultiple, Area: AreaFS, Severity: Warning,
			Title:    "the block count is not a multiple of the page size",
			Evidence: fmt.Sprintf("%d blocks of %d bytes = %d bytes, not a multiple of %d: the last %d blocks share a page with no block device behind it (the 2007 recipe rounds the count down to a multiple of %d)", sb.BlocksCount, bs, fsBytes, disk.PageSize, int64(sb.BlocksCount)%per, per),
			Fix:      fmt.Sprintf("make the filesystem %d blocks (mke2fs ... %d)", int64(min(info.Blocks, info.PartitionBlocks))/per*per, int64(min(info.Blocks, info.PartitionBlocks))/per*per)})
	}
	if v.bytes%bs >= 1024 && info.OverrunBlocks == 0 { // a half-KiB tail is part-odd-size
		d.add(Finding{ID: IDFSPartitionNotBlockMultiple, Area: AreaFS, Severity: Info,
			Title:    "the partition is not a whole number of filesystem blocks",
			Evidence: fmt.Sprintf("%d bytes = %d blocks of %d + %d bytes that no block can use", v.bytes, v.bytes/bs, bs, v.bytes%bs)})
	}
	if sb.State&ext2.StateValid == 0 || sb.State&2 != 0 {
		d.add(Finding{ID: IDFSNotClean, Area: AreaFS, Severity: Warning,
			Title:    "the filesystem is not marked clean",
			Evidence: fmt.Sprintf("s_state = %#x (1 = cleanly unmounted, 2 = errors found); the kernel mounts it but e2fsck should look first", sb.State),
			Fix:      "e2fsck -f the partition before booting"})
	}
	if sb.FeatureCompat&ext2.FeatureCompatHasJournal != 0 {
		d.add(Finding{ID: IDFSHasJournal, Area: AreaFS, Severity: Info,
			Title:    fmt.Sprintf("the filesystem has a journal (%s)", ext2Kind(sb)),
			Evidence: "has_journal is set; the kernel needs CONFIG_EXT3_FS or CONFIG_EXT4_FS to mount it read-write as ext3, GRUB Legacy reads it as ext2"})
	}
	lim, err := ext2.Open(d.r, v.base, v.bytes)
	if err != nil {
		d.add(Finding{ID: IDFSUnreadable, Area: AreaFS, Severity: Error,
			Title:    fmt.Sprintf("the ext2 filesystem in %s cannot be read within its partition", partName(v.part)),
			Evidence: err.Error(),
			Fix:      "recreate the filesystem with a block count that fits the partition (`minidisk plan IMG`)"})
		return
	}
	v.fs, v.sb = lim, lim.Superblock()
	d.fs = &v
	if !d.hasArea(AreaFS, Warning, Error) {
		d.add(Finding{ID: IDFSOK, Area: AreaFS, Severity: OK,
			Title: fmt.Sprintf("%s filesystem fits its partition", ext2Kind(sb)),
			Evidence: fmt.Sprintf("%s: %d blocks of %d bytes in %d-block room, %d-byte inodes, %d free blocks", partName(v.part),
				sb.BlocksCount, bs, info.PartitionBlocks, info.InodeSize, sb.FreeBlocksCount)})
	}
}

func partName(p PartitionInfo) string {
	if p.Index == 0 {
		return "the image"
	}
	return fmt.Sprintf("partition %d", p.Index)
}

// beyondPartition reports a filesystem larger than its partition — the
// 2007 recipe's trap: mke2fs run on the image from the partition offset with
// no block count takes everything to the end of the file, while the
// cylinder-aligned partition ends earlier. Files whose blocks lie past the
// end cannot be read: GRUB says "Error 24: Attempt to access block outside
// partition", the kernel "attempt to access beyond end of device".
func (d *diag) beyondPartition(raw *ext2.Reader, v fsView, info *FSInfo) {
	bs := int64(info.BlockSize)
	limit := uint32(min(info.PartitionBlocks, 1<<32-1)) // first block number past the end
	var past []FileBlocksPastEnd
	walked := 0
	var walkErr error
	err := raw.Walk(func(h *rootfs.Header) error {
		walked++
		if walked > d.opt.MaxFiles {
			return errStopWalk
		}
		if h.Type == rootfs.TypeLink || h.Type == rootfs.TypeChar || h.Type == rootfs.TypeBlock || h.Type == rootfs.TypeFIFO {
			return nil
		}
		ino, err := raw.Inode(h.Name)
		if err != nil {
			return nil
		}
		data, meta, err := raw.InodeBlocks(ino)
		if err != nil && walkErr == nil {
			walkErr = fmt.Errorf("%s: %w", h.Name, err)
		}
		fb := FileBlocksPastEnd{Path: h.Name}
		for _, list := range [][]uint32{data, meta} {
			for _, b := range list {
				if b >= limit {
					if fb.Count == 0 || uint64(b) < fb.First {
						fb.First = uint64(b)
					}
					fb.Count++
				}
			}
		}
		if fb.Count > 0 {
			past = append(past, fb)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStopWalk) && walkErr == nil {
		walkErr = err
	}
	sort.Slice(past, func(i, j int) bool { return past[i].Path < past[j].Path })
	var files []string
	for _, p := range past {
		files = append(files, p.Path)
	}
	info.FilesPastEnd, info.PastEnd = files, past
	firstSector := v.part.Start + uint64(info.PartitionBlocks)*uint64(bs)/sectorSize
	ev := fmt.Sprintf("s_blocks_count %d × %d bytes = %d bytes, but %s is %d sectors = %d bytes = %d blocks: the filesystem claims %d blocks (%d bytes, sectors %d..%d) past the partition end",
		info.Blocks, bs, int64(info.Blocks)*bs, partName(v.part), v.bytes/sectorSize, v.bytes, info.PartitionBlocks,
		info.OverrunBlocks, int64(info.OverrunBlocks)*bs, firstSector, v.part.Start+uint64(int64(info.Blocks)*bs/sectorSize)-1)
	switch {
	case len(files) > 0:
		ev += fmt.Sprintf("; %d file(s) already have blocks there and fail to read (GRUB: \"Error 24: Attempt to access block outside partition\"; Linux: \"attempt to access beyond end of device\"): %s",
			len(files), strings.Join(files[:min(len(files), 10)], ", "))
		if len(files) > 10 {
			ev += ", ..."
		}
	default:
		ev += "; no file has blocks there yet: it will fail as the disk fills"
	}
	if walked > d.opt.MaxFiles {
		ev += fmt.Sprintf(" (stopped after %d entries)", d.opt.MaxFiles)
	}
	if walkErr != nil {
		ev += fmt.Sprintf(" (walk incomplete: %v)", walkErr)
	}
	listed := files
	if len(listed) > maxFilesListed {
		listed = listed[:maxFilesListed]
	}
	fit := info.PartitionBlocks / uint64(max(disk.PageSize/bs, 1)) * uint64(max(disk.PageSize/bs, 1))
	d.add(Finding{ID: IDFSBeyondPartition, Area: AreaFS, Severity: Error,
		Title:    fmt.Sprintf("the filesystem is %d blocks larger than its partition", info.OverrunBlocks),
		Evidence: ev,
		Fix: fmt.Sprintf("recreate the filesystem with the partition's block count: mke2fs -b %d ... part.img %d (mke2fs on the image from the offset without a count takes the whole file); or resize2fs it to %d blocks",
			bs, fit, fit),
		Files: listed})
}

var errStopWalk = errors.New("stop walk")
