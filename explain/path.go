package explain

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/rootfs/ext2"
)

const (
	maxSymlinkHops   = 40 // the kernel's MAXSYMLINKS
	maxPtrsShown     = 8  // pointers of an indirect block shown one by one
	maxPathSteps     = 64 // components walked (after symlinks), a bound for hostile images
	maxDirBlocksRead = 4096
)

// Run is a stretch of a file's data in consecutive filesystem blocks.
type Run struct {
	Logical    uint64 `json:"logical"` // first file block of the run
	Block      uint64 `json:"block"`   // first filesystem block
	Count      uint64 `json:"count"`   // blocks
	Sector     int64  `json:"sector"`  // first image sector
	Sectors    int64  `json:"sectors"`
	ByteOffset int64  `json:"byte_offset"` // first image byte
	// DD is the command that prints this run's bytes.
	DD string `json:"dd"`
}

// Walk is the machine-readable result of `explain IMG path P`.
type Walk struct {
	Path     string   `json:"path"`
	Resolved string   `json:"resolved"` // after symlinks
	Inodes   []uint32 `json:"inodes"`   // every inode visited, root first
	Inode    uint32   `json:"inode"`    // the final one
	Size     uint64   `json:"size"`
	Runs     []Run    `json:"runs"`
	Indirect []uint64 `json:"indirect_blocks,omitempty"` // IND, DIND, TIND and their children, in map order
}

// inodeAt says where inode ino lies: group, descriptor, byte offset.
func (d *Disk) inodeAt(g *fsGeometry, ino uint32) (group uint32, table uint32, off int64, err error) {
	sb := g.sb
	if ino == 0 || ino > sb.InodesCount {
		return 0, 0, 0, fmt.Errorf("inode %d outside 1..%d", ino, sb.InodesCount)
	}
	group = (ino - 1) / sb.InodesPerGroup
	idx := (ino - 1) % sb.InodesPerGroup
	gd, ok := g.desc(group)
	if !ok {
		b := make([]byte, ext2.GroupDescSize)
		if err := d.readFull(b, g.descBase+int64(group)*ext2.GroupDescSize); err != nil {
			return 0, 0, 0, fmt.Errorf("descriptor of group %d: %w", group, err)
		}
		_ = gd.Unmarshal(b)
	}
	table = gd.InodeTable
	off = g.base + int64(table)*g.bs + int64(idx)*int64(sb.InodeSizeOrDefault())
	return group, table, off, nil
}

