package fat

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/minidisk/minidisk/rootfs/internal/fsview"
)

// ErrPastPartitionEnd is wrapped by read errors for bytes beyond the size
// given to Open.
var ErrPastPartitionEnd = errors.New("past the partition end")

// maxDirEntries is the FAT limit on entries in one directory (fatgen103:
// 65,536 32-byte entries); longer directory chains are corruption.
const maxDirEntries = 65536

// FS is an open FAT filesystem. It is safe for concurrent use.
type FS struct {
	r          io.ReaderAt
	base, size int64
	bpb        *BPB
	g          *geometry

	mu     sync.Mutex
	window []byte // cached FAT bytes
	winOff int64  // FAT byte offset of window (-1: empty)

	dirMu sync.Mutex
	dirs  map[dirRef][]entry // parsed directories, for path lookups
	nDir  int
}

// The FS is an io/fs filesystem.
var (
	_ fs.FS         = (*FS)(nil)
	_ fs.ReadDirFS  = (*FS)(nil)
	_ fs.StatFS     = (*FS)(nil)
	_ fs.ReadFileFS = (*FS)(nil)
)

// Open reads the boot sector of the FAT filesystem at byte base of r.
// size is the partition's size in bytes: reads beyond it fail with an
// error wrapping ErrPastPartitionEnd; size <= 0 means no limit.
func Open(r io.ReaderAt, base, size int64) (*FS, error) {
	if base < 0 {
		return nil, fmt.Errorf("fat: negative offset %d", base)
	}
	f := &FS{r: r, base: base, size: size, winOff: -1}
	s := make([]byte, 512)
	if err := f.readAt(s, 0, "boot sector"); err != nil {
		return nil, err
	}
	b, g, err := parseBPB(s)
	if err != nil {
		return nil, err
	}
	f.bpb, f.g = b, g
	return f, nil
}

// BPB returns the parsed BIOS parameter block (do not modify it).
func (f *FS) BPB() *BPB { return f.bpb }

// Type is 12, 16 or 32.
func (f *FS) Type() int { return f.g.fatType }

// ClusterSize is the cluster size in bytes.
func (f *FS) ClusterSize() int { return int(f.g.clusterSize) }

// Clusters is the number of data clusters (valid numbers 2..Clusters()+1).
func (f *FS) Clusters() uint32 { return f.g.clusters }

// CountOfClusters is the FAT specification's count of data clusters, from
// the BPB alone: the number firmware compares with MinFAT16Clusters and
// MinFAT32Clusters. It exceeds Clusters when the FAT has fewer entries than
// the data area has clusters.
func (f *FS) CountOfClusters() uint32 { return f.g.countOfClusters }

// Label is the volume label: the root directory's volume-ID entry, which
// Windows and mlabel keep current, else the BPB's copy.
func (f *FS) Label() string {
	ents, err := f.readDir(f.rootRef())
	if err == nil {
		for _, e := range ents {
			if e.volume {
				return strings.TrimRight(e.short, " ")
			}
		}
	}
	return f.bpb.VolumeLabel
}

func (f *FS) readAt(b []byte, off int64, what string) error {
	end := off + int64(len(b))
	if f.size > 0 && end > f.size {
		return fmt.Errorf("fat: %s at bytes %d..%d lies %w (%d bytes)", what, off, end, ErrPastPartitionEnd, f.size)
	}
	n, err := f.r.ReadAt(b, f.base+off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		return fmt.Errorf("fat: %s at bytes %d..%d: image too short (read %d of %d bytes)", what, off, end, n, len(b))
	}
	return fmt.Errorf("fat: %s at byte %d: %w", what, off, err)
}

// fatByte returns byte i of the active FAT through a 4 KiB window.
func (f *FS) fatByte(i int64) (byte, error) {
	const win = 4096
	if i < 0 || i >= f.g.fatBytes {
		return 0, fmt.Errorf("fat: FAT byte %d beyond the %d-byte FAT: %w", i, f.g.fatBytes, ErrCorrupt)
	}
	w := i / win * win
	if f.winOff != w {
		n := min(win, f.g.fatBytes-w)
		if f.window == nil {
			f.window = make([]byte, win)
		}
		if err := f.readAt(f.window[:n], f.g.fatStart+w, "FAT"); err != nil {
			f.winOff = -1
			return 0, err
		}
		f.winOff = w
	}
	return f.window[i-w], nil
}

