package iso9660

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/minidisk/minidisk/rootfs/internal/fsview"
)

// FS is an open ISO 9660 volume. It is safe for concurrent use.
type FS struct {
	r          io.ReaderAt
	base, size int64
	pvd        *PrimaryVolume
	bs         int64
	root       dirRecord
	rockRidge  bool
	joliet     bool // names come from the Joliet tree
	suspSkip   int  // SP's len_skp
	bootLBA    int64
	hasBoot    bool

	mu   sync.Mutex
	dirs map[uint32][]entry
	nDir int
}

var (
	_ fs.FS         = (*FS)(nil)
	_ fs.ReadDirFS  = (*FS)(nil)
	_ fs.StatFS     = (*FS)(nil)
	_ fs.ReadFileFS = (*FS)(nil)
	_ fs.ReadLinkFS = (*FS)(nil)
)

// Open reads the volume descriptors of the ISO 9660 volume at byte base of
// r (an isohybrid image's base is 0 too). size is the image's size in
// bytes (<= 0: no limit).
func Open(r io.ReaderAt, base, size int64) (*FS, error) {
	if base < 0 {
		return nil, fmt.Errorf("iso9660: negative offset %d", base)
	}
	f := &FS{r: r, base: base, size: size, dirs: map[uint32][]entry{}}
	b := make([]byte, SectorSize)
	var svdRoot *dirRecord
	terminated := false
	for i := int64(0); i < maxDescriptors && !terminated; i++ {
		if err := f.readAt(b, descriptorStart+i*SectorSize, "volume descriptor"); err != nil {
			return nil, err
		}
		if string(b[1:6]) != "CD001" {
			return nil, fmt.Errorf("iso9660: no CD001 volume descriptor at sector %d: not an ISO 9660 image", 16+i)
		}
		switch b[0] {
		case vdPrimary:
			if f.pvd != nil {
				continue
			}
			p, err := parsePrimary(b)
			if err != nil {
				return nil, err
			}
			root, err := parseRecord(b[156:190])
			if err != nil {
				return nil, fmt.Errorf("iso9660: root directory record: %w: %w", err, ErrCorrupt)
			}
			f.pvd, f.root, f.bs = p, root, int64(p.BlockSize)
		case vdSupplementary:
			if isJoliet(b) && svdRoot == nil {
				root, err := parseRecord(b[156:190])
				if err == nil {
					svdRoot = &root
				}
			}
		case vdBootRecord:
			if isElTorito(b) {
				f.bootLBA, f.hasBoot = int64(le.Uint32(b[0x47:])), true
			}
		case vdTerminator:
			terminated = true
		}
	}
	if f.pvd == nil {
		return nil, fmt.Errorf("iso9660: no primary volume descriptor: %w", ErrCorrupt)
	}
	if !f.root.isDir {
		return nil, fmt.Errorf("iso9660: root record is not a directory: %w", ErrCorrupt)
	}
	// Rock Ridge: the root's "." record starts its system use area with
	// an SP entry (SUSP 5.3: "SP", 7, 1, BE EF, len_skp).
	if first, err := f.firstRecord(f.root); err == nil {
		if su := first.sysUse; len(su) >= 7 && su[0] == 'S' && su[1] == 'P' && su[4] == 0xBE && su[5] == 0xEF {
			f.rockRidge, f.suspSkip = true, int(su[6])
		}
	}
	if !f.rockRidge && svdRoot != nil && svdRoot.isDir {
		f.root, f.joliet = *svdRoot, true
	}
	return f, nil
}

// Primary returns the primary volume descriptor's fields.
func (f *FS) Primary() *PrimaryVolume { return f.pvd }

// RockRidge reports whether names and modes come from Rock Ridge.
func (f *FS) RockRidge() bool { return f.rockRidge }

// Joliet reports whether names come from the Joliet tree (no Rock Ridge).
func (f *FS) Joliet() bool { return f.joliet }

