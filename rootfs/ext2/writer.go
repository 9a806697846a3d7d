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
	"math"
	"path"
	"sort"
	"strings"
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
	lostFoundIno  = GoodOldFirstIno // mke2fs makes lost+found first: inode 11
	maxLinks      = 65000           // EXT4_LINK_MAX; ext2 kernels stop at 32000 for directories
	lastGroupMin  = 50              // mke2fs drops a last group with fewer than overhead+50 blocks
	writeBufBytes = 1 << 20
)

// wNode is one inode of the filesystem being planned.
type wNode struct {
	e        *rootfs.Entry
	ino      uint32
	ftype    uint8
	links    uint32
	size     uint64
	data     uint64 // data blocks
	start    uint64 // allocation index of the first block (data and indirect, in walk order)
	count    uint64 // data + indirect blocks
	children []childEntry
	minDirBl uint64 // lost+found is pre-sized like mke2fs's
}

type childEntry struct {
	name  string
	ino   uint32
	ftype uint8
}

type wGroup struct {
	start      uint64 // first block
	size       uint64 // blocks in the group
	super      bool   // holds a superblock + descriptor copy
	blockBmp   uint64
	inodeBmp   uint64
	inodeTable uint64
	dataStart  uint64 // first block after the metadata
	allocBase  uint64 // allocation index of dataStart
	usedData   uint64
	usedInodes uint32
	dirs       uint32
}

type wPlan struct {
	opt        Options
	bs         uint64
	isz        int
	first      uint64
	blocks     uint64
	bpg        uint64
	ipg        uint32
	inodes     uint32
	itb        uint64 // inode table blocks per group
	descBlocks uint64
	groups     []wGroup
	dataTotal  uint64
	nodes      []*wNode // in write order: root, then the tree's order (lost+found in its sorted place)
	byIno      []*wNode
	lastIno    uint32
	needBlocks uint64
	largeFile  bool
	reserved   uint64
	time       time.Time
}

