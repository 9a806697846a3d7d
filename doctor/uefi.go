package doctor

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/efi/uki"
	"github.com/minidisk/minidisk/kernel"
	"github.com/minidisk/minidisk/rootfs"
	"github.com/minidisk/minidisk/rootfs/cpio"
	"github.com/minidisk/minidisk/rootfs/fat"
)

// UEFI facts: the removable-media boot path for x86-64 (UEFI 2.10
// §3.5.1.1); PE/COFF's machine and subsystem numbers are efi/uki's.
const (
	bootX64Path         = "/EFI/BOOT/BOOTX64.EFI"
	maxEFIBytes         = 256 << 20
	maxInitramfsEntries = 100000
	maxInitramfsTries   = 64 // gzip streams tried as the built-in initramfs
)

// checkUEFI checks a GPT disk: the EFI System Partition, its FAT, the
// removable-media loader and, for a Linux EFI-stub kernel, its built-in
// initramfs. The GPT is read by disk.ReadPartitions and the FAT by
// rootfs/fat, the readers every other minidisk command uses.
func (d *diag) checkUEFI() {
	if d.rep.Scheme != SchemeGPT || d.rep.Boot.MBRCode.biosLoader() {
		return
	}
	d.rep.Boot.Firmware = "UEFI"
	d.rep.Boot.Loader = LoaderUEFI
	d.rep.Boot.Summary = "UEFI: a GPT disk; the firmware boots \\EFI\\BOOT\\BOOTX64.EFI from the EFI System Partition"
	parts, ok := d.readGPT()
	if !ok {
		return
	}
	var esp *disk.Partition
	for i, p := range parts {
		if p.TypeGUID == disk.GUIDEFISystem {
			esp = &parts[i]
			break
		}
	}
	if esp == nil {
		d.add(Finding{ID: IDUEFIESPMissing, Area: AreaUEFI, Severity: Error,
			Title:    "no EFI System Partition",
			Evidence: fmt.Sprintf("the GPT has %d partitions, none of type %s: the firmware finds no loader (\"BdsDxe: No bootable option or device was found\")", len(parts), disk.GUIDString(disk.GUIDEFISystem)),
			Fix:      "make the partition type EF00 (sgdisk -t 1:ef00) and format it FAT32"})
		return
	}
	start, end := esp.Start, esp.End()
	if esp.Sectors == 0 || end >= d.rep.DiskSectors {
		d.add(Finding{ID: IDUEFIESPPastEnd, Area: AreaUEFI, Severity: Error,
			Title:    "the ESP runs past the end of the image",
			Evidence: fmt.Sprintf("ESP sectors %d..%d, the image has %d sectors", start, end, d.rep.DiskSectors),
			Fix:      "recreate the image; it was truncated"})
		return
	}
	esfs, err := fat.Open(d.r, int64(start)*sectorSize, int64(esp.Sectors)*sectorSize)
	if err != nil {
		d.add(Finding{ID: IDUEFIFATUnreadable, Area: AreaUEFI, Severity: Error,
			Title:    "the ESP's FAT filesystem cannot be read",
			Evidence: fmt.Sprintf("ESP at sectors %d..%d: %v", start, end, err),
			Fix:      "format it: mkfs.vfat -F 32 on the partition, then copy EFI/BOOT/BOOTX64.EFI"})
		return
	}
	if why, fix := firmwareRefusesFAT(esfs); why != "" {
		d.add(Finding{ID: IDUEFIFATFirmwareRefuses, Area: AreaUEFI, Severity: Error,
			Title:    "UEFI firmware refuses the ESP's FAT",
			Evidence: fmt.Sprintf("ESP at sectors %d..%d: %s. EDK2's FAT driver (OVMF and most PC firmware) does not mount such a FAT, so the firmware finds no loader on it", start, end, why),
			Fix:      fix})
		return
	}
	if t := esfs.Type(); t != 32 {
		// UEFI 2.10 §13.3.1.1: firmware must read FAT12, FAT16 and FAT32
		// (FAT32 is the one meant for a hard disk's system partition).
		d.add(Finding{ID: IDUEFIFAT16, Area: AreaUEFI, Severity: Info,
			Title:    fmt.Sprintf("the ESP is FAT%d", t),
			Evidence: fmt.Sprintf("%d clusters of %d bytes; UEFI firmware reads FAT12, FAT16 and FAT32 (UEFI 2.10 §13.3.1.1), so the checks below are what it sees", esfs.Clusters(), esfs.ClusterSize())})
	}
	data, err := readBootX64(esfs)
	if err != nil {
		d.add(Finding{ID: IDUEFIBootX64Missing, Area: AreaUEFI, Severity: Error,
			Title:    bootX64Path + " cannot be read",
			Evidence: fmt.Sprintf("ESP at sectors %d..%d (FAT%d): %v; without it the firmware has nothing to boot from a removable disk", start, end, esfs.Type(), err),
			Fix:      "copy the EFI-stub kernel (bzImage) to EFI/BOOT/BOOTX64.EFI on the ESP (mcopy -i ESP bzImage ::EFI/BOOT/BOOTX64.EFI)"})
		return
	}
	pf, ok := d.checkPE(data)
	if !ok || d.checkUKI(pf, data) {
		return
	}
	d.checkEFIKernel(data)
}

