package ext2

import (
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/minidisk/minidisk/rootfs"
	"github.com/minidisk/minidisk/rootfs/internal/fsview"
)

// dirent is one live entry of a directory ("." and ".." excluded).
type dirent struct {
	name string
	ino  uint32
}

// readDir lists a directory inode's entries, sorted bytewise by name.
// budget, when not nil, counts directory blocks still allowed in this walk.
func (r *Reader) readDir(ino uint32, in *Inode, budget *int64) ([]dirent, error) {
	if !in.IsDir() {
		return nil, fmt.Errorf("ext2: inode %d is not a directory", ino)
	}
	if in.Flags&InodeFlagEncrypt != 0 {
		return nil, fmt.Errorf("ext2: directory inode %d is encrypted (fscrypt): its names cannot be read without the key", ino)
	}
	var out []dirent
	add := func(d DirEntry) error {
		if d.Inode == 0 {
			return nil // unused space, an htree index block, a checksum tail
		}
		name := string(d.Name)
		if name == "." || name == ".." {
			return nil
		}
		if name == "" || strings.ContainsAny(name, "/\x00") {
			return fmt.Errorf("ext2: directory inode %d: entry name %q invalid: %w", ino, name, ErrCorrupt)
		}
		if d.Inode > r.sb.InodesCount {
			return fmt.Errorf("ext2: directory inode %d: entry %q names inode %d beyond %d: %w", ino, name, d.Inode, r.sb.InodesCount, ErrCorrupt)
		}
		out = append(out, dirent{name: name, ino: d.Inode})
		return nil
	}
	if in.Flags&InodeFlagInline != 0 {
		if err := r.inlineDirents(ino, in, add); err != nil {
			return nil, err
		}
		return sortDirents(ino, out)
	}
	size := r.fileSize(in)
	if size > maxDirSize {
		return nil, fmt.Errorf("ext2: directory inode %d: size %d beyond the %d-byte limit: %w", ino, size, maxDirSize, ErrCorrupt)
	}
	if size%uint64(r.bs) != 0 {
		return nil, fmt.Errorf("ext2: directory inode %d: size %d not a multiple of the %d-byte block: %w", ino, size, r.bs, ErrCorrupt)
	}
	nblocks := size / uint64(r.bs)
	phys := make([]uint64, nblocks)
	used := map[uint64]bool{}
	err := r.walkBlocks(ino, in, nblocks, func(logical uint64, p uint64, meta bool) error {
		if meta {
			return nil
		}
		if used[p] {
			return fmt.Errorf("ext2: directory inode %d: block %d used twice: %w", ino, p, ErrCorrupt)
		}
		used[p] = true
		phys[logical] = p
		return nil
	})
	if err != nil {
		return nil, err
	}
	buf := make([]byte, r.bs)
	for lb, p := range phys {
		if p == 0 {
			return nil, fmt.Errorf("ext2: directory inode %d: hole at block %d: %w", ino, lb, ErrCorrupt)
		}
		if budget != nil {
			if *budget <= 0 {
				return nil, fmt.Errorf("ext2: directories hold more blocks than the filesystem has: %w", ErrCorrupt)
			}
			*budget--
		}
		if err := r.readBlock(buf, p, fmt.Sprintf("directory inode %d", ino)); err != nil {
			return nil, err
		}
		for off := 0; off < len(buf); {
			d, err := UnmarshalDirEntry(buf[off:])
			if err != nil {
				return nil, fmt.Errorf("ext2: directory inode %d block %d offset %d: %w: %w", ino, p, off, err, ErrCorrupt)
			}
			off += int(d.RecLen)
			if err := add(d); err != nil {
				return nil, err
			}
		}
	}
	return sortDirents(ino, out)
}

// sortDirents sorts entries bytewise by name and refuses duplicates.
func sortDirents(ino uint32, out []dirent) ([]dirent, error) {
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	for i := 1; i < len(out); i++ {
		if out[i].name == out[i-1].name {
			return nil, fmt.Errorf("ext2: directory inode %d: name %q appears twice: %w", ino, out[i].name, ErrCorrupt)
		}
	}
	return out, nil
}

// dirCache keeps parsed directories for path lookups, so opening every
// file of a 2,000-entry directory does not parse it 2,000 times. It is
// bounded: when it holds more than maxCachedDirents entries it starts over.
type dirCache struct {
	mu sync.Mutex
	m  map[uint32][]dirent
	n  int
}

const maxCachedDirents = 1 << 18

// cachedDir is readDir through the cache.
func (r *Reader) cachedDir(ino uint32, in *Inode) ([]dirent, error) {
	c := r.dirs
	c.mu.Lock()
	ents, ok := c.m[ino]
	c.mu.Unlock()
	if ok {
		return ents, nil
	}
	ents, err := r.readDir(ino, in, nil)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || c.n+len(ents) > maxCachedDirents {
		c.m, c.n = map[uint32][]dirent{}, 0
	}
	c.m[ino] = ents
	c.n += len(ents)
	c.mu.Unlock()
	return ents, nil
}