// next returns the FAT entry of cluster c (the next cluster of its chain).
func (f *FS) next(c uint32) (uint32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var v uint32
	switch f.g.fatType {
	case 12:
		off := int64(c) + int64(c)/2
		lo, err := f.fatByte(off)
		if err != nil {
			return 0, err
		}
		hi, err := f.fatByte(off + 1)
		if err != nil {
			return 0, err
		}
		v = uint32(lo) | uint32(hi)<<8
		if c&1 == 1 {
			v >>= 4
		}
		v &= 0xFFF
	case 16:
		for k := int64(1); k >= 0; k-- {
			b, err := f.fatByte(2*int64(c) + k)
			if err != nil {
				return 0, err
			}
			v = v<<8 | uint32(b)
		}
	default:
		for k := int64(3); k >= 0; k-- {
			b, err := f.fatByte(4*int64(c) + k)
			if err != nil {
				return 0, err
			}
			v = v<<8 | uint32(b)
		}
		v &= 0x0FFFFFFF
	}
	return v, nil
}

// isEOC reports an end-of-chain mark (and treats the bad-cluster mark,
// which no chain may contain, as corruption by the caller's range check).
func (f *FS) isEOC(v uint32) bool {
	switch f.g.fatType {
	case 12:
		return v >= 0xFF8
	case 16:
		return v >= 0xFFF8
	}
	return v >= 0x0FFFFFF8
}

func (f *FS) validCluster(c uint32) bool { return c >= 2 && c <= f.g.clusters+1 }

// chain follows the cluster chain from first for at most limit clusters
// (stopping early at an end-of-chain mark). A cluster met twice, a free or
// bad entry, or a number outside the data area is corruption.
func (f *FS) chain(first uint32, limit int64, what string) ([]uint32, error) {
	var out []uint32
	seen := map[uint32]bool{}
	c := first
	for int64(len(out)) < limit {
		if !f.validCluster(c) {
			return out, fmt.Errorf("fat: %s: cluster %d outside the data area 2..%d: %w", what, c, f.g.clusters+1, ErrCorrupt)
		}
		if seen[c] {
			return out, fmt.Errorf("fat: %s: cluster chain loops at cluster %d: %w", what, c, ErrCorrupt)
		}
		seen[c] = true
		out = append(out, c)
		n, err := f.next(c)
		if err != nil {
			return out, err
		}
		if f.isEOC(n) {
			break
		}
		c = n
	}
	return out, nil
}

// ClusterOffset is the byte offset of data cluster c from the start of
// the filesystem (what a boot sector's sector list must point at, e.g.
// SYSLINUX's ldlinux.sys); an error for a number outside 2..Clusters()+1.
func (f *FS) ClusterOffset(c uint32) (int64, error) {
	if !f.validCluster(c) {
		return 0, fmt.Errorf("fat: cluster %d outside the data area 2..%d", c, f.g.clusters+1)
	}
	return f.clusterOffset(c), nil
}

func (f *FS) clusterOffset(c uint32) int64 {
	return f.g.dataStart + int64(c-2)*f.g.clusterSize
}

// dirRef names a directory's storage: the FAT12/16 fixed root, or a chain.
type dirRef struct {
	fixedRoot bool
	cluster   uint32
	path      string
}

func (f *FS) rootRef() dirRef {
	if f.g.fatType == 32 {
		return dirRef{cluster: f.bpb.RootCluster, path: "/"}
	}
	return dirRef{fixedRoot: true, path: "/"}
}

// entry is one directory entry with its long name assembled.
type entry struct {
	name    string // long name if valid, else the short name
	short   string // 8.3 name as "NAME.EXT" (lowercase bits applied)
	attr    uint8
	cluster uint32
	size    uint32
	mtime   time.Time
	volume  bool
}

// Directory entry attributes (DIR_Attr).
const (
	AttrReadOnly  = 0x01
	AttrHidden    = 0x02
	AttrSystem    = 0x04
	AttrVolumeID  = 0x08
	AttrDirectory = 0x10
	AttrArchive   = 0x20
	// AttrLongName (read-only, hidden, system and volume ID at once) marks
	// a VFAT long-name slot, which only the low 6 bits tell.
	AttrLongName = 0x0F
)

