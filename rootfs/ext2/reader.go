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
	// maxSymlinkHops is the kernel's limit on symlinks followed in one
	// lookup (MAXSYMLINKS, include/linux/namei.h).
	maxSymlinkHops = 40
	// maxSymlinkLen is PATH_MAX including the NUL.
	maxSymlinkLen = 4096
	// maxReadFile caps ReadFile's single allocation; bigger files are read
	// through Open in pieces.
	maxReadFile = 1 << 30
	// maxFileBlocks caps the slice FileBlocks returns (64 MiB of uint32).
	maxFileBlocks = 1 << 24
)

// Reader reads an ext2 filesystem (revision 0 or 1, block-mapped files) from
// an io.ReaderAt. Its only mutable state after Open is a mutex-guarded cache
// of parsed directories, so one Reader may be used from several goroutines.
type Reader struct {
	r          io.ReaderAt
	base, size int64 // filesystem offset in r; partition size (<= 0: no limit)
	sb         Superblock
	bs         int    // block size in bytes
	ptrs       uint32 // block pointers per indirect block (bs/4)
	isz        int    // inode size
	groups     []GroupDesc
	dirs       *dirCache // parsed directories for path lookups (safe for concurrent use)
}

// Open reads the superblock and group descriptors of the filesystem that
// starts at byte base of r. size is the partition's size in bytes: reads
// beyond it fail with an error wrapping ErrPastPartitionEnd; size <= 0
// means no limit (reads fail only where r ends).
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
		return nil, fmt.Errorf("ext2: %v", err)
	}
	if err := fr.sb.Validate(); err != nil {
		return nil, fmt.Errorf("ext2: %v", err)
	}
	// Incompat features change the layout we read; refuse those we do not
	// implement rather than misread (per-inode extents and inline data are
	// refused where an inode uses them, so ext4 images still list).
	const known = FeatureIncompatFiletype | FeatureIncompatRecover | FeatureIncompatExtents |
		FeatureIncompatFlexBG | FeatureIncompatInlineData | FeatureIncompatMMP
	if unk := fr.sb.FeatureIncompat &^ known; unk != 0 {
		return nil, fmt.Errorf("ext2: incompatible features %#x not supported (meta_bg, 64bit, compression, encryption, casefold are not ext2)", unk)
	}
	fr.bs = fr.sb.BlockSize()
	fr.ptrs = uint32(fr.bs / 4)
	fr.isz = fr.sb.InodeSizeOrDefault()
	ngroups := (uint64(fr.sb.BlocksCount) - uint64(fr.sb.FirstDataBlock) + uint64(fr.sb.BlocksPerGroup) - 1) / uint64(fr.sb.BlocksPerGroup)
	tableBytes := ngroups * GroupDescSize
	if tableBytes > maxGroupDescBytes {
		return nil, fmt.Errorf("ext2: %d block groups: %w (more than any ext2 filesystem has)", ngroups, ErrCorrupt)
	}
	if size > 0 && int64(tableBytes) > size {
		return nil, fmt.Errorf("ext2: %d block groups need a %d-byte descriptor table, larger than the %d-byte partition: %w", ngroups, tableBytes, size, ErrCorrupt)
	}
	// The table starts in the block after the superblock's block. Read it a
	// chunk at a time so a short image fails before a large allocation.
	off := (int64(fr.sb.FirstDataBlock) + 1) * int64(fr.bs)
	const chunk = 64 << 10
	var raw []byte
	for done := uint64(0); done < tableBytes; {
		n := min(tableBytes-done, chunk)
		buf := make([]byte, n)
		if err := fr.readAt(buf, off+int64(done), "group descriptors"); err != nil {
			return nil, err
		}
		raw = append(raw, buf...)
		done += n
	}
	fr.groups = make([]GroupDesc, ngroups)
	for i := range fr.groups {
		_ = fr.groups[i].Unmarshal(raw[i*GroupDescSize:])
	}
	return fr, nil
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
	return fmt.Errorf("ext2: %s at byte %d: %v", what, off, err)
}

