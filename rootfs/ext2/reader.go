package ext2

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrPastPartitionEnd is wrapped by read errors for bytes beyond the
// partition size given to Open: the filesystem claims more blocks than its
// partition holds (doctor reports the files that lie there).
var ErrPastPartitionEnd = errors.New("past the partition end")

// ErrCorrupt is wrapped by errors about inconsistent on-disk structures.
var ErrCorrupt = errors.New("corrupt filesystem")

// Limits that keep a corrupt image from costing unbounded time or memory.
const (
	// maxGroupDescBytes caps the group-descriptor table read at Open: 16 MiB
	// is 2^19 groups, far beyond any 32-bit ext2 (2^32 blocks of 4 KiB in
	// groups of 32768 blocks is 2^17 groups).
	maxGroupDescBytes = 16 << 20
	// maxDirSize caps a directory's i_size (a 2,000-entry directory is
	// about 64 KiB; the kernel's limit for ext2 is far above any real one).
	maxDirSize = 64 << 20
	// maxSymlinkLen is PATH_MAX including the NUL.
	maxSymlinkLen = 4096
	// maxReadFile caps ReadFile's single allocation; bigger files are read
	// through Open in pieces.
	maxReadFile = 1 << 30
	// maxFileBlocks caps the slice FileBlocks returns (64 MiB of uint32).
	maxFileBlocks = 1 << 24
)

// Reader reads an ext2, ext3 or ext4 filesystem from an io.ReaderAt,
// read-only: block maps and extent trees (with INCOMPAT_64BIT's 48-bit
// block numbers and 64-byte group descriptors), flex_bg and meta_bg
// layouts, htree directories (read linearly: their index blocks look like
// empty entries), inline data, inodes of any size. Journals are not
// replayed and checksums not verified. Its only mutable state after Open is
// a mutex-guarded cache of parsed directories, so one Reader may be used
// from several goroutines.
type Reader struct {
	r           io.ReaderAt
	base, size  int64 // filesystem offset in r; partition size (<= 0: no limit)
	sb          Superblock
	bs          int    // block size in bytes
	ptrs        uint32 // block pointers per indirect block (bs/4)
	isz         int    // inode size
	blocks      uint64 // block count (64-bit with INCOMPAT_64BIT)
	inodeTables []uint64
	dirs        *dirCache // parsed directories for path lookups (safe for concurrent use)
}

// Open reads the superblock and group descriptors of the filesystem that
// starts at byte base of r. size is the partition's size in bytes: reads
// beyond it fail with an error wrapping ErrPastPartitionEnd; size <= 0
// means no limit (reads fail only where r ends).
//
// A filesystem that needs journal recovery is read as it is on disk
// (Superblock().NeedsRecovery() says so); one using features that change
// how files are found and that this reader does not implement
// (compression, journal_dev, dirdata) is refused with an error naming them.
func Open(r io.ReaderAt, base, size int64) (*Reader, error) {
	if base < 0 {
		return nil, fmt.Errorf("ext2: negative filesystem offset %d", base)
	}
	fr := &Reader{r: r, base: base, size: size, dirs: new(dirCache)}
	var b [SuperblockSize]byte
	if err := fr.readAt(b[:], SuperblockOffset, "superblock"); err != nil {
		return nil, err
	}
	if err := fr.sb.Unmarshal(b[:]); err != nil {
		return nil, fmt.Errorf("ext2: %w", err)
	}
	if err := fr.sb.Validate(); err != nil {
		return nil, fmt.Errorf("ext2: %w", err)
	}
	// Incompat features change the layout we read; refuse those we do not
	// implement rather than misread. Encrypted files and inodes with
	// features used per inode are refused where they are met, so the rest
	// of such a filesystem still reads.
	const known = FeatureIncompatFiletype | FeatureIncompatRecover | FeatureIncompatExtents |
		FeatureIncompatFlexBG | FeatureIncompatInlineData | FeatureIncompatMMP | FeatureIncompat64Bit |
		FeatureIncompatMetaBG | FeatureIncompatEAInode | FeatureIncompatCsumSeed | FeatureIncompatLargeDir |
		FeatureIncompatEncrypt | FeatureIncompatCasefold
	if unk := fr.sb.FeatureIncompat &^ known; unk != 0 {
		return nil, fmt.Errorf("ext2: incompatible features %#x not supported (compression, journal_dev and dirdata are not read)", unk)
	}
	if fr.sb.FeatureROCompat&FeatureROCompatBigalloc != 0 {
		return nil, fmt.Errorf("ext2: bigalloc (clusters of several blocks) is not supported")
	}
	fr.bs = fr.sb.BlockSize()
	fr.ptrs = uint32(fr.bs / 4)
	fr.isz = fr.sb.InodeSizeOrDefault()
	fr.blocks = fr.sb.BlocksCount64()
	if err := fr.readGroupDescs(); err != nil {
		return nil, err
	}
	return fr, nil
}

