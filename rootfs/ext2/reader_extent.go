package ext2

import (
	"fmt"
	"sort"
)

// ext4 extent trees (fs/ext4/ext4_extents.h). i_block holds the root node:
// a 12-byte header and up to 4 twelve-byte entries. An index node's entries
// point at child node blocks; a leaf's entries are extents. Every node
// starts with the header; a node block may end with a 4-byte checksum tail
// (metadata_csum), which lies past eh_max entries and is not read.
const (
	extentMagic      = 0xF30A
	extentHeaderSize = 12
	extentEntrySize  = 12
	// maxExtentDepth is EXT4_MAX_EXTENT_DEPTH: with 4 root entries and
	// 340 per 4 KiB node, depth 5 addresses far more than 2^32 blocks.
	maxExtentDepth = 5
	// extentInitMaxLen is EXT_INIT_MAX_LEN: an ee_len above it marks an
	// uninitialised (preallocated) extent of ee_len - 32768 blocks, which
	// reads as zeros.
	extentInitMaxLen = 1 << 15
)

// extent is one leaf entry: length blocks from logical map to phys.
type extent struct {
	logical uint32
	length  uint32
	phys    uint64
	uninit  bool
}

// extentHeader is ext4_extent_header.
type extentHeader struct {
	entries, max, depth uint16
}

func parseExtentHeader(b []byte) (extentHeader, error) {
	if len(b) < extentHeaderSize {
		return extentHeader{}, fmt.Errorf("extent node of %d bytes", len(b))
	}
	if m := le.Uint16(b[0:]); m != extentMagic {
		return extentHeader{}, fmt.Errorf("extent header magic %#04x, want %#04x", m, extentMagic)
	}
	h := extentHeader{entries: le.Uint16(b[2:]), max: le.Uint16(b[4:]), depth: le.Uint16(b[6:])}
	room := (len(b) - extentHeaderSize) / extentEntrySize
	if int(h.max) > room || h.entries > h.max {
		return h, fmt.Errorf("extent node claims %d of %d entries, room for %d", h.entries, h.max, room)
	}
	if h.depth > maxExtentDepth {
		return h, fmt.Errorf("extent tree depth %d beyond %d", h.depth, maxExtentDepth)
	}
	return h, nil
}

// walkExtents walks inode ino's extent tree depth-first in logical order:
// node(first, phys) for every node block below the root (before its
// children), leaf(e) for every extent. The walk is bounded by the image:
// node blocks must lie in the filesystem and be met once, child depths must
// count down, entries must be in increasing logical order without overlap,
// and the extents may not add up to more blocks than the filesystem has.
func (r *Reader) walkExtents(ino uint32, in *Inode, node func(first, phys uint64) error, leaf func(e extent) error) error {
	if in.Flags&InodeFlagExtents == 0 {
		return fmt.Errorf("ext2: inode %d has no extent tree", ino)
	}
	var root [NBlocks * 4]byte
	for i, v := range in.Block {
		le.PutUint32(root[4*i:], v)
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("ext2: inode %d: %s: %w", ino, fmt.Sprintf(format, a...), ErrCorrupt)
	}
	seen := map[uint64]bool{}
	// No inode maps more blocks than the filesystem has, nor, when the
	// partition size is known, more than the partition holds: this bounds
	// the work of a hostile tree by the image's size.
	limit := r.blocks
	if r.size > 0 {
		limit = min(limit, uint64(r.size)/uint64(r.bs))
	}
	var next uint64  // lowest logical block the next extent may start at
	var total uint64 // blocks mapped so far
	var walk func(b []byte, depth int, lo, hi uint64) error
	// lo..hi is the logical range the parent's index entry gives this node.
	walk = func(b []byte, depth int, lo, hi uint64) error {
		h, err := parseExtentHeader(b)
		if err != nil {
			return bad("%v", err)
		}
		if depth >= 0 && int(h.depth) != depth {
			return bad("extent node at depth %d says depth %d", depth, h.depth)
		}
		ents := b[extentHeaderSize:]
		for i := 0; i < int(h.entries); i++ {
			e := ents[i*extentEntrySize:]
			first := uint64(le.Uint32(e[0:]))
			if first < lo || first >= hi {
				return bad("extent entry for logical block %d outside its node's range %d..%d", first, lo, hi-1)
			}
			end := hi
			if i+1 < int(h.entries) {
				end = uint64(le.Uint32(ents[(i+1)*extentEntrySize:]))
				if end <= first {
					return bad("extent entries out of order (logical %d then %d)", first, end)
				}
			}
			if h.depth > 0 {
				child := uint64(le.Uint32(e[4:])) | uint64(le.Uint16(e[8:]))<<32
				if err := r.checkBlock(child, fmt.Sprintf("inode %d extent node", ino)); err != nil {
					return err
				}
				if seen[child] {
					return bad("extent node block %d used twice", child)
				}
				seen[child] = true
				if err := node(first, child); err != nil {
					return err
				}
				buf := make([]byte, r.bs)
				if err := r.readBlock(buf, child, fmt.Sprintf("inode %d extent node", ino)); err != nil {
					return err
				}
				if err := walk(buf, int(h.depth)-1, first, end); err != nil {
					return err
				}
				continue
			}
			n := uint64(le.Uint16(e[4:]))
			ex := extent{logical: uint32(first), phys: uint64(le.Uint32(e[8:])) | uint64(le.Uint16(e[6:]))<<32}
			if n > extentInitMaxLen {
				n -= extentInitMaxLen
				ex.uninit = true
			}
			if n == 0 {
				return bad("zero-length extent at logical block %d", first)
			}
			ex.length = uint32(n)
			if first < next {
				return bad("extent at logical block %d overlaps the one before (ends at %d)", first, next)
			}
			if first+n > 1<<32 || first+n > hi {
				return bad("extent %d+%d runs past its node's range (to %d)", first, n, hi)
			}
			if ex.phys < uint64(r.sb.FirstDataBlock) || ex.phys+n > r.blocks {
				return bad("extent %d+%d at block %d outside the filesystem's blocks %d..%d", first, n, ex.phys, r.sb.FirstDataBlock, r.blocks-1)
			}
			total += n
			if total > limit {
				return bad("extents map more blocks than the filesystem or its partition has (%d)", limit)
			}
			next = first + n
			if err := leaf(ex); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(root[:], -1, 0, 1<<32)
}

// extentList returns the inode's extents in logical order.
func (r *Reader) extentList(ino uint32, in *Inode) ([]extent, error) {
	var out []extent
	err := r.walkExtents(ino, in, func(uint64, uint64) error { return nil }, func(e extent) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

// extentRun finds logical block lb in exts (sorted, non-overlapping): the
// physical block (0 in a hole or an uninitialised extent) and how many
// blocks from lb on, up to want, continue the same way.
func extentRun(exts []extent, lb, want uint64) (phys, run uint64, err error) {
	i := sort.Search(len(exts), func(i int) bool { return uint64(exts[i].logical)+uint64(exts[i].length) > lb })
	if i == len(exts) {
		return 0, max(want, 1), nil
	}
	e := exts[i]
	if lb < uint64(e.logical) {
		return 0, max(1, min(want, uint64(e.logical)-lb)), nil
	}
	run = max(1, min(want, uint64(e.logical)+uint64(e.length)-lb))
	if e.uninit {
		return 0, run, nil
	}
	return e.phys + (lb - uint64(e.logical)), run, nil
}
