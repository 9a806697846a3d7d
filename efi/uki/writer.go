package uki

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// pageSize is the UEFI page (UEFI 2.10 §7.2 AllocatePages: 4 KiB). New
// sections start on a page even when the stub's SectionAlignment is
// smaller (Debian's systemd 252 stub has 0x200): the stub hands the
// in-memory .initrd to the kernel, which frees initrd memory page by page,
// and a page boundary is aligned to any SectionAlignment up to 4 KiB too.
const pageSize = 4096

// Payload is one section to append: Size bytes that Open yields. Open is
// called once, while writing, so a kernel is streamed from its file.
type Payload struct {
	Name string
	Size int64
	Open func() (io.ReadCloser, error)
}

// BytesPayload is a Payload of an in-memory value (.cmdline, .osrel).
func BytesPayload(name string, b []byte) Payload {
	return Payload{Name: name, Size: int64(len(b)), Open: func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}}
}

// Layout is where everything goes in the output: the stub's bytes with
// patched headers, the new sections, then the stub's symbol table.
type Layout struct {
	Stub  *File
	Added []Section // the new section table entries, in file order
	// Sections is the whole output section table, the stub's then ours.
	Sections []Section
	FileSize int64

	SizeOfImage           uint32
	SizeOfInitializedData uint32
	TimeDateStamp         uint32
	PointerToSymbolTable  uint32 // moved behind the new sections; 0 when the stub has none

	stubDataEnd int64 // end of the stub's headers and section data
	tailOffset  int64 // stub offset of the symbol and string tables, -1 without
	tailLen     int64
	header      []byte // the output's first SizeOfHeaders bytes, checksum 0
	payloads    []Payload
}