// lookup finds name in a directory.
func (r *Reader) lookup(dir uint32, din *Inode, name string) (uint32, bool, error) {
	ents, err := r.cachedDir(dir, din)
	if err != nil {
		return 0, false, err
	}
	i := sort.Search(len(ents), func(i int) bool { return ents[i].name >= name })
	if i < len(ents) && ents[i].name == name {
		return ents[i].ino, true, nil
	}
	return 0, false, nil
}

// resolveError is a lookup failure that maps to an fs error.
type resolveError struct {
	err error // fs.ErrNotExist, fs.ErrInvalid, or a corruption error
}

// resolve looks a slash-separated path up from the root. Symlinks in the
// middle are always followed, the last one only when follow; an absolute
// target restarts at the filesystem's root. ".." is taken on the directory
// actually reached, and never climbs above the root.
func (r *Reader) resolve(name string, follow bool) (uint32, *Inode, error) {
	// A node is an inode number with its inode, read once when reached.
	type node struct {
		ino uint32
		in  *Inode
	}
	rootIn, err := r.ReadInode(RootIno)
	if err != nil {
		return 0, nil, err
	}
	n, err := fsview.Resolve(fsview.Tree[node]{
		IsDir: func(n node) bool { return n.in.IsDir() },
		Lookup: func(dir node, name string) (node, bool, error) {
			child, ok, err := r.lookup(dir.ino, dir.in, name)
			if err != nil || !ok {
				return node{}, ok, err
			}
			childIn, err := r.ReadInode(child)
			if err != nil {
				return node{}, false, err
			}
			return node{child, childIn}, true, nil
		},
		Link: func(n node) (string, bool, error) {
			if n.in.FileFormat() != ModeLink {
				return "", false, nil
			}
			target, err := r.readSymlink(n.ino, n.in)
			return target, true, err
		},
	}, node{RootIno, rootIn}, name, follow)
	if err != nil {
		return 0, nil, err
	}
	return n.ino, n.in, nil
}

// header describes inode ino found at the absolute path name.
func (r *Reader) header(name string, ino uint32, in *Inode) (*rootfs.Header, error) {
	h := &rootfs.Header{
		Name:    name,
		Mode:    uint32(in.Mode) & 0o7777,
		Uid:     in.UID(),
		Gid:     in.GID(),
		ModTime: r.inodeMtime(in),
	}
	switch in.FileFormat() {
	case ModeReg:
		h.Type = rootfs.TypeReg
		h.Size = int64(in.Size())
		if h.Size < 0 {
			return nil, fmt.Errorf("ext2: %s: inode %d size %d: %w", name, ino, in.Size(), ErrCorrupt)
		}
	case ModeDir:
		h.Type = rootfs.TypeDir
	case ModeLink:
		h.Type = rootfs.TypeSymlink
		t, err := r.readSymlink(ino, in)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		h.Linkname = t
	case ModeChar, ModeBlock:
		h.Type = rootfs.TypeChar
		if in.FileFormat() == ModeBlock {
			h.Type = rootfs.TypeBlock
		}
		h.Devmajor, h.Devminor = devNumbers(in)
	case ModeFIFO:
		h.Type = rootfs.TypeFIFO
	case ModeSocket:
		return nil, fmt.Errorf("%s: inode %d is a socket, which the tree model has no type for: %w", name, ino, errSocket)
	default:
		return nil, fmt.Errorf("ext2: %s: inode %d has unknown file format %#o: %w", name, ino, in.FileFormat(), ErrCorrupt)
	}
	return h, nil
}

// Header returns the entry at name (fs.FS style or absolute) without
// following a final symlink. Name in the result is absolute.
func (r *Reader) Header(name string) (*rootfs.Header, error) {
	clean, err := rootfs.Clean(name)
	if err != nil {
		return nil, err
	}
	ino, in, err := r.resolve(clean, false)
	if err != nil {
		return nil, pathErr("lstat", name, err)
	}
	return r.header(clean, ino, in)
}

// Inode returns the inode number at name, not following a final symlink.
func (r *Reader) Inode(name string) (uint32, error) {
	clean, err := rootfs.Clean(name)
	if err != nil {
		return 0, err
	}
	ino, _, err := r.resolve(clean, false)
	if err != nil {
		return 0, pathErr("lstat", name, err)
	}
	return ino, nil
}

// Walk calls fn for every entry of the filesystem: the root first, then
// depth-first with siblings sorted bytewise, so a directory comes before
// its contents and the order is deterministic. A non-directory inode met a
// second time is reported as a rootfs.TypeLink to the first path seen.
// lost+found is included; sockets, which the tree model cannot hold, are
// skipped. A directory reached twice (a loop) is an error.
func (r *Reader) Walk(fn func(h *rootfs.Header) error) error {
	rootIn, err := r.ReadInode(RootIno)
	if err != nil {
		return err
	}
	if !rootIn.IsDir() {
		return fmt.Errorf("ext2: root inode %d is not a directory: %w", RootIno, ErrCorrupt)
	}
	h, err := r.header("/", RootIno, rootIn)
	if err != nil {
		return err
	}
	if err := fn(h); err != nil {
		return err
	}
	// Every directory block belongs to one directory, so a walk that reads
	// more blocks than the filesystem has is looping through shared blocks.
	budget := int64(r.sb.BlocksCount)
	w := walker{r: r, fn: fn, budget: &budget, dirs: map[uint32]bool{RootIno: true}, first: map[uint32]string{}}
	return w.dir("/", RootIno, rootIn)
}

