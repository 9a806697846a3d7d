package libs

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// Limits on what we read from an ELF file. The loader reads only the ELF
// header, the program headers, PT_INTERP and the PT_DYNAMIC segment with the
// string table it points to; hostile files must not make us allocate more
// than these caps. Real files are far below them: glibc's libc.so.6 has 14
// program headers, ~30 dynamic entries and a ~20 KiB .dynstr.
const (
	maxInterpLen   = 4096    // PATH_MAX: the kernel rejects longer PT_INTERP
	maxDynamicSize = 1 << 20 // bytes of PT_DYNAMIC we parse
	maxNameLen     = 4096    // bytes of one DT_NEEDED/RPATH/RUNPATH/SONAME string
	maxNeeded      = 4096    // DT_NEEDED entries per object
	maxWholeRead   = 1 << 30 // files read whole when the fs.File has no ReadAt
)

// elfInfo is what the loader needs from one object, read through program
// headers as ld.so does (section headers may be stripped or lie; ld.so never
// reads them).
type elfInfo struct {
	class      elf.Class
	data       elf.Data
	machine    elf.Machine
	osabi      elf.OSABI
	typ        elf.Type
	interp     string   // PT_INTERP, "" if none
	dynamic    bool     // has PT_DYNAMIC
	needed     []string // DT_NEEDED in order
	rpath      []string // DT_RPATH, split on ':' (ignored by ld.so when DT_RUNPATH is present)
	runpath    []string // DT_RUNPATH, split on ':'
	hasRunpath bool
	soname     string // DT_SONAME
	nodeflib   bool   // DF_1_NODEFLIB: dependencies not searched in the cache or default directories
}

// errNotELF marks a file that does not start with the ELF magic.
var errNotELF = errors.New("not an ELF file")

// elfIdent is the part of the header ld.so compares against the loading
// object before accepting a candidate library (elf/dl-load.c
// open_verify: class, data encoding, OS ABI, machine).
type elfIdent struct {
	class   elf.Class
	data    elf.Data
	machine elf.Machine
	osabi   elf.OSABI
	typ     elf.Type
}

// compatible reports whether a library with ident o may be loaded into a
// process whose main object has ident m, as ld.so decides: same class, byte
// order and machine; an OS ABI of SYSV or GNU (Linux) on both.
func (m elfIdent) compatible(o elfIdent) bool {
	abiOK := func(a elf.OSABI) bool { return a == elf.ELFOSABI_NONE || a == elf.ELFOSABI_LINUX }
	return m.class == o.class && m.data == o.data && m.machine == o.machine && abiOK(o.osabi)
}

func (e *elfInfo) ident() elfIdent {
	return elfIdent{class: e.class, data: e.data, machine: e.machine, osabi: e.osabi, typ: e.typ}
}

// readerAtFile opens name in fsys and returns a ReaderAt over it with its
// size. fs.File need not implement io.ReaderAt (our ext2 reader might not);
// then the file is read whole, capped.
func readerAtFile(fsys fs.FS, name string) (io.ReaderAt, int64, func() error, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, 0, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, nil, fmt.Errorf("not a regular file (%s)", st.Mode().Type())
	}
	if ra, ok := f.(io.ReaderAt); ok {
		return ra, st.Size(), f.Close, nil
	}
	if st.Size() > maxWholeRead {
		f.Close()
		return nil, 0, nil, fmt.Errorf("file too large to read (%d bytes)", st.Size())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxWholeRead+1))
	f.Close()
	if err != nil {
		return nil, 0, nil, err
	}
	return bytes.NewReader(b), int64(len(b)), func() error { return nil }, nil
}

// readAt reads exactly n bytes at off, checking the range against size first
// so that a hostile offset or length never turns into a huge allocation.
func readAt(r io.ReaderAt, size int64, off, n uint64, what string) ([]byte, error) {
	if off > uint64(size) || n > uint64(size)-off {
		return nil, fmt.Errorf("corrupt ELF: %s at offset %d+%d beyond end of file (%d bytes)", what, off, n, size)
	}
	b := make([]byte, n)
	if _, err := r.ReadAt(b, int64(off)); err != nil && !(err == io.EOF && n == 0) {
		return nil, fmt.Errorf("corrupt ELF: reading %s: %w", what, err)
	}
	return b, nil
}

// prog is a program header reduced to the fields we use.
type prog struct {
	typ                elf.ProgType
	off, vaddr, filesz uint64
}