// NewLayout places payloads after the stub's last section: each at the
// next page-aligned address past the previous section's end (so aligned to
// the stub's SectionAlignment too), its file data at the next FileAlignment
// boundary. timeDateStamp nil keeps the stub's.
//
// It refuses, with the reason, what the writer cannot do faithfully: a
// section table that would overflow the header space (the stub's section
// data would have to move, changing what its relocations point at), a
// signed stub (the signature would not cover the new sections), data after
// the last section that is not a COFF symbol table, and a duplicate name.
func NewLayout(stub *File, payloads []Payload, timeDateStamp *uint32) (*Layout, error) {
	fa, sa := int64(stub.FileAlignment), int64(stub.SectionAlignment)
	if fa < 512 || fa > 65536 || fa&(fa-1) != 0 {
		return nil, fmt.Errorf("FileAlignment %#x is not a power of two from 512 to 64K (PE format)", fa)
	}
	if sa < fa || sa&(sa-1) != 0 {
		return nil, fmt.Errorf("SectionAlignment %#x is not a power of two at least FileAlignment %#x (PE format)", sa, fa)
	}
	if int64(stub.SizeOfHeaders) > stub.size || stub.SizeOfHeaders%uint32(fa) != 0 {
		return nil, fmt.Errorf("SizeOfHeaders %#x is not a FileAlignment multiple inside the %d-byte file", stub.SizeOfHeaders, stub.size)
	}
	if len(stub.DataDirectories) > dirSecurity && stub.DataDirectories[dirSecurity][1] != 0 {
		return nil, errors.New("it is signed (certificate table present); the signature would not cover the added sections: use the unsigned stub and sign the finished UKI (sbsign)")
	}
	if len(payloads) == 0 {
		return nil, errors.New("no sections to add")
	}
	l := &Layout{Stub: stub, TimeDateStamp: stub.TimeDateStamp, payloads: payloads, tailOffset: -1}
	if timeDateStamp != nil {
		l.TimeDateStamp = *timeDateStamp
	}

	// The stub's own extent in the file and in memory.
	dataEnd := int64(stub.SizeOfHeaders)
	var vEnd int64
	for _, s := range stub.Sections {
		if s.RawSize > 0 {
			end := int64(s.Offset) + int64(s.RawSize)
			if int64(s.Offset) < int64(stub.SizeOfHeaders) || end > stub.size {
				return nil, fmt.Errorf("section %s's data (%#x+%#x) lies outside the file's section area", s.Name, s.Offset, s.RawSize)
			}
			dataEnd = max(dataEnd, end)
		}
		vs := int64(s.VirtualSize)
		if vs == 0 {
			vs = int64(s.RawSize)
		}
		vEnd = max(vEnd, int64(s.VirtualAddress)+vs)
	}
	l.stubDataEnd = dataEnd
	// Behind the section data there may be only the COFF symbol table and
	// its string table (PE format §4.6; objcopy moves them to the end), or
	// zero padding.
	gapEnd := stub.size
	if stub.PointerToSymbolTable != 0 {
		pst := int64(stub.PointerToSymbolTable)
		if pst < dataEnd || pst >= stub.size {
			return nil, fmt.Errorf("COFF symbol table at %#x is not behind the section data (which ends at %#x)", pst, dataEnd)
		}
		l.tailOffset, l.tailLen, gapEnd = pst, stub.size-pst, pst
	}
	if err := allZero(stub.r, dataEnd, gapEnd); err != nil {
		return nil, err
	}

	// The section table grows in place: it must fit below SizeOfHeaders,
	// in bytes nobody uses.
	nsec := len(stub.Sections) + len(payloads)
	if nsec > maxSections {
		return nil, fmt.Errorf("%d sections would exceed the PE loader limit of %d", nsec, maxSections)
	}
	tableEnd := stub.sectionTableOffset + int64(nsec)*sectionHeaderSize
	if tableEnd > int64(stub.SizeOfHeaders) {
		return nil, fmt.Errorf("no room for %d more section headers: the table would end at %#x, past SizeOfHeaders %#x (%d free entries); growing the headers would move every section of the stub",
			len(payloads), tableEnd, stub.SizeOfHeaders, (int64(stub.SizeOfHeaders)-stub.sectionTableOffset)/sectionHeaderSize-int64(len(stub.Sections)))
	}
	oldTableEnd := stub.sectionTableOffset + int64(len(stub.Sections))*sectionHeaderSize
	if err := allZero(stub.r, oldTableEnd, tableEnd); err != nil {
		return nil, fmt.Errorf("the header space after the section table is in use: %w", err)
	}

	seen := map[string]bool{}
	for _, s := range stub.Sections {
		seen[s.Name] = true
	}
	rawAt := alignUp(dataEnd, fa)
	va := alignUp(vEnd, pageSize)
	initData := int64(stub.SizeOfInitializedData)
	for _, p := range payloads {
		if len(p.Name) == 0 || len(p.Name) > 8 || p.Name[0] != '.' {
			return nil, fmt.Errorf("section name %q: want a dot and up to 7 more characters (longer names need a string table)", p.Name)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("the stub already has a %s section (is it a UKI already?)", p.Name)
		}
		seen[p.Name] = true
		if p.Size <= 0 || p.Size > 1<<31 {
			return nil, fmt.Errorf("section %s: size %d is outside 1 byte..2 GiB", p.Name, p.Size)
		}
		raw := alignUp(p.Size, fa)
		s := Section{Name: p.Name, VirtualAddress: uint32(va), VirtualSize: uint32(p.Size),
			Offset: uint32(rawAt), RawSize: uint32(raw), Characteristics: addedCharacteristics}
		if va+alignUp(raw, sa) > 1<<32-1 || rawAt+raw > 1<<32-1 {
			return nil, fmt.Errorf("section %s does not fit below 4 GiB, the PE32+ limit of an image", p.Name)
		}
		l.Added = append(l.Added, s)
		initData += raw
		rawAt += raw
		va = alignUp(va+p.Size, pageSize)
	}
	if initData > 1<<32-1 {
		return nil, errors.New("the initialized data would exceed 4 GiB")
	}
	l.SizeOfInitializedData = uint32(initData)
	l.Sections = append(append([]Section{}, stub.Sections...), l.Added...)
	// SizeOfImage: the last section's end, rounded to FileAlignment then
	// SectionAlignment, as binutils computes it (peXXigen.c, SA(FA(size))).
	imageEnd := int64(stub.SizeOfImage)
	if n := len(l.Added); n > 0 {
		last := l.Added[n-1]
		imageEnd = int64(last.VirtualAddress) + alignUp(alignUp(int64(last.VirtualSize), fa), sa)
	}
	l.SizeOfImage = uint32(imageEnd)
	l.FileSize = rawAt
	if l.tailOffset >= 0 {
		l.PointerToSymbolTable = uint32(rawAt)
		l.FileSize += l.tailLen
	}

	// The new headers.
	h := make([]byte, stub.SizeOfHeaders)
	if _, err := stub.r.ReadAt(h, 0); err != nil {
		return nil, fmt.Errorf("reading the headers: %w", err)
	}
	coff := stub.PEOffset + 4
	binary.LittleEndian.PutUint16(h[coff+coffNumSections:], uint16(nsec))
	binary.LittleEndian.PutUint32(h[coff+coffTimeDateStamp:], l.TimeDateStamp)
	binary.LittleEndian.PutUint32(h[coff+coffSymbolTablePtr:], l.PointerToSymbolTable)
	binary.LittleEndian.PutUint32(h[stub.optOffset+optSizeOfInitData:], l.SizeOfInitializedData)
	binary.LittleEndian.PutUint32(h[stub.optOffset+optSizeOfImage:], l.SizeOfImage)
	binary.LittleEndian.PutUint32(h[stub.optOffset+optChecksumOffset:], 0)
	for i, s := range l.Added {
		e := h[oldTableEnd+int64(i)*sectionHeaderSize:][:sectionHeaderSize]
		copy(e[:8], s.Name)
		binary.LittleEndian.PutUint32(e[8:], s.VirtualSize)
		binary.LittleEndian.PutUint32(e[12:], s.VirtualAddress)
		binary.LittleEndian.PutUint32(e[16:], s.RawSize)
		binary.LittleEndian.PutUint32(e[20:], s.Offset)
		binary.LittleEndian.PutUint32(e[36:], s.Characteristics)
	}
	l.header = h
	return l, nil
}

