package kmod

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// ModInfo is what a module's ELF ".modinfo" section says about it. The
// section is a run of NUL-terminated "key=value" strings written by
// MODULE_INFO() and modpost (include/linux/moduleparam.h __MODULE_INFO;
// scripts/mod/modpost.c adds depends= and vermagic=).
type ModInfo struct {
	Name     string   `json:"name"`     // name= (KBUILD_MODNAME); "" in modules older than 5.3
	Vermagic string   `json:"vermagic"` // "6.1.0-57-cloud-amd64 SMP preempt mod_unload modversions "
	Depends  []string `json:"depends"`  // depends=a,b: modules whose symbols it uses
	// Softdeps are the softdep= strings ("pre: a b post: c"), in section
	// order. SoftPre and SoftPost are the names (modules or aliases) of
	// the first one only: modprobe applies only the first softdep entry
	// for a module (libkmod kmod_module_get_softdeps: "find only the
	// first command, as modprobe from module-init-tools does"), and depmod
	// writes one entry per softdep= string (btrfs has four).
	Softdeps []string `json:"softdeps,omitempty"`
	SoftPre  []string `json:"soft_pre,omitempty"`
	SoftPost []string `json:"soft_post,omitempty"`
	Aliases  []string `json:"aliases,omitempty"` // alias= patterns (fnmatch globs), e.g. "pci:v00008086d00007010sv*"
	License  string   `json:"license,omitempty"`
}

// Release is the kernel release the module was built for: the first word
// of vermagic (include/linux/vermagic.h: UTS_RELEASE " " then flags).
func (m *ModInfo) Release() string {
	f := strings.Fields(m.Vermagic)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// maxModule bounds what is decompressed for one module: the largest 6.1
// module (amdgpu.ko) is about 20 MB.
const maxModule = 256 << 20

// Compression returns how a module file is compressed, from its name as
// kmod's "make modules_install" writes it (scripts/Makefile.modinst:
// gzip -n, xz --check=crc32 --lzma2=dict=1MiB, zstd): "", "gz", "xz" or
// "zst".
func Compression(name string) string {
	for _, ext := range []string{"gz", "xz", "zst"} {
		if strings.HasSuffix(name, ".ko."+ext) {
			return ext
		}
	}
	return ""
}

// moduleName returns the module name a file name gives ("ata_piix" for
// "ata_piix.ko.xz"), "" when it is not a module file. kmod does the same
// (path_to_modname) and normalises '-' to '_'.
func moduleName(file string) string {
	base := file[strings.LastIndexByte(file, '/')+1:]
	if ext := Compression(base); ext != "" {
		base = strings.TrimSuffix(base, "."+ext)
	}
	if !strings.HasSuffix(base, ".ko") || len(base) == 3 {
		return ""
	}
	return Normalize(strings.TrimSuffix(base, ".ko"))
}

// Normalize returns the canonical spelling of a module name: kmod treats
// '-' and '_' as the same character (modname_normalize).
func Normalize(name string) string { return strings.ReplaceAll(name, "-", "_") }

// normalizeAlias is kmod's alias_normalize: '-' becomes '_' except inside
// a [...] bracket expression of a glob.
func normalizeAlias(a string) string {
	if !strings.Contains(a, "-") {
		return a
	}
	b := []byte(a)
	inBracket := false
	for i, c := range b {
		switch {
		case c == '[':
			inBracket = true
		case c == ']':
			inBracket = false
		case c == '-' && !inBracket:
			b[i] = '_'
		}
	}
	return string(b)
}

// ReadModInfoFS reads the module file name in fsys, decompressing
// .ko.gz, .ko.xz and .ko.zst, and parses its .modinfo.
func ReadModInfoFS(fsys fs.FS, name string) (*ModInfo, error) {
	if Compression(name) == "" {
		// An uncompressed module is parsed in place: debug/elf reads the
		// headers and the .modinfo section, a few KiB of a file that is
		// often megabytes.
		if f, err := fsys.Open(name); err == nil {
			ra, isRA := f.(io.ReaderAt)
			st, serr := f.Stat()
			if isRA && serr == nil && st.Mode().IsRegular() {
				mi, err := parseModInfoAt(ra, st.Size())
				f.Close()
				if err != nil {
					return nil, wrapFileErr(name, err)
				}
				return mi, nil
			}
			f.Close()
		}
	}
	data, err := readModuleFS(fsys, name)
	if err != nil {
		return nil, err
	}
	mi, err := ParseModInfo(data)
	if err != nil {
		return nil, wrapFileErr(name, err)
	}
	return mi, nil
}

// readModuleFS returns the (decompressed) ELF bytes of a module file.
// Uncompressed modules are returned whole too: debug/elf needs random
// access and a .ko is a few hundred KiB.
func readModuleFS(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return decompressModule(name, f)
}

// decompressModule reads a module, decompressing according to the file
// name. A stream that ends early is a *TruncatedError.
func decompressModule(name string, r io.Reader) ([]byte, error) {
	var src io.Reader
	kind := Compression(name)
	switch kind {
	case "":
		src = r
	case "gz":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, streamErr(name, kind, err)
		}
		src = zr
	case "xz":
		zr, err := xz.NewReader(r)
		if err != nil {
			return nil, streamErr(name, kind, err)
		}
		src = zr
	case "zst":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxModule))
		if err != nil {
			return nil, streamErr(name, kind, err)
		}
		defer zr.Close()
		src = zr
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(src, maxModule+1))
	if err != nil {
		return nil, streamErr(name, kind, err)
	}
	if n > maxModule {
		return nil, fmt.Errorf("%s: larger than %d MiB decompressed: not a kernel module", name, maxModule>>20)
	}
	return buf.Bytes(), nil
}