type walker struct {
	r      *Reader
	fn     func(h *rootfs.Header) error
	budget *int64
	dirs   map[uint32]bool   // directory inodes entered
	first  map[uint32]string // non-directory inode -> first path
}

func (w *walker) dir(dirPath string, ino uint32, in *Inode) error {
	ents, err := w.r.readDir(ino, in, w.budget)
	if err != nil {
		return fmt.Errorf("%s: %w", dirPath, err)
	}
	for _, e := range ents {
		p := path.Join(dirPath, e.name)
		cin, err := w.r.ReadInode(e.ino)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if cin.IsDir() {
			if w.dirs[e.ino] {
				return fmt.Errorf("ext2: %s: directory inode %d reached twice (a directory loop): %w", p, e.ino, ErrCorrupt)
			}
			w.dirs[e.ino] = true
		} else if cin.FileFormat() == ModeSocket {
			continue
		}
		h, err := w.r.header(p, e.ino, cin)
		if err != nil {
			return err
		}
		if !cin.IsDir() {
			if fp, ok := w.first[e.ino]; ok {
				h.Type, h.Linkname, h.Size = rootfs.TypeLink, fp, 0
				h.Devmajor, h.Devminor = 0, 0
			} else {
				w.first[e.ino] = p
			}
		}
		if err := w.fn(h); err != nil {
			return err
		}
		if cin.IsDir() {
			if err := w.dir(p, e.ino, cin); err != nil {
				return err
			}
		}
	}
	return nil
}

// FileBlocks returns the physical data blocks of the regular file at name in
// file order, 0 for a hole (indirect blocks are not listed; see
// InodeBlocks). Symlinks are followed, as a reader of the file would.
func (r *Reader) FileBlocks(name string) ([]uint32, error) {
	clean, err := rootfs.Clean(name)
	if err != nil {
		return nil, err
	}
	ino, in, err := r.resolve(clean, true)
	if err != nil {
		return nil, pathErr("blocks", name, err)
	}
	if in.FileFormat() != ModeReg {
		return nil, fmt.Errorf("%s: not a regular file", clean)
	}
	n := r.logicalBlocks(in)
	if n > maxFileBlocks {
		return nil, fmt.Errorf("%s: %d blocks is more than FileBlocks lists (%d)", clean, n, maxFileBlocks)
	}
	out := make([]uint32, n)
	err = r.walkBlocks(ino, in, n, func(logical uint64, p uint64, meta bool) error {
		if !meta {
			if p > 1<<32-1 {
				return fmt.Errorf("ext2: inode %d: block %d does not fit the 32-bit block list (use InodeBlocks64)", ino, p)
			}
			out[logical] = uint32(p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", clean, err)
	}
	return out, nil
}

// InodeBlocks returns every block inode ino owns: data blocks in file order
// (holes omitted) and map blocks (indirect blocks, extent tree nodes) in
// the order the map reaches them. Fast symlinks, inline-data inodes and
// device inodes own none (their i_block is not a map). A block number
// beyond 32 bits (a 64bit filesystem over 16 TiB) is an error here; use
// InodeBlocks64.
func (r *Reader) InodeBlocks(ino uint32) (data, meta []uint32, err error) {
	d64, m64, err := r.InodeBlocks64(ino)
	for _, l := range []struct {
		in  []uint64
		out *[]uint32
	}{{d64, &data}, {m64, &meta}} {
		for _, b := range l.in {
			if b > 1<<32-1 {
				return data, meta, fmt.Errorf("ext2: inode %d: block %d does not fit the 32-bit block list (use InodeBlocks64)", ino, b)
			}
			*l.out = append(*l.out, uint32(b))
		}
	}
	return data, meta, err
}

// InodeBlocks64 is InodeBlocks with 64-bit block numbers. Blocks of
// extents past the file's size (preallocated) are included: the inode owns
// them.
func (r *Reader) InodeBlocks64(ino uint32) (data, meta []uint64, err error) {
	in, err := r.ReadInode(ino)
	if err != nil {
		return nil, nil, err
	}
	switch in.FileFormat() {
	case ModeReg, ModeDir:
	case ModeLink:
		if r.isFastSymlink(in) {
			return nil, nil, nil
		}
	default:
		return nil, nil, nil
	}
	n := r.logicalBlocks(in)
	if in.Flags&InodeFlagExtents != 0 {
		n = 1 << 32
	}
	err = r.walkBlocks(ino, in, n, func(_ uint64, p uint64, m bool) error {
		if m {
			meta = append(meta, p)
		} else {
			data = append(data, p)
		}
		return nil
	})
	return data, meta, err
}