func (f *FS) readAt(b []byte, off int64, what string) error {
	end := off + int64(len(b))
	if f.size > 0 && end > f.size {
		return fmt.Errorf("iso9660: %s at bytes %d..%d lies %w (%d bytes)", what, off, end, ErrPastPartitionEnd, f.size)
	}
	n, err := f.r.ReadAt(b, f.base+off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		return fmt.Errorf("iso9660: %s at bytes %d..%d: image too short (read %d of %d bytes)", what, off, end, n, len(b))
	}
	return fmt.Errorf("iso9660: %s at byte %d: %w", what, off, err)
}

func (f *FS) firstRecord(d dirRecord) (dirRecord, error) {
	b := make([]byte, min(int64(d.size), f.bs))
	if err := f.readAt(b, int64(d.extent)*f.bs, "directory"); err != nil {
		return dirRecord{}, err
	}
	return parseRecord(b)
}

// entry is one directory entry with names and attributes resolved.
type entry struct {
	name     string
	isoName  string // the identifier as recorded ("ISOLINUX.BIN;1")
	isDir    bool
	mode     fs.FileMode
	hasMode  bool
	uid, gid uint32
	nlink    uint32
	size     int64
	extents  []extentRange
	mtime    time.Time
	link     string
	isLink   bool
	dirRec   dirRecord // for directories: where the content is
}

type extentRange struct {
	lba  uint32
	size uint32
}

// readDirRaw parses the records of directory d.
func (f *FS) readDir(d dirRecord) ([]entry, error) {
	f.mu.Lock()
	if ents, ok := f.dirs[d.extent]; ok {
		f.mu.Unlock()
		return ents, nil
	}
	f.mu.Unlock()
	if d.size > maxDirBytes {
		return nil, fmt.Errorf("iso9660: directory at block %d: %d bytes: %w", d.extent, d.size, ErrCorrupt)
	}
	if f.size > 0 && int64(d.extent)*f.bs+int64(d.size) > f.size {
		return nil, fmt.Errorf("iso9660: directory at block %d (%d bytes) lies %w (%d bytes)", d.extent, d.size, ErrPastPartitionEnd, f.size)
	}
	raw := make([]byte, d.size)
	if err := f.readAt(raw, int64(d.extent)*f.bs, fmt.Sprintf("directory at block %d", d.extent)); err != nil {
		return nil, err
	}
	var out []entry
	var pending *entry // a multi-extent file being assembled
	for off := 0; off < len(raw); {
		if raw[off] == 0 {
			// Records do not cross sector boundaries: zeros pad to the next.
			off = (off/SectorSize + 1) * SectorSize
			continue
		}
		sectorEnd := min(len(raw), (off/SectorSize+1)*SectorSize)
		rec, err := parseRecord(raw[off:sectorEnd])
		if err != nil {
			return nil, fmt.Errorf("iso9660: directory at block %d offset %d: %w: %w", d.extent, off, err, ErrCorrupt)
		}
		off += rec.recLen
		if len(rec.name) == 1 && (rec.name[0] == 0 || rec.name[0] == 1) {
			continue // "." and ".."
		}
		e, skip, err := f.makeEntry(rec)
		if err != nil {
			return nil, fmt.Errorf("iso9660: directory at block %d: %w", d.extent, err)
		}
		if skip {
			continue
		}
		if pending != nil {
			if pending.isoName == e.isoName && !e.isDir {
				pending.extents = append(pending.extents, e.extents...)
				pending.size += e.size
				if !rec.isMulti {
					out = append(out, *pending)
					pending = nil
				}
				continue
			}
			out = append(out, *pending)
			pending = nil
		}
		if rec.isMulti && !rec.isDir {
			p := e
			pending = &p
			continue
		}
		out = append(out, e)
	}
	if pending != nil {
		out = append(out, *pending)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].name < out[j].name })
	for i := 1; i < len(out); i++ {
		if out[i].name == out[i-1].name {
			return nil, fmt.Errorf("iso9660: directory at block %d: name %q appears twice: %w", d.extent, out[i].name, ErrCorrupt)
		}
	}
	f.mu.Lock()
	if f.nDir+len(out) > 1<<18 {
		f.dirs, f.nDir = map[uint32][]entry{}, 0
	}
	f.dirs[d.extent] = out
	f.nDir += len(out)
	f.mu.Unlock()
	return out, nil
}