// firmwareRefusesFAT says why EDK2's FAT driver refuses a FAT that
// rootfs/fat reads (and, for the FAT32 cases, Linux mounts), and how to
// fix it; why is "" when it
// mounts it. The rules are FatOpenDevice's (FatPkg/EnhancedFatDxe/Init.c):
// the type is FAT32 when BPB_FATSz16 is 0, and the count of clusters must
// then be at least 65,525, for FAT12/16 below it (the FAT specification's
// type determination, which Linux skips for FAT32); FAT32 must be version
// 0.0 with its FATs mirrored (BPB_ExtFlags bit 7 clear); FAT12/16 needs a
// root directory.
func firmwareRefusesFAT(f *fat.FS) (why, fix string) {
	b, n := f.BPB(), f.CountOfClusters()
	reformat := "rebuild the image with `minidisk efi`, which picks the FAT type by cluster count, or reformat the ESP: "
	switch {
	case f.Type() == 32 && n < fat.MinFAT32Clusters:
		return fmt.Sprintf("it is FAT32 (BPB_FATSz16 is 0) with %d clusters of %d bytes, fewer than the %d below which a FAT is FAT16 by definition", n, f.ClusterSize(), fat.MinFAT32Clusters),
			reformat + "mkfs.vfat -F 16 (FAT32 needs an ESP of about 33 MiB or more with 512-byte clusters)"
	case f.Type() != 32 && n >= fat.MinFAT32Clusters:
		return fmt.Sprintf("it is FAT16 (BPB_FATSz16 is %d) with %d clusters, at least the %d from which a FAT is FAT32 by definition", b.FATSize16, n, fat.MinFAT32Clusters),
			reformat + "mkfs.vfat -F 32"
	case f.Type() == 32 && b.FSVersion != 0:
		return fmt.Sprintf("its FAT32 version is %d.%d (BPB_FSVer); 0.0 is the only one defined", b.FSVersion>>8, b.FSVersion&0xFF),
			reformat + "mkfs.vfat -F 32"
	case f.Type() == 32 && b.ExtFlags&0x80 != 0:
		return fmt.Sprintf("FAT mirroring is off (BPB_ExtFlags %#04x, bit 7 set: only FAT %d is active)", b.ExtFlags, b.ExtFlags&0x0F),
			reformat + "mkfs.vfat -F 32 (it mirrors the FATs)"
	case f.Type() != 32 && b.RootEntries == 0:
		return fmt.Sprintf("it is FAT%d with no root directory entries (BPB_RootEntCnt 0)", f.Type()),
			reformat + "mkfs.vfat"
	}
	return "", ""
}

