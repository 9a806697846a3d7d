package ext2

// Emitting: writing a planned layout (writer_plan.go) to the image in
// ascending block order: data and pointer blocks, then inode tables,
// bitmaps, group descriptors and superblocks.

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"path"
	"time"
)

// blockFiller produces a node's data blocks in order.
type blockFiller func(buf []byte) error

// fileWalk writes one inode's blocks in allocation order: direct blocks,
// then each pointer block right before the blocks it maps (as e2fsprogs
// and the kernel allocate), so the writes ascend.
type fileWalk struct {
	p    *layout
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
	full := pointerTreeBlocks(level-1, span, fw.per)
	children := ceilDiv(n, span)
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
func (p *layout) iblock(n *plannedInode) [NBlocks]uint32 {
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
		idx += pointerTreeBlocks(lvl, c, per)
		left -= c
		span *= per
	}
	return ib
}

// walk writes all blocks of n, taking data blocks from fill.
func (p *layout) walk(sw *seqWriter, n *plannedInode, fill blockFiller) error {
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
		idx += pointerTreeBlocks(lvl, c, fw.per)
		left -= c
		span *= fw.per
	}
	return nil
}

// writeData writes directory blocks, file contents, block symlinks and
// indirect blocks, in ascending block order.
func (p *layout) writeData(sw *seqWriter) error {
	parentOf := make(map[string]uint32)
	for _, n := range p.nodes {
		if n.ftype == fileTypeDir {
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
		case fileTypeDir:
			parent := uint32(RootIno)
			if n.e.Name != "/" {
				parent = parentOf[path.Dir(n.e.Name)]
			}
			df := newDirFiller(n, parent)
			if err := p.walk(sw, n, df.fill); err != nil {
				return err
			}
		case fileTypeSymlink:
			if err := p.walk(sw, n, func(buf []byte) error {
				clear(buf)
				copy(buf, n.e.Linkname)
				return nil
			}); err != nil {
				return err
			}
		case fileTypeReg:
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

func (p *layout) writeFile(sw *seqWriter, n *plannedInode) error {
	rc, err := n.e.Content.Open()
	if err != nil {
		return fmt.Errorf("ext2: %s: %w", n.e.Name, err)
	}
	defer rc.Close()
	// Blocks are filled one at a time (1 KiB by default); the file is read
	// in readBufBytes pieces, as cat reads it, not one read(2) per block.
	if p.content == nil {
		p.content = bufio.NewReaderSize(rc, readBufBytes)
	} else {
		p.content.Reset(rc)
	}
	defer p.content.Reset(nil)
	left := n.size
	err = p.walk(sw, n, func(buf []byte) error {
		k := min(left, uint64(len(buf)))
		got, err := io.ReadFull(p.content, buf[:k])
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
	if m, _ := p.content.Read(one[:]); m > 0 {
		return fmt.Errorf("ext2: %s: content is longer than its size %d (the tree changed while writing?)", n.e.Name, n.size)
	}
	return nil
}

// dirFiller lays out a directory's blocks: ".", "..", then the children;
// the last entry of each block stretches to the block end.
type dirFiller struct {
	n      *plannedInode
	parent uint32
	i      int // next child
	first  bool
}

func newDirFiller(n *plannedInode, parent uint32) *dirFiller {
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
		put(d.n.ino, fileTypeDir, ".")
		put(d.parent, fileTypeDir, "..")
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
func (p *layout) inodeOf(n *plannedInode) Inode {
	e := n.e
	var in Inode
	in.Mode = uint16(e.Mode & ModePerm)
	switch n.ftype {
	case fileTypeDir:
		in.Mode |= ModeDir
	case fileTypeReg:
		in.Mode |= ModeReg
	case fileTypeSymlink:
		in.Mode |= ModeLink
	case fileTypeChrdev:
		in.Mode |= ModeChar
	case fileTypeBlkdev:
		in.Mode |= ModeBlock
	case fileTypeFIFO:
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
	case n.ftype == fileTypeSymlink && n.data == 0:
		var raw [4 * NBlocks]byte
		copy(raw[:], e.Linkname)
		for i := range in.Block {
			in.Block[i] = le.Uint32(raw[4*i:])
		}
	case n.ftype == fileTypeChrdev || n.ftype == fileTypeBlkdev:
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
		in.ExtraIsize = extraIsizeDefault
		in.AtimeExtra, in.CtimeExtra, in.MtimeExtra = extra, extra, extra
		in.Crtime, in.CrtimeExtra = sec, extra
	}
	return in
}

// encodeTime splits t into the 32-bit seconds field and the extra field of
// large inodes (2 epoch bits, 30 nanosecond bits). 128-byte inodes hold
// only signed 32-bit seconds, so times are clamped to that range there.
func (p *layout) encodeTime(t time.Time) (uint32, uint32) {
	s := t.Unix()
	if p.isz == GoodOldInodeSize {
		return uint32(int32(min(max(s, math.MinInt32), math.MaxInt32))), 0
	}
	s = min(max(s, math.MinInt32), math.MaxInt32+3<<32)
	epoch := (s - int64(int32(uint32(s)))) >> 32
	return uint32(s), uint32(epoch&3) | uint32(t.Nanosecond())<<2
}

// writeMetadata writes group descriptor copies, bitmaps and inode tables.
func (p *layout) writeMetadata(sw *seqWriter) error {
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
		setBits(buf, 0, g.dataStart-g.start+g.usedData)
		setBits(buf, g.size, 8*p.bs)
		buf, err = sw.next(g.inodeBmp)
		if err != nil {
			return err
		}
		clear(buf)
		setBits(buf, 0, uint64(g.usedInodes))
		setBits(buf, uint64(p.ipg), 8*p.bs)
		// Inode table, up to the last block holding a used inode: the rest
		// is zeros and stays unwritten.
		ipb := p.bs / uint64(p.isz)
		used := ceilDiv(uint64(g.usedInodes), ipb)
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

// setBits sets bits from..to-1 of the bitmap b (bit i is b[i/8]&(1<<(i%8)), as ext2 bitmaps are).
func setBits(b []byte, from, to uint64) {
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
func (p *layout) writeSuperblocks(w io.WriterAt, base int64, uuid [16]byte, seed [32]byte) error {
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
		LogBlockSize:     uint32(logBlockSize(p.bs)),
		LogClusterSize:   uint32(logBlockSize(p.bs)),
		BlocksPerGroup:   uint32(p.bpg),
		ClustersPerGroup: uint32(p.bpg),
		InodesPerGroup:   p.ipg,
		Wtime:            ts,
		MaxMntCount:      maxMountCountNone,
		Magic:            Magic,
		State:            StateValid,
		Errors:           errorsContinue,
		LastCheck:        ts,
		CreatorOS:        osLinux,
		RevLevel:         dynamicRev,
		FirstIno:         goodOldFirstIno,
		InodeSize:        uint16(p.isz),
		FeatureIncompat:  FeatureIncompatFiletype,
		FeatureROCompat:  FeatureROCompatSparseSuper,
		UUID:             uuid,
		DefHashVersion:   defHashHalfMD4,
		MkfsTime:         ts,
		Flags:            1, // EXT2_FLAGS_SIGNED_HASH, as mke2fs sets on x86
	}
	if p.largeFile {
		sb.FeatureROCompat |= FeatureROCompatLargeFile
	}
	if p.isz > GoodOldInodeSize {
		sb.MinExtraIsize, sb.WantExtraIsize = extraIsizeDefault, extraIsizeDefault
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

// logBlockSize is s_log_block_size: the block size is 1024 << it.
func logBlockSize(bs uint64) int {
	l := 0
	for bs > 1024 {
		bs >>= 1
		l++
	}
	return l
}
