package uki

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/minidisk/minidisk/internal/atomicfile"
)

// Options says what goes into a UKI. Every path is checked before anything
// is written.
type Options struct {
	Stub   string // systemd's linuxx64.efi.stub (see FindStub)
	Kernel string // an EFI-stub bzImage (.linux)
	Initrd string // initramfs (.initrd); "" for none
	// Cmdline is the kernel command line (.cmdline); "" for none, and then
	// the stub passes whatever the firmware gives it (nothing, when it boots
	// \EFI\BOOT\BOOTX64.EFI).
	Cmdline string
	// OSRelease is the .osrel content; nil means DefaultOSRelease.
	OSRelease []byte
	Splash    string // BMP boot splash (.splash); "" for none
	// TimeDateStamp replaces the stub's COFF timestamp; nil keeps it, so the
	// same inputs give the same bytes (objcopy stamps the clock instead).
	TimeDateStamp *uint32
}

// Result says what went into a UKI.
type Result struct {
	*Layout
	KernelVersion string // .uname: the kernel release, e.g. 6.1.0-57-cloud-amd64
	StubVersion   string // from .sdmagic, e.g. systemd-stub 252.39-1~deb12u2
	CmdlineLimit  int    // the kernel's cmdline_size
	CheckSum      uint32 // the PE checksum written (set by Build and Write)
}

// DefaultOSRelease is the os-release (os-release(5)) minidisk puts in
// .osrel: systemd-boot shows PRETTY_NAME in its menu. Fixed text rather
// than the build host's /etc/os-release, so the UKI does not depend on
// where it was made.
func DefaultOSRelease(kernelVersion string) []byte {
	pretty := "minidisk"
	if kernelVersion != "" {
		pretty += " (Linux " + kernelVersion + ")"
	}
	return []byte("NAME=minidisk\nID=minidisk\nPRETTY_NAME=\"" + pretty + "\"\n")
}

// Errors callers tell apart with errors.Is.
var (
	ErrStub   = errors.New("not a usable systemd EFI stub")
	ErrKernel = errors.New("not an EFI-stub kernel")
)

// machineNames name the COFF machines a wrong stub is likely built for,
// with the stub file systemd ships for each.
var machineNames = map[uint16]string{
	0x014c: "x86 (32-bit; linuxia32.efi.stub)",
	0xaa64: "arm64 (linuxaa64.efi.stub)",
	0x01c2: "ARM Thumb (linuxarm.efi.stub)",
	0x01c4: "ARM Thumb-2 (linuxarm.efi.stub)",
	0x5064: "RISC-V 64 (linuxriscv64.efi.stub)",
	0x6264: "LoongArch 64 (linuxloongarch64.efi.stub)",
}

// CheckStub says why f cannot be the stub of an x86-64 UKI: it must be a
// PE32+ EFI application for x86-64 and a systemd stub (.sdmagic), and not a
// UKI already.
func CheckStub(f *File) error {
	if f.Machine != MachineAMD64 {
		name := machineNames[f.Machine]
		if name == "" {
			name = fmt.Sprintf("machine %#04x", f.Machine)
		}
		return fmt.Errorf("%w: built for %s, not x86-64 (0x8664); use linuxx64.efi.stub", ErrStub, name)
	}
	if f.Magic != magicPE32Plus {
		return fmt.Errorf("%w: a PE32 image, an x86-64 EFI program is PE32+", ErrStub)
	}
	if f.Subsystem != SubsystemEFIApplication {
		return fmt.Errorf("%w: PE subsystem %d, not an EFI application (%d)", ErrStub, f.Subsystem, SubsystemEFIApplication)
	}
	if _, ok := f.Section(".sdmagic"); !ok {
		return fmt.Errorf("%w: an EFI application without the .sdmagic section every systemd stub has (systemd-bootx64.efi or a kernel does not look for .linux)", ErrStub)
	}
	if f.IsUKI() {
		return fmt.Errorf("%w: it is a UKI already (has .linux); give the bare stub", ErrStub)
	}
	return nil
}

// CheckCmdline says why the command line cannot go into .cmdline: the
// kernel reads it as one NUL-terminated line of printable text, at most
// limit bytes (the kernel's cmdline_size; the stub passes it on as is).
func CheckCmdline(s string, limit int) error {
	for i, c := range []byte(s) {
		if c < 0x20 || c > 0x7e {
			return fmt.Errorf("--cmdline: byte %d is %q; the kernel command line is one line of printable ASCII", i, c)
		}
	}
	if limit > 0 && len(s) > limit {
		return fmt.Errorf("--cmdline: %d bytes, over the kernel's limit of %d (cmdline_size in its setup header); the kernel would cut it off", len(s), limit)
	}
	return nil
}

// initrdMagics are the formats the kernel unpacks (init/initramfs.c with
// lib/decompress.c): a newc cpio, or one compressed by a decompressor the
// kernel may have built in.
var initrdMagics = [][]byte{
	[]byte("07070"),               // newc / crc cpio (also an early microcode prefix)
	{0x1f, 0x8b},                  // gzip
	{0xfd, '7', 'z', 'X', 'Z', 0}, // xz
	{0x28, 0xb5, 0x2f, 0xfd},      // zstd
	{0x02, 0x21, 0x4c, 0x18},      // lz4 legacy
	{0x04, 0x22, 0x4d, 0x18},      // lz4 frame
	[]byte("BZh"),                 // bzip2
	{0x89, 'L', 'Z', 'O'},         // lzo
	{0x5d, 0, 0},                  // lzma
}