// readGPT returns the GPT partitions the firmware sees: the primary GPT's,
// or, when that is invalid, the backup's (UEFI 2.10 §5.3.2: EDK2's
// PartitionDxe checks the header at the last block and restores the
// primary from it; Linux falls back the same way). ok is false when
// neither copy can be read.
func (d *diag) readGPT() (parts []disk.Partition, ok bool) {
	table, err := disk.ReadPartitions(d.r, d.size)
	if err == nil && table.Scheme != disk.SchemeGPT {
		err = fmt.Errorf("%w: the partition reader finds no protective MBR entry", disk.ErrBadGPT)
	}
	if err == nil {
		return table.Partitions, true
	}
	if !errors.Is(err, disk.ErrBadGPT) {
		d.add(Finding{ID: IDUEFIGPTUnreadable, Area: AreaUEFI, Severity: Error,
			Title:    "the GPT cannot be read",
			Evidence: fmt.Sprintf("the MBR is a protective one (type EE), but the GPT cannot be read: %v", err),
			Fix:      "repair it with sgdisk -e / gdisk, or recreate the image (`minidisk efi`)"})
		return nil, false
	}
	backup, berr := disk.ReadBackupGPT(d.r, d.size)
	if berr != nil {
		d.add(Finding{ID: IDUEFIGPTUnreadable, Area: AreaUEFI, Severity: Error,
			Title:    "the GPT cannot be read",
			Evidence: fmt.Sprintf("the MBR is a protective one (type EE), but the primary GPT at sector 1 is invalid (%v) and so is the backup (%v): the firmware sees no partitions", err, berr),
			Fix:      "repair it with gdisk (recovery menu), or recreate the image (`minidisk efi`)"})
		return nil, false
	}
	d.add(Finding{ID: IDUEFIGPTPrimaryBad, Area: AreaUEFI, Severity: Warning,
		Title:    "the primary GPT is invalid; firmware uses the backup",
		Evidence: fmt.Sprintf("sector 1: %v; the backup GPT in sector %d is valid (%d partition entries): UEFI firmware boots from it (OVMF also rewrites the primary), Linux says \"Primary GPT is invalid, using alternate GPT.\"", err, d.size/sectorSize-1, len(backup)),
		Fix:      "rewrite the primary from the backup: sgdisk -e IMG (or gdisk's recovery menu: b, w)"})
	// The report lists the partitions the firmware sees.
	d.parts = partitionInfos(backup, true)
	d.rep.Partitions = d.parts
	return backup, true
}

// readBootX64 reads at most maxEFIBytes of the removable-media loader.
// rootfs/fat looks names up ignoring case, as firmware's FAT driver does
// (\efi\boot\bootx64.efi is the same file).
func readBootX64(esfs *fat.FS) ([]byte, error) {
	f, err := esfs.Open(fsPath(bootX64Path))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("%s is a directory", bootX64Path)
	}
	// One read of the size the directory entry gives (Open checked that
	// its cluster chain is that long).
	b := make([]byte, min(fi.Size(), maxEFIBytes))
	n, err := io.ReadFull(f, b)
	if err != nil && err != io.ErrUnexpectedEOF {
		return nil, err
	}
	return b[:n], nil
}

