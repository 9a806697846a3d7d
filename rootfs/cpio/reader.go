package cpio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/minidisk/minidisk/rootfs"
)

// Limits for untrusted archives. The kernel refuses names longer than
// PATH_MAX (init/initramfs.c do_header: name_len > PATH_MAX) and symlink
// targets are read into memory, so both are capped at PATH_MAX.
const (
	maxName    = 4096
	maxSymlink = 4096
)

// ErrFormat is wrapped by every error about malformed archive bytes.
var ErrFormat = errors.New("not a valid newc cpio archive")

// Reader reads a newc (070701) or newc-with-CRC (070702) archive entry by
// entry, like archive/tar.Reader: Next, then Read the content. It reads the
// archive as an untrusted stream: every field is checked, nothing is
// allocated from a length that was not capped first, and it never panics.
type Reader struct {
	r      *bufio.Reader
	off    int64 // offset of the next unread byte
	remain int64 // content bytes of the current entry not yet read
	pad    int   // padding after the current entry's content
	rec    RawHeader
	done   bool
	err    error
}

// RawHeader is one entry's header as stored, for callers that check an
// archive (doctor): the numbers rootfs.Header has no field for.
type RawHeader struct {
	Offset             int64  // byte offset of the header in the archive
	Magic              string // "070701" or "070702"
	Name               string // name exactly as stored
	Ino, Mode, Nlink   uint32 // Mode includes the file type bits
	Devmajor, Devminor uint32 // the archive's device for Ino (0 from minidisk)
	Filesize           uint32
	Check              uint32
}

// NewReader returns a Reader reading from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64<<10)}
}

// Raw returns the stored header of the entry Next returned last.
func (r *Reader) Raw() RawHeader { return r.rec }

// Next advances to the next entry, skipping the rest of the current one. It
// returns io.EOF after the TRAILER!!! entry. Names come back as tree paths
// ("." is "/", "bin/sh" is "/bin/sh"). Hard-link members are regular files
// sharing Raw().Ino; only one of them carries the data.
func (r *Reader) Next() (*rootfs.Header, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.done {
		return nil, io.EOF
	}
	if err := r.skip(r.remain + int64(r.pad)); err != nil {
		return nil, r.fail(err)
	}
	r.remain, r.pad = 0, 0
	start := r.off
	var hdr [headerSize]byte
	if err := r.readFull(hdr[:]); err != nil {
		if err == io.EOF {
			return nil, r.fail(fmt.Errorf("%w: archive ends at byte %d without a TRAILER!!! entry", ErrFormat, start))
		}
		return nil, r.fail(err)
	}
	magic := string(hdr[:6])
	if magic != "070701" && magic != "070702" {
		return nil, r.fail(fmt.Errorf("%w: bad magic %q at byte %d (want 070701)", ErrFormat, sanitize(hdr[:6]), start))
	}
	var f [13]uint32
	for i := range f {
		v, ok := parseHex(hdr[6+i*8 : 14+i*8])
		if !ok {
			return nil, r.fail(fmt.Errorf("%w: header field %d at byte %d is not 8 hex digits: %q", ErrFormat, i, start, sanitize(hdr[6+i*8:14+i*8])))
		}
		f[i] = v
	}
	namesize := f[11]
	if namesize == 0 || namesize > maxName+1 {
		return nil, r.fail(fmt.Errorf("%w: name size %d at byte %d (must be 1..%d)", ErrFormat, namesize, start, maxName+1))
	}
	name := make([]byte, namesize)
	if err := r.readFull(name); err != nil {
		return nil, r.fail(r.truncated(err, start))
	}
	if name[namesize-1] != 0 {
		return nil, r.fail(fmt.Errorf("%w: name at byte %d is not NUL-terminated", ErrFormat, start))
	}
	name = name[:namesize-1]
	if err := r.skip(int64(pad4(headerSize + int64(namesize)))); err != nil {
		return nil, r.fail(r.truncated(err, start))
	}
	r.rec = RawHeader{
		Offset: start, Magic: magic, Name: string(name),
		Ino: f[0], Mode: f[1], Nlink: f[4], Filesize: f[6],
		Devmajor: f[7], Devminor: f[8], Check: f[12],
	}
	if string(name) == trailer {
		r.done = true
		return nil, io.EOF
	}
	h := &rootfs.Header{
		Name:    treePath(string(name)),
		Mode:    f[1] & 0o7777,
		Uid:     f[2],
		Gid:     f[3],
		ModTime: time.Unix(int64(f[5]), 0).UTC(),
	}
	size := int64(f[6])
	switch f[1] & modeType {
	case modeReg:
		h.Type, h.Size = rootfs.TypeReg, size
	case modeDir:
		h.Type = rootfs.TypeDir
	case modeLink:
		h.Type = rootfs.TypeSymlink
	case modeChar:
		h.Type = rootfs.TypeChar
	case modeBlock:
		h.Type = rootfs.TypeBlock
	case modeFIFO:
		h.Type = rootfs.TypeFIFO
	default:
		return nil, r.fail(fmt.Errorf("%w: %s at byte %d has file type %#o, which minidisk does not handle", ErrFormat, sanitize(name), start, f[1]&modeType))
	}
	if h.Type == rootfs.TypeChar || h.Type == rootfs.TypeBlock {
		h.Devmajor, h.Devminor = f[9], f[10]
	}
	r.remain, r.pad = size, pad4(size)
	if h.Type == rootfs.TypeSymlink {
		if size == 0 || size > maxSymlink {
			return nil, r.fail(fmt.Errorf("%w: symlink %s at byte %d has a %d-byte target (must be 1..%d)", ErrFormat, sanitize(name), start, size, maxSymlink))
		}
		target := make([]byte, size)
		if err := r.readFull(target); err != nil {
			return nil, r.fail(r.truncated(err, start))
		}
		r.remain = 0
		h.Linkname = string(target)
	}
	return h, nil
}

// Read reads the current regular file's content; io.EOF at its end.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.remain == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.remain {
		p = p[:r.remain]
	}
	n, err := r.r.Read(p)
	r.remain -= int64(n)
	r.off += int64(n)
	if err == io.EOF {
		if r.remain > 0 {
			return n, r.fail(fmt.Errorf("%w: archive ends inside the content of %s", ErrFormat, sanitize([]byte(r.rec.Name))))
		}
		err = nil
	}
	if err != nil {
		return n, r.fail(err)
	}
	return n, nil
}

func (r *Reader) readFull(p []byte) error {
	n, err := io.ReadFull(r.r, p)
	r.off += int64(n)
	if err == io.ErrUnexpectedEOF {
		return io.EOF
	}
	return err
}

func (r *Reader) skip(n int64) error {
	if n <= 0 {
		return nil
	}
	m, err := io.CopyN(io.Discard, r.r, n)
	r.off += m
	if err == io.EOF {
		return fmt.Errorf("%w: archive ends inside an entry at byte %d", ErrFormat, r.off)
	}
	return err
}

func (r *Reader) truncated(err error, start int64) error {
	if err == io.EOF {
		return fmt.Errorf("%w: archive ends inside the entry at byte %d", ErrFormat, start)
	}
	return err
}

func (r *Reader) fail(err error) error {
	if r.err == nil {
		r.err = err
	}
	return err
}

func parseHex(b []byte) (uint32, bool) {
	var v uint32
	for _, c := range b {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		v = v<<4 | uint32(d)
	}
	return v, true
}

// sanitize quotes untrusted bytes for an error message, shortened.
func sanitize(b []byte) string {
	if len(b) > 64 {
		b = b[:64]
	}
	return fmt.Sprintf("%q", b)
}
