package doctor

import (
	"bytes"
	"debug/elf"
	"debug/pe"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/diskfs/go-diskfs/backend"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/minidisk/minidisk/kernel"
	"github.com/minidisk/minidisk/rootfs"
	"github.com/minidisk/minidisk/rootfs/cpio"
)

// UEFI facts: the removable-media boot path for x86-64 (UEFI 2.10
// §3.5.1.1), PE/COFF machine and subsystem numbers (PE format spec).
const (
	bootX64Path         = "/EFI/BOOT/BOOTX64.EFI"
	peMachineAMD64      = 0x8664
	peSubsystemEFIApp   = 10
	maxEFIBytes         = 256 << 20
	maxInitramfsEntries = 100000
	maxInitramfsTries   = 64 // gzip streams tried as the built-in initramfs
)

// readOnlyStorage lets go-diskfs read the image through an io.ReaderAt:
// every write path fails, so nothing can change the image.
type readOnlyStorage struct {
	r    io.ReaderAt
	size int64
	off  int64
}

func (s *readOnlyStorage) Stat() (fs.FileInfo, error) { return sizeInfo(s.size), nil }
func (s *readOnlyStorage) Read(p []byte) (int, error) {
	n, err := s.ReadAt(p, s.off)
	s.off += int64(n)
	return n, err
}
func (s *readOnlyStorage) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.size {
		return 0, io.EOF
	}
	if rest := s.size - off; int64(len(p)) > rest {
		n, err := s.r.ReadAt(p[:rest], off)
		if err == nil {
			err = io.EOF
		}
		return n, err
	}
	return s.r.ReadAt(p, off)
}
func (s *readOnlyStorage) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += s.off
	case io.SeekEnd:
		off += s.size
	}
	if off < 0 {
		return 0, errors.New("negative seek")
	}
	s.off = off
	return off, nil
}
func (s *readOnlyStorage) Close() error { return nil }
func (s *readOnlyStorage) Sys() (*os.File, error) {
	return nil, errors.New("doctor reads images read-only")
}
func (s *readOnlyStorage) Writable() (backend.WritableFile, error) {
	return nil, backend.ErrNotSuitable
}
func (s *readOnlyStorage) Path() string { return "" }

type sizeInfo int64

func (s sizeInfo) Name() string       { return "image" }
func (s sizeInfo) Size() int64        { return int64(s) }
func (s sizeInfo) Mode() fs.FileMode  { return 0o444 }
func (s sizeInfo) ModTime() time.Time { return time.Time{} }
func (s sizeInfo) IsDir() bool        { return false }
func (s sizeInfo) Sys() any           { return nil }

// errReaderCrashed is wrapped by errors from a third-party reader that
// panicked on corrupt data.
var errReaderCrashed = errors.New("the FAT/GPT reader crashed on corrupt data")

// safely runs a go-diskfs call, turning a panic in the third-party parser
// into an error: a corrupt FAT must give a finding, not kill the report.
func safely(what string, f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s: %w (%v)", what, errReaderCrashed, p)
		}
	}()
	return f()
}