// makeEntry resolves a record's name and attributes; skip is set for a
// Rock Ridge relocated directory (RE), which appears under its CL link.
func (f *FS) makeEntry(rec dirRecord) (entry, bool, error) {
	e := entry{isoName: string(rec.name), isDir: rec.isDir, size: int64(rec.size), mtime: rec.mtime, dirRec: rec}
	if f.joliet {
		e.name = jolietName(rec.name)
	} else {
		e.name = isoName(rec.name)
	}
	if !rec.isDir {
		e.extents = []extentRange{{rec.extent, rec.size}}
	} else {
		e.size = 0
	}
	if f.rockRidge {
		rr, err := f.parseSUSP(rec)
		if err != nil {
			return e, false, err
		}
		if rr.relocated {
			return e, true, nil
		}
		if rr.name != "" {
			e.name = rr.name
		}
		if rr.hasPX {
			e.mode, e.hasMode, e.uid, e.gid, e.nlink = rr.mode, true, rr.uid, rr.gid, rr.nlink
			if rr.mode&fs.ModeSymlink != 0 {
				e.isLink = true
			}
		}
		if rr.hasSL {
			e.isLink, e.link = true, rr.link
		}
		if !rr.mtime.IsZero() {
			e.mtime = rr.mtime
		}
		if rr.childLink != 0 {
			first, err := f.firstRecord(dirRecord{extent: rr.childLink, size: uint32(f.bs)})
			if err != nil {
				return e, false, err
			}
			e.isDir, e.dirRec, e.extents, e.size = true, first, nil, 0
		}
	}
	if e.name == "" || e.name == "." || e.name == ".." || strings.ContainsAny(e.name, "/\x00") {
		return e, false, fmt.Errorf("entry name %q invalid: %w", e.name, ErrCorrupt)
	}
	return e, false, nil
}

// rrInfo is what the Rock Ridge entries of one record say.
type rrInfo struct {
	name      string
	mode      fs.FileMode
	uid, gid  uint32
	nlink     uint32
	hasPX     bool
	link      string
	hasSL     bool
	mtime     time.Time
	childLink uint32
	relocated bool
	nameDone  bool
	linkBuf   strings.Builder
	linkCont  bool // the last SL component continues
	linkParts int
}