// streamErr classifies a decompression error: an early end of the stream
// is a truncated file, anything else a corrupt one.
func streamErr(name, kind string, err error) error {
	if kind == "" {
		return fmt.Errorf("%s: %w", name, err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || strings.Contains(err.Error(), "unexpected EOF") {
		return &TruncatedError{File: name, Format: kind, Err: err}
	}
	return &CorruptError{File: name, Format: kind, Err: err}
}

// ParseModInfo reads the .modinfo section of an ELF module image. It never
// panics: malformed input is an error (a non-ELF file is *NotELFError with
// an empty File; callers add the file name).
func ParseModInfo(data []byte) (*ModInfo, error) {
	return parseModInfoAt(bytes.NewReader(data), int64(len(data)))
}

func parseModInfoAt(r io.ReaderAt, size int64) (mi *ModInfo, err error) {
	magic := make([]byte, 4)
	if _, err := r.ReadAt(magic, 0); err != nil || string(magic) != "\x7fELF" {
		return nil, &NotELFError{}
	}
	// debug/elf is fuzzed upstream but has panicked on hostile input in
	// past releases; turn a missed case into an error, not a crash.
	defer func() {
		if v := recover(); v != nil {
			mi, err = nil, fmt.Errorf("corrupt ELF (parser panic: %v)", v)
		}
	}()
	if mi, ok, err := modInfoELF64LE(r, size); ok {
		return mi, err
	}
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("corrupt ELF: %w", err)
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, errors.New("ELF file without a .modinfo section: not a kernel module")
	}
	if sec.Type == elf.SHT_NOBITS || sec.Size > uint64(size) || sec.Offset > uint64(size)-sec.Size {
		return nil, errors.New("corrupt .modinfo section (larger than the file)")
	}
	raw, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("corrupt .modinfo section: %w", err)
	}
	return parseModInfoStrings(raw), nil
}

// parseModInfoStrings parses NUL-separated key=value strings (also the
// per-module records of modules.builtin.modinfo, after the "name." prefix
// is removed).
func parseModInfoStrings(raw []byte) *ModInfo {
	mi := &ModInfo{Depends: []string{}}
	for _, kv := range bytes.Split(raw, []byte{0}) {
		key, val, ok := strings.Cut(string(kv), "=")
		if !ok {
			continue // alignment padding between strings
		}
		mi.add(key, val)
	}
	return mi
}