func alignUp(n, a int64) int64 { return (n + a - 1) / a * a }

// allZero checks that bytes [from, to) of r are zero.
func allZero(r io.ReaderAt, from, to int64) error {
	buf := make([]byte, 32<<10)
	for off := from; off < to; {
		n := min(int64(len(buf)), to-off)
		if _, err := r.ReadAt(buf[:n], off); err != nil {
			return fmt.Errorf("reading %#x..%#x: %w", off, off+n, err)
		}
		for i, b := range buf[:n] {
			if b != 0 {
				return fmt.Errorf("non-zero byte at %#x between the sections' end (%#x) and %#x: data that is no section (a signature or an appended payload?) would be lost", off+int64(i), from, to)
			}
		}
		off += n
	}
	return nil
}

// WriterAtWriter is what WriteTo needs: sequential writes, then one
// WriteAt for the checksum (an *os.File).
type WriterAtWriter interface {
	io.Writer
	io.WriterAt
}

// WriteTo writes the image to w, which must be empty and positioned at 0,
// and returns the PE checksum it stored.
func (l *Layout) WriteTo(w WriterAtWriter) (uint32, error) {
	cw := &checksumWriter{w: w}
	if _, err := cw.Write(l.header); err != nil {
		return 0, err
	}
	stub := l.Stub
	if _, err := io.Copy(cw, io.NewSectionReader(stub.r, int64(stub.SizeOfHeaders), l.stubDataEnd-int64(stub.SizeOfHeaders))); err != nil {
		return 0, fmt.Errorf("copying the stub: %w", err)
	}
	if err := cw.pad(int64(l.Added[0].Offset) - cw.n); err != nil {
		return 0, err
	}
	for i, p := range l.payloads {
		s := l.Added[i]
		if err := copyPayload(cw, p); err != nil {
			return 0, err
		}
		if err := cw.pad(int64(s.Offset) + int64(s.RawSize) - cw.n); err != nil {
			return 0, err
		}
	}
	if l.tailOffset >= 0 {
		if _, err := io.Copy(cw, io.NewSectionReader(stub.r, l.tailOffset, l.tailLen)); err != nil {
			return 0, fmt.Errorf("copying the stub's symbol table: %w", err)
		}
	}
	if cw.n != l.FileSize {
		return 0, fmt.Errorf("wrote %d bytes, the layout says %d", cw.n, l.FileSize)
	}
	sum := cw.sum()
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], sum)
	if _, err := w.WriteAt(b[:], l.Stub.optOffset+optChecksumOffset); err != nil {
		return 0, err
	}
	return sum, nil
}

// copyPayload copies exactly p.Size bytes: a file that changed size since
// it was measured is an error, not a silently different section.
func copyPayload(w io.Writer, p Payload) error {
	rc, err := p.Open()
	if err != nil {
		return fmt.Errorf("section %s: %w", p.Name, err)
	}
	defer rc.Close()
	n, err := io.Copy(w, io.LimitReader(rc, p.Size))
	if err != nil {
		return fmt.Errorf("section %s: %w", p.Name, err)
	}
	if n != p.Size {
		return fmt.Errorf("section %s: got %d bytes, expected %d (did the file change?)", p.Name, n, p.Size)
	}
	if k, _ := rc.Read(make([]byte, 1)); k != 0 {
		return fmt.Errorf("section %s: longer than the %d bytes measured (did the file change?)", p.Name, p.Size)
	}
	return nil
}

// checksumWriter counts bytes and sums them as the PE checksum does
// (Microsoft's CheckSumMappedFile, and binutils' coff_compute_checksum):
// the file as little-endian 16-bit words, an odd last byte padded with
// zero, added with end-around carry, then the file length added. The
// CheckSum field itself counts as zero, so the header is written with 0.
type checksumWriter struct {
	w       io.Writer
	n       int64
	acc     uint64
	odd     bool
	oddByte byte
}

func (c *checksumWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.add(p[:n])
	return n, err
}

func (c *checksumWriter) add(p []byte) {
	c.n += int64(len(p))
	if c.odd && len(p) > 0 {
		c.acc += uint64(c.oddByte) | uint64(p[0])<<8
		p = p[1:]
		c.odd = false
	}
	for len(p) >= 2 {
		c.acc += uint64(binary.LittleEndian.Uint16(p))
		p = p[2:]
	}
	if len(p) == 1 {
		c.odd, c.oddByte = true, p[0]
	}
	// Fold now and then; 2^48 words cannot overflow in between.
	if c.acc > 1<<48 {
		c.acc = c.acc&0xffff + c.acc>>16
	}
}

// zeros is padding; an array in BSS costs nothing until it is read.
var zeros [64 << 10]byte

func (c *checksumWriter) pad(n int64) error {
	for n > 0 {
		k := min(n, int64(len(zeros)))
		if _, err := c.Write(zeros[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

func (c *checksumWriter) sum() uint32 {
	acc := c.acc
	if c.odd {
		acc += uint64(c.oddByte)
	}
	for acc > 0xffff {
		acc = acc&0xffff + acc>>16
	}
	return uint32(acc) + uint32(c.n)
}