// The 32-byte short-name directory entry: its fields' byte offsets, the
// one place they are written down (fatgen103, "FAT Directory Structure";
// the spec's names in the comments, with the field's size in bytes). The
// reader here decodes entries with them; efi stamps times and cluster
// numbers into the entries go-diskfs wrote with the exported ones. Long-name slots overlay other
// fields (LDIR_*) and are decoded in readDir.
const (
	DirEntrySize              = 32
	OffsetDirName             = 0  // DIR_Name, 11: 8 + 3 characters, space padded
	OffsetDirAttr             = 11 // DIR_Attr, 1
	offsetDirNTRes            = 12 // DIR_NTRes, 1: Windows NT lowercase bits
	OffsetDirCreateTimeTenth  = 13 // DIR_CrtTimeTenth, 1
	OffsetDirCreateTime       = 14 // DIR_CrtTime, 2
	OffsetDirCreateDate       = 16 // DIR_CrtDate, 2
	OffsetDirAccessDate       = 18 // DIR_LstAccDate, 2
	OffsetDirFirstClusterHigh = 20 // DIR_FstClusHI, 2 (FAT32; 0 on FAT12/16)
	OffsetDirWriteTime        = 22 // DIR_WrtTime, 2
	OffsetDirWriteDate        = 24 // DIR_WrtDate, 2
	OffsetDirFirstClusterLow  = 26 // DIR_FstClusLO, 2
	offsetDirFileSize         = 28 // DIR_FileSize, 4
)

// Markers in the first byte of DIR_Name.
const (
	DirNameEnd     = 0x00 // this entry and every later one in the directory are free
	DirNameDeleted = 0xE5 // a deleted entry
)