func (mi *ModInfo) add(key, val string) {
	switch key {
	case "name":
		mi.Name = val
	case "vermagic":
		mi.Vermagic = val
	case "license":
		mi.License = val
	case "alias":
		mi.Aliases = append(mi.Aliases, val)
	case "depends":
		for _, d := range strings.Split(val, ",") {
			if d = strings.TrimSpace(d); d != "" {
				mi.Depends = append(mi.Depends, Normalize(d))
			}
		}
	case "softdep":
		mi.Softdeps = append(mi.Softdeps, val)
		if len(mi.Softdeps) > 1 {
			return
		}
		// "pre: a b post: c"; words before the first pre:/post: are
		// ignored, as kmod's config parser ignores them
		// (kmod_config_add_softdep).
		mode := ""
		for _, w := range strings.Fields(val) {
			switch w {
			case "pre:", "post:":
				mode = w
			default:
				switch mode {
				case "pre:":
					mi.SoftPre = append(mi.SoftPre, w)
				case "post:":
					mi.SoftPost = append(mi.SoftPost, w)
				}
			}
		}
	}
}

// modInfoELF64LE finds .modinfo in a 64-bit little-endian ELF file (x86-64,
// arm64, riscv64 modules) with four reads: the header, the section header
// table, the section-name table, the section. debug/elf builds every
// section's reader and name first, which is most of the cost of indexing
// a tree's aliases. ok is false for anything else (32-bit, big-endian,
// extended section numbering): debug/elf reads those.
func modInfoELF64LE(r io.ReaderAt, size int64) (mi *ModInfo, ok bool, err error) {
	const ehdrSize, shdrSize = 64, 64
	var h [ehdrSize]byte
	if _, err := r.ReadAt(h[:], 0); err != nil {
		return nil, false, nil
	}
	if elf.Class(h[elf.EI_CLASS]) != elf.ELFCLASS64 || elf.Data(h[elf.EI_DATA]) != elf.ELFDATA2LSB {
		return nil, false, nil
	}
	le := binary.LittleEndian
	shoff := le.Uint64(h[0x28:])
	shentsize, shnum, shstrndx := le.Uint16(h[0x3A:]), uint64(le.Uint16(h[0x3C:])), uint64(le.Uint16(h[0x3E:]))
	if shentsize != shdrSize || shnum == 0 || shstrndx >= shnum || size < 0 {
		return nil, false, nil
	}
	fsize := uint64(size)
	if shoff > fsize || shnum*shdrSize > fsize-shoff {
		return nil, true, errors.New("corrupt ELF: section headers lie outside the file")
	}
	sh := make([]byte, shnum*shdrSize)
	if _, err := r.ReadAt(sh, int64(shoff)); err != nil {
		return nil, true, fmt.Errorf("corrupt ELF: %w", err)
	}
	section := func(i uint64, limit uint64) ([]byte, error) {
		e := sh[i*shdrSize:]
		if elf.SectionType(le.Uint32(e[4:])) == elf.SHT_NOBITS {
			return nil, errors.New("corrupt ELF: section without file data")
		}
		off, n := le.Uint64(e[24:]), le.Uint64(e[32:])
		if off > fsize || n > fsize-off || n > limit {
			return nil, errors.New("corrupt ELF: section lies outside the file")
		}
		b := make([]byte, n)
		if _, err := r.ReadAt(b, int64(off)); err != nil {
			return nil, fmt.Errorf("corrupt ELF: %w", err)
		}
		return b, nil
	}
	names, err := section(shstrndx, 1<<20)
	if err != nil {
		return nil, true, err
	}
	for i := uint64(0); i < shnum; i++ {
		name := uint64(le.Uint32(sh[i*shdrSize:]))
		if name >= uint64(len(names)) || !bytes.HasPrefix(names[name:], []byte(".modinfo\x00")) {
			continue
		}
		raw, err := section(i, maxModule)
		if err != nil {
			return nil, true, fmt.Errorf("corrupt .modinfo section: %w", err)
		}
		return parseModInfoStrings(raw), true, nil
	}
	return nil, true, errors.New("ELF file without a .modinfo section: not a kernel module")
}
