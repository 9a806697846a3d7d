package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Offsets of the x86 boot sector and setup header fields minidisk reads
// (Documentation/arch/x86/boot.rst, "The Real-Mode Kernel Header"; the
// same layout is struct setup_header in arch/x86/include/uapi/asm/
// bootparam.h, which starts at 0x1F1). This is the one place these
// offsets are written down: efi/uki and doctor go through ParseSetupHeader.
const (
	OffSetupSects    = 0x1F1 // setup_sects: 512-byte sectors of real-mode setup after the boot sector
	OffBootFlag      = 0x1FE // boot_flag: 0xAA55 (bytes 55 AA)
	OffHeader        = 0x202 // header: "HdrS" (protocol >= 2.00)
	OffVersion       = 0x206 // version: boot protocol, e.g. 0x020F for 2.15
	OffKernelVersion = 0x20E // kernel_version: pointer to the version string, minus 0x200
	OffLoadFlags     = 0x211 // loadflags: bit 0 LOADED_HIGH
	OffXLoadFlags    = 0x236 // xloadflags (protocol >= 2.12)
	OffCmdlineSize   = 0x238 // cmdline_size (protocol >= 2.06)
	OffPayloadOffset = 0x248 // payload_offset (protocol >= 2.08), relative to the protected-mode code
	OffPayloadLength = 0x24C // payload_length (protocol >= 2.08)
	// SetupHeaderEnd is how many bytes from the start of the file
	// ParseSetupHeader needs: up to and including payload_length.
	SetupHeaderEnd = OffPayloadLength + 4

	// setupSectsDefault is boot.rst's "if this field is 0, the real value is 4".
	setupSectsDefault = 4
	// cmdlineSizeBefore206 is the command line limit before cmdline_size
	// existed (boot.rst: "the maximum command line size is 255 characters"
	// for protocol 2.05 and earlier), without the NUL.
	cmdlineSizeBefore206 = 255
)

// ErrNotBzImage means the bytes are not a Linux x86 boot image: too short,
// no "HdrS", or no 55AA boot flag.
var ErrNotBzImage = errors.New("not a Linux bzImage")

// SetupHeader is the x86 boot sector's setup header, the fields a boot
// loader (and a UKI's stub) reads before it starts the kernel. Fields that
// the image's boot protocol is too old to have are zero, except those
// whose documented default is not zero (SetupSects, CmdlineSize).
type SetupHeader struct {
	SetupSects    int    // real-mode setup sectors after the boot sector (0 in the file means 4)
	Protocol      uint16 // e.g. 0x020F for 2.15
	KernelVersion uint16 // kernel_version: the version string is at KernelVersion+0x200; 0 when none
	LoadFlags     byte
	XLoadFlags    uint16 // protocol >= 2.12
	// CmdlineSize is the longest command line the kernel accepts, without
	// the NUL: cmdline_size from protocol 2.06, 255 before.
	CmdlineSize   uint32
	PayloadOffset uint32 // protocol >= 2.08, from the start of the protected-mode code
	PayloadLength uint32 // protocol >= 2.08
}

// ParseSetupHeader decodes the setup header from the first bytes of a
// bzImage (at least SetupHeaderEnd of them). It checks the 55AA boot flag
// and "HdrS"; it does not judge the protocol version, which callers do
// for what they need. Errors wrap ErrNotBzImage; it never panics.
func ParseSetupHeader(b []byte) (*SetupHeader, error) {
	if len(b) < SetupHeaderEnd {
		return nil, fmt.Errorf("%w (only %d bytes; a bzImage header alone is %d)", ErrNotBzImage, len(b), SetupHeaderEnd)
	}
	if string(b[OffHeader:OffHeader+4]) != "HdrS" {
		return nil, fmt.Errorf(`%w (no "HdrS" header at 0x202)`, ErrNotBzImage)
	}
	if b[OffBootFlag] != 0x55 || b[OffBootFlag+1] != 0xAA {
		return nil, fmt.Errorf("%w (boot flag at 0x1FE is %02X%02X, not 55AA)", ErrNotBzImage, b[OffBootFlag], b[OffBootFlag+1])
	}
	le := binary.LittleEndian
	h := &SetupHeader{
		SetupSects:    int(b[OffSetupSects]),
		Protocol:      le.Uint16(b[OffVersion:]),
		KernelVersion: le.Uint16(b[OffKernelVersion:]),
		LoadFlags:     b[OffLoadFlags],
		CmdlineSize:   cmdlineSizeBefore206,
	}
	if h.SetupSects == 0 {
		h.SetupSects = setupSectsDefault
	}
	if h.Protocol >= 0x0206 {
		h.CmdlineSize = le.Uint32(b[OffCmdlineSize:])
	}
	if h.Protocol >= 0x0208 {
		h.PayloadOffset = le.Uint32(b[OffPayloadOffset:])
		h.PayloadLength = le.Uint32(b[OffPayloadLength:])
	}
	if h.Protocol >= 0x020C {
		h.XLoadFlags = le.Uint16(b[OffXLoadFlags:])
	}
	return h, nil
}

// ProtectedModeOffset is the file offset of the protected-mode kernel:
// the boot sector and the setup sectors come first (boot.rst: "the
// protected-mode kernel ... starts at (setup_sects+1)*512").
func (h *SetupHeader) ProtectedModeOffset() int64 { return int64(h.SetupSects+1) * 512 }

// VersionOffset is the file offset of the NUL-terminated version string,
// or 0 when the header has none.
func (h *SetupHeader) VersionOffset() int64 {
	if h.KernelVersion == 0 {
		return 0
	}
	return int64(h.KernelVersion) + 0x200
}

// maxVersionString bounds the version string read (a 6.1 Debian kernel's
// is about 90 bytes).
const maxVersionString = 256

// ReadVersion reads the version string kernel_version points to (what
// `file` prints after "version"; its first word is what uname -r says),
// or "" when there is none or it is not printable text.
func (h *SetupHeader) ReadVersion(r io.ReaderAt, size int64) string {
	off := h.VersionOffset()
	if off == 0 {
		return ""
	}
	return readCString(r, off, size, maxVersionString)
}
