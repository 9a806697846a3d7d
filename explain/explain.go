// Package explain shows the anatomy of a boot disk: every structure the
// firmware, GRUB Legacy and Linux read on the way to a shell prompt — the
// MBR's boot code and partition entries, the stage1.5 GRUB embeds after it,
// the ext2 superblock and group descriptors, the inode and block pointers of
// a file, and the boot chain that ties them together — each field with its
// byte offset in the image, its bytes as stored, its decoded value and what
// it means.
//
// It reuses the parsers the rest of minidisk trusts (disk.ParseMBR,
// grub.ParseStage1/ParseStage15, ext2.Reader, doctor.Diagnose) and only adds
// the offsets and the words, so what explain prints is what the other
// commands act on. It never writes to the image and never panics on a
// hostile one: a view that cannot be read says why.
package explain

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/disk/picture"
	"github.com/minidisk/minidisk/doctor"
	"github.com/minidisk/minidisk/rootfs/ext2"
)

// Field is one on-disk number or string, located in the image.
type Field struct {
	// ID is a stable anchor ("mbr.p1.start_lba"): HTML links to it and
	// other fields cite it in Refs.
	ID   string `json:"id"`
	Name string `json:"name"`
	// Offset is the absolute byte offset in the image file (what dd skip=
	// with bs=1 takes); Size is the field's length in bytes.
	Offset int64 `json:"offset"`
	Size   int   `json:"size"`
	// Raw is the bytes as stored, in hex ("3f 00 00 00").
	Raw string `json:"raw"`
	// Value is the decoded number (little-endian); Text the decoded value
	// as a person reads it ("0/1/1", "83", "/boot/grub/stage2").
	Value   uint64 `json:"value"`
	Text    string `json:"text"`
	Meaning string `json:"meaning"`
	// Patched marks bytes GRUB's setup wrote over the stage file's.
	Patched bool `json:"patched,omitempty"`
	// Refs are the IDs of fields this value was computed from or points at.
	Refs []string `json:"refs,omitempty"`
}

// Section is one structure: a sector, a table entry, a descriptor, a step.
type Section struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Offset and Size locate the structure in the image (bytes).
	Offset int64    `json:"offset"`
	Size   int64    `json:"size"`
	Notes  []string `json:"notes,omitempty"`
	Fields []Field  `json:"fields,omitempty"`
	// Dump is set when the text view shows the bytes as an annotated hex
	// dump (at most a few sectors).
	Dump  bool   `json:"-"`
	bytes []byte // the structure's bytes as read, for the dump
}

// View is what one `explain IMG WHAT` prints.
type View struct {
	Image    string    `json:"image"`
	What     string    `json:"what"`
	Title    string    `json:"title"`
	Sections []Section `json:"sections"`
	// Walk is the path view's result as data (path view only).
	Walk *Walk `json:"walk,omitempty"`
	// Chain is the boot view's steps as data (boot view only).
	Chain []Step `json:"chain,omitempty"`
	// Picture is the layout drawn under the fs view (text and HTML).
	Picture *picture.Picture `json:"-"`
}

// Field finds a field by ID in any section (nil when absent).
func (v *View) Field(id string) *Field {
	for i := range v.Sections {
		for j := range v.Sections[i].Fields {
			if v.Sections[i].Fields[j].ID == id {
				return &v.Sections[i].Fields[j]
			}
		}
	}
	return nil
}

// Section finds a section by ID (nil when absent).
func (v *View) Section(id string) *Section {
	for i := range v.Sections {
		if v.Sections[i].ID == id {
			return &v.Sections[i]
		}
	}
	return nil
}

// Views lists the WHAT arguments in boot order.
var Views = []string{"mbr", "gap", "fs", "path", "boot"}

// ErrUnknownView is returned for a WHAT that is not one of Views.
var ErrUnknownView = errors.New("unknown view")

// Disk is an image opened for explaining: only read, never written.
type Disk struct {
	r    io.ReaderAt
	size int64
	name string

	sector0 []byte
	mbr     *disk.MBR
	rep     *doctor.Report
	fs      *ext2.Reader
	fsBase  int64 // byte offset of the root filesystem in the image
	fsPart  int   // its partition number (1..4), 0 for a bare filesystem
	fsErr   error
	fsDone  bool
}

