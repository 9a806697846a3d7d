package kerneltest

import (
	"testing"

	"github.com/minidisk/minidisk/kernel"
)

// The fake kernel is what the kernel package's own reader takes for a
// bzImage of protocol 2.15 with FakeVersion.
func TestFakeBzImage(t *testing.T) {
	info, err := kernel.InspectHeaderFile(FakeBzImage(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.Protocol != 0x020F || info.Version != FakeVersion || info.Release() != "6.1.0-fake" {
		t.Fatalf("protocol %#x, version %q, release %q", info.Protocol, info.Version, info.Release())
	}
}
