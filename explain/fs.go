package explain

import (
	"fmt"
	"sort"
	"strings"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/disk/picture"
	"github.com/minidisk/minidisk/rootfs/ext2"
)

const (
	// maxGroupsShown bounds the descriptors explained one by one (a 4 GiB
	// filesystem of 1 KiB blocks has 512 groups); the rest are summarised.
	maxGroupsShown = 32
)

// Feature names as dumpe2fs prints them (lib/e2p/feature.c).
var (
	compatNames = []struct {
		bit  uint32
		name string
	}{{ext2.FeatureCompatDirPrealloc, "dir_prealloc"}, {ext2.FeatureCompatImagicInodes, "imagic_inodes"}, {ext2.FeatureCompatHasJournal, "has_journal"},
		{ext2.FeatureCompatExtAttr, "ext_attr"}, {ext2.FeatureCompatResizeInode, "resize_inode"}, {ext2.FeatureCompatDirIndex, "dir_index"}, {ext2.FeatureCompatSparseSuper2, "sparse_super2"}}
	incompatNames = []struct {
		bit  uint32
		name string
	}{{ext2.FeatureIncompatCompression, "compression"}, {ext2.FeatureIncompatFiletype, "filetype"}, {ext2.FeatureIncompatRecover, "needs_recovery"},
		{ext2.FeatureIncompatJournalDev, "journal_dev"}, {ext2.FeatureIncompatMetaBG, "meta_bg"}, {ext2.FeatureIncompatExtents, "extent"},
		{ext2.FeatureIncompat64Bit, "64bit"}, {ext2.FeatureIncompatMMP, "mmp"}, {ext2.FeatureIncompatFlexBG, "flex_bg"},
		{ext2.FeatureIncompatInlineData, "inline_data"}, {ext2.FeatureIncompatEncrypt, "encrypt"}, {ext2.FeatureIncompatCasefold, "casefold"}}
	roCompatNames = []struct {
		bit  uint32
		name string
	}{{ext2.FeatureROCompatSparseSuper, "sparse_super"}, {ext2.FeatureROCompatLargeFile, "large_file"}, {ext2.FeatureROCompatHugeFile, "huge_file"},
		{ext2.FeatureROCompatGdtCsum, "uninit_bg"}, {ext2.FeatureROCompatDirNlink, "dir_nlink"}, {ext2.FeatureROCompatExtraIsize, "extra_isize"},
		{ext2.FeatureROCompatQuota, "quota"}, {ext2.FeatureROCompatBigalloc, "bigalloc"}, {ext2.FeatureROCompatMetadataCsum, "metadata_csum"}}
)

func featureNames(v uint32, table []struct {
	bit  uint32
	name string
}) []string {
	var out []string
	for _, t := range table {
		if v&t.bit != 0 {
			out = append(out, t.name)
			v &^= t.bit
		}
	}
	for b := uint32(1); b != 0; b <<= 1 {
		if v&b != 0 {
			out = append(out, fmt.Sprintf("FEATURE_%#x", b))
		}
	}
	return out
}

// Features lists the superblock's feature names as dumpe2fs's "Filesystem
// features" line does (compat, incompat, ro_compat order), sorted.
func Features(sb *ext2.Superblock) []string {
	var all []string
	all = append(all, featureNames(sb.FeatureCompat, compatNames)...)
	all = append(all, featureNames(sb.FeatureIncompat, incompatNames)...)
	all = append(all, featureNames(sb.FeatureROCompat, roCompatNames)...)
	sort.Strings(all)
	return all
}

// fsGeometry is what every ext2 view needs: where the filesystem is and
// how its groups are laid out.
type fsGeometry struct {
	r        *ext2.Reader
	sb       *ext2.Superblock
	base     int64 // byte offset of the filesystem in the image
	part     int
	bs       int64
	groups   uint32
	descRaw  []byte // the group-descriptor table (maxGroupsShown+ entries at most)
	descBase int64
}