// checkUEFI checks a GPT disk: the EFI System Partition, its FAT, the
// removable-media loader and, for a Linux EFI-stub kernel, its built-in
// initramfs.
func (d *diag) checkUEFI() {
	if d.rep.Scheme != SchemeGPT || d.rep.Boot.MBRCode.biosLoader() {
		return
	}
	d.rep.Boot.Firmware = "UEFI"
	d.rep.Boot.Loader = LoaderUEFI
	d.rep.Boot.Summary = "UEFI: a GPT disk; the firmware boots \\EFI\\BOOT\\BOOTX64.EFI from the EFI System Partition"
	st := &readOnlyStorage{r: d.r, size: d.size}
	var table *gpt.Table
	err := safely("GPT", func() (err error) { table, err = gpt.Read(st, sectorSize, sectorSize); return })
	if err != nil {
		d.add(Finding{ID: IDUEFIGPTUnreadable, Area: AreaUEFI, Severity: Error,
			Title:    "the GPT cannot be read",
			Evidence: fmt.Sprintf("the MBR is a protective one (type EE), but the GPT header at sector 1 is unreadable: %v", err),
			Fix:      "repair it with sgdisk -e / gdisk, or recreate the image (`minidisk efi`)"})
		return
	}
	var esp *gpt.Partition
	for _, p := range table.Partitions {
		if p != nil && p.Type == gpt.EFISystemPartition {
			esp = p
			break
		}
	}
	if esp == nil {
		d.add(Finding{ID: IDUEFIESPMissing, Area: AreaUEFI, Severity: Error,
			Title:    "no EFI System Partition",
			Evidence: fmt.Sprintf("the GPT has %d partitions, none of type C12A7328-F81F-11D2-BA4B-00A0C93EC93B: the firmware finds no loader (\"BdsDxe: No bootable option or device was found\")", countParts(table)),
			Fix:      "make the partition type EF00 (sgdisk -t 1:ef00) and format it FAT32"})
		return
	}
	start, end := esp.Start, esp.End
	if end < start || int64(end+1)*sectorSize > d.size {
		d.add(Finding{ID: IDUEFIESPPastEnd, Area: AreaUEFI, Severity: Error,
			Title:    "the ESP runs past the end of the image",
			Evidence: fmt.Sprintf("ESP sectors %d..%d, the image has %d sectors", start, end, d.rep.DiskSectors),
			Fix:      "recreate the image; it was truncated"})
		return
	}
	espBytes := int64(end-start+1) * sectorSize
	var fat *fat32.FileSystem
	err = safely("FAT", func() (err error) {
		fat, err = fat32.Read(st, espBytes, int64(start)*sectorSize, sectorSize)
		return
	})
	if err != nil {
		boot := make([]byte, sectorSize)
		_ = readFull(d.r, boot, int64(start)*sectorSize)
		if strings.HasPrefix(string(boot[0x36:0x3e]), "FAT1") {
			d.add(Finding{ID: IDUEFIFAT16, Area: AreaUEFI, Severity: Info,
				Title:    "the ESP is FAT12/16; doctor reads FAT32 only",
				Evidence: fmt.Sprintf("the boot sector says %q; firmware reads it, but BOOTX64.EFI was not checked", strings.TrimSpace(string(boot[0x36:0x3e])))})
			return
		}
		d.add(Finding{ID: IDUEFIFATUnreadable, Area: AreaUEFI, Severity: Error,
			Title:    "the ESP's FAT filesystem cannot be read",
			Evidence: fmt.Sprintf("ESP at sectors %d..%d: %v", start, end, err),
			Fix:      "format it: mkfs.vfat -F 32 on the partition, then copy EFI/BOOT/BOOTX64.EFI"})
		return
	}
	var data []byte
	err = safely("FAT", func() error {
		f, err := fat.OpenFile(bootX64Path, os.O_RDONLY)
		if err != nil {
			return err
		}
		defer f.Close()
		data, err = io.ReadAll(io.LimitReader(f, maxEFIBytes))
		return err
	})
	if err != nil {
		d.add(Finding{ID: IDUEFIBootX64Missing, Area: AreaUEFI, Severity: Error,
			Title:    bootX64Path + " cannot be read",
			Evidence: fmt.Sprintf("ESP at sectors %d..%d: %v; without it the firmware has nothing to boot from a removable disk", start, end, err),
			Fix:      "copy the EFI-stub kernel (bzImage) to EFI/BOOT/BOOTX64.EFI on the ESP (mcopy -i ESP bzImage ::EFI/BOOT/BOOTX64.EFI)"})
		return
	}
	if !d.checkPE(data) || d.checkUKI(data) {
		return
	}
	d.checkEFIKernel(data)
}

func countParts(t *gpt.Table) int {
	n := 0
	for _, p := range t.Partitions {
		if p != nil && p.Type != gpt.Unused {
			n++
		}
	}
	return n
}

// checkPE checks that the loader is an x86-64 EFI application.
func (d *diag) checkPE(data []byte) bool {
	pf, err := pe.NewFile(bytes.NewReader(data))
	if err != nil {
		d.add(Finding{ID: IDUEFIBootX64NotPE, Area: AreaUEFI, Severity: Error,
			Title:    bootX64Path + " is not a PE/COFF executable",
			Evidence: fmt.Sprintf("%d bytes, starts % x: %v; the firmware refuses it (\"Unsupported\" / \"Load Error\")", len(data), data[:min(len(data), 4)], err),
			Fix:      "use a kernel built with CONFIG_EFI_STUB=y (its bzImage is a PE/COFF EFI application)"})
		return false
	}
	defer pf.Close()
	if pf.Machine != peMachineAMD64 {
		d.add(Finding{ID: IDUEFIBootX64WrongArch, Area: AreaUEFI, Severity: Error,
			Title:    bootX64Path + " is not an x86-64 program",
			Evidence: fmt.Sprintf("COFF machine %#04x, x86-64 firmware runs %#04x (AMD64)", pf.Machine, peMachineAMD64),
			Fix:      "build the kernel for x86_64 with CONFIG_EFI_STUB=y"})
		return false
	}
	sub := uint16(0)
	switch oh := pf.OptionalHeader.(type) {
	case *pe.OptionalHeader64:
		sub = oh.Subsystem
	case *pe.OptionalHeader32:
		sub = oh.Subsystem
	}
	if sub != peSubsystemEFIApp {
		d.add(Finding{ID: IDUEFIBootX64NotEFIApp, Area: AreaUEFI, Severity: Error,
			Title:    bootX64Path + " is not an EFI application",
			Evidence: fmt.Sprintf("PE subsystem %d, an EFI application is %d", sub, peSubsystemEFIApp),
			Fix:      "install an EFI application (an EFI-stub kernel, or a boot loader's EFI binary)"})
		return false
	}
	d.add(Finding{ID: IDUEFIBootX64OK, Area: AreaUEFI, Severity: OK,
		Title:    bootX64Path + " is an x86-64 EFI application",
		Evidence: fmt.Sprintf("%d bytes, PE32+ machine %#04x, subsystem %d", len(data), pf.Machine, sub)})
	return true
}

