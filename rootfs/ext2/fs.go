package ext2

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"time"

	"github.com/minidisk/minidisk/rootfs"
	"github.com/minidisk/minidisk/rootfs/internal/fsview"
)

var (
	errNotExist = fs.ErrNotExist
	errNotDir   = fsview.ErrNotDir
	errLoop     = fsview.ErrLoop
	errSocket   = errors.New("socket")
)

// The Reader is an io/fs filesystem: names are fs.FS style ("bin/busybox",
// "." for the root).
var (
	_ fs.FS         = (*Reader)(nil)
	_ fs.ReadDirFS  = (*Reader)(nil)
	_ fs.StatFS     = (*Reader)(nil)
	_ fs.ReadLinkFS = (*Reader)(nil)
	_ fs.ReadFileFS = (*Reader)(nil)
)

func pathErr(op, name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return err
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// fsResolve validates an fs.FS name and resolves it.
func (r *Reader) fsResolve(op, name string, follow bool) (string, uint32, *Inode, error) {
	if !fs.ValidPath(name) {
		return "", 0, nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	abs := path.Join("/", name)
	ino, in, err := r.resolve(abs, follow)
	if err != nil {
		return "", 0, nil, pathErr(op, name, err)
	}
	return abs, ino, in, nil
}

// fileInfo is an fs.FileInfo whose Sys() is the *rootfs.Header.
type fileInfo struct {
	h     *rootfs.Header
	ino   uint32
	size  int64 // i_size as ls shows it (directories: their block bytes)
	mode  fs.FileMode
	nlink uint16
	// socket entries have no Header type; h.Type is 0 for them.
}

func (fi *fileInfo) Name() string {
	if fi.h.Name == "/" {
		return "."
	}
	return path.Base(fi.h.Name)
}
func (fi *fileInfo) Size() int64        { return fi.size }
func (fi *fileInfo) Mode() fs.FileMode  { return fi.mode }
func (fi *fileInfo) ModTime() time.Time { return fi.h.ModTime }
func (fi *fileInfo) IsDir() bool        { return fi.mode.IsDir() }
func (fi *fileInfo) Sys() any           { return fi.h }

// Ino is the inode number (for ls -i and doctor).
func (fi *fileInfo) Ino() uint32 { return fi.ino }

// Nlink is i_links_count.
func (fi *fileInfo) Nlink() uint16 { return fi.nlink }

// fsMode converts i_mode (the POSIX st_mode bits) to an fs.FileMode; a
// file type outside the seven POSIX ones is fs.ModeIrregular.
func fsMode(m uint16) fs.FileMode {
	mode, known := fsview.POSIXMode(uint32(m))
	if !known {
		mode |= fs.ModeIrregular
	}
	return mode
}

func (r *Reader) info(abs string, ino uint32, in *Inode) (*fileInfo, error) {
	h, err := r.header(abs, ino, in)
	if err != nil {
		if !errors.Is(err, errSocket) {
			return nil, err
		}
		h = &rootfs.Header{Name: abs, Mode: uint32(in.Mode) & 0o7777, Uid: in.UID(), Gid: in.GID(), ModTime: r.inodeMtime(in)}
	}
	return &fileInfo{h: h, ino: ino, size: int64(r.fileSize(in)), mode: fsMode(in.Mode), nlink: in.LinksCount}, nil
}

// Stat returns the file info of name, following symlinks.
func (r *Reader) Stat(name string) (fs.FileInfo, error) {
	abs, ino, in, err := r.fsResolve("stat", name, true)
	if err != nil {
		return nil, err
	}
	fi, err := r.info(abs, ino, in)
	if err != nil {
		return nil, pathErr("stat", name, err)
	}
	return fi, nil
}

// Lstat returns the file info of name; a final symlink is not followed.
func (r *Reader) Lstat(name string) (fs.FileInfo, error) {
	abs, ino, in, err := r.fsResolve("lstat", name, false)
	if err != nil {
		return nil, err
	}
	fi, err := r.info(abs, ino, in)
	if err != nil {
		return nil, pathErr("lstat", name, err)
	}
	return fi, nil
}

// ReadLink returns the target of the symlink name.
func (r *Reader) ReadLink(name string) (string, error) {
	_, ino, in, err := r.fsResolve("readlink", name, false)
	if err != nil {
		return "", err
	}
	if in.FileFormat() != ModeLink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	t, err := r.readSymlink(ino, in)
	if err != nil {
		return "", pathErr("readlink", name, err)
	}
	return t, nil
}

// ReadDir lists the directory name sorted by file name.
func (r *Reader) ReadDir(name string) ([]fs.DirEntry, error) {
	abs, ino, in, err := r.fsResolve("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if !in.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errNotDir}
	}
	return r.dirEntries(name, abs, ino, in)
}

func (r *Reader) dirEntries(name, abs string, ino uint32, in *Inode) ([]fs.DirEntry, error) {
	ents, err := r.readDir(ino, in, nil)
	if err != nil {
		return nil, pathErr("readdir", name, err)
	}
	out := make([]fs.DirEntry, 0, len(ents))
	for _, e := range ents {
		cin, err := r.ReadInode(e.ino)
		if err != nil {
			return nil, pathErr("readdir", name, err)
		}
		fi, err := r.info(path.Join(abs, e.name), e.ino, cin)
		if err != nil {
			return nil, pathErr("readdir", name, err)
		}
		out = append(out, fs.FileInfoToDirEntry(fi))
	}
	return out, nil
}

// ReadFile returns the content of the regular file name (symlinks followed).
func (r *Reader) ReadFile(name string) ([]byte, error) {
	_, ino, in, err := r.fsResolve("readfile", name, true)
	if err != nil {
		return nil, err
	}
	if in.FileFormat() != ModeReg {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: errors.New("not a regular file")}
	}
	size := in.Size()
	if size > maxReadFile {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: fmt.Errorf("%d bytes is more than ReadFile loads at once (read it through Open)", size)}
	}
	b := make([]byte, size)
	if _, err := r.readInodeAt(ino, in, b, 0, new(mapCache)); err != nil && err != io.EOF {
		return nil, pathErr("readfile", name, err)
	}
	return b, nil
}