func (d *Disk) geometry() (*fsGeometry, error) {
	r, err := d.rootFS()
	if err != nil {
		return nil, err
	}
	sb := r.Superblock()
	g := &fsGeometry{r: r, sb: sb, base: d.fsBase, part: d.fsPart, bs: int64(r.BlockSize())}
	g.groups = uint32((uint64(sb.BlocksCount) - uint64(sb.FirstDataBlock) + uint64(sb.BlocksPerGroup) - 1) / uint64(sb.BlocksPerGroup))
	// ext2.Open read and bounded the same table; read the shown part again
	// with its bytes, for offsets and the hex.
	n := int64(min(g.groups, maxGroupsShown+1)) * ext2.GroupDescSize
	g.descBase = g.base + (int64(sb.FirstDataBlock)+1)*g.bs
	g.descRaw = make([]byte, n)
	if err := d.readFull(g.descRaw, g.descBase); err != nil {
		return nil, fmt.Errorf("%s: group descriptors at byte %d: %w", d.name, g.descBase, err)
	}
	return g, nil
}

// desc decodes group i's descriptor from the bytes read.
func (g *fsGeometry) desc(i uint32) (ext2.GroupDesc, bool) {
	var gd ext2.GroupDesc
	o := int(i) * ext2.GroupDescSize
	if o+ext2.GroupDescSize > len(g.descRaw) {
		return gd, false
	}
	_ = gd.Unmarshal(g.descRaw[o:])
	return gd, true
}

// blockWhere says where filesystem block b is in the image.
func (g *fsGeometry) blockWhere(b uint64) string {
	off := g.base + int64(b)*g.bs
	return fmt.Sprintf("byte %d = sector %d", off, off/disk.SectorSize)
}

func (g *fsGeometry) inodeTableBlocks() uint64 {
	isz := uint64(g.sb.InodeSizeOrDefault())
	return (uint64(g.sb.InodesPerGroup)*isz + uint64(g.bs) - 1) / uint64(g.bs)
}