// checkBlock validates a block number read from disk before it is used.
func (r *Reader) checkBlock(blk uint32, what string) error {
	if blk < r.sb.FirstDataBlock || blk >= r.sb.BlocksCount {
		return fmt.Errorf("ext2: %s: block %d outside the filesystem's blocks %d..%d: %w", what, blk, r.sb.FirstDataBlock, r.sb.BlocksCount-1, ErrCorrupt)
	}
	return nil
}

// readBlock reads block blk into b (len(b) == block size).
func (r *Reader) readBlock(b []byte, blk uint32, what string) error {
	if err := r.checkBlock(blk, what); err != nil {
		return err
	}
	return r.readAt(b, int64(blk)*int64(r.bs), fmt.Sprintf("%s (block %d)", what, blk))
}

// ReadInode reads inode number ino.
func (r *Reader) ReadInode(ino uint32) (*Inode, error) {
	if ino == 0 || ino > r.sb.InodesCount {
		return nil, fmt.Errorf("ext2: inode %d outside 1..%d: %w", ino, r.sb.InodesCount, ErrCorrupt)
	}
	g := (ino - 1) / r.sb.InodesPerGroup
	idx := (ino - 1) % r.sb.InodesPerGroup
	if int(g) >= len(r.groups) {
		return nil, fmt.Errorf("ext2: inode %d in group %d of %d: %w", ino, g, len(r.groups), ErrCorrupt)
	}
	table := r.groups[g].InodeTable
	off := int64(idx) * int64(r.isz)
	blk := uint64(table) + uint64(off)/uint64(r.bs)
	if table < r.sb.FirstDataBlock || blk >= uint64(r.sb.BlocksCount) {
		return nil, fmt.Errorf("ext2: inode %d: group %d's inode table at block %d lies outside the filesystem's %d blocks: %w", ino, g, table, r.sb.BlocksCount, ErrCorrupt)
	}
	b := make([]byte, r.isz)
	if err := r.readAt(b, int64(table)*int64(r.bs)+off, fmt.Sprintf("inode %d", ino)); err != nil {
		return nil, err
	}
	in := new(Inode)
	if err := in.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("ext2: inode %d: %v: %w", ino, err, ErrCorrupt)
	}
	return in, nil
}

// blockMapped refuses inodes whose i_block is not a classic block map.
func blockMapped(ino uint32, in *Inode) error {
	if in.Flags&InodeFlagExtents != 0 {
		return fmt.Errorf("ext2: inode %d uses ext4 extents, which this ext2 reader does not read", ino)
	}
	if in.Flags&InodeFlagInline != 0 {
		return fmt.Errorf("ext2: inode %d uses ext4 inline data, which this ext2 reader does not read", ino)
	}
	return nil
}

// fileSize is the inode's size as the kernel's ext2 driver sees it:
// directories use only i_size (i_size_high was i_dir_acl).
func fileSize(in *Inode) uint64 {
	if in.IsDir() {
		return uint64(in.SizeLo)
	}
	return in.Size()
}

// blockVisitor is called for every block of an inode's map in logical
// order: data blocks with their logical index (meta false), indirect blocks
// with meta true. It is not called for holes.
type blockVisitor func(logical uint64, phys uint32, meta bool) error