// inodeSection shows where inode ino lies and its fields.
func (d *Disk) inodeSection(g *fsGeometry, ino uint32, name string, final bool) (Section, *ext2.Inode, error) {
	group, table, off, err := d.inodeAt(g, ino)
	if err != nil {
		return Section{}, nil, err
	}
	raw := make([]byte, ext2.GoodOldInodeSize)
	if err := d.readFull(raw, off); err != nil {
		return Section{}, nil, fmt.Errorf("inode %d at byte %d: %w", ino, off, err)
	}
	var in ext2.Inode
	if err := in.Unmarshal(raw); err != nil {
		return Section{}, nil, fmt.Errorf("inode %d: %w", ino, err)
	}
	sb := g.sb
	idx := (ino - 1) % sb.InodesPerGroup
	isz := sb.InodeSizeOrDefault()
	id := fmt.Sprintf("path.inode%d", ino)
	s := Section{ID: id, Title: fmt.Sprintf("inode %d (%s): bytes %d..%d", ino, name, off, off+ext2.GoodOldInodeSize-1), Offset: off, Size: ext2.GoodOldInodeSize, Dump: true, bytes: raw}
	s.Notes = append(s.Notes, fmt.Sprintf("group = (%d − 1) / %d = %d, index = (%d − 1) mod %d = %d; group %d's inode table starts at block %d, so the inode is at byte %d + %d × %d + %d × %d = %d (sector %d + %d bytes)",
		ino, sb.InodesPerGroup, group, ino, sb.InodesPerGroup, idx, group, table, g.base, table, g.bs, idx, isz, off, off/disk.SectorSize, off%disk.SectorSize))
	il := &ext2.InodeLayout // the offsets Inode.Unmarshal decodes
	ib := il.Block.Offset
	f := field(id+".mode", "i_mode", raw, off, il.Mode.Offset, il.Mode.Size, modeWords(in.Mode))
	f.Text = fmt.Sprintf("0%o", in.Mode)
	f.Refs = []string{fmt.Sprintf("fs.g%d.inode_table", group)}
	s.Fields = append(s.Fields, f)
	s.Fields = append(s.Fields, field(id+".size", "i_size", raw, off, il.SizeLo.Offset, il.SizeLo.Size, "file size in bytes (low 32 bits)"))
	s.Fields = append(s.Fields, field(id+".links", "i_links_count", raw, off, il.LinksCount.Offset, il.LinksCount.Size, "directory entries naming this inode"))
	s.Fields = append(s.Fields, field(id+".blocks", "i_blocks", raw, off, il.BlocksLo.Offset, il.BlocksLo.Size, fmt.Sprintf("512-byte sectors allocated, indirect blocks included: %d = %d blocks of %d bytes", in.BlocksLo, uint64(in.BlocksLo)*512/uint64(g.bs), g.bs)))
	f = field(id+".flags", "i_flags", raw, off, il.Flags.Offset, il.Flags.Size, "0 or dir_index only for GRUB Legacy; 0x80000 (extents) would be ext4's mapping")
	f.Text = fmt.Sprintf("0x%X", in.Flags)
	s.Fields = append(s.Fields, f)
	fast := in.FileFormat() == ext2.ModeLink && in.Blocks512() == 0
	if fast {
		f = field(id+".target", "i_block (symlink target)", raw, off, ib, il.Block.Size, "a fast symlink: the target is stored in i_block itself, no data block")
		f.Text = cString(raw[ib : ib+il.Block.Size])
		s.Fields = append(s.Fields, f)
		return s, &in, nil
	}
	if !final && !in.IsDir() {
		return s, &in, nil
	}
	if in.Flags&(ext2.InodeFlagExtents|ext2.InodeFlagInline) != 0 {
		// ext4: i_block is an extent tree (header magic F30A) or inline
		// data, not the 15 block pointers GRUB Legacy and ext2 follow.
		f = field(id+".i_block", "i_block", raw, off, ib, il.Block.Size, "ext4 extent tree or inline data (i_flags say which): not block pointers — GRUB Legacy 0.97 cannot read this file")
		f.Text = hexBytes(raw[ib : ib+12])
		s.Fields = append(s.Fields, f)
		return s, &in, nil
	}
	lastUsed := -1
	for k := 0; k < ext2.NBlocks; k++ {
		if in.Block[k] != 0 {
			lastUsed = k
		}
	}
	if lastUsed < ext2.NBlocks-1 {
		s.Notes = append(s.Notes, fmt.Sprintf("i_block[%d..14] are 0: not used by a file of this size (or holes)", lastUsed+1))
	}
	for k := 0; k <= lastUsed; k++ {
		p := in.Block[k]
		var name, meaning string
		switch {
		case k < ext2.NDirBlocks:
			name = fmt.Sprintf("i_block[%d]", k)
			meaning = fmt.Sprintf("direct: file block %d", k)
		case k == ext2.IndBlock:
			name, meaning = "i_block[12] (IND)", fmt.Sprintf("single indirect: a block of %d pointers for file blocks 12..%d", g.bs/4, 11+g.bs/4)
		case k == ext2.DIndBlock:
			name, meaning = "i_block[13] (DIND)", "double indirect: a block of pointers to indirect blocks"
		default:
			name, meaning = "i_block[14] (TIND)", "triple indirect"
		}
		if p == 0 {
			if k >= ext2.NDirBlocks {
				continue
			}
			meaning += " → 0, unused (a hole or past the end)"
		} else {
			meaning += fmt.Sprintf(" → block %d (%s)", p, g.blockWhere(uint64(p)))
		}
		f = field(fmt.Sprintf("%s.block%d", id, k), name, raw, off, ib+4*k, 4, meaning)
		if p != 0 {
			if k >= ext2.NDirBlocks {
				f.Refs = []string{fmt.Sprintf("path.indirect%d", p)}
			} else if final {
				f.Refs = []string{"path.data"}
			}
		}
		s.Fields = append(s.Fields, f)
	}
	return s, &in, nil
}

