package uki

import (
	"fmt"
	"io"
	"strings"

	"github.com/minidisk/minidisk/kernel"
	"github.com/minidisk/minidisk/kmod"
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
// sector's 55AA, "HdrS" (kernel.ParseSetupHeader reads the setup header),
// and a PE32+ header for x86-64 with the EFI application subsystem, which
// is what lets the stub (and firmware) start it. Hostile input gives an
// error, never a panic.
func InspectKernel(r io.ReaderAt, size int64) (*KernelInfo, error) {
	h := make([]byte, max(0, min(size, kernel.SetupHeaderEnd)))
	if n, err := r.ReadAt(h, 0); n < len(h) {
		return nil, fmt.Errorf("reading the boot header: %w", err)
	}
	if strings.HasPrefix(string(h), "\x7fELF") {
		return nil, fmt.Errorf("%w: an ELF file (vmlinux?); a UKI takes the compressed bzImage (vmlinuz)", ErrKernel)
	}
	sh, err := kernel.ParseSetupHeader(h)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKernel, err)
	}
	k := &KernelInfo{Protocol: sh.Protocol, CmdlineSize: int(sh.CmdlineSize)}
	k.Version = sh.ReadVersion(r, size)
	k.Release = kmod.KernelRelease(k.Version)
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
