// Package uki reads and writes Unified Kernel Images (UAPI group
// specification "Unified Kernel Image"): a systemd EFI stub, a PE32+ EFI
// application, with the kernel, the initramfs, the command line and
// os-release appended as PE sections (.linux, .initrd, .cmdline, .osrel,
// .uname, .splash). Firmware runs the stub; the stub finds the sections in
// its own loaded image and starts the kernel with them.
//
// The writer is the equivalent of
//
//	objcopy --add-section .osrel=FILE --change-section-vma .osrel=ADDR ... stub uki.efi
//
// in pure Go: the same header updates, the same file layout (the stub's COFF
// symbol table moved behind the new sections, as objcopy moves it), so
// objdump describes both files alike; but deterministic (the stub's
// timestamp is kept, where objcopy stamps the clock) and streaming (the
// kernel and initramfs are copied, never held in memory).
//
// The parser (Parse, File.Open) reads any PE file defensively: doctor runs
// it on images it did not make.
package uki

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// PE/COFF facts (Microsoft "PE Format" specification).
const (
	// MachineAMD64 is IMAGE_FILE_MACHINE_AMD64.
	MachineAMD64 = 0x8664
	// SubsystemEFIApplication is IMAGE_SUBSYSTEM_EFI_APPLICATION.
	SubsystemEFIApplication = 10
	// magicPE32Plus is the optional header magic of a 64-bit image.
	magicPE32Plus = 0x20B
	magicPE32     = 0x10B

	// Section characteristics.
	scnCntCode            = 0x00000020
	scnCntInitializedData = 0x00000040
	scnMemRead            = 0x40000000
	// addedCharacteristics is what objcopy --add-section gives a section
	// from a file: initialized data, readable ("CONTENTS, ALLOC, LOAD,
	// READONLY, DATA" in objdump -h).
	addedCharacteristics = scnCntInitializedData | scnMemRead

	dosLfanew          = 0x3C // offset of the PE header's offset in the MZ header
	coffHeaderSize     = 20
	sectionHeaderSize  = 40
	symbolSize         = 18 // one COFF symbol table record
	maxSections        = 96 // the PE spec's loader limit
	dirSecurity        = 4  // data directory index of the certificate table
	maxOptionalHeader  = 4096
	optChecksumOffset  = 64 // CheckSum in the optional header (PE32 and PE32+)
	optSizeOfCode      = 4
	optSizeOfInitData  = 8
	optSectionAlign    = 32
	optFileAlign       = 36
	optSizeOfImage     = 56
	optSizeOfHeaders   = 60
	optSubsystem       = 68
	optNumDirs32Plus   = 108
	optNumDirs32       = 92
	coffNumSections    = 2 // offsets inside the COFF header, after "PE\0\0"
	coffTimeDateStamp  = 4
	coffSymbolTablePtr = 8
	coffNumSymbols     = 12
	coffSizeOfOptional = 16
	coffCharacteristic = 18
)

// ErrNotPE means the input is not a PE/COFF image at all (no "MZ", no
// "PE\0\0" signature): callers tell "not an EFI program" from a damaged one.
var ErrNotPE = errors.New("not a PE/COFF executable")

// Section is one entry of the section table.
type Section struct {
	Name            string
	VirtualAddress  uint32
	VirtualSize     uint32
	Offset          uint32 // PointerToRawData
	RawSize         uint32 // SizeOfRawData
	Characteristics uint32
}

// Size is the number of content bytes the section holds in the file: its
// VirtualSize (a UKI's stub takes a section's length from it; objcopy sets
// it to the added file's exact size), but never more than its file data.
func (s Section) Size() int64 {
	n := int64(s.VirtualSize)
	if n == 0 || n > int64(s.RawSize) {
		n = int64(s.RawSize)
	}
	return n
}

// File is a parsed PE image: the header fields the writer and doctor use,
// and the section table.
type File struct {
	r    io.ReaderAt
	size int64

	PEOffset              int64 // offset of "PE\0\0"
	Machine               uint16
	TimeDateStamp         uint32
	PointerToSymbolTable  uint32
	NumberOfSymbols       uint32
	Characteristics       uint16
	Magic                 uint16 // 0x20B for PE32+
	SizeOfCode            uint32
	SizeOfInitializedData uint32
	SectionAlignment      uint32
	FileAlignment         uint32
	SizeOfImage           uint32
	SizeOfHeaders         uint32
	CheckSum              uint32
	Subsystem             uint16
	// DataDirectories are (RVA, size) pairs; index 4 is the certificate
	// table, whose "RVA" is a file offset.
	DataDirectories [][2]uint32
	Sections        []Section

	optOffset          int64 // optional header
	sectionTableOffset int64
}