func (d *Disk) explainFS() (*View, error) {
	g, err := d.geometry()
	if err != nil {
		return nil, err
	}
	sb := g.sb
	raw := make([]byte, ext2.SuperblockSize)
	sbOff := g.base + ext2.SuperblockOffset
	if err := d.readFull(raw, sbOff); err != nil {
		return nil, fmt.Errorf("%s: superblock: %w", d.name, err)
	}
	where := "a bare filesystem (no partition table)"
	if g.part > 0 {
		where = fmt.Sprintf("partition %d", g.part)
	}
	v := &View{Image: d.name, What: "fs", Title: fmt.Sprintf("the ext2 filesystem in %s, from byte %d (sector %d)", where, g.base, g.base/disk.SectorSize)}

	s := Section{ID: "fs.superblock", Title: fmt.Sprintf("superblock (bytes %d..%d: 1024 bytes into the filesystem, whatever the block size)", sbOff, sbOff+ext2.SuperblockSize-1),
		Offset: sbOff, Size: ext2.SuperblockSize, Dump: true, bytes: raw[:0x70]}
	add := func(f Field) { s.Fields = append(s.Fields, f) }
	sl := &ext2.SuperblockLayout // the offsets Superblock.Unmarshal decodes
	add(field("fs.inodes_count", "s_inodes_count", raw, sbOff, sl.InodesCount.Offset, sl.InodesCount.Size, fmt.Sprintf("%d groups × %d inodes per group", g.groups, sb.InodesPerGroup)))
	f0 := field("fs.blocks_count", "s_blocks_count", raw, sbOff, sl.BlocksCount.Offset, sl.BlocksCount.Size, d.blocksWhy(g))
	if g.part > 0 {
		f0.Refs = []string{fmt.Sprintf("mbr.p%d.sectors", g.part), "fs.log_block_size"}
	}
	add(f0)
	add(field("fs.r_blocks_count", "s_r_blocks_count", raw, sbOff, sl.RBlocksCount.Offset, sl.RBlocksCount.Size, "blocks reserved for root (mke2fs -m, 5% by default)"))
	add(field("fs.free_blocks", "s_free_blocks_count", raw, sbOff, sl.FreeBlocksCount.Offset, sl.FreeBlocksCount.Size, "free blocks when last written"))
	add(field("fs.free_inodes", "s_free_inodes_count", raw, sbOff, sl.FreeInodesCount.Offset, sl.FreeInodesCount.Size, "free inodes when last written"))
	fdb := "0: with blocks of 2 KiB or more the superblock lies inside block 0"
	if sb.FirstDataBlock == 1 {
		fdb = "1: with 1 KiB blocks, block 0 is the boot block (bytes 0..1023, left for a boot sector) and the superblock is block 1"
	}
	add(field("fs.first_data_block", "s_first_data_block", raw, sbOff, sl.FirstDataBlock.Offset, sl.FirstDataBlock.Size, fdb))
	f := field("fs.log_block_size", "s_log_block_size", raw, sbOff, sl.LogBlockSize.Offset, sl.LogBlockSize.Size, fmt.Sprintf("block size = 1024 << %d = %d bytes (%d sectors)", sb.LogBlockSize, g.bs, g.bs/disk.SectorSize))
	add(f)
	add(field("fs.blocks_per_group", "s_blocks_per_group", raw, sbOff, sl.BlocksPerGroup.Offset, sl.BlocksPerGroup.Size, fmt.Sprintf("one block bitmap block holds %d bits = 8 × block size, so a group spans at most %d blocks", 8*g.bs, 8*g.bs)))
	add(field("fs.inodes_per_group", "s_inodes_per_group", raw, sbOff, sl.InodesPerGroup.Offset, sl.InodesPerGroup.Size, fmt.Sprintf("each group's inode table: %d × %d bytes = %d blocks", sb.InodesPerGroup, sb.InodeSizeOrDefault(), g.inodeTableBlocks())))
	f = field("fs.magic", "s_magic", raw, sbOff, sl.Magic.Offset, sl.Magic.Size, "EF53: an ext2/3/4 filesystem (what GRUB, the kernel, doctor and file(1) look for at byte 1080)")
	f.Text = fmt.Sprintf("0x%04X", sb.Magic)
	add(f)
	add(field("fs.rev_level", "s_rev_level", raw, sbOff, sl.RevLevel.Offset, sl.RevLevel.Size, "1 = dynamic revision: inode size and features are in the superblock"))
	add(field("fs.first_ino", "s_first_ino", raw, sbOff, sl.FirstIno.Offset, sl.FirstIno.Size, "first inode for files: 1..10 are reserved (2 = root directory, 11 = lost+found)"))
	isz := "bytes per inode"
	if sb.InodeSizeOrDefault() == ext2.GoodOldInodeSize {
		isz = "128: the only size stock GRUB Legacy 0.97 reads (mke2fs -I 128)"
	} else {
		isz = fmt.Sprintf("%d: stock GRUB Legacy 0.97 reads only 128-byte inodes and will fail", sb.InodeSizeOrDefault())
	}
	add(field("fs.inode_size", "s_inode_size", raw, sbOff, sl.InodeSize.Offset, sl.InodeSize.Size, isz))
	for _, ft := range []struct {
		id, name string
		at       disk.Field
		v        uint32
		table    []struct {
			bit  uint32
			name string
		}
		why string
	}{
		{"fs.feature_compat", "s_feature_compat", sl.FeatureCompat, sb.FeatureCompat, compatNames, "a reader may ignore these"},
		{"fs.feature_incompat", "s_feature_incompat", sl.FeatureIncompat, sb.FeatureIncompat, incompatNames, "a reader that lacks one must not mount; GRUB 0.97 knows filetype only"},
		{"fs.feature_ro_compat", "s_feature_ro_compat", sl.FeatureROCompat, sb.FeatureROCompat, roCompatNames, "a reader that lacks one may only read"},
	} {
		f = field(ft.id, ft.name, raw, sbOff, ft.at.Offset, ft.at.Size, "")
		names := featureNames(ft.v, ft.table)
		f.Text = fmt.Sprintf("0x%04X", ft.v)
		if len(names) == 0 {
			f.Meaning = "none; " + ft.why
		} else {
			f.Meaning = strings.Join(names, " ") + "; " + ft.why
		}
		add(f)
	}
	f = field("fs.uuid", "s_uuid", raw, sbOff, sl.UUID.Offset, sl.UUID.Size, "the filesystem's UUID (root=UUID=... needs an initramfs; the 2007 recipe uses root=/dev/sda1)")
	f.Text = uuidString(sb.UUID)
	add(f)
	s.Notes = append(s.Notes, fmt.Sprintf("%d blocks of %d bytes in %d groups; features: %s", sb.BlocksCount, g.bs, g.groups, strings.Join(Features(sb), " ")))
	v.Sections = append(v.Sections, s)

	sparse := sb.FeatureROCompat&ext2.FeatureROCompatSparseSuper != 0
	itb := g.inodeTableBlocks()
	gdtBlocks := (uint64(g.groups)*ext2.GroupDescSize + uint64(g.bs) - 1) / uint64(g.bs)
	for i := uint32(0); i < g.groups && i < maxGroupsShown; i++ {
		gd, ok := g.desc(i)
		if !ok {
			break
		}
		first := uint64(sb.FirstDataBlock) + uint64(i)*uint64(sb.BlocksPerGroup)
		last := min(first+uint64(sb.BlocksPerGroup)-1, uint64(sb.BlocksCount)-1)
		o := int64(i) * ext2.GroupDescSize
		id := fmt.Sprintf("fs.g%d", i)
		gs := Section{ID: id, Title: fmt.Sprintf("group %d: blocks %d..%d; its descriptor at bytes %d..%d", i, first, last, g.descBase+o, g.descBase+o+ext2.GroupDescSize-1),
			Offset: g.descBase + o, Size: ext2.GroupDescSize}
		if ext2.HasSuperblockBackup(i, sparse) {
			if i == 0 {
				gs.Notes = append(gs.Notes, fmt.Sprintf("block %d: the superblock; blocks %d..%d: the group descriptor table (%d × 32 bytes), then %d reserved GDT blocks", first, first+1, first+gdtBlocks, g.groups, sb.ReservedGdtBlocks))
			} else {
				gs.Notes = append(gs.Notes, fmt.Sprintf("block %d: a backup superblock (sparse_super keeps copies in groups 0, 1 and powers of 3, 5, 7), then a descriptor table copy", first))
			}
		}
		dr := g.descRaw[o : o+ext2.GroupDescSize]
		gl := &ext2.GroupDescLayout // the offsets GroupDesc.Unmarshal decodes
		gb := g.descBase + o
		gs.Fields = append(gs.Fields,
			field(id+".block_bitmap", "bg_block_bitmap", dr, gb, gl.BlockBitmap.Offset, gl.BlockBitmap.Size, fmt.Sprintf("block %d (%s): one bit per block of this group, 1 = used", gd.BlockBitmap, g.blockWhere(uint64(gd.BlockBitmap)))),
			field(id+".inode_bitmap", "bg_inode_bitmap", dr, gb, gl.InodeBitmap.Offset, gl.InodeBitmap.Size, fmt.Sprintf("block %d (%s): one bit per inode of this group", gd.InodeBitmap, g.blockWhere(uint64(gd.InodeBitmap)))),
			field(id+".inode_table", "bg_inode_table", dr, gb, gl.InodeTable.Offset, gl.InodeTable.Size, fmt.Sprintf("blocks %d..%d (%d blocks, %s): inodes %d..%d", gd.InodeTable, uint64(gd.InodeTable)+itb-1, itb, g.blockWhere(uint64(gd.InodeTable)), uint64(i)*uint64(sb.InodesPerGroup)+1, uint64(i+1)*uint64(sb.InodesPerGroup))),
			field(id+".free_blocks", "bg_free_blocks_count", dr, gb, gl.FreeBlocksCount.Offset, gl.FreeBlocksCount.Size, "free blocks in this group"),
			field(id+".free_inodes", "bg_free_inodes_count", dr, gb, gl.FreeInodesCount.Offset, gl.FreeInodesCount.Size, "free inodes in this group"),
			field(id+".used_dirs", "bg_used_dirs_count", dr, gb, gl.UsedDirsCount.Offset, gl.UsedDirsCount.Size, "directories in this group"),
		)
		gs.Fields[2].Refs = []string{"fs.inodes_per_group", "fs.inode_size"}
		v.Sections = append(v.Sections, gs)
	}
	if g.groups > maxGroupsShown {
		v.Sections = append(v.Sections, Section{ID: "fs.more_groups", Title: fmt.Sprintf("groups %d..%d", maxGroupsShown, g.groups-1),
			Notes: []string{fmt.Sprintf("%d more groups, laid out the same way (dumpe2fs lists them all)", g.groups-maxGroupsShown)}})
	}
	v.Picture = d.groupPicture(g)
	return v, nil
}

