// Package rootfs is the one tree model the filesystem writers take: the
// ext2 image and the cpio initramfs (the FAT ESP is not written from a Tree:
// efi copies BOOTX64.EFI into it through go-diskfs). Like archive/tar's
// Header, an Entry describes one file; unlike a tar stream, a Tree knows all
// entries up front, because a filesystem writer must size and place them
// before it writes a byte.
package rootfs

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"
)

// Type is the kind of an entry.
type Type uint8

const (
	TypeReg     Type = iota + 1 // regular file; content from Entry.Content
	TypeDir                     // directory
	TypeSymlink                 // symbolic link to Linkname
	TypeChar                    // character device Devmajor:Devminor
	TypeBlock                   // block device Devmajor:Devminor
	TypeFIFO                    // named pipe
	TypeLink                    // hard link to the tree path in Linkname
)

func (t Type) String() string {
	switch t {
	case TypeReg:
		return "file"
	case TypeDir:
		return "directory"
	case TypeSymlink:
		return "symlink"
	case TypeChar:
		return "char device"
	case TypeBlock:
		return "block device"
	case TypeFIFO:
		return "fifo"
	case TypeLink:
		return "hard link"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Header describes one entry of the tree.
type Header struct {
	Name               string    // absolute clean path; "/" is the root directory
	Type               Type      // what the entry is
	Mode               uint32    // permission bits only (0o7777: rwx, setuid, setgid, sticky)
	Uid, Gid           uint32    // owner
	ModTime            time.Time // modification time (also used for atime/ctime by sinks)
	Size               int64     // regular files: content length in bytes
	Linkname           string    // symlink target, or for TypeLink the tree path it links to
	Devmajor, Devminor uint32    // device numbers for TypeChar and TypeBlock
}

// Content is where a regular file's bytes come from. Sinks open it once,
// stream it, and close it, so memory never grows with file sizes.
type Content interface {
	Open() (io.ReadCloser, error)
}

// HostFile is content read from a file on the host at write time.
type HostFile string

// Open opens the host file.
func (p HostFile) Open() (io.ReadCloser, error) { return os.Open(string(p)) }

// Bytes is content held in memory (small generated files: configs, /init).
type Bytes []byte

// Open returns a reader over the bytes.
func (b Bytes) Open() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }

// Entry is one file of the tree: its header and, for regular files, its content.
type Entry struct {
	Header
	Content Content
}

// Tree is a set of entries keyed by path. The zero value is not usable; call New.
type Tree struct {
	entries map[string]*Entry
	// defaults for directories the tree creates implicitly as parents
	dirTime time.Time
}

// New returns a tree holding only the root directory (0755, root:root), with
// modTime as the time of the root and of parent directories created implicitly.
func New(modTime time.Time) *Tree {
	t := &Tree{entries: map[string]*Entry{}, dirTime: modTime}
	t.entries["/"] = &Entry{Header: Header{Name: "/", Type: TypeDir, Mode: 0o755, ModTime: modTime}}
	return t
}

// Clean validates a path for use in the tree and returns its canonical form.
// Names are absolute inside the image; a relative name is taken from the root.
// ".." may not climb above the root: the tree is a closed world.
func Clean(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("empty path")
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("%q: path contains a NUL byte", name)
	}
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	depth := 0
	for _, c := range strings.Split(name, "/") {
		switch c {
		case "", ".":
		case "..":
			depth--
			if depth < 0 {
				return "", fmt.Errorf("%q: path escapes the root with ..", name)
			}
		default:
			if len(c) > 255 {
				return "", fmt.Errorf("%q: a path component is longer than 255 bytes (the ext2 and cpio limit)", name)
			}
			depth++
		}
	}
	return path.Clean(name), nil
}

