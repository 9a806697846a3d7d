package ext2

// Planning: the inode numbers, sizes, group geometry and block allocation
// of a tree, all arithmetic, before anything is written (see writer.go).

import (
	"bufio"
	"fmt"
	"math"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/minidisk/minidisk/rootfs"
)

// plannedInode is one inode of the filesystem being planned.
type plannedInode struct {
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

// childEntry is one entry of a planned directory (after "." and "..").
type childEntry struct {
	name  string
	ino   uint32
	ftype uint8
}

// groupLayout is where one block group's metadata and data lie, and what
// the group descriptor will count as used.
type groupLayout struct {
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

// layout is the whole planned filesystem: geometry, groups and inodes in
// write order. Plan reports it; Write emits it (writer_emit.go).
type layout struct {
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
	groups     []groupLayout
	dataTotal  uint64
	nodes      []*plannedInode // in write order: root, then the tree's order (lost+found in its sorted place)
	byIno      []*plannedInode
	lastIno    uint32
	needBlocks uint64
	largeFile  bool
	reserved   uint64
	time       time.Time
	content    *bufio.Reader // reads file contents; one buffer for every file
}

func newLayout(t *rootfs.Tree, opt Options) (*layout, error) {
	p := &layout{opt: opt, time: opt.Time}
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
func (p *layout) buildNodes(t *rootfs.Tree) error {
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
		for i < len(entries) && topLevelLess(entries[i].Name, "lost+found") {
			i++
		}
		entries = append(entries[:i], append([]*rootfs.Entry{lf}, entries[i:]...)...)
	}

	dirs := make(map[string]*plannedInode)
	byName := make(map[string]*plannedInode, len(entries))
	next := uint32(goodOldFirstIno + 1)
	for _, e := range entries {
		if e.Type == rootfs.TypeLink {
			continue
		}
		n := &plannedInode{e: e, links: 1}
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
			n.ftype = fileTypeDir
			n.links = 2
			dirs[e.Name] = n
		case rootfs.TypeReg:
			n.ftype = fileTypeReg
			if e.Size < 0 {
				return fmt.Errorf("ext2: %s: negative size", e.Name)
			}
			n.size = uint64(e.Size)
			if e.Content == nil && e.Size != 0 {
				return fmt.Errorf("ext2: %s: %d bytes but no content", e.Name, e.Size)
			}
		case rootfs.TypeSymlink:
			n.ftype = fileTypeSymlink
			n.size = uint64(len(e.Linkname))
			if n.size == 0 || strings.IndexByte(e.Linkname, 0) >= 0 {
				return fmt.Errorf("ext2: %s: symlink target is empty or holds a NUL byte", e.Name)
			}
			// The kernel refuses targets that do not fit one block with a NUL.
			if n.size >= p.bs {
				return fmt.Errorf("ext2: %s: symlink target of %d bytes does not fit a %d-byte block (use a bigger block size or a shorter target)", e.Name, n.size, p.bs)
			}
		case rootfs.TypeChar:
			n.ftype = fileTypeChrdev
		case rootfs.TypeBlock:
			n.ftype = fileTypeBlkdev
		case rootfs.TypeFIFO:
			n.ftype = fileTypeFIFO
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
		var n *plannedInode
		if e.Type == rootfs.TypeLink {
			target, ok := byName[e.Linkname]
			if !ok || target.ftype != fileTypeReg {
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
		if len(base) > maxNameLen {
			return fmt.Errorf("ext2: %s: name longer than %d bytes", e.Name, maxNameLen)
		}
		parent.children = append(parent.children, childEntry{name: base, ino: n.ino, ftype: n.ftype})
		if n.ftype == fileTypeDir {
			parent.links++
		}
	}
	p.lastIno = next - 1
	if p.lastIno < lostFoundIno {
		p.lastIno = lostFoundIno
	}
	p.byIno = make([]*plannedInode, p.lastIno+1)
	for _, n := range p.nodes {
		if n.links > maxLinks {
			return fmt.Errorf("ext2: %s: %d links exceed the ext2 limit of %d", n.e.Name, n.links, maxLinks)
		}
		p.byIno[n.ino] = n
		switch n.ftype {
		case fileTypeDir:
			n.data = max(dirBlocks(n.children, p.bs), n.minDirBl)
			n.size = n.data * p.bs
		case fileTypeReg:
			n.data = (n.size + p.bs - 1) / p.bs
			if n.size >= 1<<31 {
				p.largeFile = true
			}
		case fileTypeSymlink:
			if n.size > fastSymlinkMax {
				n.data = 1
			}
		}
		meta, err := indirectBlocks(n.data, p.bs/4)
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

// topLevelLess orders a root-level name against the first component of a path,
// as rootfs.Tree.Entries does (component by component, bytewise).
func topLevelLess(name, top string) bool {
	c := strings.TrimPrefix(name, "/")
	if i := strings.IndexByte(c, '/'); i >= 0 {
		c = c[:i]
	}
	return c < top
}

// dirBlocks is the number of blocks the entries take after "." and "..":
// an entry never spans blocks (ext2 directory blocks are independent).
func dirBlocks(children []childEntry, bs uint64) uint64 {
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

// indirectBlocks counts the pointer blocks mapping n data blocks with per
// pointers a block: single-, double- and triple-indirect.
func indirectBlocks(n, per uint64) (uint64, error) {
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
		meta += 1 + ceilDiv(c, per)
		n -= c
	}
	if n > 0 { // triple
		if n > per*per*per {
			return 0, fmt.Errorf("file too big for the ext2 block map")
		}
		meta += 1 + ceilDiv(n, per*per) + ceilDiv(n, per)
	}
	return meta, nil
}

// ceilDiv is a/b rounded up.
func ceilDiv(a, b uint64) uint64 { return (a + b - 1) / b }

// geometry computes groups, inodes per group and inode tables like
// e2fsprogs' ext2fs_initialize.
func (p *layout) geometry() error {
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
		ngroups := ceilDiv(blocks-p.first, p.bpg)
		p.descBlocks = ceilDiv(ngroups*GroupDescSize, bs)
		var inodes uint64
		if p.opt.Inodes != 0 {
			inodes = uint64(p.opt.Inodes)
		} else {
			inodes = max(blocks*bs/uint64(ratio), uint64(need))
		}
		ipg := ceilDiv(inodes, ngroups)
		ipg = ceilDiv(ipg, uint64(align)) * uint64(align)
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
		p.groups = make([]groupLayout, ngroups)
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
func (p *layout) allocate() error {
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
		if n.ftype == fileTypeDir {
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

func (p *layout) stats() *Stats {
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
func (p *layout) blockOf(idx uint64, hint *int) uint64 {
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

// pointerTreeBlocks is how many blocks a pointer tree of the given level (0 =
// one data block) takes when it maps n data blocks, itself included.
func pointerTreeBlocks(level int, n, per uint64) uint64 {
	switch level {
	case 0:
		return n
	case 1:
		return 1 + n
	case 2:
		return 1 + ceilDiv(n, per) + n
	}
	return 1 + ceilDiv(n, per*per) + ceilDiv(n, per) + n
}