// parseSUSP reads the SUSP entries of a record, following CE
// continuation areas (bounded).
func (f *FS) parseSUSP(rec dirRecord) (*rrInfo, error) {
	rr := &rrInfo{}
	area := rec.sysUse
	if len(area) >= f.suspSkip {
		area = area[f.suspSkip:]
	} else {
		area = nil
	}
	var name strings.Builder
	for hop := 0; area != nil; hop++ {
		if hop > maxSUSPHops {
			return nil, fmt.Errorf("more than %d SUSP continuation areas: %w", maxSUSPHops, ErrCorrupt)
		}
		var next []byte
		for len(area) >= 4 {
			sig, n := string(area[:2]), int(area[2])
			if n < 4 || n > len(area) {
				break
			}
			d := area[4:n]
			switch sig {
			case "ST":
				area = nil
			case "CE":
				if len(d) >= 24 {
					blk, off, ln := le.Uint32(d[0:]), le.Uint32(d[8:]), le.Uint32(d[16:])
					if int64(off)+int64(ln) > f.bs*4 || ln == 0 {
						return nil, fmt.Errorf("SUSP continuation area %d+%d invalid: %w", off, ln, ErrCorrupt)
					}
					buf := make([]byte, ln)
					if err := f.readAt(buf, int64(blk)*f.bs+int64(off), "SUSP continuation area"); err != nil {
						return nil, err
					}
					next = buf
				}
			case "NM":
				if len(d) >= 1 && !rr.nameDone {
					flags := d[0]
					if flags&0x06 == 0 {
						name.Write(d[1:])
					}
					if flags&0x01 == 0 {
						rr.nameDone = true
					}
				}
			case "PX":
				if len(d) >= 32 {
					rr.hasPX = true
					rr.mode = posixMode(le.Uint32(d[0:]))
					rr.nlink = le.Uint32(d[8:])
					rr.uid = le.Uint32(d[16:])
					rr.gid = le.Uint32(d[24:])
				}
			case "SL":
				if len(d) >= 1 {
					rr.hasSL = true
					parseSL(rr, d[1:])
				}
			case "TF":
				if len(d) >= 1 {
					rr.mtime = tfModify(d)
				}
			case "CL":
				if len(d) >= 8 {
					rr.childLink = le.Uint32(d[0:])
				}
			case "RE":
				rr.relocated = true
			}
			if area == nil {
				break
			}
			area = area[n:]
		}
		area = next
	}
	rr.name = name.String()
	rr.link = rr.linkBuf.String()
	return rr, nil
}

// parseSL appends SL components (RRIP 4.1.3.1): flags 0x01 continue,
// 0x02 ".", 0x04 "..", 0x08 root.
func parseSL(rr *rrInfo, b []byte) {
	for len(b) >= 2 {
		flags, n := b[0], int(b[1])
		if 2+n > len(b) {
			return
		}
		comp := string(b[2 : 2+n])
		b = b[2+n:]
		switch {
		case flags&0x08 != 0:
			rr.linkBuf.Reset()
			rr.linkBuf.WriteString("/")
			rr.linkParts, rr.linkCont = 0, false
			continue
		case flags&0x02 != 0:
			comp = "."
		case flags&0x04 != 0:
			comp = ".."
		}
		if rr.linkParts > 0 && !rr.linkCont {
			if s := rr.linkBuf.String(); !strings.HasSuffix(s, "/") {
				rr.linkBuf.WriteString("/")
			}
		}
		rr.linkBuf.WriteString(comp)
		rr.linkParts++
		rr.linkCont = flags&0x01 != 0
	}
}

// tfModify returns the modification time of a TF entry: flags bit 0
// creation, 1 modify, ...; bit 7 selects 17-byte long-form dates.
func tfModify(d []byte) time.Time {
	flags := d[0]
	size := 7
	if flags&0x80 != 0 {
		size = 17
	}
	off := 1
	if flags&0x01 != 0 {
		off += size
	}
	if flags&0x02 == 0 || off+size > len(d) {
		return time.Time{}
	}
	if size == 7 {
		return recordTime(d[off : off+7])
	}
	return time.Time{} // long form: not used by mkisofs/xorriso for TF
}

// posixMode converts a PX st_mode (RRIP 4.1.1: POSIX st_mode bits) to an
// fs.FileMode; an unknown file type is left as a plain file.
func posixMode(m uint32) fs.FileMode {
	mode, _ := fsview.POSIXMode(m)
	return mode
}

// FileInfo is the fs.FileInfo of an ISO 9660 entry.
type FileInfo struct {
	name    string
	ISOName string // the identifier as recorded, e.g. "ISOLINUX.BIN;1"
	// LBA is the first block of the file's data (of its first extent;
	// files over 4 GiB have several), Extents the number of extents.
	LBA      uint32
	Extents  int
	UID, GID uint32
	Linkname string // Rock Ridge symlink target
	size     int64
	mode     fs.FileMode
	mtime    time.Time
}