// readIdent reads and checks the ELF header only.
func readIdent(r io.ReaderAt, size int64) (elfIdent, []byte, error) {
	var id elfIdent
	n := int64(64)
	if size < n {
		n = size
	}
	hdr := make([]byte, n)
	if _, err := r.ReadAt(hdr, 0); err != nil && err != io.EOF {
		return id, nil, err
	}
	if len(hdr) < elf.EI_NIDENT || !bytes.Equal(hdr[:4], []byte(elf.ELFMAG)) {
		return id, nil, errNotELF
	}
	id.class = elf.Class(hdr[elf.EI_CLASS])
	id.data = elf.Data(hdr[elf.EI_DATA])
	id.osabi = elf.OSABI(hdr[elf.EI_OSABI])
	var hdrLen int
	switch id.class {
	case elf.ELFCLASS32:
		hdrLen = 52
	case elf.ELFCLASS64:
		hdrLen = 64
	default:
		return id, nil, fmt.Errorf("corrupt ELF: unknown class %d", hdr[elf.EI_CLASS])
	}
	if id.data != elf.ELFDATA2LSB && id.data != elf.ELFDATA2MSB {
		return id, nil, fmt.Errorf("corrupt ELF: unknown data encoding %d", hdr[elf.EI_DATA])
	}
	if len(hdr) < hdrLen {
		return id, nil, fmt.Errorf("corrupt ELF: truncated header (%d of %d bytes)", len(hdr), hdrLen)
	}
	bo := byteOrder(id.data)
	id.typ = elf.Type(bo.Uint16(hdr[16:]))
	id.machine = elf.Machine(bo.Uint16(hdr[18:]))
	return id, hdr[:hdrLen], nil
}

