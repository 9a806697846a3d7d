package kmod

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// makeModule builds a minimal relocatable x86-64 ELF object whose only
// content is a .modinfo section holding fields as NUL-terminated strings,
// the way modpost lays them out (padding NULs included). debug/elf and
// the host's modinfo(8) read it (TestMakeModuleIsELF).
func makeModule(fields ...string) []byte {
	var modinfo bytes.Buffer
	for _, f := range fields {
		modinfo.WriteString(f)
		modinfo.WriteByte(0)
		modinfo.WriteByte(0) // alignment padding, as __MODULE_INFO's aligned strings leave
	}
	shstr := []byte("\x00.modinfo\x00.shstrtab\x00")
	const ehsize, shentsize = 64, 64
	infoOff := ehsize
	strOff := infoOff + modinfo.Len()
	shOff := (strOff + len(shstr) + 7) &^ 7
	buf := make([]byte, shOff+3*shentsize)
	copy(buf, "\x7fELF")
	buf[4], buf[5], buf[6] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), 1
	le := binary.LittleEndian
	le.PutUint16(buf[16:], uint16(elf.ET_REL))
	le.PutUint16(buf[18:], uint16(elf.EM_X86_64))
	le.PutUint32(buf[20:], 1)
	le.PutUint64(buf[40:], uint64(shOff))
	le.PutUint16(buf[52:], ehsize)
	le.PutUint16(buf[58:], shentsize)
	le.PutUint16(buf[60:], 3) // shnum
	le.PutUint16(buf[62:], 2) // shstrndx
	copy(buf[infoOff:], modinfo.Bytes())
	copy(buf[strOff:], shstr)
	sh := func(i int, name uint32, typ elf.SectionType, off, size int) {
		b := buf[shOff+i*shentsize:]
		le.PutUint32(b[0:], name)
		le.PutUint32(b[4:], uint32(typ))
		le.PutUint64(b[24:], uint64(off))
		le.PutUint64(b[32:], uint64(size))
		le.PutUint64(b[48:], 1)
	}
	sh(1, 1, elf.SHT_PROGBITS, infoOff, modinfo.Len())
	sh(2, 10, elf.SHT_STRTAB, strOff, len(shstr))
	return buf
}

// compress wraps data as a module file of kind (gz, xz, zst) would be.
func compress(t testing.TB, kind string, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	switch kind {
	case "":
		return data
	case "gz":
		w := gzip.NewWriter(&b)
		w.Write(data)
		w.Close()
	case "xz":
		w, err := xz.WriterConfig{CheckSum: xz.CRC32}.NewWriter(&b)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		w.Close()
	case "zst":
		w, _ := zstd.NewWriter(&b)
		w.Write(data)
		w.Close()
	}
	return b.Bytes()
}

// fakeTree writes a lib/modules/VERSION tree under root: files maps a
// path relative to the tree to its content.
func fakeTree(t testing.TB, version string, files map[string][]byte) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "lib", "modules", version)
	for p, data := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func vermagic(v string) string { return "vermagic=" + v + " SMP preempt mod_unload modversions " }

func builtinModinfo(recs ...string) []byte {
	return []byte(strings.Join(recs, "\x00") + "\x00")
}