// checkEFIKernel inspects an EFI-stub kernel and its built-in initramfs.
func (d *diag) checkEFIKernel(data []byte) {
	info, err := kernel.Inspect(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		d.add(Finding{ID: IDUEFINotLinux, Area: AreaUEFI, Severity: Info,
			Title:    "the EFI application is not a Linux kernel",
			Evidence: err.Error() + "; doctor does not follow other boot loaders"})
		return
	}
	vm, why := decompressPayload(info)
	if vm == nil {
		d.add(Finding{ID: IDUEFIInitramfsUnchecked, Area: AreaUEFI, Severity: Info,
			Title: "the built-in initramfs was not checked", Evidence: why})
		return
	}
	entries, init, ok := findInitramfs(vm)
	if !ok {
		d.add(Finding{ID: IDUEFIInitramfsMissing, Area: AreaUEFI, Severity: Warning,
			Title:    "no built-in initramfs found in the kernel",
			Evidence: fmt.Sprintf("%s: no gzip'd or plain newc cpio archive in the %d-byte decompressed kernel; without one (and no root= on a disk) the kernel panics \"VFS: Unable to mount root fs\"", info.Version, len(vm)),
			Fix:      "build with CONFIG_INITRAMFS_SOURCE=initramfs.cpio.gz (`minidisk efi` does)"})
		return
	}
	h, has := entries["/init"]
	switch {
	case !has:
		d.add(Finding{ID: IDUEFIInitMissing, Area: AreaUEFI, Severity: Error,
			Title:    "the initramfs has no /init",
			Evidence: fmt.Sprintf("%d entries, no /init: the kernel falls back to the (absent) disk root and panics", len(entries)),
			Fix:      "add /init (a #!/bin/sh script, or a link to busybox) to the initramfs"})
	case h.Type != rootfs.TypeReg && h.Type != rootfs.TypeSymlink:
		d.add(Finding{ID: IDUEFIInitBadFormat, Area: AreaUEFI, Severity: Error, Title: "/init in the initramfs is not a file", Evidence: "/init is a " + h.Type.String(), Fix: "make /init a program or script"})
	case h.Type == rootfs.TypeReg && h.Mode&0o111 == 0:
		d.add(Finding{ID: IDUEFIInitNotExecutable, Area: AreaUEFI, Severity: Error,
			Title:    "/init in the initramfs is not executable",
			Evidence: fmt.Sprintf("mode %04o: the kernel cannot run it (\"Failed to execute /init (error -13)\")", h.Mode),
			Fix:      "chmod 755 init before packing the cpio"})
	case h.Type == rootfs.TypeReg:
		if p := initramfsExec(entries, init); p != "" {
			d.add(Finding{ID: IDUEFIInitBadFormat, Area: AreaUEFI, Severity: Error,
				Title: "/init in the initramfs cannot run", Evidence: p, Fix: "make /init a static x86-64 program or a script whose interpreter is in the archive"})
		} else {
			d.add(Finding{ID: IDUEFIInitOK, Area: AreaUEFI, Severity: OK, Title: "the initramfs has an executable /init",
				Evidence: fmt.Sprintf("%s; %d entries", info.Version, len(entries))})
		}
	}
	d.checkConsoleHeader(AreaUEFI, "the initramfs", true, func() (*rootfs.Header, error) {
		if h, ok := entries["/dev/console"]; ok {
			return h, nil
		}
		return nil, fs.ErrNotExist
	})
}

