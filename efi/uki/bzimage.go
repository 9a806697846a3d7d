package uki

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// Offsets in the x86 boot sector and setup header (Documentation/arch/x86/
// boot.rst, "The real-mode kernel header"). The kernel package reads the
// same header, but it also builds kernels (flock, process groups) and does
// not compile for Windows, which this package must.
const (
	bzBootFlag      = 0x1FE // 0xAA55
	bzHeader        = 0x202 // "HdrS"
	bzVersion       = 0x206 // boot protocol
	bzKernelVersion = 0x20E // pointer to the version string, minus 0x200
	bzCmdlineSize   = 0x238 // protocol >= 2.06
	bzHeaderEnd     = 0x23C
)

// KernelInfo is what a UKI needs to know about its .linux.
type KernelInfo struct {
	Protocol uint16 // boot protocol, e.g. 0x020F
	Release  string // first word of the version string: what uname -r prints
	Version  string // the whole version string
	// CmdlineSize is the longest command line the kernel accepts, without
	// the NUL: cmdline_size from protocol 2.06, 255 before.
	CmdlineSize int
	PE          *File // the kernel's own PE/COFF header (the EFI stub)
}

// InspectKernel checks that r is an x86-64 EFI-stub bzImage: the boot
// sector's 55AA, "HdrS", and a PE32+ header for x86-64 with the EFI
// application subsystem, which is what lets the stub (and firmware) start
// it. Hostile input gives an error, never a panic.
func InspectKernel(r io.ReaderAt, size int64) (*KernelInfo, error) {
	if size < bzHeaderEnd {
		return nil, fmt.Errorf("%w: %d bytes, shorter than a bzImage header", ErrKernel, size)
	}
	h := make([]byte, bzHeaderEnd)
	if _, err := r.ReadAt(h, 0); err != nil {
		return nil, fmt.Errorf("reading the boot header: %w", err)
	}
	if string(h[:4]) == "\x7fELF" {
		return nil, fmt.Errorf("%w: an ELF file (vmlinux?); a UKI takes the compressed bzImage (vmlinuz)", ErrKernel)
	}
	if string(h[bzHeader:bzHeader+4]) != "HdrS" || h[bzBootFlag] != 0x55 || h[bzBootFlag+1] != 0xAA {
		return nil, fmt.Errorf("%w: not a Linux bzImage (no 55AA boot flag and \"HdrS\" at 0x1FE/0x202)", ErrKernel)
	}
	k := &KernelInfo{Protocol: binary.LittleEndian.Uint16(h[bzVersion:]), CmdlineSize: 255}
	if k.Protocol >= 0x0206 {
		k.CmdlineSize = int(binary.LittleEndian.Uint32(h[bzCmdlineSize:]))
	}
	if p := binary.LittleEndian.Uint16(h[bzKernelVersion:]); p != 0 {
		k.Version = cString(r, int64(p)+0x200, size, 256)
		k.Release, _, _ = strings.Cut(k.Version, " ")
	}
	pe, err := Parse(r, size)
	if err != nil {
		return nil, fmt.Errorf("%w: a bzImage without a usable PE header (built without CONFIG_EFI_STUB?): %w", ErrKernel, err)
	}
	if pe.Machine != MachineAMD64 || pe.Subsystem != SubsystemEFIApplication {
		return nil, fmt.Errorf("%w: its PE header says machine %#04x, subsystem %d; an x86-64 EFI stub is 0x8664, %d", ErrKernel, pe.Machine, pe.Subsystem, SubsystemEFIApplication)
	}
	k.PE = pe
	return k, nil
}

// cString reads a NUL-terminated printable string of at most max bytes.
func cString(r io.ReaderAt, off, size int64, max int) string {
	if off < 0 || off >= size {
		return ""
	}
	b := make([]byte, min(int64(max), size-off))
	n, _ := r.ReadAt(b, off)
	b = b[:n]
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
		if c < 0x20 || c > 0x7e {
			return ""
		}
	}
	return ""
}