// checkPE checks that the loader is an x86-64 EFI application.
func (d *diag) checkPE(data []byte) (*uki.File, bool) {
	// uki.Parse is the project's PE reader (defensive, fuzzed): the same
	// one that reads a UKI's sections below.
	pf, err := uki.Parse(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		d.add(Finding{ID: IDUEFIBootX64NotPE, Area: AreaUEFI, Severity: Error,
			Title:    bootX64Path + " is not a PE/COFF executable",
			Evidence: fmt.Sprintf("%d bytes, starts % x: %v; the firmware refuses it (\"Unsupported\" / \"Load Error\")", len(data), data[:min(len(data), 4)], err),
			Fix:      "use a kernel built with CONFIG_EFI_STUB=y (its bzImage is a PE/COFF EFI application)"})
		return nil, false
	}
	if pf.Machine != uki.MachineAMD64 {
		d.add(Finding{ID: IDUEFIBootX64WrongArch, Area: AreaUEFI, Severity: Error,
			Title:    bootX64Path + " is not an x86-64 program",
			Evidence: fmt.Sprintf("COFF machine %#04x, x86-64 firmware runs %#04x (AMD64)", pf.Machine, uki.MachineAMD64),
			Fix:      "build the kernel for x86_64 with CONFIG_EFI_STUB=y"})
		return nil, false
	}
	if pf.Subsystem != uki.SubsystemEFIApplication {
		d.add(Finding{ID: IDUEFIBootX64NotEFIApp, Area: AreaUEFI, Severity: Error,
			Title:    bootX64Path + " is not an EFI application",
			Evidence: fmt.Sprintf("PE subsystem %d, an EFI application is %d", pf.Subsystem, uki.SubsystemEFIApplication),
			Fix:      "install an EFI application (an EFI-stub kernel, or a boot loader's EFI binary)"})
		return nil, false
	}
	d.add(Finding{ID: IDUEFIBootX64OK, Area: AreaUEFI, Severity: OK,
		Title:    bootX64Path + " is an x86-64 EFI application",
		Evidence: fmt.Sprintf("%d bytes, PE32+ machine %#04x, subsystem %d: %s", len(data), pf.Machine, pf.Subsystem, efiLoaderKind(pf, data))})
	return pf, true
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
	budget := newArchiveBudget(len(data))
	entries, init, ok := findInitramfs(vm, budget)
	if !ok {
		bomb := ""
		if budget.exhausted() {
			bomb = fmt.Sprintf(" (doctor stopped after decompressing %d bytes, %d times the %d-byte file: a decompression bomb)", budget.total, archiveExpansion, len(data))
		}
		d.add(Finding{ID: IDUEFIInitramfsMissing, Area: AreaUEFI, Severity: Warning,
			Title:    "no built-in initramfs found in the kernel",
			Evidence: fmt.Sprintf("%s: no gzip'd or plain newc cpio archive in the %d-byte decompressed kernel%s; without one (and no root= on a disk) the kernel panics \"VFS: Unable to mount root fs\"", info.Version, len(vm), bomb),
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
// All tries share one decompression budget.
func findInitramfs(vm []byte, budget *archiveBudget) (map[string]*rootfs.Header, []byte, bool) {
	tries := 0
	for _, magic := range [][]byte{{0x1f, 0x8b, 0x08}, []byte("070701"), []byte("070702")} {
		for off := 0; tries < maxInitramfsTries && !budget.exhausted(); {
			i := bytes.Index(vm[off:], magic)
			if i < 0 {
				break
			}
			tries++
			if m, init, ok := readArchive(vm[off+i:], budget); ok {
				return m, init, true
			}
			off += i + 1
		}
	}
	return nil, nil, false
}

// readArchive reads the entries of a (compressed) newc archive within the
// budget; an archive that runs out of it is not readable.
func readArchive(b []byte, budget *archiveBudget) (map[string]*rootfs.Header, []byte, bool) {
	r, _, err := cpio.Decompress(bytes.NewReader(b))
	if err != nil {
		return nil, nil, false
	}
	cr := cpio.NewReader(budget.reader(r))
	m := map[string]*rootfs.Header{}
	var init []byte
	for len(m) < maxInitramfsEntries {
		h, err := cr.Next()
		if errors.Is(err, errArchiveBomb) {
			return nil, nil, false
		}
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
// kernel has the bzImage setup header (kernel.ParseSetupHeader).
func efiLoaderKind(pf *uki.File, data []byte) string {
	_, linux := pf.Section(".linux")
	_, mods := pf.Section("mods")
	sdmagic, _ := pf.ReadSection(".sdmagic", 4096)
	sbat, _ := pf.ReadSection(".sbat", 64<<10)
	_, notBzImage := kernel.ParseSetupHeader(data)
	switch {
	case linux:
		return "a unified kernel image (UKI: systemd-stub with .linux)"
	case mods:
		return "GRUB 2's EFI image (grub-mkimage -O x86_64-efi)"
	case bytes.Contains(sdmagic, []byte("systemd-boot")):
		return "systemd-boot"
	case bytes.Contains(sbat, []byte("shim,")):
		return "shim"
	case notBzImage == nil:
		return "a Linux EFI-stub kernel"
	}
	return "an EFI application doctor does not name"
}