func modeWords(m uint16) string {
	t := map[uint16]string{ext2.ModeDir: "directory", ext2.ModeReg: "regular file", ext2.ModeLink: "symbolic link", ext2.ModeChar: "character device",
		ext2.ModeBlock: "block device", ext2.ModeFIFO: "FIFO", ext2.ModeSocket: "socket"}[m&ext2.ModeFmt]
	if t == "" {
		t = "unknown type"
	}
	return fmt.Sprintf("%s, permissions %04o", t, m&ext2.ModePerm)
}

// findEntry scans directory inode dir's blocks for name, returning the
// section that shows the entry with its bytes.
func (d *Disk) findEntry(g *fsGeometry, dir uint32, dirPath, name string) (Section, uint32, error) {
	data, _, err := g.r.InodeBlocks(dir)
	if err != nil {
		return Section{}, 0, err
	}
	buf := make([]byte, g.bs)
	for i, b := range data {
		if i >= maxDirBlocksRead {
			break
		}
		boff := g.base + int64(b)*g.bs
		if err := d.readFull(buf, boff); err != nil {
			return Section{}, 0, fmt.Errorf("directory %s block %d: %w", dirPath, b, err)
		}
		for o := 0; o < len(buf); {
			e, err := ext2.UnmarshalDirEntry(buf[o:])
			if err != nil {
				return Section{}, 0, fmt.Errorf("directory %s (inode %d) block %d offset %d: %w", dirPath, dir, b, o, err)
			}
			if e.Inode != 0 && string(e.Name) == name {
				id := fmt.Sprintf("path.dirent%d.%s", dir, name)
				at := boff + int64(o)
				sz := int(e.RecLen)
				s := Section{ID: id, Title: fmt.Sprintf("directory %s (inode %d), block %d: the entry %q at bytes %d..%d", dirPath, dir, b, name, at, at+int64(ext2.DirEntryLen(len(e.Name)))-1),
					Offset: at, Size: int64(ext2.DirEntryLen(len(e.Name))), Dump: true, bytes: append([]byte(nil), buf[o:o+min(sz, ext2.DirEntryLen(len(e.Name)))]...)}
				s.Notes = append(s.Notes, fmt.Sprintf("directory block %d is at %s; the entry is %d bytes into it (entries are walked by rec_len from offset 0)", b, g.blockWhere(uint64(b)), o))
				eb := buf[o:]
				s.Fields = append(s.Fields,
					withRefs(field(id+".inode", "inode", eb, at, 0, 4, fmt.Sprintf("the inode %q names", name)), fmt.Sprintf("path.inode%d", e.Inode)),
					field(id+".rec_len", "rec_len", eb, at, 4, 2, "bytes to the next entry (the last entry of a block reaches its end)"),
					field(id+".name_len", "name_len", eb, at, 6, 1, "length of the name"),
					field(id+".file_type", "file_type", eb, at, 7, 1, fileTypeWords(e.FileType)),
				)
				f := field(id+".name", "name", eb, at, 8, len(e.Name), "the name, not NUL-terminated")
				f.Text = name
				s.Fields = append(s.Fields, f)
				return s, e.Inode, nil
			}
			o += int(e.RecLen)
		}
	}
	return Section{}, 0, fmt.Errorf("%s: no entry %q in directory %s (inode %d)", d.name, name, dirPath, dir)
}

func fileTypeWords(t uint8) string {
	return map[uint8]string{0: "0: unknown (no filetype feature)", 1: "1: regular file", 2: "2: directory", 3: "3: character device", 4: "4: block device", 5: "5: FIFO", 6: "6: socket", 7: "7: symbolic link"}[t]
}

func (d *Disk) explainPath(p string) (*View, error) {
	v, w, err := d.walkPath(p)
	if v != nil {
		v.Walk = w
	}
	return v, err
}

