package ext2

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// Image is an ext2 filesystem opened inside an image file.
type Image struct {
	*Reader
	Path     string
	Location Location
	f        *os.File
}

// OpenImage opens the image file at p and the ext2 filesystem in it,
// where FindFilesystem finds it: the partition disk.FindRoot picks on a
// partitioned disk, or the whole file for a bare filesystem.
func OpenImage(p string) (*Image, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	loc, err := FindFilesystem(f, fi.Size(), p)
	if err != nil {
		f.Close()
		return nil, err
	}
	r, err := Open(f, loc.Offset, loc.Size)
	if err != nil {
		f.Close()
		where := "the image"
		if loc.Partition > 0 {
			where = fmt.Sprintf("partition %d (byte %d)", loc.Partition, loc.Offset)
		}
		return nil, fmt.Errorf("%s: %s: %w", p, where, err)
	}
	return &Image{Reader: r, Path: p, Location: loc, f: f}, nil
}

// Close closes the image file.
func (im *Image) Close() error { return im.f.Close() }

// fsName turns an absolute or relative path inside the image into an fs.FS
// name ("." for the root).
func fsName(name string) string {
	n := strings.Trim(path.Clean("/"+name), "/")
	if n == "" {
		return "."
	}
	return n
}

// Cat copies the regular file name (symlinks followed) to w.
func (r *Reader) Cat(w io.Writer, name string) error {
	f, err := r.Open(fsName(name))
	if err != nil {
		return absPathError(err)
	}
	defer f.Close()
	if fi, _ := f.Stat(); fi != nil && !fi.Mode().IsRegular() {
		return &fs.PathError{Op: "cat", Path: name, Err: errors.New("not a regular file")}
	}
	_, err = io.Copy(w, f)
	return absPathError(err)
}

// absPathError words an fs.PathError for people: "/etc/inittab: file does
// not exist" instead of "open etc/inittab: file does not exist".
func absPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", path.Join("/", pe.Path), pe.Err)
	}
	return err
}
