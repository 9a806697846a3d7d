package kerneltest

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/minidisk/minidisk/kernel"
)

// FakeVersion is the version string FakeBzImage carries.
const FakeVersion = "6.1.0-fake (test) #1"

// FakeBzImage writes a file with a valid x86 boot-protocol header (setup
// sectors, the 55AA boot flag, "HdrS", protocol 2.15, a version string at
// the offsets kernel.ParseSetupHeader reads) and no kernel behind it: for
// tests that check images, not boot them. It works with -short.
func FakeBzImage(t testing.TB) string {
	t.Helper()
	const versionAt = 0x400 // the version string, after the 4 setup sectors' first two
	b := make([]byte, 64<<10)
	b[kernel.OffSetupSects] = 4
	b[kernel.OffBootFlag], b[kernel.OffBootFlag+1] = 0x55, 0xAA
	copy(b[kernel.OffHeader:], "HdrS")
	binary.LittleEndian.PutUint16(b[kernel.OffVersion:], 0x020F)
	copy(b[versionAt:], FakeVersion+"\x00")
	binary.LittleEndian.PutUint16(b[kernel.OffKernelVersion:], versionAt-0x200) // kernel_version counts from 0x200
	for i := 0x1000; i < len(b); i++ {
		b[i] = byte(i * 31)
	}
	p := filepath.Join(t.TempDir(), "bzImage")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
