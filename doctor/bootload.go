package doctor

import (
	"fmt"
	"strings"
)

// checkBootLoader follows the boot path identify named, by that loader's
// own rules, as far as the image lets it: the next stage where its pointer
// says, its configuration, the kernel and initrd the configuration names.
// It fills d.target for the checks of what is booted. GRUB Legacy keeps its
// own chain (checkGRUB, after the filesystem check); UEFI is checkUEFI.
func (d *diag) checkBootLoader() {
	b := d.rep.Boot
	switch b.Loader {
	case LoaderGRUBLegacy, LoaderUEFI:
		if b.Superfloppy == "" || b.Loader != LoaderGRUBLegacy {
			return
		}
		d.add(Finding{ID: IDBootUnchecked, Area: AreaBoot, Severity: Info,
			Title:    "GRUB Legacy's stage1 in a filesystem's boot sector: not followed",
			Evidence: b.Summary})
	case LoaderGRUBLegacyFloppy:
		d.checkGRUBFloppy()
	case LoaderGRUB2:
		d.checkGRUB2(d.mbr, PartitionInfo{})
	case LoaderSyslinux:
		d.checkSyslinux(PartitionInfo{Start: 0, Sectors: uint64(d.size / sectorSize)})
	case LoaderISOLINUX:
		d.checkISO()
	case LoaderNothing:
		d.noLoader()
	default:
		if b.MBRCode.chainLoads() {
			d.chainLoad()
			return
		}
		d.add(Finding{ID: IDBootCodeUnknown, Area: AreaBoot, Severity: Info,
			Title:    "the MBR's boot code is not one doctor recognises: the boot is unchecked",
			Evidence: fmt.Sprintf("bytes 0..3 are % x; not GRUB Legacy, GRUB 2, SYSLINUX, ISOLINUX, install-mbr, parted's or DOS-style code, not zero", d.mbr[:4])})
	}
}

// noLoader explains a disk on which the BIOS runs nothing.
func (d *diag) noLoader() {
	b := d.rep.Boot
	switch {
	case b.MBRCode == CodeNone && d.rep.Scheme != SchemeBareExt2:
		return // mbr-signature-missing says it
	case b.MBRCode == CodeZero:
		d.add(Finding{ID: IDBootCodeZero, Area: AreaBoot, Severity: Error,
			Title:    "the MBR's boot code is all zero: no boot loader is installed",
			Evidence: "bytes 0..439 are zero (sfdisk, fdisk and parted's mklabel --no-code leave them so): the BIOS finds 55 AA, jumps to sector 0 and runs nothing (SeaBIOS hangs after \"Booting from Hard Disk...\")",
			Fix:      "install a boot loader: `minidisk grub install IMG` (GRUB Legacy), or grub-install / extlinux --install with syslinux's mbr.bin"})
	case b.Superfloppy != "" && b.Superfloppy != "ext2":
		d.add(Finding{ID: IDBootVBRNoLoader, Area: AreaBoot, Severity: Error,
			Title:    fmt.Sprintf("the %s boot sector has no boot loader", b.Superfloppy),
			Evidence: "sector 0 is a FAT boot sector as mkfs.vfat writes it: its code prints \"This is not a bootable disk\"",
			Fix:      "install one: syslinux --install IMG"})
	case b.ISO9660:
		d.add(Finding{ID: IDBootISONoElTorito, Area: AreaBoot, Severity: Error,
			Title:    "an ISO 9660 image without an El Torito boot record",
			Evidence: "no boot record volume descriptor at sector 17: neither a CD drive nor a disk boots it",
			Fix:      "make it with xorriso -as mkisofs -b isolinux/isolinux.bin -c isolinux/boot.cat -no-emul-boot -boot-load-size 4 -boot-info-table -isohybrid-mbr /usr/lib/ISOLINUX/isohdpfx.bin"})
	}
}

