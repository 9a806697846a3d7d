package kernel

import (
	"errors"
	"testing"
)

// TestParseSetupHeaderProtocolGates: fields a boot protocol predates read
// as boot.rst's defaults (setup_sects 0 means 4, 255-byte command line
// before 2.06, no payload before 2.08), whatever the bytes hold.
func TestParseSetupHeaderProtocolGates(t *testing.T) {
	b := make([]byte, SetupHeaderEnd)
	b[OffBootFlag], b[OffBootFlag+1] = 0x55, 0xAA
	copy(b[OffHeader:], "HdrS")
	for _, off := range []int{OffCmdlineSize, OffPayloadOffset, OffPayloadLength} {
		b[off] = 0x77
	}
	b[OffVersion], b[OffVersion+1] = 0x05, 0x02 // 2.05
	h, err := ParseSetupHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.SetupSects != 4 || h.ProtectedModeOffset() != 5*512 || h.CmdlineSize != 255 || h.PayloadOffset != 0 || h.PayloadLength != 0 {
		t.Errorf("protocol 2.05: %+v", h)
	}
	b[OffVersion] = 0x08 // 2.08
	if h, _ = ParseSetupHeader(b); h.CmdlineSize != 0x77 || h.PayloadOffset != 0x77 || h.PayloadLength != 0x77 {
		t.Errorf("protocol 2.08: %+v", h)
	}
	if _, err := ParseSetupHeader(b[:SetupHeaderEnd-1]); !errors.Is(err, ErrNotBzImage) {
		t.Errorf("short header: %v", err)
	}
}

// FuzzParseSetupHeader: hostile bytes give ErrNotBzImage or a header whose
// derived offsets stay in the ranges the one-byte and two-byte fields allow.
func FuzzParseSetupHeader(f *testing.F) {
	f.Add(fakeBzImage(f, gzipBytes(f, vmlinuxWith), "6.1"))
	f.Add([]byte("MZ"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseSetupHeader(data)
		if err != nil {
			if !errors.Is(err, ErrNotBzImage) {
				t.Fatalf("error %v does not wrap ErrNotBzImage", err)
			}
			return
		}
		if h.SetupSects < 1 || h.SetupSects > 255 || h.ProtectedModeOffset() > 256*512 {
			t.Fatalf("setup_sects %d", h.SetupSects)
		}
		if off := h.VersionOffset(); off != 0 && (off < 0x200 || off > 0x200+0xFFFF) {
			t.Fatalf("version offset %#x", off)
		}
	})
}