// readGroupDescs reads the inode-table location of every group. Without
// meta_bg the descriptors follow the superblock's block contiguously; with
// meta_bg, from s_first_meta_bg on, each meta group (one descriptor
// block's worth of groups) keeps its descriptor block in its first group,
// after that group's superblock backup if it has one (e2fsprogs
// ext2fs_descriptor_block_loc2).
func (fr *Reader) readGroupDescs() error {
	ngroups := (fr.blocks - uint64(fr.sb.FirstDataBlock) + uint64(fr.sb.BlocksPerGroup) - 1) / uint64(fr.sb.BlocksPerGroup)
	dsz := uint64(fr.sb.GroupDescBytes())
	tableBytes := ngroups * dsz
	if tableBytes > maxGroupDescBytes {
		return fmt.Errorf("ext2: %d block groups: %w (more than this reader accepts)", ngroups, ErrCorrupt)
	}
	if fr.size > 0 && int64(tableBytes) > fr.size {
		return fmt.Errorf("ext2: %d block groups need a %d-byte descriptor table, larger than the %d-byte partition: %w", ngroups, tableBytes, fr.size, ErrCorrupt)
	}
	perBlock := uint64(fr.bs) / dsz
	descBlocks := (ngroups + perBlock - 1) / perBlock
	firstMeta := uint64(descBlocks)
	if fr.sb.HasMetaBG() {
		firstMeta = min(uint64(fr.sb.FirstMetaBg), descBlocks)
	}
	fr.inodeTables = make([]uint64, 0, ngroups)
	buf := make([]byte, fr.bs)
	// The contiguous part is read a chunk at a time so a short image fails
	// before a large allocation.
	const chunk = 64 << 10
	start := (int64(fr.sb.FirstDataBlock) + 1) * int64(fr.bs)
	contig := firstMeta * uint64(fr.bs)
	var piece []byte // reused: parseDescs copies what it needs
	for done := uint64(0); done < contig; {
		n := min(contig-done, chunk)
		if piece == nil {
			piece = make([]byte, n)
		}
		b := piece[:n]
		if err := fr.readAt(b, start+int64(done), "group descriptors"); err != nil {
			return err
		}
		fr.parseDescs(b, min(ngroups-uint64(len(fr.inodeTables)), n/dsz))
		done += n
	}
	for i := firstMeta; i < descBlocks; i++ {
		g := i * perBlock
		blk := uint64(fr.sb.FirstDataBlock) + g*uint64(fr.sb.BlocksPerGroup)
		if fr.groupHasSuper(g) {
			blk++
		}
		if err := fr.readBlock(buf, blk, fmt.Sprintf("meta_bg group descriptors of group %d", g)); err != nil {
			return err
		}
		fr.parseDescs(buf, min(ngroups-uint64(len(fr.inodeTables)), perBlock))
	}
	return nil
}