// blocksWhy explains s_blocks_count against the partition that holds it.
func (d *Disk) blocksWhy(g *fsGeometry) string {
	rep := d.report()
	blocks := uint64(g.sb.BlocksCount)
	if rep.FS == nil || g.part == 0 {
		return fmt.Sprintf("%d blocks of %d bytes = %d bytes", blocks, g.bs, blocks*uint64(g.bs))
	}
	partBytes := uint64(rep.FS.PartitionBytes)
	capacity := partBytes / uint64(g.bs)
	mult := uint64(4096) / uint64(g.bs)
	if mult == 0 {
		mult = 1
	}
	s := fmt.Sprintf("the partition holds %d bytes / %d = %d whole blocks", partBytes, g.bs, capacity)
	switch {
	case blocks > capacity:
		s += fmt.Sprintf("; the filesystem claims %d — %d blocks past the partition end: GRUB \"Error 24\", the kernel \"attempt to access beyond end of device\" (mke2fs was run without a count on the whole rest of the image)", blocks, blocks-capacity)
	case blocks == capacity/mult*mult:
		s += fmt.Sprintf(", rounded down to a multiple of %d (page size 4096 / block size) = %d: the count mke2fs/minidisk give, so every block lies inside the partition", mult, blocks)
	case blocks == capacity:
		s += ": the filesystem fills the partition exactly"
	default:
		s += fmt.Sprintf("; the filesystem uses %d of them (%d blocks unused at the end)", blocks, capacity-blocks)
	}
	return s
}

