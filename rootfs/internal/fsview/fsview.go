// Package fsview holds the io/fs plumbing that the read-only filesystem
// readers (rootfs/ext2, rootfs/fat, rootfs/iso9660) share: the open
// directory handle, Seek arithmetic, and path resolution with symlinks.
// What a directory entry, a block or a link is stays in each reader; this
// package only sees them through callbacks.
package fsview

import (
	"errors"
	"io"
	"io/fs"
	"strings"
)

var (
	// ErrNotDir is returned when a path goes through, or ReadDir is asked
	// for, something that is not a directory.
	ErrNotDir = errors.New("not a directory")
	// ErrLoop is returned when resolving a path takes more than
	// MaxSymlinkHops symlinks (Linux's MAXSYMLINKS is 40).
	ErrLoop = errors.New("too many levels of symbolic links")
)

// MaxSymlinkHops bounds the symlinks followed while resolving one path:
// the kernel's limit (MAXSYMLINKS, include/linux/namei.h).
const MaxSymlinkHops = 40

// DirFile is an open directory: fs.ReadDirFile over a listing that is
// read on the first ReadDir call.
type DirFile struct {
	Name string
	Info fs.FileInfo
	// List returns the directory's entries, in the order ReadDir gives
	// them; it is called once.
	List func() ([]fs.DirEntry, error)

	ents []fs.DirEntry
	read bool
}

func (d *DirFile) Stat() (fs.FileInfo, error) { return d.Info, nil }
func (d *DirFile) Close() error               { return nil }
func (d *DirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.Name, Err: errors.New("is a directory")}
}

// ReadDir implements fs.ReadDirFile: n <= 0 returns all remaining entries
// (and nil error at the end); n > 0 returns at most n, io.EOF at the end.
func (d *DirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	if !d.read {
		ents, err := d.List()
		if err != nil {
			return nil, err
		}
		d.ents, d.read = ents, true
	}
	if n <= 0 {
		rest := d.ents
		d.ents = nil
		return rest, nil
	}
	if len(d.ents) == 0 {
		return nil, io.EOF
	}
	k := min(n, len(d.ents))
	rest := d.ents[:k]
	d.ents = d.ents[k:]
	return rest, nil
}

// Seek returns the new offset of an io.Seeker on the file name whose
// current offset is cur and whose size is size; a bad whence or a negative
// result is fs.ErrInvalid.
func Seek(name string, cur, size, offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += cur
	case io.SeekEnd:
		offset += size
	default:
		return 0, &fs.PathError{Op: "seek", Path: name, Err: fs.ErrInvalid}
	}
	if offset < 0 {
		return 0, &fs.PathError{Op: "seek", Path: name, Err: fs.ErrInvalid}
	}
	return offset, nil
}

// Tree is what Resolve needs to know about a filesystem whose nodes are N.
type Tree[N any] struct {
	// IsDir reports whether n is a directory.
	IsDir func(n N) bool
	// Lookup finds name in directory dir; ok is false when it is absent.
	Lookup func(dir N, name string) (child N, ok bool, err error)
	// Link returns n's symlink target, and whether n is a symlink.
	Link func(n N) (target string, isLink bool, err error)
}

// Resolve looks the slash-separated name up from root. Symlinks in the
// middle are always followed, the last one only when follow; an absolute
// target restarts at root. ".." is taken on the directory actually reached
// and never climbs above root. Errors are ErrNotDir, fs.ErrNotExist,
// ErrLoop, or what the Tree's callbacks return, unwrapped: the caller
// builds the fs.PathError.
func Resolve[N any](t Tree[N], root N, name string, follow bool) (N, error) {
	var zero N
	stack := []N{root}
	comps := strings.Split(name, "/")
	hops := 0
	for len(comps) > 0 {
		c := comps[0]
		comps = comps[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		cur := stack[len(stack)-1]
		if !t.IsDir(cur) {
			return zero, ErrNotDir
		}
		child, ok, err := t.Lookup(cur, c)
		if err != nil {
			return zero, err
		}
		if !ok {
			return zero, fs.ErrNotExist
		}
		if len(comps) > 0 || follow {
			target, isLink, err := t.Link(child)
			if err != nil {
				return zero, err
			}
			if isLink {
				hops++
				if hops > MaxSymlinkHops {
					return zero, ErrLoop
				}
				if strings.HasPrefix(target, "/") {
					stack = stack[:1]
				}
				comps = append(strings.Split(target, "/"), comps...)
				continue
			}
		}
		stack = append(stack, child)
	}
	return stack[len(stack)-1], nil
}

// POSIXMode converts POSIX st_mode bits (S_IFMT file type, set-id and
// sticky bits, permissions) to an fs.FileMode. known is false when the
// S_IFMT field is none of the seven POSIX types; readers differ on what
// such a file is, so they decide.
func POSIXMode(m uint32) (mode fs.FileMode, known bool) {
	mode = fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	switch m & 0o170000 {
	case 0o040000: // S_IFDIR
		mode |= fs.ModeDir
	case 0o120000: // S_IFLNK
		mode |= fs.ModeSymlink
	case 0o020000: // S_IFCHR
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case 0o060000: // S_IFBLK
		mode |= fs.ModeDevice
	case 0o010000: // S_IFIFO
		mode |= fs.ModeNamedPipe
	case 0o140000: // S_IFSOCK
		mode |= fs.ModeSocket
	case 0o100000: // S_IFREG
	default:
		return mode, false
	}
	return mode, true
}
