package ext2

// The writer lays a tree out the way mke2fs does for revision 1 with
// sparse_super and filetype (no resize_inode, dir_index or ext_attr):
// groups of 8*blocksize blocks, each starting with a superblock and
// descriptor copy when sparse_super says so (groups 0, 1, powers of 3, 5,
// 7), then block bitmap, inode bitmap and inode table. Inodes are numbered
// in the tree's order (root 2, lost+found 11, the rest from 12) and data
// blocks are handed out in the same order, each file's pointer blocks right
// before the blocks they map. So every write ascends through the image, the
// whole layout is arithmetic on a few numbers per inode (no block lists in
// memory), and Plan knows every count before a byte is written.

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/minidisk/minidisk/rootfs"
)

// Options say how to lay out the filesystem.
type Options struct {
	BlockSize     int    // 1024 (default), 2048 or 4096
	InodeSize     int    // 128 (default; what GRUB Legacy reads) or 256
	Blocks        uint64 // block count of the space given (required); the filesystem never goes beyond it
	BytesPerInode int    // 0 = mke2fs's default for the size (8192 below 3 MiB, 4096 below 512 MiB, else 16384)
	Inodes        uint32 // 0 = from BytesPerInode, raised to what the tree needs
	Label         string // volume name, at most 16 bytes
	UUID          *[16]byte
	// Time stamps the superblock, and the root and lost+found when the tree
	// does not give them; callers pass SOURCE_DATE_EPOCH.
	Time time.Time
	// ReservedPercent of the blocks are reserved for root: 0 means mke2fs's
	// default 5, a negative value means none.
	ReservedPercent int
}

// Stats describe a planned or written filesystem.
type Stats struct {
	BlockSize      int
	InodeSize      int
	Blocks         uint64 // filesystem block count (<= Options.Blocks: mke2fs's rule drops a too-short last group)
	FreeBlocks     uint64
	ReservedBlocks uint64
	Inodes         uint32
	FreeInodes     uint32
	Groups         int
	BlocksPerGroup uint32
	InodesPerGroup uint32
	NeededBlocks   uint64   // data, directory and indirect blocks the tree needs
	NeededInodes   uint32   // inodes in use, the 10 reserved ones included
	UUID           [16]byte // set by Write (Plan cannot know a content-derived one)
	LargeFile      bool     // some file is >= 2 GiB (large_file feature)
}

// ErrNoSpace is wrapped by Plan and Write when the tree does not fit.
var ErrNoSpace = errors.New("does not fit")

const (
	lostFoundIno = goodOldFirstIno // mke2fs makes lost+found first: inode 11
	maxLinks     = 65000           // EXT4_LINK_MAX; ext2 kernels stop at 32000 for directories
	lastGroupMin = 50              // mke2fs drops a last group with fewer than overhead+50 blocks
	// writeBufBytes is each of the two block buffers (one filled while
	// the other is written) and readBufBytes the read size for file
	// contents, cat's 128 KiB: larger buffers save few system calls but
	// are fresh memory the process must fault in (on a VM, tens of µs per
	// page), which made the 1 MiB buffers the largest cost of create.
	writeBufBytes = 128 << 10
	readBufBytes  = 128 << 10
)

// Plan lays the tree out without writing anything and reports whether it
// fits: when it does not, the error wraps ErrNoSpace and says how many
// blocks or inodes are needed and available.
func Plan(t *rootfs.Tree, opt Options) (*Stats, error) {
	p, err := newLayout(t, opt)
	if err != nil {
		return nil, err
	}
	return p.stats(), nil
}

// Write plans the filesystem (failing before any write if the tree does not
// fit) and writes it at byte offset base of w. The region is assumed to read
// as zeros, as a new sparse file or a freshly zeroed partition does: blocks
// that are all zeros are never written, so the image stays sparse.
func Write(w io.WriterAt, base int64, t *rootfs.Tree, opt Options) (*Stats, error) {
	p, err := newLayout(t, opt)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	fmt.Fprintf(h, "minidisk ext2 %d %d %d %d %q\n", p.bs, p.isz, p.blocks, p.inodes, opt.Label)
	sw := newSeqWriter(w, base, int(p.bs), h)
	defer sw.finish()
	if err := p.writeData(sw); err != nil {
		return nil, err
	}
	if err := p.writeMetadata(sw); err != nil {
		return nil, err
	}
	if err := sw.finish(); err != nil {
		return nil, err
	}
	sum := h.Sum(nil)
	var uuid [16]byte
	if opt.UUID != nil {
		uuid = *opt.UUID
	} else {
		// A name-based UUID of the written bytes: RFC 9562 version 8
		// (custom), variant 10.
		copy(uuid[:], sum[:16])
		uuid[6] = uuid[6]&0x0f | 0x80
		uuid[8] = uuid[8]&0x3f | 0x80
	}
	seed := sha256.Sum256(append([]byte("hash seed "), sum...))
	if err := p.writeSuperblocks(w, base, uuid, seed); err != nil {
		return nil, err
	}
	st := p.stats()
	st.UUID = uuid
	return st, nil
}

// defaultBytesPerInode is mke2fs's inode_ratio for a filesystem of bytes.
func defaultBytesPerInode(bytes uint64) int {
	// mke2fs.conf: "floppy" below 3 MiB, "small" below 512 MiB, else default.
	switch {
	case bytes < 3<<20:
		return 8192
	case bytes < 512<<20:
		return 4096
	}
	return 16384
}