// chainLoad follows DOS-style MBR code (SYSLINUX's mbr.bin/gptmbr.bin/
// altmbr.bin, install-mbr, parted's, DOS/Windows) to the partition it boots
// and identifies what that partition's boot sector holds.
func (d *diag) chainLoad() {
	b := d.rep.Boot
	var target *PartitionInfo
	var active []PartitionInfo
	for _, p := range d.parts {
		if p.Bootable && !p.Logical {
			active = append(active, p)
		}
	}
	switch b.MBRCode {
	case CodeSyslinuxAlt:
		n := int(d.mbr[altMBRPartOff])
		target = d.partitionByIndex(n)
		if target == nil {
			d.add(Finding{ID: IDBootNoActive, Area: AreaBoot, Severity: Error,
				Title:    fmt.Sprintf("altmbr.bin boots partition %d, which does not exist", n),
				Evidence: fmt.Sprintf("byte 439 of the MBR is %d: altmbr.bin prints \"Missing operating system.\"", n),
				Fix:      "printf '\\\\x01' | dd of=IMG bs=1 seek=439 conv=notrunc (the partition number to boot)"})
			return
		}
	default:
		what := "active (status 0x80)"
		if b.MBRCode == CodeSyslinuxGPT {
			what = "marked legacy BIOS bootable (GPT attribute bit 2)"
		}
		switch {
		case len(active) == 0:
			msg := map[Code]string{CodeSyslinuxMBR: "mbr.bin prints \"Missing operating system.\"", CodeSyslinuxGPT: "gptmbr.bin prints \"Missing OS\"",
				CodeParted: "parted's code loops forever", CodeDOS: "DOS-style code prints \"Missing operating system\"", CodeInstallMBR: "install-mbr prompts and finds nothing to boot"}[b.MBRCode]
			fix := "mark the root partition active: sfdisk --activate IMG N"
			if b.MBRCode == CodeSyslinuxGPT {
				fix = "sgdisk --attributes=N:set:2 IMG"
			}
			d.add(Finding{ID: IDBootNoActive, Area: AreaBoot, Severity: Error,
				Title:    fmt.Sprintf("the MBR code boots the partition %s, and there is none", what),
				Evidence: fmt.Sprintf("%s; %s", b.MBRCode.describe(), msg),
				Fix:      fix})
			return
		case len(active) > 1 && (b.MBRCode == CodeSyslinuxMBR || b.MBRCode == CodeDOS || b.MBRCode == CodeSyslinuxGPT):
			d.add(Finding{ID: IDBootManyActive, Area: AreaBoot, Severity: Error,
				Title:    fmt.Sprintf("%d partitions are %s", len(active), what),
				Evidence: fmt.Sprintf("%s refuses: \"Multiple active partitions.\" / \"Invalid partition table\"", b.MBRCode.describe()),
				Fix:      "leave exactly one partition active: sfdisk --activate IMG N"})
			return
		}
		target = &active[0]
	}
	vbr := make([]byte, sectorSize)
	if err := readFull(d.r, vbr, int64(target.Start)*sectorSize); err != nil {
		d.add(Finding{ID: IDBootVBRNoLoader, Area: AreaBoot, Severity: Error,
			Title: fmt.Sprintf("partition %d's boot sector cannot be read", target.Index), Evidence: err.Error(),
			Fix: "grow the image to hold the partition"})
		return
	}
	b.VBRCode, b.VBRPart = classifyBootSector(vbr), target.Index
	b.Summary = fmt.Sprintf("%s in the MBR → partition %d's boot sector: %s", b.MBRCode.describe(), target.Index, b.VBRCode.describe())
	switch b.VBRCode {
	case CodeSyslinuxVBR:
		b.Loader = LoaderSyslinux
		d.checkSyslinux(*target)
	case CodeGRUB2:
		b.Loader = LoaderGRUB2
		d.checkGRUB2(vbr, *target)
	case CodeGRUBLegacy:
		b.Loader = LoaderGRUBLegacy
		d.add(Finding{ID: IDBootUnchecked, Area: AreaBoot, Severity: Info,
			Title:    fmt.Sprintf("GRUB Legacy's stage1 in partition %d's boot sector", target.Index),
			Evidence: b.Summary + "; doctor follows GRUB Legacy from the MBR only"})
	case CodeZero, CodeNone, CodeFATNoLoader, CodeExt2BootArea:
		b.Loader = LoaderNothing
		d.add(Finding{ID: IDBootVBRNoLoader, Area: AreaBoot, Severity: Error,
			Title:    fmt.Sprintf("the MBR code boots partition %d, whose boot sector holds no boot loader", target.Index),
			Evidence: fmt.Sprintf("%s; sector %d: %s", b.MBRCode.describe(), target.Start, b.VBRCode.describe()),
			Fix:      "install a loader into the partition (extlinux --install DIR on the mounted partition, syslinux --install for FAT), or put one in the MBR (`minidisk grub install IMG`)"})
	default:
		d.add(Finding{ID: IDBootUnchecked, Area: AreaBoot, Severity: Info,
			Title:    fmt.Sprintf("partition %d's boot sector holds code doctor does not recognise", target.Index),
			Evidence: fmt.Sprintf("%s; bytes 0..3 of sector %d are % x", b.Summary, target.Start, vbr[:4])})
	}
}

// checkISO reports an ISO 9660 image. ISOLINUX's own files are inside the
// ISO 9660 filesystem, which doctor does not read: unchecked.
func (d *diag) checkISO() {
	b := d.rep.Boot
	_, eltorito := d.iso9660()
	switch {
	case !b.ISO9660:
		d.add(Finding{ID: IDBootISONoElTorito, Area: AreaBoot, Severity: Error,
			Title:    "ISOLINUX's hybrid MBR, but no ISO 9660 filesystem",
			Evidence: "no \"CD001\" at byte 32769: isohdpfx finds no isolinux.bin (\"isolinux.bin missing or corrupt.\")",
			Fix:      "make the image with xorriso -as mkisofs ... -isohybrid-mbr /usr/lib/ISOLINUX/isohdpfx.bin"})
	case !eltorito:
		d.add(Finding{ID: IDBootISONoElTorito, Area: AreaBoot, Severity: Error,
			Title:    "an ISO 9660 image without an El Torito boot record",
			Evidence: "no boot record at sector 17: isohdpfx and a CD drive both need the El Torito catalog to find isolinux.bin",
			Fix:      "make it with xorriso -as mkisofs -b isolinux/isolinux.bin -c isolinux/boot.cat -no-emul-boot -boot-load-size 4 -boot-info-table"})
	default:
		d.add(Finding{ID: IDBootISO, Area: AreaBoot, Severity: Info,
			Title:    "an El Torito ISO image: isolinux.bin and its configuration are not checked",
			Evidence: b.Summary + "; doctor does not read ISO 9660 directories yet"})
	}
}

// cmdlineRootDesc says where root= points, for evidence.
func cmdlineRootDesc(cmdline string) string {
	for _, f := range strings.Fields(cmdline) {
		if strings.HasPrefix(f, "root=") {
			return f
		}
	}
	return "no root="
}
