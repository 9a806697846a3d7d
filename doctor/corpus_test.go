package doctor

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minidisk/minidisk/grub"
	"github.com/minidisk/minidisk/initramfs"
	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel"
	"github.com/minidisk/minidisk/kernel/kerneltest"
	"github.com/minidisk/minidisk/qemu"
)

// The corpus: images made by the real tools users have (GRUB 2's
// grub-mkimage with boot.img/core.img placed as grub-bios-setup places them,
// syslinux/extlinux with mbr.bin, gptmbr.bin, altmbr.bin and install-mbr,
// parted, sgdisk, xorriso, mke2fs, mkfs.vfat, the GRUB Legacy shell), each
// booted in QEMU to learn the truth. The machine's answer — did the boot
// reach the image's marker? — is the expected verdict: doctor must exit 0
// exactly on the images that boot, and must name the loader the image was
// made with. Boot results are cached by the image's SHA-256 in
// ${XDG_CACHE_HOME:-~/.cache}/minidisk/boot-results.

// corpusPrelude is bash shared by the image scripts. Variables: K (the
// kernel), BB (static BusyBox), G/GE (GRUB 2's i386-pc / x86_64-efi
// directories), MKIMAGE (grub-mkimage), SL (syslinux's MBR directory), W (a
// scratch directory), OUT (the image).
//
// The images are reproducible, so a boot result cached by content is found
// again: fixed times (SOURCE_DATE_EPOCH, E2FSPROGS_FAKE_TIME, and each
// file's times before mke2fs -d copies them), a fixed MBR disk identifier,
// ext2 UUID and hash seed. Only images extlinux installs on a mounted
// filesystem are not: the kernel stamps them with the time of day.
const corpusPrelude = `set -euo pipefail
export SOURCE_DATE_EPOCH=946684800 E2FSPROGS_FAKE_TIME=946684800
guid() { printf '6d646b31-0000-4000-8000-%012x' $1; } # N: a fixed GUID
sfdisk() { # sfdisk -q IMG with its script on stdin, plus a fixed disk identifier (sfdisk picks a random one)
	if [ $# = 2 ] && [ "$1" = -q ]; then { echo 'label-id: 0x6d646b31'; cat; } | command sfdisk "$@"; else command sfdisk "$@"; fi
}
sgdisk() { # sgdisk ... IMG, then fixed disk and partition GUIDs (sgdisk picks random ones)
	command sgdisk "$@"; local img=${@: -1} n
	for n in $(command sgdisk -p "$img" | awk '$1 ~ /^[0-9]+$/ {print $1}'); do command sgdisk -u $n:$(guid $n) "$img" >/dev/null; done
	command sgdisk -U $(guid 0) "$img" >/dev/null
}
mkfs.vfat() { command mkfs.vfat --invariant "$@"; } # a fixed volume ID instead of one from the clock
mkroot() { # DIR: static BusyBox, an init that prints the marker and powers off, /dev/console, the kernel
	local r=$1; mkdir -p $r/bin $r/sbin $r/dev $r/proc $r/boot
	cp $BB $r/bin/busybox; ln -sf busybox $r/bin/sh
	printf '#!/bin/sh\necho MINIDISK-BOOTED\n/bin/busybox poweroff -f\n' > $r/sbin/init; chmod 755 $r/sbin/init
	mknod -m 600 $r/dev/console c 5 1
	cp $K $r/boot/vmlinuz
	if [ -f "$KCONFIG" ]; then cp $KCONFIG $r/boot/config-$KREL; fi # as distributions install it
}
mkfs_at() { # IMG START_SECTOR SIZE_KIB TYPE ROOTDIR [mke2fs options]: reproducible (fixed UUID from the start sector, hash seed, times)
	local img=$1 start=$2 kib=$3 t=$4 root=$5; shift 5
	if [ -n "$root" ]; then
		find "$root" -exec touch -h -d @$SOURCE_DATE_EPOCH {} +
		set -- "$@" -d "$root"
	fi
	mke2fs -q -F -t $t "$@" -U $(guid $start) -E offset=$((start*512)),hash_seed=6d646b31-0000-4000-8000-000000000000 "$img" ${kib}k
	if [ -n "$root" ]; then # mke2fs -d copies each file's ctime, which touch cannot set
		(cd "$root" && find . -printf 'sif "/%P" ctime @'$SOURCE_DATE_EPOCH'\n') > $W/ctime.cmds
		debugfs -w -f $W/ctime.cmds "$img?offset=$((start*512))" >/dev/null 2>&1
	fi
}
le() { # VALUE NBYTES: little-endian bytes on stdout
	local v=$1 n=$2 i s=""
	for ((i=0;i<n;i++)); do s+=$(printf '\\x%02x' $(( (v>>(8*i)) & 255 ))); done
	printf "$s"
}
put() { dd of=$1 bs=1 seek=$2 conv=notrunc status=none; }
grub2cfg() { # DIR CMDLINE: grub.cfg and the modules grub-install copies
	mkdir -p $1/boot/grub/i386-pc; cp $G/*.mod $G/*.lst $1/boot/grub/i386-pc/
	printf 'serial --unit=0 --speed=115200\nterminal_input serial\nterminal_output serial\nset timeout=0\nmenuentry "corpus" {\n\tlinux /boot/vmlinuz %s console=ttyS0 noapic\n}\n' "$2" > $1/boot/grub/grub.cfg
}
grub2install() { # IMG SECTOR PREFIX MODULES...: boot.img in the MBR, core.img from SECTOR, as grub-bios-setup does
	local img=$1 s=$2 prefix=$3; shift 3
	$MKIMAGE -d $G -O i386-pc -p "$prefix" -o $W/core.img biosdisk "$@"
	dd if=$G/boot.img of=$img bs=440 count=1 conv=notrunc status=none
	le $s 8 | put $img $((0x5c))
	dd if=$W/core.img of=$img bs=512 seek=$s conv=notrunc status=none
	le $((s+1)) 8 | put $img $((s*512+0x1f4))
	le $(( ($(stat -c %s $W/core.img)+511)/512 - 1 )) 2 | put $img $((s*512+0x1fc))
}
espgrub() { # IMG FAT_BITS WITH_LOADER(1|0): a reproducible GPT disk (fixed GUIDs, mkfs.vfat --invariant, fixed times) whose ESP, sector 2048 to the end, holds grub.cfg and (1) GRUB 2's EFI image as BOOTX64.EFI, which prints MINIDISK-GRUB-EFI
	local img=$1 sectors=$(( $(stat -c %s $1)/512 )); export SOURCE_DATE_EPOCH=946684800
	command sgdisk -o -U 0F0E0D0C-0B0A-4908-8706-050403020100 -n 1:2048:0 -t 1:ef00 -u 1:10203040-5060-4708-90A0-B0C0D0E0F000 $img >/dev/null
	mkfs.vfat -F $2 -S 512 --offset 2048 $img $(( (sectors-2048-34)/2 )) >/dev/null
	printf 'serial --unit=0 --speed=115200\nterminal_output serial\necho MINIDISK-GRUB-EFI\nhalt\n' > $W/grub.cfg
	$MKIMAGE -d $GE -O x86_64-efi -p /EFI/BOOT -o $W/BOOTX64.EFI part_gpt fat normal echo halt serial terminal
	touch -d @$SOURCE_DATE_EPOCH $W/grub.cfg $W/BOOTX64.EFI
	mmd -i $img@@1M ::EFI ::EFI/BOOT; mcopy -m -i $img@@1M $W/grub.cfg ::EFI/BOOT/
	if [ $3 = 1 ]; then mcopy -m -i $img@@1M $W/BOOTX64.EFI ::EFI/BOOT/; fi
}
crcbreak() { # IMG SECTOR: invert the CRC32 of the GPT header in SECTOR (1: the primary; the last: the backup)
	local off=$(( $2*512+16 )) crc
	crc=$(od -An -tu4 -j $off -N4 $1 | tr -d ' ')
	le $(( crc ^ 0xFFFFFFFF )) 4 | put $1 $off
}
extlinux_at() { # IMG START_SECTOR SIZE_KIB CMDLINE: extlinux --install on the mounted filesystem
	local img=$1 start=$2 kib=$3 l
	l=$(losetup -f --show -o $((start*512)) --sizelimit $((kib*1024)) $img)
	mkdir -p $W/mnt; mount $l $W/mnt
	mkdir -p $W/mnt/boot/extlinux
	printf 'SERIAL 0 115200\nDEFAULT linux\nLABEL linux\n  LINUX /boot/vmlinuz\n  APPEND %s console=ttyS0 noapic\n' "$4" > $W/mnt/boot/extlinux/extlinux.conf
	extlinux --install $W/mnt/boot/extlinux >/dev/null 2>&1
	umount $W/mnt; losetup -d $l
}
`