func uuidString(u [16]byte) string {
	h := hexBytes(u[:])
	h = strings.ReplaceAll(h, " ", "")
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// maxGroupRegions bounds the groups drawn one by one on the picture.
const maxGroupRegions = 24

// groupPicture is doctor's layout picture with a third row: the block
// groups, and marks at group 0's bitmaps and inode table. nil when the
// layout cannot be drawn (the text says why elsewhere).
func (d *Disk) groupPicture(g *fsGeometry) *picture.Picture {
	facts, ok := d.report().PictureFacts()
	if !ok {
		return nil
	}
	pic, err := picture.FromImage(facts)
	if err != nil {
		return nil
	}
	spb := uint64(g.bs / disk.SectorSize)
	start := uint64(g.base / disk.SectorSize)
	row := picture.Row{Name: "groups"}
	for i := uint32(0); i < g.groups && i < maxGroupRegions; i++ {
		first := uint64(g.sb.FirstDataBlock) + uint64(i)*uint64(g.sb.BlocksPerGroup)
		last := min(first+uint64(g.sb.BlocksPerGroup), uint64(g.sb.BlocksCount))
		s := start + first*spb
		n := (last - first) * spb
		if s >= pic.DiskSectors || n == 0 {
			break
		}
		n = min(n, pic.DiskSectors-s)
		row.Regions = append(row.Regions, picture.Region{Label: fmt.Sprintf("group %d", i), Key: fmt.Sprint(i % 10), Start: s, Sectors: n, Kind: picture.Filesystem,
			Note: fmt.Sprintf("blocks %d..%d", first, last-1)})
	}
	if len(row.Regions) > 0 {
		pic.Rows = append(pic.Rows, row)
	}
	if gd, ok := g.desc(0); ok {
		for _, m := range []struct {
			b    uint32
			name string
		}{{gd.BlockBitmap, "block bitmap"}, {gd.InodeBitmap, "inode bitmap"}, {gd.InodeTable, "inode table"}} {
			if sec := start + uint64(m.b)*spb; sec < pic.DiskSectors && len(pic.Marks) < picture.MaxMarks {
				pic.Marks = append(pic.Marks, picture.Mark{Sector: sec, Label: fmt.Sprintf("group 0 %s: block %d", m.name, m.b)})
			}
		}
	}
	if pic.Validate() != nil {
		return nil
	}
	return &pic
}
