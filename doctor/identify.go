package doctor

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/grub"
	"github.com/minidisk/minidisk/rootfs/ext2"
	"github.com/minidisk/minidisk/rootfs/fat"
)

// Code names what a boot sector's code is. doctor identifies the code by
// the structure and the fixed bytes of the real binaries (each signature
// below was checked against the file named in its comment, from Debian
// bookworm), before it judges anything: the loader decides which rules
// apply.
type Code string

const (
	CodeNone         Code = "none"               // no 55 AA: the BIOS skips the disk
	CodeZero         Code = "zeroed"             // 55 AA, but bytes 0..439 are zero: nothing runs
	CodeGRUBLegacy   Code = "grub-legacy-stage1" // GRUB 0.97 stage1
	CodeGRUB2        Code = "grub2-boot.img"     // GRUB 2 boot.img
	CodeSyslinuxMBR  Code = "syslinux-mbr.bin"   // SYSLINUX mbr.bin: chain-loads the active partition
	CodeSyslinuxGPT  Code = "syslinux-gptmbr.bin"
	CodeSyslinuxAlt  Code = "syslinux-altmbr.bin" // boots the partition named in byte 439
	CodeIsohybrid    Code = "isolinux-isohdpfx"   // ISOLINUX hybrid MBR: loads isolinux.bin from the ISO
	CodeInstallMBR   Code = "install-mbr"         // Debian's mbr package: chain-loads a partition
	CodeParted       Code = "parted-mbr"          // the generic code parted writes: chain-loads the active partition by CHS
	CodeDOS          Code = "dos-mbr"             // DOS/Windows-style: chain-loads the active partition
	CodeSyslinuxVBR  Code = "syslinux-vbr"        // SYSLINUX/EXTLINUX boot sector (ldlinux.sys)
	CodeFATNoLoader  Code = "fat-boot-sector"     // a FAT boot sector whose code only prints "not bootable"
	CodeExt2BootArea Code = "ext2-boot-block"     // an ext2 filesystem's (empty) boot block
	CodeUnknown      Code = "unknown"
)

// Loader is the boot path as a whole: what the firmware ends up running.
type Loader string

const (
	LoaderNothing          Loader = "nothing"
	LoaderGRUBLegacy       Loader = "grub-legacy"
	LoaderGRUBLegacyFloppy Loader = "grub-legacy-floppy"
	LoaderGRUB2            Loader = "grub2"
	LoaderSyslinux         Loader = "syslinux"
	LoaderISOLINUX         Loader = "isolinux"
	LoaderUEFI             Loader = "uefi"
	LoaderUnknown          Loader = "unknown"
)

// BootInfo is what doctor identified, in plain words first.
type BootInfo struct {
	Summary  string `json:"summary"`
	Firmware string `json:"firmware"` // "BIOS" or "UEFI"
	Loader   Loader `json:"loader"`
	MBRCode  Code   `json:"mbr_code"`
	// VBRCode is the code in the boot sector of the partition the MBR code
	// chain-loads, when it chain-loads one.
	VBRCode     Code   `json:"vbr_code,omitempty"`
	VBRPart     int    `json:"vbr_partition,omitempty"`
	Superfloppy string `json:"superfloppy,omitempty"` // "FAT12", "ext2", ... when sector 0 is a filesystem
	ISO9660     bool   `json:"iso9660,omitempty"`
	EFILoader   string `json:"efi_loader,omitempty"` // what \EFI\BOOT\BOOTX64.EFI is
}

