package uki

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/minidisk/minidisk/internal/debpkg"
	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel"
)

// stubSpec describes a synthetic PE32+ image for tests that need a stub
// without fetching systemd's (bad-input cases, fuzz seeds).
type stubSpec struct {
	machine       uint16
	subsystem     uint16
	sdmagic       bool
	sizeOfHeaders uint32 // 0 means 0x400
}

// makeStub writes the smallest PE32+ image the writer accepts: MZ header,
// PE header at 0x80, the optional header with 16 data directories, and two
// sections (.text, and .sdmagic when asked).
func makeStub(t testing.TB, s stubSpec) []byte {
	t.Helper()
	if s.sizeOfHeaders == 0 {
		s.sizeOfHeaders = 0x400
	}
	names := []string{".text"}
	if s.sdmagic {
		names = append(names, ".sdmagic")
	}
	hdr := int(s.sizeOfHeaders)
	b := make([]byte, hdr+len(names)*0x200)
	copy(b, "MZ")
	binary.LittleEndian.PutUint32(b[dosLfanew:], 0x80)
	copy(b[0x80:], "PE\x00\x00")
	c := b[0x84:]
	binary.LittleEndian.PutUint16(c[0:], s.machine)
	binary.LittleEndian.PutUint16(c[2:], uint16(len(names)))
	binary.LittleEndian.PutUint16(c[16:], 0xF0)
	binary.LittleEndian.PutUint16(c[18:], 0x206)
	o := b[0x98:]
	binary.LittleEndian.PutUint16(o[0:], magicPE32Plus)
	binary.LittleEndian.PutUint32(o[4:], 0x200)   // SizeOfCode
	binary.LittleEndian.PutUint32(o[16:], 0x1000) // entry point
	binary.LittleEndian.PutUint32(o[32:], 0x1000) // SectionAlignment
	binary.LittleEndian.PutUint32(o[36:], 0x200)  // FileAlignment
	binary.LittleEndian.PutUint32(o[56:], uint32(0x1000*(len(names)+1)))
	binary.LittleEndian.PutUint32(o[60:], s.sizeOfHeaders)
	binary.LittleEndian.PutUint16(o[68:], s.subsystem)
	binary.LittleEndian.PutUint32(o[108:], 16)
	tab := b[0x98+0xF0:]
	for i, n := range names {
		e := tab[i*40:]
		copy(e, n)
		binary.LittleEndian.PutUint32(e[8:], 0x100)
		binary.LittleEndian.PutUint32(e[12:], uint32(0x1000*(i+1)))
		binary.LittleEndian.PutUint32(e[16:], 0x200)
		binary.LittleEndian.PutUint32(e[20:], uint32(hdr+i*0x200))
		binary.LittleEndian.PutUint32(e[36:], 0x40000040)
		copy(b[hdr+i*0x200:], "#### LoaderInfo: test-stub 1 ####")
	}
	if s.sdmagic {
		binary.LittleEndian.PutUint32(o[8:], 0x200) // SizeOfInitializedData
	}
	return b
}

func writeTemp(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// goodStub is a synthetic x86-64 systemd-like stub.
func goodStub(t testing.TB) string {
	return writeTemp(t, "stub.efi", makeStub(t, stubSpec{machine: MachineAMD64, subsystem: SubsystemEFIApplication, sdmagic: true}))
}

// fakeKernel writes an EFI-stub bzImage header with no kernel behind it:
// the MZ and PE headers the EFI stub puts in the boot sector (PE header at
// 0x40, no sections), 55AA, "HdrS", protocol 2.15, cmdline_size, a version
// string, and n bytes in all.
func fakeKernel(t testing.TB, n int, cmdlineSize uint32) string {
	t.Helper()
	b := make([]byte, n)
	copy(b, "MZ")
	binary.LittleEndian.PutUint32(b[dosLfanew:], 0x40)
	copy(b[0x40:], "PE\x00\x00")
	binary.LittleEndian.PutUint16(b[0x44:], MachineAMD64)
	binary.LittleEndian.PutUint16(b[0x44+16:], 0xF0)
	o := b[0x58:]
	binary.LittleEndian.PutUint16(o[0:], magicPE32Plus)
	binary.LittleEndian.PutUint32(o[32:], 0x1000)
	binary.LittleEndian.PutUint32(o[36:], 0x200)
	binary.LittleEndian.PutUint32(o[60:], 0x200)
	binary.LittleEndian.PutUint16(o[68:], SubsystemEFIApplication)
	b[kernel.OffSetupSects] = 4
	b[kernel.OffBootFlag], b[kernel.OffBootFlag+1] = 0x55, 0xAA
	copy(b[kernel.OffHeader:], "HdrS")
	binary.LittleEndian.PutUint16(b[kernel.OffVersion:], 0x020F)
	binary.LittleEndian.PutUint16(b[kernel.OffKernelVersion:], 0x300)
	copy(b[0x500:], "6.1.0-test (t@t) #1 SMP\x00")
	binary.LittleEndian.PutUint32(b[kernel.OffCmdlineSize:], cmdlineSize)
	for i := 0x1000; i < n; i++ {
		b[i] = byte(i * 7 / 3)
	}
	return writeTemp(t, "vmlinuz", b)
}

// realStub is systemd's x86-64 stub, found or fetched through FindStub
// into the cache (the code path `minidisk uki` uses).
func realStub(t testing.TB) string {
	t.Helper()
	cache, err := debpkg.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	src, err := FindStub(ctx, cache, true, func(s string) { t.Log(s) })
	if err != nil {
		testutil.Missing(t, "systemd EFI stub: "+err.Error())
	}
	return src.Path
}
