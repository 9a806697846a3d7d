// Package cpio writes and reads the "newc" cpio format (magic 070701), the
// format the Linux kernel unpacks as an initramfs (Documentation/
// driver-api/early-userspace/buffer-format.rst) and GNU cpio writes with -H newc.
//
// A newc entry is a 110-byte ASCII header — the magic and 13 fields of 8 hex
// digits: ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor,
// rdevmajor, rdevminor, namesize (with the NUL), check — then the name and
// its NUL padded to a multiple of 4 bytes from the entry start, then the data
// padded to a multiple of 4. The archive ends with an entry named TRAILER!!!.
package cpio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/minidisk/minidisk/rootfs"
)

// Errors the Writer returns for misuse, as archive/tar's Writer does;
// callers test them with errors.Is.
var (
	// ErrWriteTooLong: Write was given more bytes than the entry's Size.
	ErrWriteTooLong = errors.New("cpio: write too long")
	// ErrWriteAfterClose: an entry was written after Close.
	ErrWriteAfterClose = errors.New("cpio: write after Close")
)

const (
	magicNewc  = "070701"
	headerSize = 110
	trailer    = "TRAILER!!!"
)

// File type bits of the mode field (Linux include/uapi/linux/stat.h).
const (
	modeFIFO  = 0o010000
	modeChar  = 0o020000
	modeDir   = 0o040000
	modeBlock = 0o060000
	modeReg   = 0o100000
	modeLink  = 0o120000
	modeType  = 0o170000
)

// Writer writes a newc archive entry by entry, like archive/tar.Writer:
// WriteHeader, then Write exactly Header.Size bytes of content, and Close.
type Writer struct {
	w       *bufio.Writer
	off     int64  // bytes written so far, for padding
	remain  int64  // content bytes still owed for the current entry
	pad     int    // padding after the current entry's content
	nextIno uint32 // next inode number WriteHeader hands out
	closed  bool
	err     error
}

// NewWriter returns a Writer writing to w. Inode numbers start at 1.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: bufio.NewWriterSize(w, 64<<10), nextIno: 1}
}

// Record is the part of a newc header that rootfs.Header has no field for.
type Record struct {
	Ino   uint32 // inode number; entries with the same Ino and Nlink > 1 are hard links
	Nlink uint32 // link count
}

// WriteHeader starts an entry with a fresh inode number and a link count of
// 1 (2 for directories). Hard links need the whole link group up front (the
// count goes into every member's header), so TypeLink is written by
// WriteTree, or by WriteRecord with explicit numbers.
func (w *Writer) WriteHeader(h *rootfs.Header) error {
	if h.Type == rootfs.TypeLink {
		return fmt.Errorf("cpio: %s: hard links need their link count up front; write the tree with WriteTree or use WriteRecord", h.Name)
	}
	nlink := uint32(1)
	if h.Type == rootfs.TypeDir {
		nlink = 2
	}
	ino := w.nextIno
	if err := w.WriteRecord(h, Record{Ino: ino, Nlink: nlink}); err != nil {
		return err
	}
	w.nextIno++
	return nil
}