// Boot-code facts, each read from the binary named.
var (
	// grub-pc-bin 2.06 boot.img: "jmp 0x65" (EB 63) and the message strings
	// at 0x180.
	grub2BootStrings = []byte("GRUB \x00Geom\x00Hard Disk\x00Read\x00 Error")
	// syslinux-common 6.04 mbr.bin, gptmbr.bin and altmbr.bin share their
	// first 32 bytes (relocate to 0x600 and jump there).
	syslinuxMBRPrefix = []byte{0x33, 0xc0, 0xfa, 0x8e, 0xd8, 0x8e, 0xd0, 0xbc, 0x00, 0x7c, 0x89, 0xe6, 0x06, 0x57, 0x8e, 0xc0, 0xfb, 0xfc, 0xbf, 0x00, 0x06, 0xb9, 0x00, 0x01, 0xf3, 0xa5, 0xea, 0x1f, 0x06, 0x00, 0x00, 0x52}
	// isolinux 6.04 isohdpfx.bin / isohdppx.bin: xor bp,bp then NOPs, and
	// the message naming isolinux.bin.
	isohybridPrefix = []byte{0x33, 0xed, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90}
	isohybridString = []byte("isolinux.bin missing or corrupt.")
	// mbr 1.1.11 (install-mbr): cld; xor ax,ax; mov ss,ax; xor sp,sp, and
	// its "MBR " configuration signature at 0x18C.
	installMBRPrefix = []byte{0xfc, 0x31, 0xc0, 0x8e, 0xd0, 0x31, 0xe4}
	// parted 3.5 (libparted's msdos label, written on mklabel): relocate to
	// 0x600, scan the table for status 0x80, read its first sector by CHS.
	partedPrefix = []byte{0xfa, 0xb8, 0x00, 0x10, 0x8e, 0xd0, 0xbc, 0x00, 0xb0, 0xb8, 0x00, 0x00, 0x8e, 0xd8, 0x8e, 0xc0, 0xfb, 0xbe, 0x00, 0x7c, 0xbf, 0x00, 0x06, 0xb9, 0x00, 0x02, 0xf3, 0xa4, 0xea, 0x21, 0x06, 0x00, 0x00, 0xbe, 0xbe, 0x07, 0x38, 0x04, 0x75, 0x0b}
)

const (
	// syslinux's LDLINUX_MAGIC, stored little-endian at 0x1F8 of the boot
	// sector syslinux/extlinux install (checked on a FAT12 floppy made by
	// `syslinux --install` and an ext4 partition made by `extlinux
	// --install`).
	ldlinuxMagic    = 0x3eb202fe
	ldlinuxMagicOff = 0x1f8
	// altmbr.bin boots the partition whose number is in byte 439.
	altMBRPartOff = 439
	// GRUB 2 boot.img: kernel_sector (u64) at 0x5C, the LBA of core.img's
	// first sector (grub-core/boot/i386/pc/boot.S, GRUB_BOOT_MACHINE_KERNEL_SECTOR).
	grub2KernelSectorOff = 0x5c
	bootCodeBytes        = 440 // the MBR's code area, before the disk signature
)

// classifyBootSector names the code in a 512-byte boot sector.
func classifyBootSector(b []byte) Code {
	if len(b) < sectorSize {
		return CodeUnknown
	}
	if b[510] != 0x55 || b[511] != 0xAA {
		return CodeNone
	}
	code := b[:bootCodeBytes]
	switch {
	case bytes.Count(code, []byte{0}) == len(code):
		return CodeZero
	case binary.LittleEndian.Uint32(b[ldlinuxMagicOff:]) == ldlinuxMagic:
		return CodeSyslinuxVBR
	case b[0] == 0xeb && b[1] == 0x63 && bytes.Contains(code, grub2BootStrings):
		return CodeGRUB2
	case bytes.HasPrefix(code, syslinuxMBRPrefix):
		switch {
		case bytes.Contains(code, []byte("Missing OS")) && bytes.Contains(code, []byte("Disk error")):
			return CodeSyslinuxGPT
		case bytes.Contains(code, []byte("Multiple active partitions.")):
			return CodeSyslinuxMBR
		default:
			return CodeSyslinuxAlt
		}
	case bytes.HasPrefix(code, isohybridPrefix) && bytes.Contains(code, isohybridString):
		return CodeIsohybrid
	case bytes.HasPrefix(code, installMBRPrefix) && string(b[0x18c:0x190]) == "MBR ":
		return CodeInstallMBR
	case bytes.HasPrefix(code, partedPrefix):
		return CodeParted
	}
	if s1, _ := grub.ParseStage1(b); s1 != nil {
		return CodeGRUBLegacy
	}
	if fatBPB(b) != "" {
		return CodeFATNoLoader
	}
	if bytes.Contains(code, []byte("Invalid partition table")) &&
		(bytes.Contains(code, []byte("Missing operating system")) || bytes.Contains(code, []byte("Error loading operating system"))) {
		return CodeDOS
	}
	return CodeUnknown
}