type corpusImage struct {
	name   string
	loader Loader
	efi    bool
	script string
	// marker is what the console shows when the boot got where this image
	// leads (default: the init's MINIDISK-BOOTED).
	marker string
	// floppy boots the image as drive A: (-fda), not as the IDE disk.
	floppy bool
	// debian: the script uses Debian's cloud kernel (DK, DKCONFIG, DKREL).
	debian bool
	// after runs Go code on the built image (the GRUB Legacy shell, the
	// boot floppy writer).
	after func(t *testing.T, img string)
}

const corpusMarker = "MINIDISK-BOOTED"

// corpusFail are console messages after which the boot cannot succeed.
// OVMF reaches "Start PXE over IPv4" only after the disk's boot option
// failed. SYSLINUX's "boot:" prompt (SeaBIOS echoes its text twice,
// interleaved: "boot:boot: ") follows a failed load or a missing
// configuration, as does GRUB 2's "Failed to boot both default and fallback
// entries".
var corpusFail = regexp.MustCompile(`Start PXE over IPv4|Failed to boot both default and fallback|boot:boot: |Kernel panic|grub rescue>|grub> |\nboot: |Boot error|Missing operating system|Missing OS|Multiple active|Error [0-9]+:|Could not find kernel|Failed to load|No bootable device|not a bootable disk|isolinux.bin missing`)