// walkBlocks visits the block map of inode ino up to nblocks logical blocks.
// Every pointer is checked against the block count before it is read, and
// an indirect block seen twice is corruption (it would otherwise let a
// small image describe a huge map), so the work is bounded by the image.
func (r *Reader) walkBlocks(ino uint32, in *Inode, nblocks uint64, visit blockVisitor) error {
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
		if err := r.checkBlock(blk, what); err != nil {
			return err
		}
		if seen[blk] {
			return fmt.Errorf("ext2: inode %d: indirect block %d used twice: %w", ino, blk, ErrCorrupt)
		}
		seen[blk] = true
		if err := visit(first, blk, true); err != nil {
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
				if err := r.checkBlock(ptr, fmt.Sprintf("inode %d data", ino)); err != nil {
					return err
				}
				if err := visit(start, ptr, false); err != nil {
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
			if err := r.checkBlock(ptr, fmt.Sprintf("inode %d data", ino)); err != nil {
				return err
			}
			if err := visit(i, ptr, false); err != nil {
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

// maxLogicalBlocks is how many logical blocks a block map can address.
func (r *Reader) maxLogicalBlocks() uint64 {
	p := uint64(r.ptrs)
	return NDirBlocks + p + p*p + p*p*p
}

// logicalBlocks is the number of logical blocks covering the inode's size,
// capped at what the map can address.
func (r *Reader) logicalBlocks(in *Inode) uint64 {
	n := fileSize(in)/uint64(r.bs) + 1
	if fileSize(in)%uint64(r.bs) == 0 {
		n--
	}
	return min(n, r.maxLogicalBlocks())
}

// bmap maps logical block n of an inode to its physical block (0: a hole).
// cache holds the last indirect block read, keyed by its block number.
func (r *Reader) bmap(ino uint32, in *Inode, n uint64, cache *indirectCache) (uint32, error) {
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
		if err := r.checkBlock(ptr, fmt.Sprintf("inode %d data", ino)); err != nil {
			return 0, err
		}
	}
	return ptr, nil
}

// indirectCache keeps the few indirect blocks a sequential read touches.
type indirectCache struct {
	blk  [3]uint32
	data [3][]byte
	next int
}

func (c *indirectCache) get(r *Reader, ino uint32, blk uint32) ([]byte, error) {
	for i := range c.blk {
		if c.data[i] != nil && c.blk[i] == blk {
			return c.data[i], nil
		}
	}
	b := make([]byte, r.bs)
	if err := r.readBlock(b, blk, fmt.Sprintf("inode %d indirect block", ino)); err != nil {
		return nil, err
	}
	i := c.next
	c.next = (c.next + 1) % len(c.blk)
	c.blk[i], c.data[i] = blk, b
	return b, nil
}

// readInodeAt reads file data of inode ino at offset off into p, up to the
// file's size; holes read as zeros.
func (r *Reader) readInodeAt(ino uint32, in *Inode, p []byte, off int64, cache *indirectCache) (int, error) {
	size := int64(fileSize(in))
	if size < 0 {
		return 0, fmt.Errorf("ext2: inode %d: size %d: %w", ino, fileSize(in), ErrCorrupt)
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
	bs := int64(r.bs)
	n := 0
	for n < len(want) {
		pos := off + int64(n)
		lb := uint64(pos / bs)
		inBlk := pos % bs
		chunk := want[n:min(len(want), n+int(bs-inBlk))]
		phys, err := r.bmap(ino, in, lb, cache)
		if err != nil {
			return n, err
		}
		// Extend the read over physically contiguous blocks: one ReadAt
		// instead of one per block.
		for phys != 0 && n+len(chunk) < len(want) {
			k := uint64(len(chunk)+int(inBlk)) / uint64(bs)
			next, err := r.bmap(ino, in, lb+k, cache)
			if err != nil || next != phys+uint32(k) || uint64(phys)+k >= uint64(r.sb.BlocksCount) {
				break
			}
			chunk = want[n:min(len(want), n+len(chunk)+int(bs))]
		}
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
// kernel (ext2_inode_is_fast_symlink), one with no data blocks other than
// an extended-attribute block.
func (r *Reader) isFastSymlink(in *Inode) bool {
	ea := uint64(0)
	if in.FileACL != 0 {
		ea = uint64(r.bs / 512)
	}
	return in.Blocks512() == ea && in.Flags&InodeFlagInline == 0
}

// readSymlink returns a symlink inode's target.
func (r *Reader) readSymlink(ino uint32, in *Inode) (string, error) {
	size := fileSize(in)
	if size == 0 || size >= maxSymlinkLen {
		return "", fmt.Errorf("ext2: symlink inode %d: target length %d outside 1..%d: %w", ino, size, maxSymlinkLen-1, ErrCorrupt)
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
	if _, err := r.readInodeAt(ino, in, b, 0, new(indirectCache)); err != nil && err != io.EOF {
		return "", err
	}
	return string(b), nil
}