// sectionFile measures a regular, non-empty input file for a section.
func sectionFile(name, path, flag string) (Payload, []byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Payload{}, nil, fmt.Errorf("%s %s: no such file", flag, path)
		}
		return Payload{}, nil, fmt.Errorf("%s %s: %w", flag, path, err)
	}
	if !fi.Mode().IsRegular() {
		return Payload{}, nil, fmt.Errorf("%s %s: not a regular file", flag, path)
	}
	if fi.Size() == 0 {
		return Payload{}, nil, fmt.Errorf("%s %s: empty file", flag, path)
	}
	head := make([]byte, 8)
	f, err := os.Open(path)
	if err != nil {
		return Payload{}, nil, fmt.Errorf("%s %s: %w", flag, path, err)
	}
	n, _ := io.ReadFull(f, head)
	f.Close()
	return Payload{Name: name, Size: fi.Size(), Open: func() (io.ReadCloser, error) { return os.Open(path) }}, head[:n], nil
}

// Prepare checks every input and lays the UKI out, writing nothing. The
// sections follow ukify's order (.osrel .cmdline .uname .splash .initrd
// .linux): the kernel last, so its image may extend past its section in
// memory without overlapping another one.
func Prepare(o Options) (*Result, error) {
	if o.Stub == "" {
		return nil, errors.New("--stub: no stub given (FindStub locates systemd's linuxx64.efi.stub)")
	}
	stubData, err := os.ReadFile(o.Stub)
	if err != nil {
		return nil, fmt.Errorf("--stub %s: %w", o.Stub, unwrapPath(err))
	}
	stub, err := Parse(bytes.NewReader(stubData), int64(len(stubData)))
	if err != nil {
		return nil, fmt.Errorf("--stub %s: %w: %w", o.Stub, ErrStub, err)
	}
	if err := CheckStub(stub); err != nil {
		return nil, fmt.Errorf("--stub %s: %w", o.Stub, err)
	}
	res := &Result{StubVersion: stub.StubVersion()}

	if o.Kernel == "" {
		return nil, errors.New("--kernel: no kernel given (an EFI-stub bzImage, e.g. /boot/vmlinuz-*)")
	}
	linux, _, err := sectionFile(".linux", o.Kernel, "--kernel")
	if err != nil {
		return nil, err
	}
	info, err := inspectKernelFile(o.Kernel)
	if err != nil {
		return nil, fmt.Errorf("--kernel %s: %w", o.Kernel, err)
	}
	res.KernelVersion = info.Release
	res.CmdlineLimit = info.CmdlineSize
	if err := CheckCmdline(o.Cmdline, info.CmdlineSize); err != nil {
		return nil, err
	}

	var payloads []Payload
	osrel := o.OSRelease
	if osrel == nil {
		osrel = DefaultOSRelease(res.KernelVersion)
	}
	payloads = append(payloads, BytesPayload(".osrel", osrel))
	if o.Cmdline != "" {
		payloads = append(payloads, BytesPayload(".cmdline", []byte(o.Cmdline)))
	}
	if res.KernelVersion != "" {
		payloads = append(payloads, BytesPayload(".uname", []byte(res.KernelVersion)))
	}
	if o.Splash != "" {
		p, head, err := sectionFile(".splash", o.Splash, "--splash")
		if err != nil {
			return nil, err
		}
		if !bytes.HasPrefix(head, []byte("BM")) {
			return nil, fmt.Errorf("--splash %s: not a BMP image (no \"BM\" signature); systemd-stub shows BMP only", o.Splash)
		}
		payloads = append(payloads, p)
	}
	if o.Initrd != "" {
		p, head, err := sectionFile(".initrd", o.Initrd, "--initrd")
		if err != nil {
			return nil, err
		}
		ok := false
		for _, m := range initrdMagics {
			ok = ok || bytes.HasPrefix(head, m)
		}
		if !ok {
			return nil, fmt.Errorf("--initrd %s: not an initramfs (starts % x; want a newc cpio, plain or gzip/xz/zstd/lz4/bzip2/lzo/lzma-compressed)", o.Initrd, head)
		}
		payloads = append(payloads, p)
	}
	payloads = append(payloads, linux)

	l, err := NewLayout(stub, payloads, o.TimeDateStamp)
	if err != nil {
		return nil, fmt.Errorf("--stub %s: %w", o.Stub, err)
	}
	res.Layout = l
	return res, nil
}

// Write prepares the UKI and writes it to w (empty, at offset 0).
func Write(w WriterAtWriter, o Options) (*Result, error) {
	res, err := Prepare(o)
	if err != nil {
		return nil, err
	}
	if res.CheckSum, err = res.Layout.WriteTo(w); err != nil {
		return nil, err
	}
	return res, nil
}

// Build writes the UKI to out atomically: complete, or not at all.
func Build(out string, force bool, o Options) (*Result, error) {
	res, err := Prepare(o)
	if err != nil {
		return nil, err
	}
	f, err := atomicfile.Create(out, force)
	if err != nil {
		return nil, err
	}
	defer f.Abort()
	if res.CheckSum, err = res.Layout.WriteTo(f); err != nil {
		return nil, fmt.Errorf("%s: %w", out, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return nil, err
	}
	return res, f.Commit()
}

// unwrapPath drops the *PathError's operation and path (the caller names
// the file and the flag) but keeps the cause for errors.Is.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func inspectKernelFile(p string) (*KernelInfo, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, unwrapPath(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return InspectKernel(f, fi.Size())
}