// walkPath resolves p the way GRUB and the kernel do, recording each inode
// and directory entry it reads, then maps the final inode's blocks.
func (d *Disk) walkPath(p string) (*View, *Walk, error) {
	g, err := d.geometry()
	if err != nil {
		return nil, nil, err
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	v := &View{Image: d.name, What: "path", Title: fmt.Sprintf("%s: from the root inode to the sectors", p)}
	w := &Walk{Path: p}
	comps := splitPath(p)
	stack := []uint32{ext2.RootIno}
	dirs := []string{"/"}
	rs, _, err := d.inodeSection(g, ext2.RootIno, "/, the root directory: always inode 2", len(comps) == 0)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", d.name, err)
	}
	v.Sections = append(v.Sections, rs)
	w.Inodes = append(w.Inodes, ext2.RootIno)
	hops, steps := 0, 0
	seen := map[string]bool{rs.ID: true}
	var final *ext2.Inode
	cur := uint32(ext2.RootIno)
	for len(comps) > 0 {
		steps++
		if steps > maxPathSteps {
			return nil, nil, fmt.Errorf("%s: %s: more than %d steps (symlink loop?)", d.name, p, maxPathSteps)
		}
		c := comps[0]
		comps = comps[1:]
		dirPath := dirs[len(dirs)-1]
		switch c {
		case ".":
			continue
		case "..":
			if len(stack) > 1 {
				stack, dirs = stack[:len(stack)-1], dirs[:len(dirs)-1]
			}
			cur = stack[len(stack)-1]
			continue
		}
		es, ino, err := d.findEntry(g, cur, dirPath, c)
		if err != nil {
			return nil, nil, err
		}
		if !seen[es.ID] {
			v.Sections = append(v.Sections, es)
			seen[es.ID] = true
		}
		last := len(comps) == 0
		name := path.Join(dirPath, c)
		is, in, err := d.inodeSection(g, ino, name, last)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", d.name, err)
		}
		if !seen[is.ID] {
			v.Sections = append(v.Sections, is)
			seen[is.ID] = true
		}
		w.Inodes = append(w.Inodes, ino)
		if in.FileFormat() == ext2.ModeLink {
			hops++
			if hops > maxSymlinkHops {
				return nil, nil, fmt.Errorf("%s: %s: too many levels of symbolic links", d.name, p)
			}
			target, err := g.r.ReadLink(strings.TrimPrefix(name, "/"))
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", d.name, err)
			}
			v.Sections[len(v.Sections)-1].Notes = append(v.Sections[len(v.Sections)-1].Notes,
				fmt.Sprintf("%s is a symbolic link to %q: the lookup continues there, as GRUB's and the kernel's do", name, target))
			comps = append(splitPath(target), comps...)
			if strings.HasPrefix(target, "/") {
				stack, dirs = []uint32{ext2.RootIno}, []string{"/"}
				cur = ext2.RootIno
			}
			if len(comps) == 0 {
				// A link to "/" or ".": the directory itself.
				final = nil
				ri, _ := g.r.ReadInode(cur)
				final, ino = ri, cur
				w.Inode = ino
			}
			continue
		}
		if !last {
			if !in.IsDir() {
				return nil, nil, fmt.Errorf("%s: %s: %s is not a directory", d.name, p, name)
			}
			stack, dirs = append(stack, ino), append(dirs, name)
			cur = ino
			continue
		}
		// The last component may still be a directory we only passed
		// through earlier without its block map: show it now.
		final, w.Inode, w.Resolved = in, ino, name
		if in.IsDir() {
			stack, dirs = append(stack, ino), append(dirs, name)
		}
	}
	if final == nil {
		final, _ = g.r.ReadInode(cur)
		w.Inode, w.Resolved = cur, dirs[len(dirs)-1]
	}
	if w.Resolved == "" {
		w.Resolved = dirs[len(dirs)-1]
	}
	if final != nil {
		w.Size = final.Size()
		if final.IsDir() {
			w.Size = uint64(final.SizeLo)
		}
	}
	if err := d.mapBlocks(g, v, w); err != nil {
		return nil, nil, err
	}
	return v, w, nil
}