// chainLoads reports whether the code boots a partition's boot sector.
func (c Code) chainLoads() bool {
	switch c {
	case CodeSyslinuxMBR, CodeSyslinuxGPT, CodeSyslinuxAlt, CodeInstallMBR, CodeParted, CodeDOS:
		return true
	}
	return false
}

// describe says what the code is in plain words.
func (c Code) describe() string {
	switch c {
	case CodeNone:
		return "no boot signature (55 AA)"
	case CodeZero:
		return "zeroed boot code"
	case CodeGRUBLegacy:
		return "GRUB Legacy stage1"
	case CodeGRUB2:
		return "GRUB 2 boot.img"
	case CodeSyslinuxMBR:
		return "SYSLINUX mbr.bin (boots the active partition)"
	case CodeSyslinuxGPT:
		return "SYSLINUX gptmbr.bin (boots the GPT partition marked legacy-BIOS-bootable)"
	case CodeSyslinuxAlt:
		return "SYSLINUX altmbr.bin (boots the partition named in byte 439)"
	case CodeIsohybrid:
		return "ISOLINUX hybrid MBR (isohdpfx)"
	case CodeInstallMBR:
		return "install-mbr's MBR (Debian package mbr; boots the active partition)"
	case CodeParted:
		return "parted's generic MBR code (boots the active partition)"
	case CodeDOS:
		return "DOS/Windows-style MBR code (boots the active partition)"
	case CodeSyslinuxVBR:
		return "SYSLINUX/EXTLINUX boot sector (loads ldlinux.sys)"
	case CodeFATNoLoader:
		return "a FAT boot sector without a loader"
	case CodeExt2BootArea:
		return "an ext2 boot block"
	}
	return "unknown boot code"
}

// fatBPB returns "FAT12", "FAT16" or "FAT32" when b (a sector) is a FAT
// boot sector, else "": rootfs/fat's Probe (a consistent BIOS parameter
// block and an x86 jump or "FAT" type string), the reader doctor opens FAT
// filesystems with, so identifying and reading agree.
func fatBPB(b []byte) string {
	p, ok := fat.Probe(bytes.NewReader(b), 0)
	if !ok {
		return ""
	}
	return fmt.Sprintf("FAT%d", p.Type)
}

// iso9660 reports a primary volume descriptor ("CD001" at byte 32769,
// ECMA-119 §8.4) and whether an El Torito boot record follows (sector 17,
// "EL TORITO SPECIFICATION").
func (d *diag) iso9660() (iso, eltorito bool) {
	b := make([]byte, 2048)
	if readFull(d.r, b, 16*2048) != nil || string(b[1:6]) != "CD001" {
		return false, false
	}
	if readFull(d.r, b, 17*2048) == nil && b[0] == 0 && string(b[1:6]) == "CD001" && strings.HasPrefix(string(b[7:]), "EL TORITO SPECIFICATION") {
		eltorito = true
	}
	return true, eltorito
}