// Open opens name, following symlinks. Regular files implement io.ReaderAt
// and io.Seeker; directories implement fs.ReadDirFile.
func (r *Reader) Open(name string) (fs.File, error) {
	abs, ino, in, err := r.fsResolve("open", name, true)
	if err != nil {
		return nil, err
	}
	fi, err := r.info(abs, ino, in)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	switch in.FileFormat() {
	case ModeReg:
		return &regularFile{r: r, name: name, ino: ino, in: in, fi: fi, cache: new(mapCache)}, nil
	case ModeDir:
		return &fsview.DirFile{Name: name, Info: fi, List: func() ([]fs.DirEntry, error) {
			return r.dirEntries(name, abs, ino, in)
		}}, nil
	}
	return &specialFile{name: name, fi: fi}, nil
}

// regularFile is an open regular file (what Open returns for one).
type regularFile struct {
	r      *Reader
	name   string
	ino    uint32
	in     *Inode
	fi     *fileInfo
	off    int64
	cache  *mapCache
	closed bool
}

var (
	_ io.ReaderAt = (*regularFile)(nil)
	_ io.Seeker   = (*regularFile)(nil)
)

func (f *regularFile) Stat() (fs.FileInfo, error) { return f.fi, nil }
func (f *regularFile) Close() error {
	if f.closed {
		return &fs.PathError{Op: "close", Path: f.name, Err: fs.ErrClosed}
	}
	f.closed = true
	return nil
}

// Read reads from the current offset.
func (f *regularFile) Read(p []byte) (int, error) {
	n, err := f.read(p, f.off)
	f.off += int64(n)
	return n, err
}

// ReadAt reads at off. Concurrent ReadAt calls on one file are not safe
// (they share an indirect-block cache); open the file once per goroutine.
func (f *regularFile) ReadAt(p []byte, off int64) (int, error) { return f.read(p, off) }

func (f *regularFile) read(p []byte, off int64) (int, error) {
	if f.closed {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: fs.ErrClosed}
	}
	if len(p) == 0 {
		return 0, nil
	}
	n, err := f.r.readInodeAt(f.ino, f.in, p, off, f.cache)
	if err != nil && err != io.EOF {
		err = pathErr("read", f.name, err)
	}
	return n, err
}

// Seek sets the offset for the next Read.
func (f *regularFile) Seek(offset int64, whence int) (int64, error) {
	off, err := fsview.Seek(f.name, f.off, int64(f.in.Size()), offset, whence)
	if err != nil {
		return 0, err
	}
	f.off = off
	return off, nil
}

// specialFile is an open device node, FIFO or socket: stat only.
type specialFile struct {
	name string
	fi   *fileInfo
}

func (s *specialFile) Stat() (fs.FileInfo, error) { return s.fi, nil }
func (s *specialFile) Close() error               { return nil }
func (s *specialFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: s.name, Err: errors.New("not a regular file (device, FIFO or socket)")}
}
