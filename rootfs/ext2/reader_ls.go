package ext2

import (
	"bufio"
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

// OpenImage opens the image file at p and the ext2 filesystem in it (the
// first Linux partition of an MBR disk, or a bare filesystem).
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

// ListOptions select the ls output.
type ListOptions struct {
	Long      bool // one `ls -l` line per entry
	Recursive bool // descend into directories, like ls -R
}

// List writes an ls-style listing of name to w: a directory's entries (not
// "." and ".."), or the entry itself. Times are UTC in ISO form so the
// output does not depend on the clock or time zone.
func (r *Reader) List(w io.Writer, name string, opt ListOptions) error {
	bw := bufio.NewWriter(w)
	n := fsName(name)
	// Like GNU ls, a symlink named on the command line is followed unless
	// the listing is long (then the link itself is shown), and always when
	// the name ends in "/".
	stat := r.Lstat
	if !opt.Long || strings.HasSuffix(name, "/") {
		stat = r.Stat
	}
	fi, err := stat(n)
	if err != nil {
		return absPathError(err)
	}
	if !fi.IsDir() {
		r.listLine(bw, n, fi, opt.Long)
		return bw.Flush()
	}
	seen := map[uint32]bool{}
	if err := r.listDir(bw, n, fi, opt, seen, true); err != nil {
		bw.Flush()
		return absPathError(err)
	}
	return bw.Flush()
}

func (r *Reader) listDir(w *bufio.Writer, dir string, fi fs.FileInfo, opt ListOptions, seen map[uint32]bool, first bool) error {
	ino := fi.(*fileInfo).ino
	if seen[ino] {
		return fmt.Errorf("%s: directory inode %d reached twice (a directory loop): %w", path.Join("/", dir), ino, ErrCorrupt)
	}
	seen[ino] = true
	ents, err := r.ReadDir(dir)
	if err != nil {
		return err
	}
	if opt.Recursive {
		if !first {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s:\n", path.Join("/", dir))
	}
	var subdirs []fs.FileInfo
	var subnames []string
	for _, e := range ents {
		info, err := e.Info()
		if err != nil {
			return err
		}
		r.listLine(w, path.Join(dir, e.Name()), info, opt.Long)
		if opt.Recursive && info.IsDir() {
			subdirs = append(subdirs, info)
			subnames = append(subnames, path.Join(dir, e.Name()))
		}
	}
	for i, sd := range subdirs {
		if err := r.listDir(w, subnames[i], sd, opt, seen, false); err != nil {
			return err
		}
	}
	return nil
}

func (r *Reader) listLine(w *bufio.Writer, name string, fi fs.FileInfo, long bool) {
	base := path.Base(name)
	if name == "." {
		base = "/"
	}
	if !long {
		fmt.Fprintln(w, base)
		return
	}
	efi := fi.(*fileInfo)
	size := fmt.Sprint(fi.Size())
	if fi.Mode()&fs.ModeDevice != 0 {
		size = fmt.Sprintf("%d, %d", efi.h.Devmajor, efi.h.Devminor)
	}
	line := fmt.Sprintf("%s %3d %-6d %-6d %9s %s %s", ModeString(fi.Mode()), efi.nlink, efi.h.Uid, efi.h.Gid, size,
		fi.ModTime().UTC().Format("2006-01-02 15:04"), base)
	if fi.Mode()&fs.ModeSymlink != 0 {
		t := efi.h.Linkname
		line += " -> " + t
	}
	fmt.Fprintln(w, line)
}

// ModeString is the 10-character mode of ls -l: type, then rwx triplets
// with s/S and t/T for setuid, setgid and sticky.
func ModeString(m fs.FileMode) string {
	b := []byte("-rwxrwxrwx")
	switch {
	case m&fs.ModeDir != 0:
		b[0] = 'd'
	case m&fs.ModeSymlink != 0:
		b[0] = 'l'
	case m&fs.ModeCharDevice != 0:
		b[0] = 'c'
	case m&fs.ModeDevice != 0:
		b[0] = 'b'
	case m&fs.ModeNamedPipe != 0:
		b[0] = 'p'
	case m&fs.ModeSocket != 0:
		b[0] = 's'
	case m&fs.ModeIrregular != 0:
		b[0] = '?'
	}
	for i := 0; i < 9; i++ {
		if m&(1<<(8-i)) == 0 {
			b[1+i] = '-'
		}
	}
	special := func(i int, on bool, set, unset byte) {
		if !on {
			return
		}
		if b[i] == 'x' {
			b[i] = set
		} else {
			b[i] = unset
		}
	}
	special(3, m&fs.ModeSetuid != 0, 's', 'S')
	special(6, m&fs.ModeSetgid != 0, 's', 'S')
	special(9, m&fs.ModeSticky != 0, 't', 'T')
	return string(b)
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
