package testutil

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// FakeBzImage writes a file with a valid x86 boot-protocol header (0x55AA
// at 0x1FE, "HdrS" at 0x202, protocol 2.15, a version string) and no kernel
// behind it: for tests that check images, not boot them.
func FakeBzImage(t testing.TB) string {
	t.Helper()
	b := make([]byte, 64<<10)
	b[0x1F1] = 4 // setup_sects
	b[0x1FE], b[0x1FF] = 0x55, 0xAA
	copy(b[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(b[0x206:], 0x020F)
	copy(b[0x400:], "6.1.0-fake (test) #1\x00")
	binary.LittleEndian.PutUint16(b[0x20E:], 0x200) // kernel_version: offset from 0x200
	for i := 0x1000; i < len(b); i++ {
		b[i] = byte(i * 31)
	}
	p := filepath.Join(t.TempDir(), "bzImage")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