// Open reads sector 0 of the image (size bytes of r). name is used in
// messages.
func Open(r io.ReaderAt, size int64, name string) (*Disk, error) {
	if size < disk.SectorSize {
		return nil, fmt.Errorf("%s: %d bytes, smaller than the 512-byte MBR (give explain a whole disk image)", name, size)
	}
	d := &Disk{r: r, size: size, name: name, sector0: make([]byte, disk.SectorSize)}
	if err := d.readFull(d.sector0, 0); err != nil {
		return nil, fmt.Errorf("%s: reading sector 0: %w", name, err)
	}
	m, err := disk.ParseMBR(d.sector0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	d.mbr = m
	return d, nil
}

// Explain builds the view WHAT ("mbr", "gap", "fs", "path", "boot"); arg is
// the path for "path". A panic inside a view (a parser meeting a hostile
// image) becomes an error, never a crash.
func (d *Disk) Explain(what, arg string) (v *View, err error) {
	defer func() {
		if p := recover(); p != nil {
			v, err = nil, fmt.Errorf("%s: explain %s crashed on this image (%v); please report it with the image\n%s", d.name, what, p, debug.Stack())
		}
	}()
	switch what {
	case "mbr":
		return d.explainMBR()
	case "gap":
		return d.explainGap()
	case "fs":
		return d.explainFS()
	case "path":
		if arg == "" {
			arg = "/boot/vmlinuz"
		}
		return d.explainPath(arg)
	case "boot":
		return d.explainBoot()
	}
	return nil, fmt.Errorf("%q: %w (give one of %s)", what, ErrUnknownView, strings.Join(Views, ", "))
}

// All builds every view that applies to the image (for --html): views that
// do not apply (no GRUB, no ext2) are left out and their reasons returned.
func (d *Disk) All(path string) ([]*View, []error) {
	var out []*View
	var errs []error
	for _, w := range Views {
		v, err := d.Explain(w, path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, v)
	}
	return out, errs
}

// readFull reads len(b) bytes at off, failing on a short read.
func (d *Disk) readFull(b []byte, off int64) error {
	if off < 0 || off+int64(len(b)) > d.size {
		return fmt.Errorf("bytes %d..%d lie past the image end (%d bytes)", off, off+int64(len(b))-1, d.size)
	}
	n, err := d.r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// report runs doctor once: it knows which partition is root, where GRUB's
// stages are and what the menu says.
func (d *Disk) report() *doctor.Report {
	if d.rep == nil {
		d.rep = doctor.Diagnose(d.r, d.size, doctor.Options{Name: d.name, MaxFiles: 1})
	}
	return d.rep
}

// rootFS opens the filesystem doctor chose as root.
func (d *Disk) rootFS() (*ext2.Reader, error) {
	if d.fsDone {
		return d.fs, d.fsErr
	}
	d.fsDone = true
	rep := d.report()
	if rep.FS == nil {
		d.fsErr = fmt.Errorf("%s: no ext2 filesystem found (scheme %q); explain fs and path read the root filesystem of an MBR disk", d.name, rep.Scheme)
		return nil, d.fsErr
	}
	d.fsBase, d.fsPart = rep.FS.OffsetBytes, rep.FS.Partition
	d.fs, d.fsErr = ext2.Open(d.r, rep.FS.OffsetBytes, rep.FS.PartitionBytes)
	if d.fsErr != nil {
		d.fsErr = fmt.Errorf("%s: %w", d.name, d.fsErr)
	}
	return d.fs, d.fsErr
}

// field builds a Field from the bytes at off inside buf (which starts at
// image byte base): raw hex and the little-endian value.
func field(id, name string, buf []byte, base int64, off, size int, meaning string) Field {
	f := Field{ID: id, Name: name, Offset: base + int64(off), Size: size, Meaning: meaning}
	if off < 0 || off+size > len(buf) {
		f.Meaning += " (not readable: outside the bytes read)"
		return f
	}
	b := buf[off : off+size]
	f.Raw = hexBytes(b)
	if size <= 8 {
		for i := size - 1; i >= 0; i-- {
			f.Value = f.Value<<8 | uint64(b[i])
		}
	}
	f.Text = fmt.Sprint(f.Value)
	return f
}

func hexBytes(b []byte) string {
	s := hex.EncodeToString(b)
	var sb strings.Builder
	for i := 0; i < len(s); i += 2 {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(s[i : i+2])
	}
	return sb.String()
}

// cString is b up to its first NUL.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