// parseDescs appends the inode-table block of the first n descriptors in
// b: bg_inode_table_lo at byte 8, bg_inode_table_hi at byte 0x28 of a
// 64-byte descriptor.
func (fr *Reader) parseDescs(b []byte, n uint64) {
	dsz := fr.sb.GroupDescBytes()
	for i := 0; uint64(i) < n && (i+1)*dsz <= len(b); i++ {
		d := b[i*dsz:]
		t := uint64(le.Uint32(d[8:]))
		if dsz >= groupDescSize64 {
			t |= uint64(le.Uint32(d[0x28:])) << 32
		}
		fr.inodeTables = append(fr.inodeTables, t)
	}
}

// groupHasSuper reports whether group g holds a superblock backup:
// sparse_super2 keeps them only in group 0 and s_backup_bgs, sparse_super
// in groups 0, 1 and powers of 3, 5, 7.
func (fr *Reader) groupHasSuper(g uint64) bool {
	if g == 0 {
		return true
	}
	if fr.sb.FeatureCompat&FeatureCompatSparseSuper2 != 0 {
		return g == uint64(fr.sb.BackupBgs[0]) || g == uint64(fr.sb.BackupBgs[1])
	}
	if g > 1<<32-1 {
		return false
	}
	return HasSuperblockBackup(uint32(g), fr.sb.FeatureROCompat&FeatureROCompatSparseSuper != 0)
}

// Superblock returns the primary superblock as read (do not modify it).
func (r *Reader) Superblock() *Superblock { return &r.sb }

// BlockSize is the filesystem block size in bytes.
func (r *Reader) BlockSize() int { return r.bs }

// readAt reads len(b) bytes at filesystem offset off; what names the
// structure for the error.
func (r *Reader) readAt(b []byte, off int64, what string) error {
	end := off + int64(len(b))
	if r.size > 0 && end > r.size {
		return fmt.Errorf("ext2: %s at bytes %d..%d lies %w (%d bytes): the filesystem is larger than its partition", what, off, end, ErrPastPartitionEnd, r.size)
	}
	n, err := r.r.ReadAt(b, r.base+off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		return fmt.Errorf("ext2: %s at bytes %d..%d: image too short (read %d of %d bytes)", what, off, end, n, len(b))
	}
	return fmt.Errorf("ext2: %s at byte %d: %w", what, off, err)
}

// checkBlock validates a block number read from disk before it is used.
func (r *Reader) checkBlock(blk uint64, what string) error {
	if blk < uint64(r.sb.FirstDataBlock) || blk >= r.blocks {
		return fmt.Errorf("ext2: %s: block %d outside the filesystem's blocks %d..%d: %w", what, blk, r.sb.FirstDataBlock, r.blocks-1, ErrCorrupt)
	}
	return nil
}

// readBlock reads block blk into b (len(b) == block size).
func (r *Reader) readBlock(b []byte, blk uint64, what string) error {
	if err := r.checkBlock(blk, what); err != nil {
		return err
	}
	return r.readAt(b, int64(blk)*int64(r.bs), fmt.Sprintf("%s (block %d)", what, blk))
}

// inodeSlot returns the raw bytes of inode ino's inode-table slot.
func (r *Reader) inodeSlot(ino uint32) ([]byte, error) {
	if ino == 0 || ino > r.sb.InodesCount {
		return nil, fmt.Errorf("ext2: inode %d outside 1..%d: %w", ino, r.sb.InodesCount, ErrCorrupt)
	}
	g := (ino - 1) / r.sb.InodesPerGroup
	idx := (ino - 1) % r.sb.InodesPerGroup
	if int(g) >= len(r.inodeTables) {
		return nil, fmt.Errorf("ext2: inode %d in group %d of %d: %w", ino, g, len(r.inodeTables), ErrCorrupt)
	}
	table := r.inodeTables[g]
	off := uint64(idx) * uint64(r.isz)
	blk := table + off/uint64(r.bs)
	if table < uint64(r.sb.FirstDataBlock) || table >= r.blocks || blk >= r.blocks {
		return nil, fmt.Errorf("ext2: inode %d: group %d's inode table at block %d lies outside the filesystem's %d blocks: %w", ino, g, table, r.blocks, ErrCorrupt)
	}
	b := make([]byte, r.isz)
	if err := r.readAt(b, int64(table)*int64(r.bs)+int64(off), fmt.Sprintf("inode %d", ino)); err != nil {
		return nil, err
	}
	return b, nil
}

