package rootfs

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// SourceDateEpoch returns the time given by SOURCE_DATE_EPOCH
// (reproducible-builds.org), ok=false when it is unset.
func SourceDateEpoch() (t time.Time, ok bool, err error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return time.Time{}, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, false, fmt.Errorf("SOURCE_DATE_EPOCH=%q: not a count of seconds since 1970 (unset it or give an integer)", v)
	}
	return time.Unix(n, 0).UTC(), true, nil
}

// AddHostFile adds the host file src as the regular file name, owned by
// root, keeping its permission bits; content is read only when a sink writes.
// A host symlink is followed: the image gets the file it points to.
func (t *Tree) AddHostFile(name, src string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("%s: %w", src, unwrapPathError(err))
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", src)
	}
	return t.Add(Entry{Header: Header{
		Name: name, Type: TypeReg, Mode: unixPerm(fi.Mode()), ModTime: fi.ModTime().UTC(), Size: fi.Size(),
	}, Content: HostFile(src)})
}

// AddHostTree copies the host path src into the tree at dst: a directory
// recursively (files, directories, symlinks as links; ownership becomes
// root:root, as the image has no users yet), or a single file. Device nodes
// and sockets on the host are refused: create nodes with Mknod instead.
func (t *Tree) AddHostTree(dst, src string) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return fmt.Errorf("%s: %w", src, unwrapPathError(err))
	}
	if !fi.IsDir() {
		return t.addHostEntry(dst, src, fi)
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", p, unwrapPathError(err))
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		return t.addHostEntry(path.Join(dst, filepath.ToSlash(rel)), p, info)
	})
}

func (t *Tree) addHostEntry(name, src string, fi fs.FileInfo) error {
	h := Header{Name: name, Mode: unixPerm(fi.Mode()), ModTime: fi.ModTime().UTC()}
	switch m := fi.Mode(); {
	case m.IsRegular():
		h.Type, h.Size = TypeReg, fi.Size()
		return t.Add(Entry{Header: h, Content: HostFile(src)})
	case m.IsDir():
		h.Type = TypeDir
	case m&fs.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
		h.Type, h.Linkname, h.Mode = TypeSymlink, target, 0o777
	default:
		return fmt.Errorf("%s: %v files cannot be copied from the host; add device nodes with Mknod", src, m.Type())
	}
	return t.Add(Entry{Header: h})
}

// unixPerm maps Go's FileMode permission and special bits to the Unix 0o7777 layout.
func unixPerm(m fs.FileMode) uint32 {
	p := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		p |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		p |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		p |= 0o1000
	}
	return p
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		if pe.Err == syscall.ENOENT {
			return fmt.Errorf("no such file")
		}
		return pe.Err
	}
	return err
}

// ClampTimes sets every entry's ModTime later than t to t, as
// reproducible-builds.org asks of SOURCE_DATE_EPOCH: inputs older than the
// epoch keep their own times, nothing is newer than it.
func (t *Tree) ClampTimes(max time.Time) {
	for _, e := range t.entries {
		if e.ModTime.After(max) {
			e.ModTime = max
		}
	}
}