func (fi *FileInfo) Name() string       { return fi.name }
func (fi *FileInfo) Size() int64        { return fi.size }
func (fi *FileInfo) Mode() fs.FileMode  { return fi.mode }
func (fi *FileInfo) ModTime() time.Time { return fi.mtime }
func (fi *FileInfo) IsDir() bool        { return fi.mode.IsDir() }
func (fi *FileInfo) Sys() any           { return fi }

func infoOf(e entry) *FileInfo {
	fi := &FileInfo{name: e.name, ISOName: e.isoName, size: e.size, mtime: e.mtime, UID: e.uid, GID: e.gid, Linkname: e.link, Extents: len(e.extents)}
	if len(e.extents) > 0 {
		fi.LBA = e.extents[0].lba
	} else if e.isDir {
		fi.LBA = e.dirRec.extent
	}
	switch {
	case e.hasMode:
		fi.mode = e.mode
	case e.isDir:
		fi.mode = fs.ModeDir | 0o555
	default:
		fi.mode = 0o444
	}
	if e.isDir {
		fi.mode |= fs.ModeDir
	}
	if e.isLink {
		fi.mode = fi.mode&^fs.ModeType | fs.ModeSymlink
		fi.size = int64(len(e.link))
	}
	return fi
}

// lookup finds name in a directory: exact first, then ignoring case.
func (f *FS) lookup(d dirRecord, name string) (entry, bool, error) {
	ents, err := f.readDir(d)
	if err != nil {
		return entry{}, false, err
	}
	i := sort.Search(len(ents), func(i int) bool { return ents[i].name >= name })
	if i < len(ents) && ents[i].name == name {
		return ents[i], true, nil
	}
	for _, e := range ents {
		if strings.EqualFold(e.name, name) {
			return e, true, nil
		}
	}
	return entry{}, false, nil
}

// resolve looks an fs.FS path up; symlinks in the middle are followed,
// the last one only when follow.
func (f *FS) resolve(op, name string, follow bool) (entry, error) {
	if !fs.ValidPath(name) {
		return entry{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	rootEnt := entry{name: ".", isDir: true, dirRec: f.root}
	if f.rockRidge {
		if first, err := f.firstRecord(f.root); err == nil {
			if rr, err := f.parseSUSP(first); err == nil && rr.hasPX {
				rootEnt.mode, rootEnt.hasMode, rootEnt.uid, rootEnt.gid = rr.mode, true, rr.uid, rr.gid
			}
			rootEnt.mtime = first.mtime
		}
	}
	e, err := fsview.Resolve(fsview.Tree[entry]{
		IsDir: func(e entry) bool { return e.isDir },
		Lookup: func(dir entry, name string) (entry, bool, error) {
			return f.lookup(dir.dirRec, name)
		},
		Link: func(e entry) (string, bool, error) { return e.link, e.isLink, nil },
	}, rootEnt, name, follow)
	if err != nil {
		return entry{}, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return e, nil
}

// Stat returns the FileInfo of name, following symlinks.
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	e, err := f.resolve("stat", name, true)
	if err != nil {
		return nil, err
	}
	return infoOf(e), nil
}

// Lstat returns the FileInfo of name without following a final symlink.
func (f *FS) Lstat(name string) (fs.FileInfo, error) {
	e, err := f.resolve("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return infoOf(e), nil
}

// ReadLink returns a Rock Ridge symlink's target.
func (f *FS) ReadLink(name string) (string, error) {
	e, err := f.resolve("readlink", name, false)
	if err != nil {
		return "", err
	}
	if !e.isLink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return e.link, nil
}

// ReadDir lists a directory sorted by name.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	e, err := f.resolve("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if !e.isDir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fsview.ErrNotDir}
	}
	ents, err := f.readDir(e.dirRec)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	out := make([]fs.DirEntry, len(ents))
	for i, c := range ents {
		out[i] = fs.FileInfoToDirEntry(infoOf(c))
	}
	return out, nil
}

// ReadFile returns the content of the file name.
func (f *FS) ReadFile(name string) ([]byte, error) {
	fl, err := f.Open(name)
	if err != nil {
		return nil, err
	}
	defer fl.Close()
	file, ok := fl.(*File)
	if !ok {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: errors.New("not a regular file")}
	}
	if file.fi.size > 1<<30 {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: fmt.Errorf("%d bytes is more than ReadFile loads at once", file.fi.size)}
	}
	if f.size > 0 && file.fi.size > f.size {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: fmt.Errorf("iso9660: %d bytes is more than the %d-byte image holds: %w", file.fi.size, f.size, ErrCorrupt)}
	}
	b := make([]byte, file.fi.size)
	if _, err := file.ReadAt(b, 0); err != nil && err != io.EOF {
		return nil, err
	}
	return b, nil
}