// Add puts an entry into the tree, creating missing parent directories
// (0755, root:root). Adding a path again replaces the earlier entry if both
// are of the same type (a directory keeps its children); a different type is
// an error, since it is almost always two inputs disagreeing.
func (t *Tree) Add(e Entry) error {
	name, err := Clean(e.Name)
	if err != nil {
		return err
	}
	e.Name = name
	if e.Mode&^0o7777 != 0 {
		return fmt.Errorf("%s: mode %#o has bits beyond 0o7777 (give permission bits only; the type is Header.Type)", name, e.Mode)
	}
	switch e.Type {
	case TypeReg:
		if e.Content == nil && e.Size != 0 {
			return fmt.Errorf("%s: regular file of %d bytes has no content", name, e.Size)
		}
		if e.Size < 0 {
			return fmt.Errorf("%s: negative size", name)
		}
	case TypeSymlink:
		if e.Linkname == "" {
			return fmt.Errorf("%s: symlink with an empty target", name)
		}
	case TypeLink:
		target, err := Clean(e.Linkname)
		if err != nil {
			return fmt.Errorf("%s: hard link target: %w", name, err)
		}
		te, ok := t.entries[target]
		if !ok {
			return fmt.Errorf("%s: hard link target %s is not in the tree (add it first)", name, target)
		}
		if te.Type != TypeReg {
			return fmt.Errorf("%s: hard link target %s is a %s; only regular files can be hard-linked", name, target, te.Type)
		}
		e.Linkname = target
	case TypeDir, TypeChar, TypeBlock, TypeFIFO:
	default:
		return fmt.Errorf("%s: unknown entry type %d", name, e.Type)
	}
	if e.Type != TypeReg {
		e.Size = 0
		e.Content = nil
	}
	if old, ok := t.entries[name]; ok {
		if old.Type != e.Type {
			return fmt.Errorf("%s: added as a %s, but it is already a %s", name, e.Type, old.Type)
		}
	}
	if name != "/" {
		if err := t.mkdirAll(path.Dir(name)); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	ne := e
	t.entries[name] = &ne
	return nil
}

func (t *Tree) mkdirAll(dir string) error {
	if e, ok := t.entries[dir]; ok {
		if e.Type != TypeDir {
			return fmt.Errorf("parent %s is a %s, not a directory", dir, e.Type)
		}
		return nil
	}
	if err := t.mkdirAll(path.Dir(dir)); err != nil {
		return err
	}
	t.entries[dir] = &Entry{Header: Header{Name: dir, Type: TypeDir, Mode: 0o755, ModTime: t.dirTime}}
	return nil
}

// Mkdir adds a directory owned by root.
func (t *Tree) Mkdir(name string, mode uint32) error {
	return t.Add(Entry{Header: Header{Name: name, Type: TypeDir, Mode: mode, ModTime: t.dirTime}})
}

// AddBytes adds a regular file owned by root holding data.
func (t *Tree) AddBytes(name string, mode uint32, data []byte) error {
	return t.Add(Entry{Header: Header{Name: name, Type: TypeReg, Mode: mode, ModTime: t.dirTime, Size: int64(len(data))}, Content: Bytes(data)})
}

// Symlink adds a symbolic link owned by root.
func (t *Tree) Symlink(name, target string) error {
	return t.Add(Entry{Header: Header{Name: name, Type: TypeSymlink, Mode: 0o777, ModTime: t.dirTime, Linkname: target}})
}

// Mknod adds a device node owned by root; typ is TypeChar or TypeBlock.
func (t *Tree) Mknod(name string, typ Type, mode, major, minor uint32) error {
	if typ != TypeChar && typ != TypeBlock {
		return fmt.Errorf("%s: Mknod needs TypeChar or TypeBlock, not %s", name, typ)
	}
	return t.Add(Entry{Header: Header{Name: name, Type: typ, Mode: mode, ModTime: t.dirTime, Devmajor: major, Devminor: minor}})
}

// Lookup returns the entry at name.
func (t *Tree) Lookup(name string) (*Entry, bool) {
	n, err := Clean(name)
	if err != nil {
		return nil, false
	}
	e, ok := t.entries[n]
	return e, ok
}

// Len is the number of entries, the root included.
func (t *Tree) Len() int { return len(t.entries) }

// Entries returns all entries in a deterministic order: a directory before
// its contents, siblings sorted bytewise by name ("/" first). Sinks write in
// this order, so the same tree gives the same bytes.
func (t *Tree) Entries() []*Entry {
	out := make([]*Entry, 0, len(t.entries))
	for _, e := range t.entries {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return pathLess(out[i].Name, out[j].Name) })
	return out
}

// Children returns the entries directly inside dir, sorted by name.
func (t *Tree) Children(dir string) []*Entry {
	d, err := Clean(dir)
	if err != nil {
		return nil
	}
	var out []*Entry
	for n, e := range t.entries {
		if n != "/" && path.Dir(n) == d {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// pathLess orders paths component by component, so "/a" and everything under
// it come before "/a-b" even though '-' sorts before '/'. Comparing bytes
// with '/' ranked below every other byte gives that order without splitting
// (this runs n log n times when a large tree is sorted).
func pathLess(a, b string) bool {
	if a == "/" || b == "/" {
		return a == "/" && b != "/"
	}
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		ca, cb := a[i], b[i]
		if ca == cb {
			continue
		}
		if ca == '/' {
			return true
		}
		if cb == '/' {
			return false
		}
		return ca < cb
	}
	return len(a) < len(b)
}