// readDirBytes returns a directory's raw entries.
func (f *FS) readDirBytes(d dirRef) ([]byte, error) {
	if d.fixedRoot {
		b := make([]byte, f.g.rootEntries*DirEntrySize)
		if err := f.readAt(b, f.g.rootStart, "root directory"); err != nil {
			return nil, err
		}
		return b, nil
	}
	limit := (maxDirEntries*DirEntrySize + f.g.clusterSize - 1) / f.g.clusterSize
	cl, err := f.chain(d.cluster, limit+1, "directory "+d.path)
	if err != nil {
		return nil, err
	}
	if int64(len(cl)) > limit {
		return nil, fmt.Errorf("fat: directory %s: more than %d entries: %w", d.path, maxDirEntries, ErrCorrupt)
	}
	b := make([]byte, int64(len(cl))*f.g.clusterSize)
	for i, c := range cl {
		if err := f.readAt(b[int64(i)*f.g.clusterSize:int64(i+1)*f.g.clusterSize], f.clusterOffset(c), "directory "+d.path); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// readDir parses a directory: deleted entries, "." and ".." are skipped;
// long-name runs whose order or checksum do not match their short entry
// are ignored (the short name is used), as the Linux vfat driver does.
func (f *FS) readDir(d dirRef) ([]entry, error) {
	key := dirRef{fixedRoot: d.fixedRoot, cluster: d.cluster}
	f.dirMu.Lock()
	ents, ok := f.dirs[key]
	f.dirMu.Unlock()
	if ok {
		return ents, nil
	}
	ents, err := f.parseDir(d)
	if err != nil {
		return nil, err
	}
	f.dirMu.Lock()
	if f.dirs == nil || f.nDir+len(ents) > 1<<18 {
		f.dirs, f.nDir = map[dirRef][]entry{}, 0
	}
	f.dirs[key] = ents
	f.nDir += len(ents)
	f.dirMu.Unlock()
	return ents, nil
}

func (f *FS) parseDir(d dirRef) ([]entry, error) {
	raw, err := f.readDirBytes(d)
	if err != nil {
		return nil, err
	}
	var out []entry
	var lfn []uint16 // assembled UTF-16, in order
	lfnSum, lfnNext := -1, 0
	for off := 0; off+DirEntrySize <= len(raw); off += DirEntrySize {
		e := raw[off : off+DirEntrySize]
		if e[OffsetDirName] == DirNameEnd {
			break
		}
		if e[OffsetDirName] == DirNameDeleted {
			lfnSum, lfnNext = -1, 0
			continue
		}
		attr := e[OffsetDirAttr]
		if attr&0x3F == AttrLongName {
			ord := int(e[0] & 0x1F)
			if e[0]&0x40 != 0 {
				lfn = make([]uint16, 13*ord)
				lfnSum, lfnNext = int(e[13]), ord
			}
			if lfnSum < 0 || ord != lfnNext || ord == 0 || int(e[13]) != lfnSum {
				lfnSum, lfnNext = -1, 0
				continue
			}
			part := lfn[(ord-1)*13:]
			for i := 0; i < 5; i++ {
				part[i] = le.Uint16(e[1+2*i:])
			}
			for i := 0; i < 6; i++ {
				part[5+i] = le.Uint16(e[14+2*i:])
			}
			for i := 0; i < 2; i++ {
				part[11+i] = le.Uint16(e[28+2*i:])
			}
			lfnNext--
			continue
		}
		ent := entry{attr: attr, short: shortName(e), size: le.Uint32(e[offsetDirFileSize:]),
			mtime: fatTime(le.Uint16(e[OffsetDirWriteDate:]), le.Uint16(e[OffsetDirWriteTime:]))}
		ent.cluster = uint32(le.Uint16(e[OffsetDirFirstClusterLow:]))
		if f.g.fatType == 32 {
			ent.cluster |= uint32(le.Uint16(e[OffsetDirFirstClusterHigh:])) << 16
		}
		ent.name = ent.short
		if lfnSum >= 0 && lfnNext == 0 && int(shortSum(e[:11])) == lfnSum {
			n := 0
			for n < len(lfn) && lfn[n] != 0 {
				n++
			}
			if n > 0 {
				ent.name = string(utf16.Decode(lfn[:n]))
			}
		}
		lfnSum, lfnNext = -1, 0
		if attr&AttrVolumeID != 0 {
			if attr&AttrDirectory == 0 {
				ent.volume = true
				out = append(out, ent)
			}
			continue
		}
		if ent.short == "." || ent.short == ".." {
			continue
		}
		if ent.name == "" || strings.ContainsAny(ent.name, "/\x00") || ent.name == "." || ent.name == ".." {
			return nil, fmt.Errorf("fat: directory %s: entry name %q invalid: %w", d.path, ent.name, ErrCorrupt)
		}
		out = append(out, ent)
	}
	return out, nil
}

// shortSum is the VFAT checksum of an 11-byte short name, stored in each
// of its long-name entries.
func shortSum(name []byte) uint8 {
	var s uint8
	for _, c := range name {
		s = (s&1)<<7 + s>>1 + c
	}
	return s
}

// shortName decodes an 8.3 name: trailing spaces dropped, 0x05 in the
// first byte standing for 0xE5, the Windows NT lowercase flags (DIR_NTRes:
// 0x08 base, 0x10 extension) applied, code page 437 for bytes >= 0x80.
func shortName(e []byte) string {
	raw := make([]byte, 11)
	copy(raw, e[OffsetDirName:OffsetDirName+11])
	if raw[0] == 0x05 {
		raw[0] = DirNameDeleted
	}
	base := strings.TrimRight(cp437(raw[:8]), " ")
	ext := strings.TrimRight(cp437(raw[8:11]), " ")
	if e[offsetDirNTRes]&0x08 != 0 {
		base = strings.ToLower(base)
	}
	if e[offsetDirNTRes]&0x10 != 0 {
		ext = strings.ToLower(ext)
	}
	if ext == "" {
		return base
	}
	return base + "." + ext
}

const cp437High = "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0"

var cp437Runes = []rune(cp437High)

func cp437(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		if c < 0x80 {
			sb.WriteByte(c)
		} else {
			sb.WriteRune(cp437Runes[c-0x80])
		}
	}
	return sb.String()
}

// fatTime decodes a FAT date and time (local time of the writer; read as
// UTC): date bits 15..9 years since 1980, 8..5 month, 4..0 day; time bits
// 15..11 hours, 10..5 minutes, 4..0 seconds/2.
func fatTime(date, tm uint16) time.Time {
	if date == 0 {
		return time.Time{}
	}
	return time.Date(1980+int(date>>9), time.Month(date>>5&0xF), int(date&0x1F),
		int(tm>>11), int(tm>>5&0x3F), 2*int(tm&0x1F), 0, time.UTC)
}

// lookup finds name in directory d: an exact match first, else the one
// entry whose long or short name matches ignoring case (as firmware,
// SYSLINUX and the vfat driver find files).
func (f *FS) lookup(d dirRef, name string) (entry, bool, error) {
	ents, err := f.readDir(d)
	if err != nil {
		return entry{}, false, err
	}
	for _, e := range ents {
		if !e.volume && e.name == name {
			return e, true, nil
		}
	}
	for _, e := range ents {
		if !e.volume && (strings.EqualFold(e.name, name) || strings.EqualFold(e.short, name)) {
			return e, true, nil
		}
	}
	return entry{}, false, nil
}

// resolve walks an fs.FS path from the root. The root itself is a
// synthetic directory entry.
func (f *FS) resolve(op, name string) (entry, dirRef, error) {
	if !fs.ValidPath(name) {
		return entry{}, dirRef{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	cur := entry{name: ".", attr: AttrDirectory}
	ref := f.rootRef()
	if name == "." {
		return cur, ref, nil
	}
	parts := strings.Split(name, "/")
	for i, p := range parts {
		if cur.attr&AttrDirectory == 0 {
			return entry{}, dirRef{}, &fs.PathError{Op: op, Path: name, Err: errors.New("not a directory")}
		}
		e, ok, err := f.lookup(ref, p)
		if err != nil {
			return entry{}, dirRef{}, &fs.PathError{Op: op, Path: name, Err: err}
		}
		if !ok {
			return entry{}, dirRef{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		cur = e
		if e.attr&AttrDirectory != 0 {
			// A ".." entry with cluster 0 means the root; a subdirectory
			// with cluster 0 is corrupt (it would alias the root).
			if e.cluster == 0 {
				return entry{}, dirRef{}, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("fat: directory %s has no cluster: %w", strings.Join(parts[:i+1], "/"), ErrCorrupt)}
			}
			ref = dirRef{cluster: e.cluster, path: "/" + strings.Join(parts[:i+1], "/")}
		}
	}
	return cur, ref, nil
}

// FileInfo is the fs.FileInfo of a FAT entry.
type FileInfo struct {
	name      string
	ShortName string // the 8.3 name as stored ("BOOTX64.EFI")
	Attr      uint8  // Attr* bits
	Cluster   uint32 // first cluster (0 for an empty file)
	size      int64
	mtime     time.Time
}

func (fi *FileInfo) Name() string       { return fi.name }
func (fi *FileInfo) Size() int64        { return fi.size }
func (fi *FileInfo) ModTime() time.Time { return fi.mtime }
func (fi *FileInfo) IsDir() bool        { return fi.Attr&AttrDirectory != 0 }
func (fi *FileInfo) Sys() any           { return fi }

// Mode is 0755 for directories, 0444 for read-only files, else 0644.
func (fi *FileInfo) Mode() fs.FileMode {
	switch {
	case fi.IsDir():
		return fs.ModeDir | 0o755
	case fi.Attr&AttrReadOnly != 0:
		return 0o444
	}
	return 0o644
}

func infoOf(e entry) *FileInfo {
	size := int64(e.size)
	if e.attr&AttrDirectory != 0 {
		size = 0
	}
	return &FileInfo{name: e.name, ShortName: e.short, Attr: e.attr, Cluster: e.cluster, size: size, mtime: e.mtime}
}

// Stat returns the FileInfo of name.
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	e, _, err := f.resolve("stat", name)
	if err != nil {
		return nil, err
	}
	return infoOf(e), nil
}

// ReadDir lists a directory, sorted by name.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	e, ref, err := f.resolve("readdir", name)
	if err != nil {
		return nil, err
	}
	if e.attr&AttrDirectory == 0 {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	ents, err := f.readDir(ref)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	out := make([]fs.DirEntry, 0, len(ents))
	for _, e := range ents {
		if !e.volume {
			out = append(out, fs.FileInfoToDirEntry(infoOf(e)))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
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
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: errors.New("is a directory")}
	}
	if f.size > 0 && file.fi.size > f.size {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: fmt.Errorf("fat: %d bytes is more than the %d-byte partition holds: %w", file.fi.size, f.size, ErrCorrupt)}
	}
	b := make([]byte, file.fi.size)
	if _, err := file.ReadAt(b, 0); err != nil && err != io.EOF {
		return nil, err
	}
	return b, nil
}

// Open opens name. Files implement io.ReaderAt and io.Seeker; directories
// fs.ReadDirFile.
func (f *FS) Open(name string) (fs.File, error) {
	e, _, err := f.resolve("open", name)
	if err != nil {
		return nil, err
	}
	fi := infoOf(e)
	if fi.IsDir() {
		return &fsview.DirFile{Name: name, Info: fi, List: func() ([]fs.DirEntry, error) { return f.ReadDir(name) }}, nil
	}
	file := &File{f: f, name: name, fi: fi}
	if e.size > 0 {
		need := (int64(e.size) + f.g.clusterSize - 1) / f.g.clusterSize
		if need > int64(f.g.clusters) {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("fat: %d bytes need more clusters than the filesystem's %d: %w", e.size, f.g.clusters, ErrCorrupt)}
		}
		cl, err := f.chain(e.cluster, need, name)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		if int64(len(cl)) < need {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("fat: cluster chain of %d clusters ends before the %d-byte size: %w", len(cl), e.size, ErrCorrupt)}
		}
		file.clusters = cl
	}
	return file, nil
}