// identify names the boot path from sector 0 and what it points to; the
// partition-table, filesystem and loader checks that follow depend on it.
func (d *diag) identify() {
	b := &BootInfo{Firmware: "BIOS", Loader: LoaderUnknown}
	d.rep.Boot = b
	b.MBRCode = classifyBootSector(d.mbr)
	iso, eltorito := d.iso9660()
	b.ISO9660 = iso
	var sb [2]byte
	_ = readFull(d.r, sb[:], int64(ext2MagicOffset))
	ext2Magic := binary.LittleEndian.Uint16(sb[:]) == ext2.Magic
	fat := fatBPB(d.mbr)
	switch {
	case b.MBRCode == CodeIsohybrid:
		b.Loader = LoaderISOLINUX
		b.Summary = "an ISOLINUX hybrid image: isohdpfx in the MBR loads isolinux.bin from the ISO 9660 filesystem"
		if !iso {
			b.Summary = "ISOLINUX's hybrid MBR (isohdpfx), but no ISO 9660 filesystem behind it"
		}
		d.rep.Scheme = SchemeISOHybrid
		return
	case iso && (b.MBRCode == CodeNone || b.MBRCode == CodeZero):
		d.rep.Scheme = SchemeISO
		b.Loader = LoaderISOLINUX
		b.Firmware = "BIOS (CD-ROM)"
		if eltorito {
			b.Summary = "an ISO 9660 CD image with an El Torito boot record: bootable as a CD, not as a disk"
		} else {
			b.Summary = "an ISO 9660 CD image without an El Torito boot record"
			b.Loader = LoaderNothing
		}
		return
	case fat != "":
		b.Superfloppy = fat
		d.rep.Scheme = SchemeSuperfloppy
		switch b.MBRCode {
		case CodeSyslinuxVBR:
			b.Loader = LoaderSyslinux
			b.Summary = fmt.Sprintf("a %s superfloppy (no partition table) with SYSLINUX's boot sector, which loads ldlinux.sys", fat)
		case CodeGRUBLegacy:
			b.Loader = LoaderGRUBLegacy
			b.Summary = fmt.Sprintf("a %s superfloppy with GRUB Legacy's stage1 in its boot sector", fat)
		default:
			b.Loader = LoaderNothing
			b.Summary = fmt.Sprintf("a %s superfloppy (no partition table) whose boot sector has no loader", fat)
		}
		return
	case b.MBRCode == CodeGRUBLegacy && d.grubFloppy():
		d.rep.Scheme = SchemeGRUBFloppy
		b.Loader = LoaderGRUBLegacyFloppy
		b.Summary = "a GRUB Legacy boot floppy: stage1 in sector 0 loads stage2 from sector 1, no partition table and no filesystem"
		return
	case ext2Magic && !d.plausibleTable():
		d.rep.Scheme = SchemeBareExt2
		b.Superfloppy = "ext2"
		switch b.MBRCode {
		case CodeSyslinuxVBR:
			b.Loader = LoaderSyslinux
			b.Summary = "an ext2/3/4 superfloppy (no partition table) with EXTLINUX's boot sector, which loads ldlinux.sys"
		case CodeGRUBLegacy:
			b.Loader = LoaderGRUBLegacy
			b.Summary = "an ext2 filesystem with GRUB Legacy's stage1 in its boot block"
		default:
			b.MBRCode = CodeExt2BootArea
			b.Loader = LoaderNothing
			b.Summary = "a bare ext2/3/4 filesystem (no partition table, no boot code): nothing for the BIOS to run"
		}
		return
	}
	switch b.MBRCode {
	case CodeNone:
		b.Loader = LoaderNothing
		b.Summary = "no MBR boot signature: the BIOS will not boot this disk"
	case CodeZero:
		b.Loader = LoaderNothing
		b.Summary = "an MBR with zeroed boot code (as sfdisk/fdisk leave it): the BIOS runs nothing"
	case CodeGRUBLegacy:
		b.Loader = LoaderGRUBLegacy
		b.Summary = "GRUB Legacy: stage1 in the MBR"
	case CodeGRUB2:
		b.Loader = LoaderGRUB2
		b.Summary = "GRUB 2: boot.img in the MBR"
	case CodeUnknown:
		b.Summary = "MBR boot code doctor does not recognise"
	default:
		b.Summary = b.MBRCode.describe()
	}
}

// grubFloppy recognises the GRUB Legacy boot floppy (GRUB manual, "Creating
// a GRUB boot floppy"; `minidisk grub floppy`): stage1 at sector 0 whose
// stage2_sector is 1, and stage2 itself (stage ID 0) there. stage1's own
// bytes fill the partition-table area, so there is no table to read.
func (d *diag) grubFloppy() bool {
	s1, _ := grub.ParseStage1(d.mbr)
	if s1 == nil || s1.Stage2Sector != 1 || s1.Stage2Address != stage2LoadAddress {
		return false
	}
	b := make([]byte, 2*sectorSize)
	if readFull(d.r, b, sectorSize) != nil {
		return false
	}
	st, err := grub.ParseStage15(b)
	return err == nil && st.ID == 0 && !d.plausibleTable()
}

// plausibleTable reports whether the four MBR entries can describe this
// image: status bytes 0x00 or 0x80 only, and every used entry starting after
// sector 0. Boot code or a filesystem in that area fails one of these
// almost always; a real table that fails them is reported by the
// partition checks anyway.
func (d *diag) plausibleTable() bool {
	m, err := disk.ParseMBR(d.mbr)
	if err != nil {
		return false
	}
	used := 0
	for _, e := range m.Entries {
		if e.Status != 0 && e.Status != 0x80 {
			return false
		}
		if e.Type == 0 && e.Sectors == 0 {
			continue
		}
		used++
		if e.StartLBA == 0 {
			return false
		}
	}
	return used > 0
}