var corpus = []corpusImage{
	{name: "grub2-mbr-ext2", loader: LoaderGRUB2, script: `truncate -s 24M $OUT; echo 'start=2048,type=83,bootable' | sfdisk -q $OUT >/dev/null
mkroot $W/r; grub2cfg $W/r root=/dev/sda1; mkfs_at $OUT 2048 23552 ext2 $W/r
grub2install $OUT 1 '(hd0,msdos1)/boot/grub' part_msdos ext2`},
	{name: "grub2-root-p2-behind-data", loader: LoaderGRUB2, script: `truncate -s 40M $OUT; printf 'start=2048,size=16M,type=83\nstart=34816,type=83,bootable\n' | sfdisk -q $OUT >/dev/null
mkdir -p $W/data; echo data > $W/data/README; mkfs_at $OUT 2048 16384 ext2 $W/data
mkroot $W/r; grub2cfg $W/r root=/dev/sda2; mkfs_at $OUT 34816 22528 ext3 $W/r
grub2install $OUT 1 '(hd0,msdos2)/boot/grub' part_msdos ext2`},
	{name: "grub2-root-logical", loader: LoaderGRUB2, script: `truncate -s 48M $OUT; printf 'start=2048,size=8M,type=83\nstart=18432,type=5\nstart=20480,size=8M,type=83\nstart=38912,type=83\n' | sfdisk -q $OUT >/dev/null
mkfs_at $OUT 2048 8192 ext2 ""; mkfs_at $OUT 20480 8192 ext2 ""
mkroot $W/r; grub2cfg $W/r root=/dev/sda6; mkfs_at $OUT 38912 $(( (98304-38912-16)/2 )) ext2 $W/r
grub2install $OUT 1 '(hd0,msdos6)/boot/grub' part_msdos ext2`},
	{name: "grub2-gpt-bios-boot", loader: LoaderGRUB2, script: `truncate -s 32M $OUT >/dev/null
sgdisk -o -n 1:2048:4095 -t 1:ef02 -n 2:4096:0 -t 2:8300 $OUT >/dev/null
mkroot $W/r; grub2cfg $W/r root=/dev/sda2; mkfs_at $OUT 4096 $(( (65536-4096-34)/2 )) ext2 $W/r
grub2install $OUT 2048 '(hd0,gpt2)/boot/grub' part_gpt ext2`},
	{name: "grub2-ext4-root-kernel-without-ext4", loader: LoaderGRUB2, script: `truncate -s 24M $OUT; echo 'start=2048,type=83,bootable' | sfdisk -q $OUT
mkroot $W/r; grub2cfg $W/r root=/dev/sda1; mkfs_at $OUT 2048 23552 ext4 $W/r
grub2install $OUT 1 '(hd0,msdos1)/boot/grub' part_msdos ext2`},
	{name: "grub2-debian-kernel-no-initrd", loader: LoaderGRUB2, debian: true, script: `truncate -s 64M $OUT; echo 'start=2048,type=83,bootable' | sfdisk -q $OUT
mkroot $W/r; cp $DK $W/r/boot/vmlinuz; cp $DKCONFIG $W/r/boot/config-$DKREL; grub2cfg $W/r root=/dev/sda1; mkfs_at $OUT 2048 64512 ext2 $W/r
grub2install $OUT 1 '(hd0,msdos1)/boot/grub' part_msdos ext2`},
	{name: "grub2-no-grub-cfg", loader: LoaderGRUB2, script: `truncate -s 24M $OUT; echo 'start=2048,type=83,bootable' | sfdisk -q $OUT >/dev/null
mkroot $W/r; grub2cfg $W/r root=/dev/sda1; rm $W/r/boot/grub/grub.cfg; mkfs_at $OUT 2048 23552 ext2 $W/r
grub2install $OUT 1 '(hd0,msdos1)/boot/grub' part_msdos ext2`},
	{name: "grub2-root-missing-partition", loader: LoaderGRUB2, script: `truncate -s 24M $OUT; echo 'start=2048,type=83,bootable' | sfdisk -q $OUT >/dev/null
mkroot $W/r; grub2cfg $W/r root=/dev/sda3; mkfs_at $OUT 2048 23552 ext2 $W/r
grub2install $OUT 1 '(hd0,msdos1)/boot/grub' part_msdos ext2`},
	{name: "grub2-kernel-missing", loader: LoaderGRUB2, script: `truncate -s 24M $OUT; echo 'start=2048,type=83,bootable' | sfdisk -q $OUT >/dev/null
mkroot $W/r; grub2cfg $W/r root=/dev/sda1; rm $W/r/boot/vmlinuz; mkfs_at $OUT 2048 23552 ext2 $W/r
grub2install $OUT 1 '(hd0,msdos1)/boot/grub' part_msdos ext2`},
	{name: "extlinux-ext2-mbr.bin", loader: LoaderSyslinux, script: `truncate -s 24M $OUT; echo 'start=2048,type=83,bootable' | sfdisk -q $OUT >/dev/null
mkroot $W/r; mkfs_at $OUT 2048 23552 ext2 $W/r; extlinux_at $OUT 2048 23552 root=/dev/sda1
dd if=$SL/mbr.bin of=$OUT bs=440 count=1 conv=notrunc status=none`},
	{name: "extlinux-ext2-install-mbr", loader: LoaderSyslinux, script: `truncate -s 24M $OUT; echo 'start=2048,type=83,bootable' | sfdisk -q $OUT >/dev/null
mkroot $W/r; mkfs_at $OUT 2048 23552 ext2 $W/r; extlinux_at $OUT 2048 23552 root=/dev/sda1
install-mbr $OUT`},
	{name: "extlinux-ext4-boot-p1-root-p2", loader: LoaderSyslinux, script: `truncate -s 48M $OUT; printf 'start=2048,size=16M,type=83,bootable\nstart=34816,type=83\n' | sfdisk -q $OUT >/dev/null
mkdir -p $W/b/boot; cp $K $W/b/boot/vmlinuz; cp $KCONFIG $W/b/boot/config-$KREL; mkfs_at $OUT 2048 16384 ext4 $W/b; extlinux_at $OUT 2048 16384 root=/dev/sda2
mkroot $W/r; mkfs_at $OUT 34816 $(( (98304-34816)/2 )) ext2 $W/r
dd if=$SL/mbr.bin of=$OUT bs=440 count=1 conv=notrunc status=none`},
	{name: "extlinux-ext4-no-64bit-boot-p1", loader: LoaderSyslinux, script: `truncate -s 48M $OUT; printf 'start=2048,size=16M,type=83,bootable\nstart=34816,type=83\n' | sfdisk -q $OUT
mkdir -p $W/b/boot; cp $K $W/b/boot/vmlinuz; cp $KCONFIG $W/b/boot/config-$KREL; mkfs_at $OUT 2048 16384 ext4 $W/b -O ^64bit; extlinux_at $OUT 2048 16384 root=/dev/sda2
mkroot $W/r; mkfs_at $OUT 34816 $(( (98304-34816)/2 )) ext2 $W/r
dd if=$SL/mbr.bin of=$OUT bs=440 count=1 conv=notrunc status=none`},
	{name: "extlinux-ext4-4k-boot-p1-root-p2", loader: LoaderSyslinux, script: `truncate -s 48M $OUT; printf 'start=2048,size=16M,type=83,bootable\nstart=34816,type=83\n' | sfdisk -q $OUT
mkdir -p $W/b/boot; cp $K $W/b/boot/vmlinuz; cp $KCONFIG $W/b/boot/config-$KREL; mkfs_at $OUT 2048 16384 ext4 $W/b -b 4096; extlinux_at $OUT 2048 16384 root=/dev/sda2
mkroot $W/r; mkfs_at $OUT 34816 $(( (98304-34816)/2 )) ext2 $W/r
dd if=$SL/mbr.bin of=$OUT bs=440 count=1 conv=notrunc status=none`},
	{name: "extlinux-ext3-altmbr-p2", loader: LoaderSyslinux, script: `truncate -s 40M $OUT; printf 'start=2048,size=8M,type=83\nstart=18432,type=83\n' | sfdisk -q $OUT >/dev/null
mkfs_at $OUT 2048 8192 ext2 ""
mkroot $W/r; mkfs_at $OUT 18432 $(( (81920-18432)/2 )) ext3 $W/r; extlinux_at $OUT 18432 $(( (81920-18432)/2 )) root=/dev/sda2
dd if=$SL/altmbr.bin of=$OUT bs=439 count=1 conv=notrunc status=none; printf '\x02' | put $OUT 439`},
	{name: "extlinux-gpt-gptmbr", loader: LoaderSyslinux, script: `truncate -s 24M $OUT >/dev/null
sgdisk -o -n 1:2048:0 -t 1:8300 -A 1:set:2 $OUT >/dev/null
mkroot $W/r; mkfs_at $OUT 2048 $(( (49152-2048-34)/2 )) ext2 $W/r; extlinux_at $OUT 2048 $(( (49152-2048-34)/2 )) root=/dev/sda1
dd if=$SL/gptmbr.bin of=$OUT bs=440 count=1 conv=notrunc status=none`},
	{name: "extlinux-ext2-superfloppy", loader: LoaderSyslinux, script: `truncate -s 16M $OUT >/dev/null
mkroot $W/r; mke2fs -q -F -t ext2 -d $W/r $OUT; extlinux_at $OUT 0 16384 root=/dev/sda`},
	{name: "syslinux-fat16-p1-root-p2", loader: LoaderSyslinux, script: `truncate -s 48M $OUT; printf 'start=2048,size=20M,type=e,bootable\nstart=43008,type=83\n' | sfdisk -q $OUT >/dev/null
mkfs.vfat -F 16 -S 512 --offset 2048 $OUT 20480 >/dev/null
syslinux --offset $((2048*512)) --install $OUT >/dev/null
printf 'SERIAL 0 115200\nDEFAULT linux\nLABEL linux\n  KERNEL /vmlinuz\n  APPEND root=/dev/sda2 console=ttyS0 noapic\n' > $W/syslinux.cfg
mcopy -i $OUT@@$((2048*512)) $K ::vmlinuz; mcopy -i $OUT@@$((2048*512)) $KCONFIG ::config-$KREL; mcopy -i $OUT@@$((2048*512)) $W/syslinux.cfg ::syslinux.cfg
mkroot $W/r; mkfs_at $OUT 43008 $(( (98304-43008)/2 )) ext2 $W/r
dd if=$SL/mbr.bin of=$OUT bs=440 count=1 conv=notrunc status=none`},
	{name: "syslinux-fat12-floppy-no-config", loader: LoaderSyslinux, script: `mkfs.vfat -C $OUT 1440 >/dev/null; syslinux --install $OUT; mcopy -i $OUT $K ::vmlinuz`},
	{name: "mbr.bin-no-active", loader: LoaderUnknown, script: `truncate -s 24M $OUT; echo 'start=2048,type=83' | sfdisk -q $OUT >/dev/null
mkroot $W/r; mkfs_at $OUT 2048 23552 ext2 $W/r; extlinux_at $OUT 2048 23552 root=/dev/sda1
dd if=$SL/mbr.bin of=$OUT bs=440 count=1 conv=notrunc status=none`},
	{name: "parted-no-loader", loader: LoaderUnknown, script: `truncate -s 24M $OUT; parted -s $OUT mklabel msdos mkpart primary ext2 1MiB 100% >/dev/null 2>&1
sfdisk --disk-id $OUT 0x6d646b31 >/dev/null # parted picks a random one
mkroot $W/r; mkfs_at $OUT 2048 23552 ext2 $W/r`},
	{name: "sfdisk-zeroed-mbr", loader: LoaderNothing, script: `truncate -s 24M $OUT; echo 'start=2048,type=83,bootable' | sfdisk -q $OUT >/dev/null
mkroot $W/r; mkfs_at $OUT 2048 23552 ext2 $W/r`},
	// The ISO has no root for the kernel: the boot counts when ISOLINUX
	// has started the kernel (its "Linux version" banner on ttyS0; ISOLINUX's
	// own text is echoed twice, interleaved, by SeaBIOS's serial console).
	{name: "isohybrid-xorriso", loader: LoaderISOLINUX, marker: "Linux version", script: `mkdir -p $W/iso/isolinux; cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 $W/iso/isolinux/; cp $K $W/iso/vmlinuz
printf 'SERIAL 0 115200\nDEFAULT linux\nLABEL linux\n  KERNEL /vmlinuz\n  APPEND console=ttyS0 noapic\n' > $W/iso/isolinux/isolinux.cfg
find $W/iso -exec touch -h -d @$SOURCE_DATE_EPOCH {} +
xorriso -as mkisofs -quiet -o $OUT -b isolinux/isolinux.bin -c isolinux/boot.cat -no-emul-boot -boot-load-size 4 -boot-info-table -isohybrid-mbr /usr/lib/ISOLINUX/isohdpfx.bin $W/iso 2>/dev/null`},
	{name: "uefi-gpt-esp-grub2-efi", loader: LoaderUEFI, efi: true, marker: "MINIDISK-GRUB-EFI", script: `truncate -s 40M $OUT
sgdisk -o -n 1:2048:0 -t 1:ef00 $OUT >/dev/null
mkfs.vfat -F 32 -S 512 --offset 2048 $OUT $(( (81920-2048-34)/2 )) >/dev/null
$MKIMAGE -d $GE -O x86_64-efi -p /EFI/BOOT -o $W/BOOTX64.EFI part_gpt fat normal echo halt serial terminal
printf 'serial --unit=0 --speed=115200\nterminal_output serial\necho MINIDISK-GRUB-EFI\nhalt\n' > $W/grub.cfg
mmd -i $OUT@@$((2048*512)) ::EFI ::EFI/BOOT; mcopy -i $OUT@@$((2048*512)) $W/BOOTX64.EFI $W/grub.cfg ::EFI/BOOT/`},
	// FAT16 and FAT12 ESPs: firmware reads them (UEFI 2.10 §13.3.1.1), and
	// without BOOTX64.EFI it has nothing to boot.
	{name: "uefi-fat16-esp-grub2-efi", loader: LoaderUEFI, efi: true, marker: "MINIDISK-GRUB-EFI", script: `truncate -s 40M $OUT; espgrub $OUT 16 1`},
	{name: "uefi-fat12-esp-grub2-efi", loader: LoaderUEFI, efi: true, marker: "MINIDISK-GRUB-EFI", script: `truncate -s 8M $OUT; espgrub $OUT 12 1`},
	{name: "uefi-fat16-esp-no-bootx64", loader: LoaderUEFI, efi: true, marker: "MINIDISK-GRUB-EFI", script: `truncate -s 40M $OUT; espgrub $OUT 16 0`},
	// FATs Linux mounts and EDK2's FatOpenDevice refuses: a FAT32 of fewer
	// than 65,525 clusters (FAT16 by the specification's count; mkfs.vfat
	// -F 32 makes one on an ESP under about 33 MiB, but mtools cannot
	// write to it, so the BPB's total sectors are cut to 65,000 clusters
	// after the files are copied), FAT mirroring switched off, FAT32
	// version 1.0.
	{name: "uefi-fat32-esp-under-65525-clusters", loader: LoaderUEFI, efi: true, marker: "MINIDISK-GRUB-EFI", script: `truncate -s 40M $OUT; espgrub $OUT 32 1
b=$((2048*512)); rs=$(od -An -tu2 -j $((b+0x0E)) -N2 $OUT); fz=$(od -An -tu4 -j $((b+0x24)) -N4 $OUT)
le $(( rs + 2*fz + 65000 )) 4 | put $OUT $((b+0x20))`},
	{name: "uefi-fat32-esp-mirroring-off", loader: LoaderUEFI, efi: true, marker: "MINIDISK-GRUB-EFI", script: `truncate -s 40M $OUT; espgrub $OUT 32 1; le $((0x80)) 2 | put $OUT $((2048*512+0x28))`},
	{name: "uefi-fat32-esp-version-1.0", loader: LoaderUEFI, efi: true, marker: "MINIDISK-GRUB-EFI", script: `truncate -s 40M $OUT; espgrub $OUT 32 1; le $((0x100)) 2 | put $OUT $((2048*512+0x2A))`},
	// A broken primary GPT header: OVMF boots from the backup; with both
	// broken it sees no partition.
	{name: "uefi-gpt-primary-crc-broken", loader: LoaderUEFI, efi: true, marker: "MINIDISK-GRUB-EFI", script: `truncate -s 40M $OUT; espgrub $OUT 32 1; crcbreak $OUT 1`},
	{name: "uefi-gpt-both-crc-broken", loader: LoaderUEFI, efi: true, marker: "MINIDISK-GRUB-EFI", script: `truncate -s 40M $OUT; espgrub $OUT 32 1; crcbreak $OUT 1; crcbreak $OUT $(( $(stat -c %s $OUT)/512 - 1 ))`},
	{name: "grub-legacy-ext2", loader: LoaderGRUBLegacy, script: `truncate -s 24M $OUT; echo 'start=2048,type=83,bootable' | sfdisk -q $OUT >/dev/null
mkroot $W/r; mkdir -p $W/r/boot/grub; cp /usr/lib/grub/x86_64-pc/{stage1,stage2,e2fs_stage1_5} $W/r/boot/grub/
printf 'serial --unit=0 --speed=115200\nterminal --timeout=0 serial\ntimeout 0\ndefault 0\ntitle corpus\nroot (hd0,0)\nkernel /boot/vmlinuz root=/dev/sda1 console=ttyS0 noapic\n' > $W/r/boot/grub/menu.lst
mkfs_at $OUT 2048 23552 ext2 $W/r -I 128`, after: func(t *testing.T, img string) { grubSetup(t, img, "root (hd0,0)", "setup (hd0)") }},
	{name: "grub-legacy-ext3-256-inodes", loader: LoaderGRUBLegacy, script: `truncate -s 24M $OUT; echo 'start=2048,type=83,bootable' | sfdisk -q $OUT >/dev/null
mkroot $W/r; mkdir -p $W/r/boot/grub; cp /usr/lib/grub/x86_64-pc/{stage1,stage2,e2fs_stage1_5} $W/r/boot/grub/
printf 'serial --unit=0 --speed=115200\nterminal --timeout=0 serial\ntimeout 0\ndefault 0\ntitle corpus\nroot (hd0,0)\nkernel /boot/vmlinuz root=/dev/sda1 console=ttyS0 noapic\n' > $W/r/boot/grub/menu.lst
mkfs_at $OUT 2048 23552 ext3 $W/r -I 256`, after: func(t *testing.T, img string) { grubSetup(t, img, "root (hd0,0)", "setup (hd0)") }},
	{name: "grub-legacy-floppy", loader: LoaderGRUBLegacyFloppy, floppy: true, marker: "Booting 'corpus'", script: `true`, after: func(t *testing.T, img string) {
		st, err := grub.FindStages(grubStageDir)
		must(t, err)
		f, err := os.Create(img)
		must(t, err)
		defer f.Close()
		must(t, grub.WriteFloppy(f, st, []byte("serial --unit=0 --speed=115200\nterminal --timeout=0 serial\ntimeout 0\ndefault 0\ntitle corpus\nhalt\n")))
	}},
}