// Open opens name (symlinks followed). Files implement io.ReaderAt and
// io.Seeker; directories fs.ReadDirFile.
func (f *FS) Open(name string) (fs.File, error) {
	e, err := f.resolve("open", name, true)
	if err != nil {
		return nil, err
	}
	fi := infoOf(e)
	if e.isDir {
		return &fsview.DirFile{Name: name, Info: fi, List: func() ([]fs.DirEntry, error) { return f.ReadDir(name) }}, nil
	}
	return &File{f: f, name: name, fi: fi, extents: e.extents}, nil
}

// File is an open file.
type File struct {
	f       *FS
	name    string
	fi      *FileInfo
	extents []extentRange
	off     int64
}

func (fl *File) Stat() (fs.FileInfo, error) { return fl.fi, nil }
func (fl *File) Close() error               { return nil }

func (fl *File) Read(p []byte) (int, error) {
	n, err := fl.ReadAt(p, fl.off)
	fl.off += int64(n)
	return n, err
}

// ReadAt reads at off.
func (fl *File) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: fl.name, Err: fs.ErrInvalid}
	}
	size := fl.fi.size
	if off >= size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	want := p[:min(int64(len(p)), size-off)]
	n := 0
	base := int64(0)
	for _, x := range fl.extents {
		end := base + int64(x.size)
		pos := off + int64(n)
		if n < len(want) && pos < end {
			k := min(int64(len(want)-n), end-pos)
			if err := fl.f.readAt(want[n:n+int(k)], int64(x.lba)*fl.f.bs+(pos-base), "file "+fl.name); err != nil {
				return n, &fs.PathError{Op: "read", Path: fl.name, Err: err}
			}
			n += int(k)
		}
		base = end
	}
	if n < len(want) {
		return n, &fs.PathError{Op: "read", Path: fl.name, Err: fmt.Errorf("extents end before the size: %w", ErrCorrupt)}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Seek sets the offset for the next Read.
func (fl *File) Seek(offset int64, whence int) (int64, error) {
	off, err := fsview.Seek(fl.name, fl.off, fl.fi.size, offset, whence)
	if err != nil {
		return 0, err
	}
	fl.off = off
	return off, nil
}

// Walk calls fn for every entry below the root, depth-first in name order,
// with its slash-separated path; symlinks are not followed. A directory
// reached twice is an error (a loop).
func (f *FS) Walk(fn func(name string, fi *FileInfo) error) error {
	seen := map[uint32]bool{f.root.extent: true}
	var walk func(dir string, d dirRecord, depth int) error
	walk = func(dir string, d dirRecord, depth int) error {
		ents, err := f.readDir(d)
		if err != nil {
			return err
		}
		for _, e := range ents {
			p := path.Join(dir, e.name)
			if err := fn(p, infoOf(e)); err != nil {
				return err
			}
			if e.isDir && !e.isLink {
				if seen[e.dirRec.extent] {
					return fmt.Errorf("iso9660: %s: directory at block %d reached twice (a loop): %w", p, e.dirRec.extent, ErrCorrupt)
				}
				seen[e.dirRec.extent] = true
				if err := walk(p, e.dirRec, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk("", f.root, 0)
}