func byteOrder(d elf.Data) binary.ByteOrder {
	if d == elf.ELFDATA2MSB {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// parseELF reads the loader-relevant parts of an ELF object. It never panics
// on hostile input: every offset is checked against size before reading, and
// every count is capped.
func parseELF(r io.ReaderAt, size int64) (*elfInfo, error) {
	id, hdr, err := readIdent(r, size)
	if err != nil {
		return nil, err
	}
	info := &elfInfo{class: id.class, data: id.data, machine: id.machine, osabi: id.osabi, typ: id.typ}
	bo := byteOrder(id.data)
	is64 := id.class == elf.ELFCLASS64

	var phoff uint64
	var phentsize, phnum uint16
	var wantEnt uint16
	if is64 {
		phoff = bo.Uint64(hdr[32:])
		phentsize, phnum = bo.Uint16(hdr[54:]), bo.Uint16(hdr[56:])
		wantEnt = 56
	} else {
		phoff = uint64(bo.Uint32(hdr[28:]))
		phentsize, phnum = bo.Uint16(hdr[42:]), bo.Uint16(hdr[44:])
		wantEnt = 32
	}
	if phnum == 0 {
		// No program headers: a relocatable object or a broken file; there
		// is nothing the loader would map.
		return info, nil
	}
	if phnum == 0xffff {
		// PN_XNUM: the real count is in section 0; ld.so does not support
		// it (elf/dl-load.c reads e_phnum only), so neither do we.
		return nil, fmt.Errorf("corrupt ELF: extended program header count (PN_XNUM) not supported")
	}
	if phentsize != wantEnt {
		return nil, fmt.Errorf("corrupt ELF: program header size %d, want %d", phentsize, wantEnt)
	}
	raw, err := readAt(r, size, phoff, uint64(phnum)*uint64(phentsize), "program headers")
	if err != nil {
		return nil, err
	}
	progs := make([]prog, phnum)
	for i := range progs {
		b := raw[i*int(phentsize):]
		if is64 {
			progs[i] = prog{typ: elf.ProgType(bo.Uint32(b[0:])), off: bo.Uint64(b[8:]), vaddr: bo.Uint64(b[16:]), filesz: bo.Uint64(b[32:])}
		} else {
			progs[i] = prog{typ: elf.ProgType(bo.Uint32(b[0:])), off: uint64(bo.Uint32(b[4:])), vaddr: uint64(bo.Uint32(b[8:])), filesz: uint64(bo.Uint32(b[16:]))}
		}
	}

	var dyn *prog
	for i := range progs {
		p := &progs[i]
		switch p.typ {
		case elf.PT_INTERP:
			if p.filesz == 0 || p.filesz > maxInterpLen {
				return nil, fmt.Errorf("corrupt ELF: PT_INTERP of %d bytes", p.filesz)
			}
			b, err := readAt(r, size, p.off, p.filesz, "PT_INTERP")
			if err != nil {
				return nil, err
			}
			if i := bytes.IndexByte(b, 0); i >= 0 {
				b = b[:i]
			}
			if len(b) == 0 {
				return nil, fmt.Errorf("corrupt ELF: empty PT_INTERP")
			}
			info.interp = string(b)
		case elf.PT_DYNAMIC:
			if dyn == nil {
				dyn = p
			}
		}
	}
	if dyn == nil {
		return info, nil
	}
	info.dynamic = true
	if dyn.filesz > maxDynamicSize {
		return nil, fmt.Errorf("corrupt ELF: PT_DYNAMIC of %d bytes", dyn.filesz)
	}
	draw, err := readAt(r, size, dyn.off, dyn.filesz, "PT_DYNAMIC")
	if err != nil {
		return nil, err
	}
	entSize := 8
	if is64 {
		entSize = 16
	}
	var strtab, strsz uint64
	var haveStrtab bool
	var needed, rpath, runpath []uint64
	var soname uint64
	var haveSoname bool
	for off := 0; off+entSize <= len(draw); off += entSize {
		var tag int64
		var val uint64
		if is64 {
			tag, val = int64(bo.Uint64(draw[off:])), bo.Uint64(draw[off+8:])
		} else {
			tag, val = int64(int32(bo.Uint32(draw[off:]))), uint64(bo.Uint32(draw[off+4:]))
		}
		switch elf.DynTag(tag) {
		case elf.DT_NULL:
			off = len(draw) // stop: entries after DT_NULL are padding
		case elf.DT_NEEDED:
			if len(needed) >= maxNeeded {
				return nil, fmt.Errorf("corrupt ELF: more than %d DT_NEEDED entries", maxNeeded)
			}
			needed = append(needed, val)
		case elf.DT_RPATH:
			rpath = append(rpath, val)
		case elf.DT_RUNPATH:
			runpath = append(runpath, val)
		case elf.DT_SONAME:
			soname, haveSoname = val, true
		case elf.DT_STRTAB:
			strtab, haveStrtab = val, true
		case elf.DT_STRSZ:
			strsz = val
		case elf.DT_FLAGS_1:
			info.nodeflib = val&uint64(elf.DF_1_NODEFLIB) != 0
		}
	}
	if len(needed)+len(rpath)+len(runpath) == 0 && !haveSoname {
		return info, nil
	}
	if !haveStrtab {
		return nil, fmt.Errorf("corrupt ELF: dynamic section names libraries but has no DT_STRTAB")
	}
	// DT_STRTAB is a virtual address: map it to a file offset through the
	// PT_LOAD segment that contains it, as the loaded image would.
	var stroff uint64
	found := false
	for _, p := range progs {
		if p.typ == elf.PT_LOAD && strtab >= p.vaddr && strtab-p.vaddr < p.filesz {
			stroff = p.off + (strtab - p.vaddr)
			avail := p.filesz - (strtab - p.vaddr)
			if strsz == 0 || strsz > avail {
				strsz = avail
			}
			found = true
			break
		}
	}
	if !found {
		return nil, fmt.Errorf("corrupt ELF: DT_STRTAB address %#x is in no PT_LOAD segment", strtab)
	}
	if stroff > uint64(size) {
		return nil, fmt.Errorf("corrupt ELF: DT_STRTAB at offset %d beyond end of file", stroff)
	}
	if strsz > uint64(size)-stroff {
		strsz = uint64(size) - stroff
	}
	// Read only the strings referenced, not the whole table: a library's
	// .dynstr holds every exported symbol name (hundreds of KiB for big
	// ones) while the loader needs a few names.
	getStr := func(off uint64, what string) (string, error) {
		if off >= strsz {
			return "", fmt.Errorf("corrupt ELF: %s string offset %d beyond string table (%d bytes)", what, off, strsz)
		}
		var out []byte
		for chunk := uint64(256); ; chunk *= 2 {
			n := min(chunk, strsz-off, maxNameLen+1)
			b, err := readAt(r, size, stroff+off, n, what)
			if err != nil {
				return "", err
			}
			if i := bytes.IndexByte(b, 0); i >= 0 {
				return string(b[:i]), nil
			}
			out = b
			if n == strsz-off || n > maxNameLen {
				break
			}
		}
		return "", fmt.Errorf("corrupt ELF: %s string at offset %d not terminated within %d bytes", what, off, len(out))
	}
	for _, o := range needed {
		s, err := getStr(o, "DT_NEEDED")
		if err != nil {
			return nil, err
		}
		info.needed = append(info.needed, s)
	}
	splitPaths := func(offs []uint64, what string) ([]string, error) {
		var out []string
		for _, o := range offs {
			s, err := getStr(o, what)
			if err != nil {
				return nil, err
			}
			out = append(out, splitPathList(s)...)
		}
		return out, nil
	}
	if info.rpath, err = splitPaths(rpath, "DT_RPATH"); err != nil {
		return nil, err
	}
	if info.runpath, err = splitPaths(runpath, "DT_RUNPATH"); err != nil {
		return nil, err
	}
	info.hasRunpath = len(runpath) > 0
	if haveSoname {
		if info.soname, err = getStr(soname, "DT_SONAME"); err != nil {
			return nil, err
		}
	}
	return info, nil
}

// splitPathList splits a colon-separated search path. ld.so treats an empty
// element as the current directory (elf/dl-load.c fillin_rpath); a sysroot
// has no current directory, so empty elements are dropped.
func splitPathList(s string) []string {
	var out []string
	for _, p := range bytes.Split([]byte(s), []byte(":")) {
		if len(p) > 0 {
			out = append(out, string(p))
		}
	}
	return out
}