// Size is the file's length.
func (f *File) Size() int64 { return f.size }

// Parse reads the headers and section table of a PE image. It checks every
// offset against size and never panics; sections whose data lies outside
// the file are reported by Open, not here, so a damaged image can still be
// listed.
func Parse(r io.ReaderAt, size int64) (*File, error) {
	if size < 0x40 {
		return nil, fmt.Errorf("%w (only %d bytes)", ErrNotPE, size)
	}
	mz := make([]byte, 0x40)
	if _, err := r.ReadAt(mz, 0); err != nil {
		return nil, fmt.Errorf("reading the MZ header: %w", err)
	}
	if mz[0] != 'M' || mz[1] != 'Z' {
		return nil, fmt.Errorf("%w (starts % x, not \"MZ\")", ErrNotPE, mz[:2])
	}
	f := &File{r: r, size: size}
	f.PEOffset = int64(binary.LittleEndian.Uint32(mz[dosLfanew:]))
	if f.PEOffset < 0x40 || f.PEOffset+4+coffHeaderSize > size {
		return nil, fmt.Errorf("%w (PE header offset %#x at 0x3C lies outside the %d-byte file)", ErrNotPE, f.PEOffset, size)
	}
	coff := make([]byte, 4+coffHeaderSize)
	if _, err := r.ReadAt(coff, f.PEOffset); err != nil {
		return nil, fmt.Errorf("reading the COFF header: %w", err)
	}
	if string(coff[:4]) != "PE\x00\x00" {
		return nil, fmt.Errorf("%w (no \"PE\\0\\0\" signature at %#x)", ErrNotPE, f.PEOffset)
	}
	c := coff[4:]
	f.Machine = binary.LittleEndian.Uint16(c[0:])
	nsec := int(binary.LittleEndian.Uint16(c[coffNumSections:]))
	f.TimeDateStamp = binary.LittleEndian.Uint32(c[coffTimeDateStamp:])
	f.PointerToSymbolTable = binary.LittleEndian.Uint32(c[coffSymbolTablePtr:])
	f.NumberOfSymbols = binary.LittleEndian.Uint32(c[coffNumSymbols:])
	optSize := int64(binary.LittleEndian.Uint16(c[coffSizeOfOptional:]))
	f.Characteristics = binary.LittleEndian.Uint16(c[coffCharacteristic:])
	f.optOffset = f.PEOffset + 4 + coffHeaderSize
	if optSize < optSubsystem+2 || optSize > maxOptionalHeader || f.optOffset+optSize > size {
		return nil, fmt.Errorf("optional header of %d bytes does not fit (an image needs one of at least %d bytes inside the file)", optSize, optSubsystem+2)
	}
	opt := make([]byte, optSize)
	if _, err := r.ReadAt(opt, f.optOffset); err != nil {
		return nil, fmt.Errorf("reading the optional header: %w", err)
	}
	f.Magic = binary.LittleEndian.Uint16(opt)
	var dirsAt int64
	switch f.Magic {
	case magicPE32Plus:
		dirsAt = optNumDirs32Plus
	case magicPE32:
		dirsAt = optNumDirs32
	default:
		return nil, fmt.Errorf("optional header magic %#x is neither PE32 (0x10b) nor PE32+ (0x20b)", f.Magic)
	}
	u32 := func(off int) uint32 { return binary.LittleEndian.Uint32(opt[off:]) }
	f.SizeOfCode = u32(optSizeOfCode)
	f.SizeOfInitializedData = u32(optSizeOfInitData)
	f.SectionAlignment = u32(optSectionAlign)
	f.FileAlignment = u32(optFileAlign)
	f.SizeOfImage = u32(optSizeOfImage)
	f.SizeOfHeaders = u32(optSizeOfHeaders)
	f.CheckSum = u32(optChecksumOffset)
	f.Subsystem = binary.LittleEndian.Uint16(opt[optSubsystem:])
	if dirsAt+4 <= optSize {
		n := int64(binary.LittleEndian.Uint32(opt[dirsAt:]))
		for i := int64(0); i < n && dirsAt+4+8*i+8 <= optSize; i++ {
			o := dirsAt + 4 + 8*i
			f.DataDirectories = append(f.DataDirectories, [2]uint32{u32(int(o)), u32(int(o + 4))})
		}
	}
	f.sectionTableOffset = f.optOffset + optSize
	if nsec > maxSections {
		return nil, fmt.Errorf("%d sections, more than the %d a PE loader accepts", nsec, maxSections)
	}
	if f.sectionTableOffset+int64(nsec)*sectionHeaderSize > size {
		return nil, fmt.Errorf("the section table (%d entries at %#x) runs past the end of the %d-byte file", nsec, f.sectionTableOffset, size)
	}
	tab := make([]byte, nsec*sectionHeaderSize)
	if _, err := r.ReadAt(tab, f.sectionTableOffset); err != nil {
		return nil, fmt.Errorf("reading the section table: %w", err)
	}
	for i := 0; i < nsec; i++ {
		e := tab[i*sectionHeaderSize:]
		f.Sections = append(f.Sections, Section{
			Name:            sectionName(e[:8]),
			VirtualSize:     binary.LittleEndian.Uint32(e[8:]),
			VirtualAddress:  binary.LittleEndian.Uint32(e[12:]),
			RawSize:         binary.LittleEndian.Uint32(e[16:]),
			Offset:          binary.LittleEndian.Uint32(e[20:]),
			Characteristics: binary.LittleEndian.Uint32(e[36:]),
		})
	}
	return f, nil
}