// ReadInode reads inode number ino.
func (r *Reader) ReadInode(ino uint32) (*Inode, error) {
	b, err := r.inodeSlot(ino)
	if err != nil {
		return nil, err
	}
	in := new(Inode)
	if err := in.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("ext2: inode %d: %w: %w", ino, err, ErrCorrupt)
	}
	return in, nil
}

// blockMapped refuses inodes whose i_block is not a classic block map.
func blockMapped(ino uint32, in *Inode) error {
	if in.Flags&InodeFlagExtents != 0 {
		return fmt.Errorf("ext2: inode %d uses ext4 extents, not a block map", ino)
	}
	if in.Flags&InodeFlagInline != 0 {
		return fmt.Errorf("ext2: inode %d keeps its data inline, not in blocks", ino)
	}
	return nil
}

// readable refuses inodes whose content cannot be read as plain bytes.
func readable(ino uint32, in *Inode) error {
	if in.Flags&InodeFlagEncrypt != 0 {
		return fmt.Errorf("ext2: inode %d is encrypted (fscrypt): its content cannot be read without the key", ino)
	}
	return nil
}

// fileSize is the inode's size as the kernel sees it (ext4_isize):
// directories use only i_size (i_size_high was i_dir_acl) unless the
// filesystem has large_dir.
func (r *Reader) fileSize(in *Inode) uint64 {
	if in.IsDir() && r.sb.FeatureIncompat&FeatureIncompatLargeDir == 0 {
		return uint64(in.SizeLo)
	}
	return in.Size()
}

// blockVisitor is called for every block an inode owns: data blocks with
// their logical index (meta false), and map blocks (indirect blocks, extent
// tree nodes) with meta true and the first logical block they map. It is
// not called for holes.
type blockVisitor func(logical uint64, phys uint64, meta bool) error