func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// mapBlocks lists the final inode's data blocks as runs with their image
// sectors, and its indirect blocks with their first pointers.
func (d *Disk) mapBlocks(g *fsGeometry, v *View, w *Walk) error {
	_, meta, err := g.r.InodeBlocks(w.Inode)
	var data []uint32
	if err == nil {
		if fi, serr := g.r.Lstat(strings.TrimPrefix(w.Resolved, "/")); serr == nil && fi.Mode().IsRegular() {
			// In file order with 0 for holes: logical block numbers stay right.
			data, err = g.r.FileBlocks(w.Resolved)
		} else {
			data, _, err = g.r.InodeBlocks(w.Inode)
		}
	}
	if err != nil {
		if errors.Is(err, ext2.ErrPastPartitionEnd) {
			v.Sections = append(v.Sections, Section{ID: "path.past_end", Title: "blocks past the partition end", Notes: []string{err.Error()}})
			return nil
		}
		return fmt.Errorf("%s: inode %d: %w", d.name, w.Inode, err)
	}
	for _, m := range meta {
		w.Indirect = append(w.Indirect, uint64(m))
	}
	ds := Section{ID: "path.data", Title: fmt.Sprintf("the data of %s (%d bytes, blocks of %d bytes)", w.Resolved, w.Size, g.bs)}
	if len(data) == 0 {
		ds.Notes = append(ds.Notes, "no data blocks (empty file, fast symlink or device)")
	}
	nData := 0
	for i := 0; i < len(data); {
		if data[i] == 0 { // a hole: no block, reads as zeros
			i++
			continue
		}
		logical := uint64(i)
		j := i + 1
		for j < len(data) && data[j] == data[j-1]+1 {
			j++
		}
		n := uint64(j - i)
		nData += j - i
		off := g.base + int64(data[i])*g.bs
		r := Run{Logical: logical, Block: uint64(data[i]), Count: n, ByteOffset: off, Sector: off / disk.SectorSize, Sectors: int64(n) * g.bs / disk.SectorSize}
		r.DD = fmt.Sprintf("dd if=%s bs=512 skip=%d count=%d", d.name, r.Sector, r.Sectors)
		w.Runs = append(w.Runs, r)
		f := Field{ID: fmt.Sprintf("path.run%d", len(w.Runs)-1), Name: fmt.Sprintf("file blocks %d..%d", logical, logical+n-1), Offset: off, Size: int(min(int64(n)*g.bs, 1<<30)),
			Value: uint64(data[i]), Text: fmt.Sprintf("blocks %d..%d", data[i], uint64(data[i])+n-1),
			Meaning: fmt.Sprintf("file bytes %d..%d are image bytes %d..%d = sectors %d..%d: %s", logical*uint64(g.bs), (logical+n)*uint64(g.bs)-1, off, off+int64(n)*g.bs-1, r.Sector, r.Sector+r.Sectors-1, r.DD)}
		ds.Fields = append(ds.Fields, f)
		i = j
	}
	if holes := len(data) - nData; holes > 0 {
		ds.Notes = append(ds.Notes, fmt.Sprintf("%d of its %d file blocks are holes (pointer 0: never written, read as zeros)", holes, len(data)))
	}
	v.Sections = append(v.Sections, ds)
	for k, m := range meta {
		if k >= 4 {
			v.Sections = append(v.Sections, Section{ID: "path.more_indirect", Title: fmt.Sprintf("%d more indirect blocks", len(meta)-k),
				Notes: []string{fmt.Sprintf("blocks %v", meta[k:min(len(meta), k+32)])}})
			break
		}
		off := g.base + int64(m)*g.bs
		buf := make([]byte, g.bs)
		if err := d.readFull(buf, off); err != nil {
			return fmt.Errorf("%s: indirect block %d: %w", d.name, m, err)
		}
		id := fmt.Sprintf("path.indirect%d", m)
		n := 0
		for o := 0; o+4 <= len(buf); o += 4 {
			if le32(buf[o:]) != 0 {
				n = o/4 + 1
			}
		}
		s := Section{ID: id, Title: fmt.Sprintf("indirect block %d (%s): %d pointers in use of %d", m, g.blockWhere(uint64(m)), n, g.bs/4), Offset: off, Size: g.bs, Dump: true, bytes: buf[:min(len(buf), 4*maxPtrsShown)]}
		s.Notes = append(s.Notes, "an array of 4-byte block numbers, in file order; 0 ends the list (or marks a hole)")
		for q := 0; q < n && q < maxPtrsShown; q++ {
			p := le32(buf[4*q:])
			s.Fields = append(s.Fields, field(fmt.Sprintf("%s.ptr%d", id, q), fmt.Sprintf("pointer %d", q), buf, off, 4*q, 4, fmt.Sprintf("→ block %d (%s)", p, g.blockWhere(uint64(p)))))
		}
		if n > maxPtrsShown {
			s.Notes = append(s.Notes, fmt.Sprintf("... %d more pointers", n-maxPtrsShown))
		}
		v.Sections = append(v.Sections, s)
	}
	return nil
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// WalkPath returns the path walk as data (the path view's numbers).
func (d *Disk) WalkPath(p string) (*Walk, error) {
	_, w, err := d.walkPath(p)
	return w, err
}

func withRefs(f Field, refs ...string) Field {
	f.Refs = append(f.Refs, refs...)
	return f
}