// decompressPayload returns the decompressed kernel kernel.Inspect made
// (every format the kernel package reads: gzip, xz, zstd, lz4, ...), or why
// there is none.
func decompressPayload(info *kernel.Info) (vm []byte, why string) {
	if vm := info.Vmlinux(); len(vm) > 0 {
		return vm, ""
	}
	if info.DecompressError != "" {
		return nil, fmt.Sprintf("the %s payload could not be decompressed: %s", info.Compression, info.DecompressError)
	}
	return nil, fmt.Sprintf("the kernel payload is %s-compressed, a format the kernel package does not read", info.Compression)
}

// findInitramfs looks for the built-in initramfs (the .init.ramfs
// section: a gzip'd or plain newc archive) and returns its entries and the
// first bytes of /init.
func findInitramfs(vm []byte) (map[string]*rootfs.Header, []byte, bool) {
	tries := 0
	for _, magic := range [][]byte{{0x1f, 0x8b, 0x08}, []byte("070701"), []byte("070702")} {
		for off := 0; tries < maxInitramfsTries; {
			i := bytes.Index(vm[off:], magic)
			if i < 0 {
				break
			}
			tries++
			if m, init, ok := readArchive(vm[off+i:]); ok {
				return m, init, true
			}
			off += i + 1
		}
	}
	return nil, nil, false
}

func readArchive(b []byte) (map[string]*rootfs.Header, []byte, bool) {
	r, _, err := cpio.Decompress(bytes.NewReader(b))
	if err != nil {
		return nil, nil, false
	}
	cr := cpio.NewReader(r)
	m := map[string]*rootfs.Header{}
	var init []byte
	for len(m) < maxInitramfsEntries {
		h, err := cr.Next()
		if err != nil {
			break
		}
		m[h.Name] = h
		if h.Name == "/init" && h.Type == rootfs.TypeReg {
			init = make([]byte, 256)
			n, _ := io.ReadFull(cr, init)
			init = init[:n]
		}
	}
	return m, init, len(m) > 0
}

// initramfsExec says why /init cannot run ("" if it can, as far as the
// archive shows).
func initramfsExec(entries map[string]*rootfs.Header, head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("#!")):
		line, _, _ := bytes.Cut(head[2:], []byte("\n"))
		f := strings.Fields(string(line))
		if len(f) == 0 {
			return "/init starts with #! but names no interpreter"
		}
		if _, ok := entries[path.Clean(f[0])]; !ok {
			return fmt.Sprintf("/init is a script for %s, which is not in the initramfs (\"Failed to execute /init (error -2)\")", f[0])
		}
	case bytes.HasPrefix(head, []byte("\x7fELF")):
		ef, err := elf.NewFile(bytes.NewReader(pad(head)))
		if err != nil {
			return ""
		}
		if ef.Machine != elf.EM_X86_64 && ef.Machine != elf.EM_386 {
			return fmt.Sprintf("/init is built for %v", ef.Machine)
		}
	default:
		return fmt.Sprintf("/init is neither ELF nor a #! script (starts % x): error -8", head[:min(len(head), 4)])
	}
	return ""
}

// pad extends a header-only ELF prefix so debug/elf can read its header.
func pad(b []byte) []byte {
	if len(b) >= 64 {
		return b
	}
	return append(append([]byte{}, b...), make([]byte, 64-len(b))...)
}

// efiLoaderKind names an x86-64 EFI application by its PE sections and
// markers: a UKI carries .linux (and .osrel, .cmdline) beside systemd's
// stub; systemd-boot and the stub mark .sdmagic; GRUB 2's EFI image has its
// modules in a "mods" section; shim names itself in .sbat; a Linux EFI-stub
// kernel has the bzImage header ("HdrS" at 0x202).
func efiLoaderKind(pf *pe.File, data []byte) string {
	sec := map[string][]byte{}
	for _, s := range pf.Sections {
		if s.Name == ".sdmagic" || s.Name == ".sbat" {
			b, _ := s.Data()
			sec[s.Name] = b
		} else {
			sec[s.Name] = nil
		}
	}
	_, linux := sec[".linux"]
	_, mods := sec["mods"]
	switch {
	case linux:
		return "a unified kernel image (UKI: systemd-stub with .linux)"
	case mods:
		return "GRUB 2's EFI image (grub-mkimage -O x86_64-efi)"
	case bytes.Contains(sec[".sdmagic"], []byte("systemd-boot")):
		return "systemd-boot"
	case bytes.Contains(sec[".sbat"], []byte("shim,")):
		return "shim"
	case len(data) > 0x206 && string(data[0x202:0x206]) == "HdrS":
		return "a Linux EFI-stub kernel"
	}
	return "an EFI application doctor does not name"
}