// walkBlocks visits the blocks of inode ino mapping logical blocks below
// nblocks, in the order e2fsprogs' ext2fs_block_iterate3 reports them (a
// map block before the blocks it maps). Inline-data inodes own no blocks.
func (r *Reader) walkBlocks(ino uint32, in *Inode, nblocks uint64, visit blockVisitor) error {
	switch {
	case in.Flags&InodeFlagInline != 0:
		return nil
	case in.Flags&InodeFlagExtents != 0:
		return r.walkExtents(ino, in, func(first uint64, phys uint64) error {
			return visit(first, phys, true)
		}, func(e extent) error {
			for i := uint64(0); i < uint64(e.length) && uint64(e.logical)+i < nblocks; i++ {
				if err := visit(uint64(e.logical)+i, e.phys+i, false); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return r.walkBlockMap(ino, in, nblocks, visit)
}

// walkBlockMap visits a classic block map up to nblocks logical blocks.
// Every pointer is checked against the block count before it is read, and
// an indirect block seen twice is corruption (it would otherwise let a
// small image describe a huge map), so the work is bounded by the image.
func (r *Reader) walkBlockMap(ino uint32, in *Inode, nblocks uint64, visit blockVisitor) error {
	if err := blockMapped(ino, in); err != nil {
		return err
	}
	seen := map[uint32]bool{}
	p := uint64(r.ptrs)
	var walk func(blk uint32, depth int, first uint64) error
	walk = func(blk uint32, depth int, first uint64) error {
		// blk is an indirect block of the given depth (1 single, 2 double,
		// 3 triple) whose first pointer maps logical block first.
		what := fmt.Sprintf("inode %d indirect block", ino)
		if err := r.checkBlock(uint64(blk), what); err != nil {
			return err
		}
		if seen[blk] {
			return fmt.Errorf("ext2: inode %d: indirect block %d used twice: %w", ino, blk, ErrCorrupt)
		}
		seen[blk] = true
		if err := visit(first, uint64(blk), true); err != nil {
			return err
		}
		buf := make([]byte, r.bs)
		if err := r.readAt(buf, int64(blk)*int64(r.bs), fmt.Sprintf("%s %d", what, blk)); err != nil {
			return err
		}
		span := uint64(1)
		for i := 1; i < depth; i++ {
			span *= p
		}
		for i := uint64(0); i < p; i++ {
			start := first + i*span
			if start >= nblocks {
				break
			}
			ptr := le.Uint32(buf[4*i:])
			if ptr == 0 {
				continue
			}
			if depth == 1 {
				if err := r.checkBlock(uint64(ptr), fmt.Sprintf("inode %d data", ino)); err != nil {
					return err
				}
				if err := visit(start, uint64(ptr), false); err != nil {
					return err
				}
				continue
			}
			if err := walk(ptr, depth-1, start); err != nil {
				return err
			}
		}
		return nil
	}
	for i := uint64(0); i < NDirBlocks && i < nblocks; i++ {
		if ptr := in.Block[i]; ptr != 0 {
			if err := r.checkBlock(uint64(ptr), fmt.Sprintf("inode %d data", ino)); err != nil {
				return err
			}
			if err := visit(i, uint64(ptr), false); err != nil {
				return err
			}
		}
	}
	first := uint64(NDirBlocks)
	span := p
	for depth := 1; depth <= 3; depth++ {
		if first >= nblocks {
			break
		}
		if ptr := in.Block[NDirBlocks+depth-1]; ptr != 0 {
			if err := walk(ptr, depth, first); err != nil {
				return err
			}
		}
		first += span
		span *= p
	}
	return nil
}

// maxLogicalBlocks is how many logical blocks the inode's map can address:
// 2^32 with extents (ee_block is 32 bits), else the four block-map tiers.
func (r *Reader) maxLogicalBlocks(in *Inode) uint64 {
	if in.Flags&InodeFlagExtents != 0 {
		return 1 << 32
	}
	p := uint64(r.ptrs)
	return NDirBlocks + p + p*p + p*p*p
}

// logicalBlocks is the number of logical blocks covering the inode's size,
// capped at what the map can address.
func (r *Reader) logicalBlocks(in *Inode) uint64 {
	size := r.fileSize(in)
	n := size/uint64(r.bs) + 1
	if size%uint64(r.bs) == 0 {
		n--
	}
	return min(n, r.maxLogicalBlocks(in))
}

// bmap maps logical block n of a block-mapped inode to its physical block
// (0: a hole). cache holds the last indirect blocks read.
func (r *Reader) bmap(ino uint32, in *Inode, n uint64, cache *mapCache) (uint64, error) {
	if err := blockMapped(ino, in); err != nil {
		return 0, err
	}
	var ptr uint32
	var path []uint64
	p := uint64(r.ptrs)
	switch {
	case n < NDirBlocks:
		ptr = in.Block[n]
	case n-NDirBlocks < p:
		ptr, path = in.Block[IndBlock], []uint64{n - NDirBlocks}
	case n-NDirBlocks-p < p*p:
		m := n - NDirBlocks - p
		ptr, path = in.Block[DIndBlock], []uint64{m / p, m % p}
	case n-NDirBlocks-p-p*p < p*p*p:
		m := n - NDirBlocks - p - p*p
		ptr, path = in.Block[TIndBlock], []uint64{m / (p * p), m / p % p, m % p}
	default:
		return 0, fmt.Errorf("ext2: inode %d: logical block %d beyond the block map: %w", ino, n, ErrCorrupt)
	}
	for _, idx := range path {
		if ptr == 0 {
			return 0, nil
		}
		b, err := cache.get(r, ino, ptr)
		if err != nil {
			return 0, err
		}
		ptr = le.Uint32(b[4*idx:])
	}
	if ptr != 0 {
		if err := r.checkBlock(uint64(ptr), fmt.Sprintf("inode %d data", ino)); err != nil {
			return 0, err
		}
	}
	return uint64(ptr), nil
}

// mapCache is the per-open-file state of block lookups: the few indirect
// blocks a sequential read touches, or the extent list, or inline data.
type mapCache struct {
	blk  [3]uint32
	data [3][]byte
	next int

	extents    []extent // the whole extent tree's leaves, in logical order
	extLoaded  bool
	inline     []byte
	inlineRead bool
}

func (c *mapCache) get(r *Reader, ino uint32, blk uint32) ([]byte, error) {
	for i := range c.blk {
		if c.data[i] != nil && c.blk[i] == blk {
			return c.data[i], nil
		}
	}
	b := make([]byte, r.bs)
	if err := r.readBlock(b, uint64(blk), fmt.Sprintf("inode %d indirect block", ino)); err != nil {
		return nil, err
	}
	i := c.next
	c.next = (c.next + 1) % len(c.blk)
	c.blk[i], c.data[i] = blk, b
	return b, nil
}

// mapRun maps logical block lb to a physical block and says how many
// following logical blocks (at least 1, at most want) continue it
// contiguously. phys 0 is a hole or an uninitialised extent: zeros.
func (r *Reader) mapRun(ino uint32, in *Inode, lb, want uint64, cache *mapCache) (phys, run uint64, err error) {
	if in.Flags&InodeFlagExtents != 0 {
		if !cache.extLoaded {
			exts, err := r.extentList(ino, in)
			if err != nil {
				return 0, 0, err
			}
			cache.extents, cache.extLoaded = exts, true
		}
		return extentRun(cache.extents, lb, want)
	}
	phys, err = r.bmap(ino, in, lb, cache)
	if err != nil {
		return 0, 0, err
	}
	// Extend over physically contiguous blocks: one ReadAt instead of one
	// per block.
	run = 1
	for run < want {
		next, err := r.bmap(ino, in, lb+run, cache)
		if err != nil || (phys == 0) != (next == 0) || (phys != 0 && next != phys+run) {
			break
		}
		run++
	}
	return phys, run, nil
}

// readInodeAt reads file data of inode ino at offset off into p, up to the
// file's size; holes and uninitialised extents read as zeros.
func (r *Reader) readInodeAt(ino uint32, in *Inode, p []byte, off int64, cache *mapCache) (int, error) {
	if err := readable(ino, in); err != nil {
		return 0, err
	}
	size := int64(r.fileSize(in))
	if size < 0 {
		return 0, fmt.Errorf("ext2: inode %d: size %d: %w", ino, r.fileSize(in), ErrCorrupt)
	}
	if off < 0 {
		return 0, fmt.Errorf("ext2: negative offset %d", off)
	}
	if off >= size {
		return 0, io.EOF
	}
	want := p
	if int64(len(want)) > size-off {
		want = want[:size-off]
	}
	if in.Flags&InodeFlagInline != 0 {
		if !cache.inlineRead {
			data, err := r.inlineData(ino, in)
			if err != nil {
				return 0, err
			}
			cache.inline, cache.inlineRead = data, true
		}
		if int64(len(cache.inline)) < size {
			return 0, fmt.Errorf("ext2: inode %d: size %d but only %d bytes of inline data: %w", ino, size, len(cache.inline), ErrCorrupt)
		}
		n := copy(want, cache.inline[off:])
		if n < len(p) {
			return n, io.EOF
		}
		return n, nil
	}
	bs := int64(r.bs)
	n := 0
	for n < len(want) {
		pos := off + int64(n)
		lb := uint64(pos / bs)
		inBlk := pos % bs
		need := uint64((inBlk + int64(len(want)-n) + bs - 1) / bs)
		phys, run, err := r.mapRun(ino, in, lb, need, cache)
		if err != nil {
			return n, err
		}
		k := min(int64(len(want)-n), int64(run)*bs-inBlk)
		chunk := want[n : n+int(k)]
		if phys == 0 {
			clear(chunk)
		} else if err := r.readAt(chunk, int64(phys)*bs+inBlk, fmt.Sprintf("inode %d data block %d", ino, phys)); err != nil {
			return n, err
		}
		n += len(chunk)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// inodeTime decodes a timestamp: a signed 32-bit seconds field and, in
// inodes large enough to hold it, the ext4 *_extra word (2 epoch bits that
// extend the seconds past 2038, then 30 bits of nanoseconds).
func (r *Reader) inodeMtime(in *Inode) time.Time {
	sec := int64(int32(in.Mtime))
	var nsec int64
	// i_mtime_extra sits at bytes 8..11 of the extra area (offset 136).
	if r.isz > GoodOldInodeSize && in.ExtraIsize >= 12 {
		sec += int64(in.MtimeExtra&3) << 32
		nsec = int64(in.MtimeExtra >> 2)
		if nsec >= 1e9 {
			nsec = 0
		}
	}
	return time.Unix(sec, nsec).UTC()
}

// devNumbers decodes a device inode's numbers the way the kernel does
// (fs/ext2/inode.c): the old 8:8 encoding in i_block[0] if nonzero, else the
// new encoding in i_block[1] (major 12 bits, minor 20 bits split around it).
func devNumbers(in *Inode) (major, minor uint32) {
	if b := in.Block[0]; b != 0 {
		return (b >> 8) & 0xff, b & 0xff
	}
	b := in.Block[1]
	return (b & 0xfff00) >> 8, (b & 0xff) | ((b >> 12) & 0xfff00)
}

// isFastSymlink reports a symlink whose target lives in i_block: like the
// kernel (ext4_inode_is_fast_symlink), one with no data blocks other than
// an extended-attribute block, and not inline data.
func (r *Reader) isFastSymlink(in *Inode) bool {
	if in.Flags&InodeFlagInline != 0 {
		return false
	}
	if in.Flags&InodeFlagEAInode != 0 {
		return in.SizeLo != 0 && in.SizeLo < NBlocks*4
	}
	ea := uint64(0)
	if in.FileACL != 0 || in.FileACLHi != 0 {
		ea = uint64(r.bs / 512)
	}
	blocks := in.Blocks512()
	if in.Flags&InodeFlagHugeFile != 0 && r.sb.FeatureROCompat&FeatureROCompatHugeFile != 0 {
		blocks *= uint64(r.bs / 512)
	}
	return blocks == ea
}

// readSymlink returns a symlink inode's target.
func (r *Reader) readSymlink(ino uint32, in *Inode) (string, error) {
	size := uint64(in.SizeLo) // ext4_isize: i_size_high is for regular files
	if size == 0 || size >= maxSymlinkLen {
		return "", fmt.Errorf("ext2: symlink inode %d: target length %d outside 1..%d: %w", ino, size, maxSymlinkLen-1, ErrCorrupt)
	}
	if err := readable(ino, in); err != nil {
		return "", err
	}
	if r.isFastSymlink(in) {
		if size > NBlocks*4 {
			return "", fmt.Errorf("ext2: fast symlink inode %d: length %d exceeds i_block's 60 bytes: %w", ino, size, ErrCorrupt)
		}
		var b [NBlocks * 4]byte
		for i, v := range in.Block {
			le.PutUint32(b[4*i:], v)
		}
		return string(b[:size]), nil
	}
	if size > uint64(r.bs) {
		return "", fmt.Errorf("ext2: symlink inode %d: length %d exceeds one %d-byte block: %w", ino, size, r.bs, ErrCorrupt)
	}
	b := make([]byte, size)
	if _, err := r.readInodeAt(ino, in, b, 0, new(mapCache)); err != nil && err != io.EOF {
		return "", err
	}
	return string(b), nil
}
