package libs

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
)

// elfSpec describes a synthetic ELF object for tests: just the parts the
// loader reads (header, program headers, PT_INTERP, PT_DYNAMIC, .dynstr).
type elfSpec struct {
	class   elf.Class // default ELFCLASS64
	machine elf.Machine
	typ     elf.Type
	interp  string
	needed  []string
	rpath   string
	runpath string
	soname  string
	static  bool // no PT_DYNAMIC
}

// makeELF lays the object out as one PT_LOAD at vaddr 0 mapping the whole
// file, so DT_STRTAB's address equals its file offset. debug/elf parses the
// result (checked in TestMakeELFParsesWithDebugELF), so the synthetic files
// are real ELF, not a format of our own.
func makeELF(s elfSpec) []byte {
	is64 := s.class != elf.ELFCLASS32
	if s.machine == 0 {
		s.machine = elf.EM_X86_64
		if !is64 {
			s.machine = elf.EM_386
		}
	}
	if s.typ == 0 {
		s.typ = elf.ET_DYN
	}
	ehsize, phentsize, dynent := 64, 56, 16
	if !is64 {
		ehsize, phentsize, dynent = 52, 32, 8
	}
	nph := 1
	if s.interp != "" {
		nph++
	}
	if !s.static {
		nph++
	}
	off := ehsize + nph*phentsize
	interpOff := off
	interp := []byte(s.interp)
	if s.interp != "" {
		interp = append(interp, 0)
	}
	off += len(interp)

	var str bytes.Buffer
	str.WriteByte(0)
	addStr := func(v string) uint64 {
		o := uint64(str.Len())
		str.WriteString(v)
		str.WriteByte(0)
		return o
	}
	type dyn struct{ tag, val uint64 }
	var dyns []dyn
	for _, n := range s.needed {
		dyns = append(dyns, dyn{uint64(elf.DT_NEEDED), addStr(n)})
	}
	if s.soname != "" {
		dyns = append(dyns, dyn{uint64(elf.DT_SONAME), addStr(s.soname)})
	}
	if s.rpath != "" {
		dyns = append(dyns, dyn{uint64(elf.DT_RPATH), addStr(s.rpath)})
	}
	if s.runpath != "" {
		dyns = append(dyns, dyn{uint64(elf.DT_RUNPATH), addStr(s.runpath)})
	}
	strOff := off
	off += str.Len()
	for off%8 != 0 {
		str.WriteByte(0)
		off++
	}
	dyns = append(dyns, dyn{uint64(elf.DT_STRTAB), uint64(strOff)}, dyn{uint64(elf.DT_STRSZ), uint64(str.Len())}, dyn{uint64(elf.DT_NULL), 0})
	dynOff := off
	dynSize := len(dyns) * dynent
	if s.static {
		dynSize = 0
	}
	total := dynOff + dynSize

	bo := binary.LittleEndian
	var b bytes.Buffer
	w := func(v any) { binary.Write(&b, bo, v) }
	ident := [16]byte{0x7f, 'E', 'L', 'F', byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), 1}
	if !is64 {
		ident[elf.EI_CLASS] = byte(elf.ELFCLASS32)
	}
	type ph struct {
		typ              elf.ProgType
		off, vaddr, size uint64
	}
	phs := []ph{{elf.PT_LOAD, 0, 0, uint64(total)}}
	if s.interp != "" {
		phs = append(phs, ph{elf.PT_INTERP, uint64(interpOff), uint64(interpOff), uint64(len(interp))})
	}
	if !s.static {
		phs = append(phs, ph{elf.PT_DYNAMIC, uint64(dynOff), uint64(dynOff), uint64(dynSize)})
	}
	if is64 {
		w(elf.Header64{Ident: ident, Type: uint16(s.typ), Machine: uint16(s.machine), Version: 1,
			Phoff: uint64(ehsize), Ehsize: uint16(ehsize), Phentsize: uint16(phentsize), Phnum: uint16(nph), Shentsize: 64})
		for _, p := range phs {
			w(elf.Prog64{Type: uint32(p.typ), Flags: 4, Off: p.off, Vaddr: p.vaddr, Paddr: p.vaddr, Filesz: p.size, Memsz: p.size, Align: 8})
		}
	} else {
		w(elf.Header32{Ident: ident, Type: uint16(s.typ), Machine: uint16(s.machine), Version: 1,
			Phoff: uint32(ehsize), Ehsize: uint16(ehsize), Phentsize: uint16(phentsize), Phnum: uint16(nph), Shentsize: 40})
		for _, p := range phs {
			w(elf.Prog32{Type: uint32(p.typ), Flags: 4, Off: uint32(p.off), Vaddr: uint32(p.vaddr), Paddr: uint32(p.vaddr), Filesz: uint32(p.size), Memsz: uint32(p.size), Align: 4})
		}
	}
	b.Write(interp)
	b.Write(str.Bytes())
	if !s.static {
		for _, d := range dyns {
			if is64 {
				w(elf.Dyn64{Tag: int64(d.tag), Val: d.val})
			} else {
				w(elf.Dyn32{Tag: int32(d.tag), Val: uint32(d.val)})
			}
		}
	}
	return b.Bytes()
}