// corpusSetup checks for the tools the scripts use and returns their
// environment, the cache directory, and why Debian's kernel is missing (nil
// when it is there).
func corpusSetup(t *testing.T) (env []string, cache string, dkErr error) {
	testutil.RequireRoot(t) // extlinux installs on a mounted loop device
	for _, tool := range [][2]string{{"sfdisk", "fdisk"}, {"mke2fs", "e2fsprogs"}, {"debugfs", "e2fsprogs"}, {"sgdisk", "gdisk"}, {"parted", "parted"}, {"extlinux", "extlinux"},
		{"syslinux", "syslinux"}, {"mcopy", "mtools"}, {"mkfs.vfat", "dosfstools"}, {"xorriso", "xorriso"}, {"install-mbr", "mbr"}, {"qemu-system-x86_64", "qemu-system-x86"}} {
		testutil.RequireTool(t, tool[0], tool[1])
	}
	requireGRUB(t)
	cache = os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	g2 := filepath.Join(cache, "minidisk", "grub2")
	testutil.RequireFile(t, filepath.Join(g2, "usr/lib/grub/i386-pc/boot.img"), "run scripts/fetch-grub2.sh")
	bb := initramfs.StaticBusyBoxPath()
	if bb == "" {
		testutil.Missing(t, "static BusyBox not in the cache (run scripts/fetch-busybox-static.sh)")
	}
	k := kerneltest.Legacy(t)
	kinfo, err := kernel.InspectHeaderFile(k)
	must(t, err)
	env = []string{"K=" + k, "BB=" + bb, "KCONFIG=" + filepath.Join(filepath.Dir(k), "config"), "KREL=" + kinfo.Release(),
		"G=" + filepath.Join(g2, "usr/lib/grub/i386-pc"), "GE=" + filepath.Join(g2, "usr/lib/grub/x86_64-efi"),
		"MKIMAGE=" + filepath.Join(g2, "usr/bin/grub-mkimage"), "SL=/usr/lib/syslinux/mbr", "PATH=" + os.Getenv("PATH") + ":/usr/sbin:/sbin"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	dk, dkErr := kernel.FetchDebian(ctx, kernel.DebianOptions{})
	cancel()
	if dkErr == nil {
		env = append(env, "DK="+dk.Kernel, "DKCONFIG="+dk.Config, "DKREL="+dk.Release)
	}
	return env, cache, dkErr
}

// buildCorpusImage runs c's script, then its after, in a new scratch
// directory, and returns the image's path.
func buildCorpusImage(t *testing.T, c corpusImage, env []string) string {
	w := t.TempDir()
	img := filepath.Join(w, c.name+".img")
	cmd := exec.Command("bash", "-c", corpusPrelude+c.script)
	cmd.Env = append(os.Environ(), append(env, "W="+w, "OUT="+img)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", c.name, err, out)
	}
	if c.after != nil {
		c.after(t, img)
	}
	return img
}

// timeOfDay reports whether c's bytes depend on when it is built: extlinux
// installs on a filesystem the kernel mounts, and the kernel stamps the
// superblock and the inodes it writes with the time of day.
func (c corpusImage) timeOfDay() bool { return strings.Contains(c.script, "extlinux_at") }

func TestCorpusBootsAsDoctorSays(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and boots images in QEMU")
	}
	env, cache, dkErr := corpusSetup(t)
	results := filepath.Join(cache, "minidisk", "boot-results")
	must(t, os.MkdirAll(results, 0o755))
	for _, c := range corpus {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if c.debian && dkErr != nil {
				testutil.Missing(t, "Debian's kernel: "+dkErr.Error())
			}
			img := buildCorpusImage(t, c, env)
			if !c.timeOfDay() {
				// Reproducible, so the boot result cached by content is
				// found on the next run instead of booting it again.
				reproduced(t, img, buildCorpusImage(t, c, env))
			}
			before := fileSHA(t, img)
			boots, console := corpusBoot(t, c, img, filepath.Join(results, before))
			// The fastest of three runs: the machine is shared.
			var rep *Report
			took := time.Hour
			for i := 0; i < 3; i++ {
				start := time.Now()
				rep = diagnoseFile(t, img)
				took = min(took, time.Since(start))
			}
			if after := fileSHA(t, img); after != before {
				t.Fatalf("doctor changed the image")
			}
			t.Logf("%s: boots=%v, doctor exit %d in %s, %s", c.name, boots, rep.ExitCode(), took.Round(time.Microsecond), rep.Boot.Summary)
			if rep.Boot.Loader != c.loader {
				t.Errorf("doctor names the loader %q, the image was made with %q\n%s", rep.Boot.Loader, c.loader, dump(rep))
			}
			// Keep the image for BenchmarkDiagnoseCorpus (sparse copy).
			_ = os.MkdirAll(corpusDir(), 0o755)
			_ = exec.Command("cp", "--sparse=always", img, filepath.Join(corpusDir(), c.name+".img")).Run()
			if (rep.ExitCode() == 0) != boots {
				t.Errorf("QEMU: boots=%v, doctor exit %d\n%s\nconsole ends:\n%s", boots, rep.ExitCode(), dump(rep), qemu.Tail(console, 12))
			}
		})
	}
}