// File is an open regular file.
type File struct {
	f        *FS
	name     string
	fi       *FileInfo
	clusters []uint32
	off      int64
}

func (fl *File) Stat() (fs.FileInfo, error) { return fl.fi, nil }
func (fl *File) Close() error               { return nil }

// Clusters returns the file's cluster chain (the clusters holding its
// bytes, in order).
func (fl *File) Clusters() []uint32 { return fl.clusters }

func (fl *File) Read(p []byte) (int, error) {
	n, err := fl.ReadAt(p, fl.off)
	fl.off += int64(n)
	return n, err
}

// ReadAt reads at off; contiguous clusters are read with one ReadAt.
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
	cs := fl.f.g.clusterSize
	n := 0
	for n < len(want) {
		pos := off + int64(n)
		i := pos / cs
		in := pos % cs
		run := int64(1)
		for i+run < int64(len(fl.clusters)) && fl.clusters[i+run] == fl.clusters[i]+uint32(run) && run*cs-in < int64(len(want)-n) {
			run++
		}
		k := min(int64(len(want)-n), run*cs-in)
		if err := fl.f.readAt(want[n:n+int(k)], fl.f.clusterOffset(fl.clusters[i])+in, "file "+fl.name); err != nil {
			return n, &fs.PathError{Op: "read", Path: fl.name, Err: err}
		}
		n += int(k)
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

// Walk calls fn for every file and directory below the root (not the root
// itself), depth-first in ReadDir order, with its slash-separated path. A
// directory reached twice (a loop through cluster numbers) is an error.
func (f *FS) Walk(fn func(name string, fi *FileInfo) error) error {
	seen := map[uint32]bool{}
	var walk func(dir string, ref dirRef) error
	walk = func(dir string, ref dirRef) error {
		cached, err := f.readDir(ref)
		if err != nil {
			return err
		}
		ents := slices.Clone(cached) // the cache's slice is shared
		sort.Slice(ents, func(i, j int) bool { return ents[i].name < ents[j].name })
		for _, e := range ents {
			if e.volume {
				continue
			}
			p := path.Join(dir, e.name)
			if err := fn(p, infoOf(e)); err != nil {
				return err
			}
			if e.attr&AttrDirectory != 0 {
				if e.cluster == 0 || seen[e.cluster] {
					return fmt.Errorf("fat: directory %s: cluster %d reached twice (a directory loop): %w", p, e.cluster, ErrCorrupt)
				}
				seen[e.cluster] = true
				if err := walk(p, dirRef{cluster: e.cluster, path: "/" + p}); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk("", f.rootRef())
}
