package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/minidisk/minidisk/rootfs"
	"github.com/minidisk/minidisk/rootfs/ext2"
)

// lsFS is what the listing reads from an ext2 filesystem: ext2.Reader.
type lsFS interface {
	Stat(name string) (fs.FileInfo, error)
	Lstat(name string) (fs.FileInfo, error)
	ReadDir(name string) ([]fs.DirEntry, error)
}

// lsInode is the part of an ext2 entry's fs.FileInfo that ls -l shows
// beyond fs.FileInfo: the inode number (loop detection) and i_links_count.
type lsInode interface {
	Ino() uint32
	Nlink() uint16
}

// lsFSName turns an absolute or relative path inside the image into an
// fs.FS name ("." for the root).
func lsFSName(name string) string {
	n := strings.Trim(path.Clean("/"+name), "/")
	if n == "" {
		return "."
	}
	return n
}

// lsPathError words an fs.PathError for people: "/etc/inittab: file does
// not exist" instead of "lstat etc/inittab: file does not exist".
func lsPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", path.Join("/", pe.Path), pe.Err)
	}
	return err
}

// listOptions select the ls output.
type listOptions struct {
	Long      bool // one `ls -l` line per entry
	Recursive bool // descend into directories, like ls -R
}

// listImage writes an ls-style listing of name to w: a directory's entries (not
// "." and ".."), or the entry itself. Times are UTC in ISO form so the
// output does not depend on the clock or time zone.
func listImage(r lsFS, w io.Writer, name string, opt listOptions) error {
	bw := bufio.NewWriter(w)
	n := lsFSName(name)
	// Like GNU ls, a symlink named on the command line is followed unless
	// the listing is long (then the link itself is shown), and always when
	// the name ends in "/".
	stat := r.Lstat
	if !opt.Long || strings.HasSuffix(name, "/") {
		stat = r.Stat
	}
	fi, err := stat(n)
	if err != nil {
		return lsPathError(err)
	}
	if !fi.IsDir() {
		listLine(bw, n, fi, opt.Long)
		return bw.Flush()
	}
	seen := map[uint32]bool{}
	if err := listDir(r, bw, n, fi, opt, seen, true); err != nil {
		bw.Flush()
		return lsPathError(err)
	}
	return bw.Flush()
}

func listDir(r lsFS, w *bufio.Writer, dir string, fi fs.FileInfo, opt listOptions, seen map[uint32]bool, first bool) error {
	ino := fi.(lsInode).Ino()
	if seen[ino] {
		return fmt.Errorf("%s: directory inode %d reached twice (a directory loop): %w", path.Join("/", dir), ino, ext2.ErrCorrupt)
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
		listLine(w, path.Join(dir, e.Name()), info, opt.Long)
		if opt.Recursive && info.IsDir() {
			subdirs = append(subdirs, info)
			subnames = append(subnames, path.Join(dir, e.Name()))
		}
	}
	for i, sd := range subdirs {
		if err := listDir(r, w, subnames[i], sd, opt, seen, false); err != nil {
			return err
		}
	}
	return nil
}

func listLine(w *bufio.Writer, name string, fi fs.FileInfo, long bool) {
	base := path.Base(name)
	if name == "." {
		base = "/"
	}
	if !long {
		fmt.Fprintln(w, base)
		return
	}
	h := fi.Sys().(*rootfs.Header)
	size := fmt.Sprint(fi.Size())
	if fi.Mode()&fs.ModeDevice != 0 {
		size = fmt.Sprintf("%d, %d", h.Devmajor, h.Devminor)
	}
	line := fmt.Sprintf("%s %3d %-6d %-6d %9s %s %s", modeString(fi.Mode()), fi.(lsInode).Nlink(), h.Uid, h.Gid, size,
		fi.ModTime().UTC().Format("2006-01-02 15:04"), base)
	if fi.Mode()&fs.ModeSymlink != 0 {
		t := h.Linkname
		line += " -> " + t
	}
	fmt.Fprintln(w, line)
}

// modeString is the 10-character mode of ls -l: type, then rwx triplets
// with s/S and t/T for setuid, setgid and sticky.
func modeString(m fs.FileMode) string {
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