var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-Za-z]|\x1bc`)

// reproduced fails t unless files a and b (a corpus image built twice) are
// byte-identical.
func reproduced(t *testing.T, a, b string) {
	t.Helper()
	fa, err := os.Open(a)
	must(t, err)
	defer fa.Close()
	fb, err := os.Open(b)
	must(t, err)
	defer fb.Close()
	same, err := sameBytes(fa, fb)
	must(t, err)
	if !same {
		out, _ := exec.Command("cmp", a, b).CombinedOutput()
		t.Errorf("built twice, the images differ (%s): not reproducible, so its boot result is never found in the cache again", bytes.TrimSpace(out))
	}
}

func fileSHA(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	must(t, err)
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// corpusBoot boots img (or reads the cached result for its hash) and says
// whether the console reached the image's marker.
func corpusBoot(t *testing.T, c corpusImage, img, cached string) (bool, []byte) {
	if b, err := os.ReadFile(cached); err == nil {
		return bytes.HasPrefix(b, []byte("boots")), b
	}
	marker := c.marker
	if marker == "" {
		marker = corpusMarker
	}
	stop := regexp.MustCompile(regexp.QuoteMeta(marker) + "|" + corpusFail.String())
	if c.marker != "" {
		stop = corpusFail // a loader's marker can be split by escapes; the kernel's failure follows it
	}
	// TCG on two shared cores: a boot takes 3-30 s; a hang is a result too.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	m := qemu.Machine{Image: img, EFI: c.efi, Snapshot: true, MemoryMiB: 128}
	if c.floppy {
		blank := filepath.Join(filepath.Dir(img), "blank.img")
		must(t, os.WriteFile(blank, make([]byte, 1<<20), 0o644))
		m.Image = blank
		m.ExtraArgs = []string{"-drive", "file=" + img + ",if=floppy,format=raw,snapshot=on", "-boot", "a"}
	}
	out, _, err := m.RunToExit(ctx, stop, nil)
	if err != nil && ctx.Err() == nil {
		t.Logf("%s: %v", c.name, err)
	}
	// The serial console interleaves the loaders' VGA escapes with text:
	// match the marker in the text without them.
	boots := strings.Contains(ansiEscape.ReplaceAllString(string(out), ""), marker)
	verdict := "fails\n"
	if boots {
		verdict = "boots\n"
	}
	// A timeout is a result too: a hang, or, with a loader's marker (which
	// does not stop the machine), a boot that got there and went on.
	_ = os.WriteFile(cached, append([]byte(verdict), qemu.Tail(out, 20)...), 0o644)
	return boots, out
}