// WriteRecord starts an entry with explicit inode number and link count. A
// TypeLink header is written as a regular file (newc has no link type: a
// link is an entry sharing the ino); its content length is h.Size, which
// must be 0 except on the group's last member — the kernel (init/initramfs.c
// maybe_link) links later members to the first and writes data through
// whichever member carries it, and GNU cpio -i takes the data from the last.
func (w *Writer) WriteRecord(h *rootfs.Header, rec Record) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return ErrWriteAfterClose
	}
	if w.remain > 0 {
		return w.fail(fmt.Errorf("cpio: previous entry is %d bytes short of its size", w.remain))
	}
	if err := w.flushPad(); err != nil {
		return err
	}
	name, err := archiveName(h.Name)
	if err != nil {
		return err
	}
	if h.Mode&^0o7777 != 0 {
		return fmt.Errorf("cpio: %s: mode %#o has bits beyond 0o7777", h.Name, h.Mode)
	}
	mode := h.Mode
	var size int64
	var data []byte // inline content (symlink target)
	switch h.Type {
	case rootfs.TypeReg, rootfs.TypeLink:
		mode |= modeReg
		size = h.Size
	case rootfs.TypeDir:
		mode |= modeDir
	case rootfs.TypeSymlink:
		mode |= modeLink
		data = []byte(h.Linkname)
		size = int64(len(data))
	case rootfs.TypeChar:
		mode |= modeChar
	case rootfs.TypeBlock:
		mode |= modeBlock
	case rootfs.TypeFIFO:
		mode |= modeFIFO
	default:
		return fmt.Errorf("cpio: %s: unknown entry type %v", h.Name, h.Type)
	}
	if size < 0 || size > 0xffffffff {
		return fmt.Errorf("cpio: %s: size %d does not fit newc's 32-bit filesize field", h.Name, size)
	}
	mtime := h.ModTime.Unix()
	if h.ModTime.IsZero() {
		mtime = 0
	}
	if mtime < 0 || mtime > 0xffffffff {
		return fmt.Errorf("cpio: %s: time %v is outside newc's unsigned 32-bit seconds (1970..2106)", h.Name, h.ModTime)
	}
	var rmaj, rmin uint32
	if h.Type == rootfs.TypeChar || h.Type == rootfs.TypeBlock {
		rmaj, rmin = h.Devmajor, h.Devminor
	}
	if err := w.writeRaw(name, [13]uint32{
		rec.Ino, mode, h.Uid, h.Gid, rec.Nlink, uint32(mtime), uint32(size),
		0, 0, // devmajor/devminor: the archive's own "filesystem"; 0 everywhere
		rmaj, rmin,
		uint32(len(name) + 1), 0, // check is 0 in 070701 (no checksum)
	}); err != nil {
		return err
	}
	w.remain = size
	w.pad = pad4(size)
	if data != nil {
		if _, err := w.Write(data); err != nil {
			return err
		}
	}
	return nil
}

// archiveName turns a tree path into the archive's relative name: the root
// is "." and "/bin/sh" is "bin/sh". The kernel accepts both forms; GNU
// cpio -i refuses to write absolute names without --absolute-filenames.
func archiveName(name string) (string, error) {
	clean, err := rootfs.Clean(name)
	if err != nil {
		return "", fmt.Errorf("cpio: %w", err)
	}
	if clean == "/" {
		return ".", nil
	}
	return strings.TrimPrefix(clean, "/"), nil
}

func (w *Writer) writeRaw(name string, f [13]uint32) error {
	var hdr [headerSize]byte
	copy(hdr[:], magicNewc)
	const hexdigits = "0123456789ABCDEF"
	for i, v := range f {
		for j := 7; j >= 0; j-- {
			hdr[6+i*8+j] = hexdigits[v&0xf]
			v >>= 4
		}
	}
	if _, err := w.w.Write(hdr[:]); err != nil {
		return w.fail(err)
	}
	if _, err := w.w.WriteString(name); err != nil {
		return w.fail(err)
	}
	n := headerSize + len(name) + 1
	zeros := [4]byte{}
	if _, err := w.w.Write(zeros[:1+pad4(int64(n))]); err != nil {
		return w.fail(err)
	}
	w.off += int64(n + pad4(int64(n)))
	return nil
}

// Write writes content of the current entry; it refuses bytes beyond Size.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if int64(len(p)) > w.remain {
		return 0, fmt.Errorf("cpio: write of %d bytes exceeds the entry's remaining %d: %w", len(p), w.remain, ErrWriteTooLong)
	}
	n, err := w.w.Write(p)
	w.remain -= int64(n)
	w.off += int64(n)
	if err != nil {
		return n, w.fail(err)
	}
	return n, nil
}

func (w *Writer) flushPad() error {
	if w.pad == 0 {
		return nil
	}
	zeros := [4]byte{}
	if _, err := w.w.Write(zeros[:w.pad]); err != nil {
		return w.fail(err)
	}
	w.off += int64(w.pad)
	w.pad = 0
	return nil
}