// sectionName decodes the 8-byte, NUL-padded name; other bytes are shown
// escaped so a hostile name cannot inject text into a report.
func sectionName(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	var sb strings.Builder
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			fmt.Fprintf(&sb, "\\x%02x", c)
			continue
		}
		sb.WriteByte(c)
	}
	return sb.String()
}

// Section returns the first section named name.
func (f *File) Section(name string) (Section, bool) {
	for _, s := range f.Sections {
		if s.Name == name {
			return s, true
		}
	}
	return Section{}, false
}

// Open returns a reader of the section's content (Section.Size bytes), or
// an error when that lies outside the file.
func (f *File) Open(s Section) (*io.SectionReader, error) {
	n := s.Size()
	if n > 0 && int64(s.Offset)+n > f.size {
		return nil, fmt.Errorf("section %s: data at %#x+%#x runs past the end of the %d-byte file", s.Name, s.Offset, n, f.size)
	}
	return io.NewSectionReader(f.r, int64(s.Offset), n), nil
}

// ReadSection reads a small section whole, refusing one over max bytes.
func (f *File) ReadSection(name string, max int64) ([]byte, error) {
	s, ok := f.Section(name)
	if !ok {
		return nil, fmt.Errorf("no %s section", name)
	}
	if s.Size() > max {
		return nil, fmt.Errorf("section %s is %d bytes, more than the %d expected", name, s.Size(), max)
	}
	sr, err := f.Open(s)
	if err != nil {
		return nil, err
	}
	b := make([]byte, s.Size())
	if _, err := io.ReadFull(sr, b); err != nil {
		return nil, fmt.Errorf("section %s: %w", name, err)
	}
	return b, nil
}

// IsUKI reports whether the image carries a kernel section, which is what
// makes a PE file a UKI (UAPI "Unified Kernel Image": .linux is required).
func (f *File) IsUKI() bool {
	_, ok := f.Section(".linux")
	return ok
}

// StubVersion is the systemd stub's self-description from .sdmagic
// ("#### LoaderInfo: systemd-stub 252.39-1~deb12u2 ####"), trimmed to the
// version part; "" without one.
func (f *File) StubVersion() string {
	b, err := f.ReadSection(".sdmagic", 4096)
	if err != nil {
		return ""
	}
	s := strings.TrimRight(string(b), "\x00")
	s = strings.TrimPrefix(s, "#### LoaderInfo: ")
	s = strings.TrimSuffix(s, " ####")
	return sectionName([]byte(s))
}