// Plan lays the tree out without writing anything and reports whether it
// fits: when it does not, the error wraps ErrNoSpace and says how many
// blocks or inodes are needed and available.
func Plan(t *rootfs.Tree, opt Options) (*Stats, error) {
	p, err := newPlan(t, opt)
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
	p, err := newPlan(t, opt)
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

func newPlan(t *rootfs.Tree, opt Options) (*wPlan, error) {
	p := &wPlan{opt: opt, time: opt.Time}
	if p.time.IsZero() {
		// No time given: the Unix epoch, never the clock (determinism).
		p.time = time.Unix(0, 0)
	}
	if opt.BlockSize == 0 {
		opt.BlockSize = 1024
	}
	if opt.InodeSize == 0 {
		opt.InodeSize = GoodOldInodeSize
	}
	p.opt = opt
	switch opt.BlockSize {
	case 1024, 2048, 4096:
	default:
		return nil, fmt.Errorf("ext2: block size %d not supported (use 1024, 2048 or 4096)", opt.BlockSize)
	}
	if opt.InodeSize != 128 && opt.InodeSize != 256 {
		return nil, fmt.Errorf("ext2: inode size %d not supported (use 128, which GRUB Legacy reads, or 256)", opt.InodeSize)
	}
	if len(opt.Label) > 16 {
		return nil, fmt.Errorf("ext2: label %q is %d bytes; the limit is 16", opt.Label, len(opt.Label))
	}
	p.bs = uint64(opt.BlockSize)
	p.isz = opt.InodeSize
	if p.bs == 1024 {
		p.first = 1
	}
	if opt.Blocks > math.MaxUint32 {
		return nil, fmt.Errorf("ext2: %d blocks exceed the 32-bit block count (use a bigger block size or a smaller partition)", opt.Blocks)
	}
	if err := p.buildNodes(t); err != nil {
		return nil, err
	}
	if err := p.geometry(); err != nil {
		return nil, err
	}
	if err := p.allocate(); err != nil {
		return nil, err
	}
	return p, nil
}

// buildNodes assigns inode numbers in the tree's order (root 2, lost+found
// 11, the rest from 12) and sizes every inode.
func (p *wPlan) buildNodes(t *rootfs.Tree) error {
	entries := t.Entries()
	if len(entries) == 0 || entries[0].Name != "/" {
		root := &rootfs.Entry{Header: rootfs.Header{Name: "/", Type: rootfs.TypeDir, Mode: 0o755, ModTime: p.time}}
		entries = append([]*rootfs.Entry{root}, entries...)
	}
	if lf, ok := t.Lookup("/lost+found"); ok {
		if lf.Type != rootfs.TypeDir {
			return fmt.Errorf("ext2: /lost+found in the tree is a %s; e2fsck needs it to be a directory", lf.Type)
		}
	} else {
		lf := &rootfs.Entry{Header: rootfs.Header{Name: "/lost+found", Type: rootfs.TypeDir, Mode: 0o700, ModTime: p.time}}
		i := 1
		for i < len(entries) && wTopLess(entries[i].Name, "lost+found") {
			i++
		}
		entries = append(entries[:i], append([]*rootfs.Entry{lf}, entries[i:]...)...)
	}

	dirs := make(map[string]*wNode)
	byName := make(map[string]*wNode, len(entries))
	next := uint32(GoodOldFirstIno + 1)
	for _, e := range entries {
		if e.Type == rootfs.TypeLink {
			continue
		}
		n := &wNode{e: e, links: 1}
		switch e.Name {
		case "/":
			n.ino = RootIno
		case "/lost+found":
			n.ino = lostFoundIno
			n.minDirBl = min(NDirBlocks, max(2, 16384/p.bs))
		default:
			if next == math.MaxUint32 {
				return fmt.Errorf("ext2: too many files")
			}
			n.ino = next
			next++
		}
		switch e.Type {
		case rootfs.TypeDir:
			n.ftype = FileTypeDir
			n.links = 2
			dirs[e.Name] = n
		case rootfs.TypeReg:
			n.ftype = FileTypeReg
			if e.Size < 0 {
				return fmt.Errorf("ext2: %s: negative size", e.Name)
			}
			n.size = uint64(e.Size)
			if e.Content == nil && e.Size != 0 {
				return fmt.Errorf("ext2: %s: %d bytes but no content", e.Name, e.Size)
			}
		case rootfs.TypeSymlink:
			n.ftype = FileTypeSymlink
			n.size = uint64(len(e.Linkname))
			if n.size == 0 || strings.IndexByte(e.Linkname, 0) >= 0 {
				return fmt.Errorf("ext2: %s: symlink target is empty or holds a NUL byte", e.Name)
			}
			// The kernel refuses targets that do not fit one block with a NUL.
			if n.size >= p.bs {
				return fmt.Errorf("ext2: %s: symlink target of %d bytes does not fit a %d-byte block (use a bigger block size or a shorter target)", e.Name, n.size, p.bs)
			}
		case rootfs.TypeChar:
			n.ftype = FileTypeChrdev
		case rootfs.TypeBlock:
			n.ftype = FileTypeBlkdev
		case rootfs.TypeFIFO:
			n.ftype = FileTypeFIFO
		default:
			return fmt.Errorf("ext2: %s: entry type %s not supported", e.Name, e.Type)
		}
		byName[e.Name] = n
		p.nodes = append(p.nodes, n)
	}
	// Directory entries, in the tree's order (siblings sorted bytewise).
	for _, e := range entries {
		if e.Name == "/" {
			continue
		}
		var n *wNode
		if e.Type == rootfs.TypeLink {
			target, ok := byName[e.Linkname]
			if !ok || target.ftype != FileTypeReg {
				return fmt.Errorf("ext2: %s: hard link target %s is not a regular file of the tree", e.Name, e.Linkname)
			}
			target.links++
			n = target
		} else {
			n = byName[e.Name]
		}
		parent, ok := dirs[path.Dir(e.Name)]
		if !ok {
			return fmt.Errorf("ext2: %s: parent directory %s is not in the tree", e.Name, path.Dir(e.Name))
		}
		base := path.Base(e.Name)
		if len(base) > MaxNameLen {
			return fmt.Errorf("ext2: %s: name longer than %d bytes", e.Name, MaxNameLen)
		}
		parent.children = append(parent.children, childEntry{name: base, ino: n.ino, ftype: n.ftype})
		if n.ftype == FileTypeDir {
			parent.links++
		}
	}
	p.lastIno = next - 1
	if p.lastIno < lostFoundIno {
		p.lastIno = lostFoundIno
	}
	p.byIno = make([]*wNode, p.lastIno+1)
	for _, n := range p.nodes {
		if n.links > maxLinks {
			return fmt.Errorf("ext2: %s: %d links exceed the ext2 limit of %d", n.e.Name, n.links, maxLinks)
		}
		p.byIno[n.ino] = n
		switch n.ftype {
		case FileTypeDir:
			n.data = max(wDirBlocks(n.children, p.bs), n.minDirBl)
			n.size = n.data * p.bs
		case FileTypeReg:
			n.data = (n.size + p.bs - 1) / p.bs
			if n.size >= 1<<31 {
				p.largeFile = true
			}
		case FileTypeSymlink:
			if n.size > FastSymlinkMax {
				n.data = 1
			}
		}
		meta, err := wIndirectBlocks(n.data, p.bs/4)
		if err != nil {
			return fmt.Errorf("ext2: %s: %w", n.e.Name, err)
		}
		n.count = n.data + meta
		if n.count*(p.bs/512) > math.MaxUint32 {
			// i_blocks counts 512-byte sectors in 32 bits without huge_file.
			return fmt.Errorf("ext2: %s: %d bytes is too big for ext2 without huge_file", n.e.Name, n.size)
		}
		p.needBlocks += n.count
	}
	return nil
}

// wTopLess orders a root-level name against the first component of a path,
// as rootfs.Tree.Entries does (component by component, bytewise).
func wTopLess(name, top string) bool {
	c := strings.TrimPrefix(name, "/")
	if i := strings.IndexByte(c, '/'); i >= 0 {
		c = c[:i]
	}
	return c < top
}

// wDirBlocks is the number of blocks the entries take after "." and "..":
// an entry never spans blocks (ext2 directory blocks are independent).
func wDirBlocks(children []childEntry, bs uint64) uint64 {
	blocks, pos := uint64(1), uint64(2*DirEntryLen(2))
	for _, c := range children {
		l := uint64(DirEntryLen(len(c.name)))
		if pos+l > bs {
			blocks++
			pos = 0
		}
		pos += l
	}
	return blocks
}

// wIndirectBlocks counts the pointer blocks mapping n data blocks with per
// pointers a block: single-, double- and triple-indirect.
func wIndirectBlocks(n, per uint64) (uint64, error) {
	if n <= NDirBlocks {
		return 0, nil
	}
	n -= NDirBlocks
	var meta uint64
	if n > 0 { // single
		meta++
		n -= min(n, per)
	}
	if n > 0 { // double
		c := min(n, per*per)
		meta += 1 + wCeilDiv(c, per)
		n -= c
	}
	if n > 0 { // triple
		if n > per*per*per {
			return 0, fmt.Errorf("file too big for the ext2 block map")
		}
		meta += 1 + wCeilDiv(n, per*per) + wCeilDiv(n, per)
	}
	return meta, nil
}

func wCeilDiv(a, b uint64) uint64 { return (a + b - 1) / b }

// geometry computes groups, inodes per group and inode tables like
// e2fsprogs' ext2fs_initialize.
func (p *wPlan) geometry() error {
	bs := p.bs
	blocks := p.opt.Blocks
	if blocks == 0 {
		return fmt.Errorf("ext2: Options.Blocks is 0 (give the partition's block count)")
	}
	p.bpg = 8 * bs
	ratio := p.opt.BytesPerInode
	if ratio == 0 {
		ratio = defaultBytesPerInode(blocks * bs)
	}
	if ratio < 1024 {
		return fmt.Errorf("ext2: %d bytes per inode is below 1024", ratio)
	}
	need := p.lastIno
	ipb := uint32(bs) / uint32(p.isz)
	align := max(8, ipb) // whole inode-table blocks and whole bitmap bytes
	for {
		if blocks <= p.first {
			return fmt.Errorf("ext2: %d blocks of %d bytes: %w (too small for an ext2 filesystem)", p.opt.Blocks, bs, ErrNoSpace)
		}
		ngroups := wCeilDiv(blocks-p.first, p.bpg)
		p.descBlocks = wCeilDiv(ngroups*GroupDescSize, bs)
		var inodes uint64
		if p.opt.Inodes != 0 {
			inodes = uint64(p.opt.Inodes)
		} else {
			inodes = max(blocks*bs/uint64(ratio), uint64(need))
		}
		ipg := wCeilDiv(inodes, ngroups)
		ipg = wCeilDiv(ipg, uint64(align)) * uint64(align)
		if ipg > 8*bs {
			if p.opt.Inodes != 0 || uint64(need) > 8*bs*ngroups {
				return fmt.Errorf("ext2: needs %d inodes, at most %d fit %d groups of %d-byte blocks: %w (use fewer files or a bigger filesystem)", max(inodes, uint64(need)), 8*bs*ngroups, ngroups, bs, ErrNoSpace)
			}
			ipg = 8 * bs
		}
		p.ipg = uint32(ipg)
		p.itb = ipg * uint64(p.isz) / bs
		over := func(g uint64) uint64 {
			o := 2 + p.itb
			if HasSuperblockBackup(uint32(g), true) {
				o += 1 + p.descBlocks
			}
			return o
		}
		rem := (blocks - p.first) % p.bpg
		if ngroups == 1 {
			if blocks-p.first < over(0)+1 {
				return fmt.Errorf("ext2: %d blocks: %w: the metadata alone needs %d blocks (give a bigger partition or fewer inodes)", p.opt.Blocks, ErrNoSpace, over(0)+1+p.first)
			}
		} else if rem != 0 && rem < over(ngroups-1)+lastGroupMin {
			blocks -= rem
			continue
		}
		p.blocks = blocks
		p.inodes = uint32(ipg * ngroups)
		p.groups = make([]wGroup, ngroups)
		var alloc uint64
		for g := range p.groups {
			gr := &p.groups[g]
			gr.start = p.first + uint64(g)*p.bpg
			gr.size = min(p.bpg, blocks-gr.start)
			gr.super = HasSuperblockBackup(uint32(g), true)
			b := gr.start
			if gr.super {
				b += 1 + p.descBlocks
			}
			gr.blockBmp, gr.inodeBmp, gr.inodeTable = b, b+1, b+2
			gr.dataStart = b + 2 + p.itb
			gr.allocBase = alloc
			alloc += gr.start + gr.size - gr.dataStart
		}
		p.dataTotal = alloc
		break
	}
	if p.lastIno > p.inodes {
		return fmt.Errorf("ext2: needs %d inodes, %d available: %w (lower --bytes-per-inode or give a bigger filesystem)", p.lastIno, p.inodes, ErrNoSpace)
	}
	if p.needBlocks > p.dataTotal {
		return fmt.Errorf("ext2: needs %d blocks of %d bytes for data, %d available: %w (%d KiB short; give a bigger partition)", p.needBlocks, bs, p.dataTotal, ErrNoSpace, (p.needBlocks-p.dataTotal)*bs/1024)
	}
	rp := p.opt.ReservedPercent
	if rp == 0 {
		rp = 5
	}
	if rp > 50 {
		return fmt.Errorf("ext2: reserved %d%% above 50%%", rp)
	}
	if rp > 0 {
		p.reserved = p.blocks * uint64(rp) / 100
	}
	return nil
}

// allocate hands out data blocks in the order they are written: each inode
// gets a run of allocation indices, mapped to blocks group by group.
func (p *wPlan) allocate() error {
	var next uint64
	for _, n := range p.nodes {
		n.start = next
		next += n.count
	}
	for i := range p.groups {
		gr := &p.groups[i]
		avail := gr.start + gr.size - gr.dataStart
		if next > gr.allocBase {
			gr.usedData = min(avail, next-gr.allocBase)
		}
	}
	for _, n := range p.nodes {
		g := (n.ino - 1) / p.ipg
		if n.ftype == FileTypeDir {
			p.groups[g].dirs++
		}
	}
	for g := range p.groups {
		lo := uint32(g) * p.ipg
		if p.lastIno > lo {
			p.groups[g].usedInodes = min(p.ipg, p.lastIno-lo)
		}
	}
	return nil
}

func (p *wPlan) stats() *Stats {
	var used uint64
	for _, g := range p.groups {
		used += g.dataStart - g.start + g.usedData
	}
	return &Stats{
		BlockSize:      int(p.bs),
		InodeSize:      p.isz,
		Blocks:         p.blocks,
		FreeBlocks:     p.blocks - p.first - used,
		ReservedBlocks: p.reserved,
		Inodes:         p.inodes,
		FreeInodes:     p.inodes - p.lastIno,
		Groups:         len(p.groups),
		BlocksPerGroup: uint32(p.bpg),
		InodesPerGroup: p.ipg,
		NeededBlocks:   p.needBlocks,
		NeededInodes:   p.lastIno,
		LargeFile:      p.largeFile,
	}
}

// blockOf maps an allocation index to a block number; hint caches the group.
func (p *wPlan) blockOf(idx uint64, hint *int) uint64 {
	g := *hint
	if g < len(p.groups) {
		gr := &p.groups[g]
		if idx >= gr.allocBase && idx-gr.allocBase < gr.start+gr.size-gr.dataStart {
			return gr.dataStart + idx - gr.allocBase
		}
	}
	g = sort.Search(len(p.groups), func(i int) bool { return p.groups[i].allocBase > idx }) - 1
	*hint = g
	gr := &p.groups[g]
	return gr.dataStart + idx - gr.allocBase
}

// wSubtreeSize is how many blocks a pointer tree of the given level (0 =
// one data block) takes when it maps n data blocks, itself included.
func wSubtreeSize(level int, n, per uint64) uint64 {
	switch level {
	case 0:
		return n
	case 1:
		return 1 + n
	case 2:
		return 1 + wCeilDiv(n, per) + n
	}
	return 1 + wCeilDiv(n, per*per) + wCeilDiv(n, per) + n
}

// blockFiller produces a node's data blocks in order.
type blockFiller func(buf []byte) error

// fileWalk writes one inode's blocks in allocation order: direct blocks,
// then each pointer block right before the blocks it maps (as e2fsprogs
// and the kernel allocate), so the writes ascend.
type fileWalk struct {
	p    *wPlan
	sw   *seqWriter
	fill blockFiller
	hint int
	per  uint64
}

func (fw *fileWalk) blk(idx uint64) uint64 { return fw.p.blockOf(idx, &fw.hint) }

// tree writes a level-L subtree mapping n data blocks whose first block has
// allocation index idx.
func (fw *fileWalk) tree(level int, idx, n uint64) error {
	buf, err := fw.sw.next(fw.blk(idx))
	if err != nil {
		return err
	}
	if level == 0 {
		return fw.fill(buf)
	}
	clear(buf)
	span := uint64(1)
	for range level - 1 {
		span *= fw.per
	}
	full := wSubtreeSize(level-1, span, fw.per)
	children := wCeilDiv(n, span)
	for j := range children {
		le.PutUint32(buf[4*j:], uint32(fw.blk(idx+1+j*full)))
	}
	for j := range children {
		if err := fw.tree(level-1, idx+1+j*full, min(span, n-j*span)); err != nil {
			return err
		}
	}
	return nil
}

// iblock computes i_block for a node (pure arithmetic, no I/O).
func (p *wPlan) iblock(n *wNode) [NBlocks]uint32 {
	var ib [NBlocks]uint32
	per := p.bs / 4
	hint := 0
	idx, left := n.start, n.data
	for i := 0; i < NDirBlocks && left > 0; i++ {
		ib[i] = uint32(p.blockOf(idx, &hint))
		idx++
		left--
	}
	span := per
	for lvl := 1; lvl <= 3 && left > 0; lvl++ {
		c := min(left, span)
		ib[NDirBlocks+lvl-1] = uint32(p.blockOf(idx, &hint))
		idx += wSubtreeSize(lvl, c, per)
		left -= c
		span *= per
	}
	return ib
}

// walk writes all blocks of n, taking data blocks from fill.
func (p *wPlan) walk(sw *seqWriter, n *wNode, fill blockFiller) error {
	fw := &fileWalk{p: p, sw: sw, fill: fill, per: p.bs / 4}
	idx, left := n.start, n.data
	for i := 0; i < NDirBlocks && left > 0; i++ {
		if err := fw.tree(0, idx, 1); err != nil {
			return err
		}
		idx++
		left--
	}
	span := fw.per
	for lvl := 1; lvl <= 3 && left > 0; lvl++ {
		c := min(left, span)
		if err := fw.tree(lvl, idx, c); err != nil {
			return err
		}
		idx += wSubtreeSize(lvl, c, fw.per)
		left -= c
		span *= fw.per
	}
	return nil
}

// writeData writes directory blocks, file contents, block symlinks and
// indirect blocks, in ascending block order.
func (p *wPlan) writeData(sw *seqWriter) error {
	parentOf := make(map[string]uint32)
	for _, n := range p.nodes {
		if n.ftype == FileTypeDir {
			parentOf[n.e.Name] = n.ino
		}
	}
	pf := newPrefetcher(p.nodes)
	defer pf.close()
	for _, n := range p.nodes {
		if n.data == 0 {
			continue
		}
		switch n.ftype {
		case FileTypeDir:
			parent := uint32(RootIno)
			if n.e.Name != "/" {
				parent = parentOf[path.Dir(n.e.Name)]
			}
			df := newDirFiller(n, parent)
			if err := p.walk(sw, n, df.fill); err != nil {
				return err
			}
		case FileTypeSymlink:
			if err := p.walk(sw, n, func(buf []byte) error {
				clear(buf)
				copy(buf, n.e.Linkname)
				return nil
			}); err != nil {
				return err
			}
		case FileTypeReg:
			if j := pf.take(n); j != nil {
				if j.err != nil {
					return fmt.Errorf("ext2: %s: %w", n.e.Name, j.err)
				}
				data := j.data
				if err := p.walk(sw, n, func(buf []byte) error {
					k := copy(buf, data)
					clear(buf[k:])
					data = data[k:]
					return nil
				}); err != nil {
					return err
				}
			} else if err := p.writeFile(sw, n); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *wPlan) writeFile(sw *seqWriter, n *wNode) error {
	rc, err := n.e.Content.Open()
	if err != nil {
		return fmt.Errorf("ext2: %s: %w", n.e.Name, err)
	}
	defer rc.Close()
	left := n.size
	err = p.walk(sw, n, func(buf []byte) error {
		k := min(left, uint64(len(buf)))
		got, err := io.ReadFull(rc, buf[:k])
		if err != nil {
			return fmt.Errorf("ext2: %s: content ends after %d of %d bytes: %w", n.e.Name, n.size-left+uint64(got), n.size, err)
		}
		clear(buf[k:])
		left -= k
		return nil
	})
	if err != nil {
		return err
	}
	var one [1]byte
	if m, _ := rc.Read(one[:]); m > 0 {
		return fmt.Errorf("ext2: %s: content is longer than its size %d (the tree changed while writing?)", n.e.Name, n.size)
	}
	return nil
}

// dirFiller lays out a directory's blocks: ".", "..", then the children;
// the last entry of each block stretches to the block end.
type dirFiller struct {
	n      *wNode
	parent uint32
	i      int // next child
	first  bool
}

func newDirFiller(n *wNode, parent uint32) *dirFiller {
	return &dirFiller{n: n, parent: parent, first: true}
}

func (d *dirFiller) fill(buf []byte) error {
	clear(buf)
	bs := len(buf)
	pos := 0
	last := -1
	put := func(ino uint32, ft uint8, name string) {
		de := DirEntry{Inode: ino, RecLen: uint16(DirEntryLen(len(name))), FileType: ft, Name: []byte(name)}
		_ = de.Marshal(buf[pos:])
		last = pos
		pos += int(de.RecLen)
	}
	if d.first {
		put(d.n.ino, FileTypeDir, ".")
		put(d.parent, FileTypeDir, "..")
		d.first = false
	}
	for d.i < len(d.n.children) {
		c := d.n.children[d.i]
		if pos+DirEntryLen(len(c.name)) > bs {
			break
		}
		put(c.ino, c.ftype, c.name)
		d.i++
	}
	if last < 0 {
		// An empty block (lost+found's spare blocks): one unused entry.
		le.PutUint16(buf[4:], uint16(min(bs, 0xFFFF)))
		return nil
	}
	// rec_len of a 65536-byte block would not fit 16 bits; block sizes here
	// stop at 4096.
	le.PutUint16(buf[last+4:], uint16(bs-last))
	return nil
}

// inodeOf builds the on-disk inode of n.
func (p *wPlan) inodeOf(n *wNode) Inode {
	e := n.e
	var in Inode
	in.Mode = uint16(e.Mode & ModePerm)
	switch n.ftype {
	case FileTypeDir:
		in.Mode |= ModeDir
	case FileTypeReg:
		in.Mode |= ModeReg
	case FileTypeSymlink:
		in.Mode |= ModeLink
	case FileTypeChrdev:
		in.Mode |= ModeChar
	case FileTypeBlkdev:
		in.Mode |= ModeBlock
	case FileTypeFIFO:
		in.Mode |= ModeFIFO
	}
	in.SetOwner(e.Uid, e.Gid)
	mt := e.ModTime
	if mt.IsZero() {
		mt = p.time
	}
	sec, extra := p.encodeTime(mt)
	in.Atime, in.Ctime, in.Mtime = sec, sec, sec
	in.LinksCount = uint16(n.links)
	in.SetSize(n.size)
	blocks512 := n.count * (p.bs / 512)
	in.BlocksLo = uint32(blocks512)
	in.BlocksHigh = uint16(blocks512 >> 32)
	switch {
	case n.ftype == FileTypeSymlink && n.data == 0:
		var raw [4 * NBlocks]byte
		copy(raw[:], e.Linkname)
		for i := range in.Block {
			in.Block[i] = le.Uint32(raw[4*i:])
		}
	case n.ftype == FileTypeChrdev || n.ftype == FileTypeBlkdev:
		// Linux ext2_write_inode: old 8:8 encoding in i_block[0] when both
		// numbers fit a byte, else the new encoding in i_block[1].
		ma, mi := e.Devmajor, e.Devminor
		if ma < 256 && mi < 256 {
			in.Block[0] = ma<<8 | mi
		} else {
			in.Block[1] = mi&0xff | ma<<8 | (mi&^0xff)<<12
		}
	default:
		in.Block = p.iblock(n)
	}
	if p.isz > GoodOldInodeSize {
		in.ExtraIsize = ExtraIsizeDefault
		in.AtimeExtra, in.CtimeExtra, in.MtimeExtra = extra, extra, extra
		in.Crtime, in.CrtimeExtra = sec, extra
	}
	return in
}

// encodeTime splits t into the 32-bit seconds field and the extra field of
// large inodes (2 epoch bits, 30 nanosecond bits). 128-byte inodes hold
// only signed 32-bit seconds, so times are clamped to that range there.
func (p *wPlan) encodeTime(t time.Time) (uint32, uint32) {
	s := t.Unix()
	if p.isz == GoodOldInodeSize {
		return uint32(int32(min(max(s, math.MinInt32), math.MaxInt32))), 0
	}
	s = min(max(s, math.MinInt32), math.MaxInt32+3<<32)
	epoch := (s - int64(int32(uint32(s)))) >> 32
	return uint32(s), uint32(epoch&3) | uint32(t.Nanosecond())<<2
}

// writeMetadata writes group descriptor copies, bitmaps and inode tables.
func (p *wPlan) writeMetadata(sw *seqWriter) error {
	gdt := make([]byte, p.descBlocks*p.bs)
	for i, g := range p.groups {
		gd := GroupDesc{
			BlockBitmap:     uint32(g.blockBmp),
			InodeBitmap:     uint32(g.inodeBmp),
			InodeTable:      uint32(g.inodeTable),
			FreeBlocksCount: uint16(g.start + g.size - g.dataStart - g.usedData),
			FreeInodesCount: uint16(p.ipg - g.usedInodes),
			UsedDirsCount:   uint16(g.dirs),
		}
		_ = gd.Marshal(gdt[i*GroupDescSize:])
	}
	for gi, g := range p.groups {
		if g.super {
			for b := range p.descBlocks {
				buf, err := sw.next(g.start + 1 + b)
				if err != nil {
					return err
				}
				copy(buf, gdt[b*p.bs:])
			}
		}
		// Block bitmap: metadata, used data, and padding past a short group.
		buf, err := sw.next(g.blockBmp)
		if err != nil {
			return err
		}
		clear(buf)
		wSetBits(buf, 0, g.dataStart-g.start+g.usedData)
		wSetBits(buf, g.size, 8*p.bs)
		buf, err = sw.next(g.inodeBmp)
		if err != nil {
			return err
		}
		clear(buf)
		wSetBits(buf, 0, uint64(g.usedInodes))
		wSetBits(buf, uint64(p.ipg), 8*p.bs)
		// Inode table, up to the last block holding a used inode: the rest
		// is zeros and stays unwritten.
		ipb := p.bs / uint64(p.isz)
		used := wCeilDiv(uint64(g.usedInodes), ipb)
		for b := range used {
			buf, err := sw.next(g.inodeTable + b)
			if err != nil {
				return err
			}
			clear(buf)
			for k := range ipb {
				ino := uint64(gi)*uint64(p.ipg) + b*ipb + k + 1
				if ino >= uint64(len(p.byIno)) || p.byIno[ino] == nil {
					continue
				}
				in := p.inodeOf(p.byIno[ino])
				if err := in.Marshal(buf[k*uint64(p.isz) : (k+1)*uint64(p.isz)]); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func wSetBits(b []byte, from, to uint64) {
	for i := from; i < to; {
		if i%8 == 0 && to-i >= 8 {
			b[i/8] = 0xff
			i += 8
			continue
		}
		b[i/8] |= 1 << (i % 8)
		i++
	}
}

// writeSuperblocks writes the primary superblock at byte 1024 and a copy at
// the start of every group that has one (s_block_group_nr set).
func (p *wPlan) writeSuperblocks(w io.WriterAt, base int64, uuid [16]byte, seed [32]byte) error {
	st := p.stats()
	ts, _ := p.encodeTime(p.time)
	if p.time.Unix() < 0 {
		ts = 0
	}
	sb := Superblock{
		InodesCount:      p.inodes,
		BlocksCount:      uint32(p.blocks),
		RBlocksCount:     uint32(p.reserved),
		FreeBlocksCount:  uint32(st.FreeBlocks),
		FreeInodesCount:  st.FreeInodes,
		FirstDataBlock:   uint32(p.first),
		LogBlockSize:     uint32(wLogBlock(p.bs)),
		LogClusterSize:   uint32(wLogBlock(p.bs)),
		BlocksPerGroup:   uint32(p.bpg),
		ClustersPerGroup: uint32(p.bpg),
		InodesPerGroup:   p.ipg,
		Wtime:            ts,
		MaxMntCount:      MaxMountCountNone,
		Magic:            Magic,
		State:            StateValid,
		Errors:           ErrorsContinue,
		LastCheck:        ts,
		CreatorOS:        OSLinux,
		RevLevel:         DynamicRev,
		FirstIno:         GoodOldFirstIno,
		InodeSize:        uint16(p.isz),
		FeatureIncompat:  FeatureIncompatFiletype,
		FeatureROCompat:  FeatureROCompatSparseSuper,
		UUID:             uuid,
		DefHashVersion:   DefHashHalfMD4,
		MkfsTime:         ts,
		Flags:            1, // EXT2_FLAGS_SIGNED_HASH, as mke2fs sets on x86
	}
	if p.largeFile {
		sb.FeatureROCompat |= FeatureROCompatLargeFile
	}
	if p.isz > GoodOldInodeSize {
		sb.MinExtraIsize, sb.WantExtraIsize = ExtraIsizeDefault, ExtraIsizeDefault
	}
	copy(sb.VolumeName[:], p.opt.Label)
	for i := range sb.HashSeed {
		sb.HashSeed[i] = le.Uint32(seed[4*i:])
	}
	buf := make([]byte, SuperblockSize)
	for gi, g := range p.groups {
		if !g.super {
			continue
		}
		sb.BlockGroupNr = uint16(gi)
		if err := sb.Marshal(buf); err != nil {
			return err
		}
		off := int64(g.start * p.bs)
		if gi == 0 {
			off = SuperblockOffset
		}
		if _, err := w.WriteAt(buf, base+off); err != nil {
			return fmt.Errorf("ext2: writing the superblock: %w", err)
		}
	}
	return nil
}

func wLogBlock(bs uint64) int {
	l := 0
	for bs > 1024 {
		bs >>= 1
		l++
	}
	return l
}