// Close writes the TRAILER!!! entry and flushes. It does not close the
// underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return nil
	}
	if w.remain > 0 {
		return w.fail(fmt.Errorf("cpio: last entry is %d bytes short of its size", w.remain))
	}
	if err := w.flushPad(); err != nil {
		return err
	}
	// GNU cpio writes the trailer with nlink 1 and everything else 0.
	if err := w.writeRaw(trailer, [13]uint32{0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, uint32(len(trailer) + 1), 0}); err != nil {
		return err
	}
	w.closed = true
	if err := w.w.Flush(); err != nil {
		return w.fail(err)
	}
	return nil
}

func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return err
}

func pad4(n int64) int { return int((4 - n%4) % 4) }

// WriteTree writes every entry of t in t.Entries() order and closes the
// archive. Inode numbers are the entries' positions (1..N), so the same tree
// always gives the same bytes; hard-link groups share their target's number,
// carry the group's size as nlink, and only the group's last entry in
// archive order carries the content.
func WriteTree(w *Writer, t *rootfs.Tree) error {
	entries := t.Entries()
	ino := make(map[string]uint32, len(entries))
	for i, e := range entries {
		ino[e.Name] = uint32(i + 1)
	}
	// A link group is keyed by its regular-file target.
	nlink := map[string]uint32{}
	last := map[string]string{} // group target -> name of the member written last
	for _, e := range entries {
		switch e.Type {
		case rootfs.TypeReg:
			nlink[e.Name]++
			last[e.Name] = e.Name
		case rootfs.TypeLink:
			nlink[e.Linkname]++
			last[e.Linkname] = e.Name
		}
	}
	for _, e := range entries {
		h := e.Header
		rec := Record{Ino: ino[e.Name], Nlink: 1}
		var content rootfs.Content
		switch e.Type {
		case rootfs.TypeDir:
			rec.Nlink = 2
		case rootfs.TypeReg, rootfs.TypeLink:
			group := e.Name
			if e.Type == rootfs.TypeLink {
				group = e.Linkname
				target, ok := t.Lookup(group)
				if !ok {
					return fmt.Errorf("cpio: %s: hard link target %s is not in the tree", e.Name, group)
				}
				// A link is the same inode: same mode, owner and times.
				th := target.Header
				h.Mode, h.Uid, h.Gid, h.ModTime, h.Size = th.Mode, th.Uid, th.Gid, th.ModTime, th.Size
				content = target.Content
			} else {
				content = e.Content
			}
			rec.Ino, rec.Nlink = ino[group], nlink[group]
			if last[group] != e.Name {
				h.Size = 0
			}
		}
		if err := w.WriteRecord(&h, rec); err != nil {
			return err
		}
		if h.Size > 0 {
			if err := copyContent(w, e.Name, content, h.Size); err != nil {
				return err
			}
		}
	}
	return w.Close()
}

// copyContent streams exactly size bytes of content; a source that changed
// size since the tree was built is an error, not a silently corrupt archive.
func copyContent(w *Writer, name string, c rootfs.Content, size int64) error {
	if c == nil {
		return fmt.Errorf("cpio: %s: %d bytes of content missing", name, size)
	}
	r, err := c.Open()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer r.Close()
	n, err := io.Copy(w, io.LimitReader(r, size))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if n != size {
		return fmt.Errorf("%s: content is %d bytes, the tree says %d (did the file change while writing?)", name, n, size)
	}
	// A longer source also means it changed.
	var one [1]byte
	if m, _ := r.Read(one[:]); m > 0 {
		return fmt.Errorf("%s: content is longer than the tree's %d bytes (did the file change while writing?)", name, size)
	}
	return nil
}

// treePath maps an archive name back to a tree path ("." -> "/").
func treePath(name string) string {
	name = strings.TrimPrefix(name, "./")
	if name == "." || name == "" {
		return "/"
	}
	return path.Clean("/" + name)
}
