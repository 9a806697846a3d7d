#!/usr/bin/env bash
# reference-pipeline.sh: the 2007 recipe's legacy BIOS image, made without
# minidisk and without root, by the host tools the recipe names:
#   truncate + sfdisk         the disk and one bootable type-83 partition at sector 63
#   mke2fs -d                 an ext2 (1 KiB blocks, 128-byte inodes) from a staging tree
#   debugfs -w                /dev/console, a device node mke2fs -d cannot make unprivileged
#   dd                        the filesystem into the partition
#   grub (under qemu-i386)    GRUB Legacy 0.97's own `root (hd0,0)` / `setup (hd0)`
# It is the referee minidisk's tests compare `create` with (same tree, same
# GRUB sectors, boots the same) and the baseline scripts/bench.sh times.
#
# Usage: scripts/reference-pipeline.sh KERNEL OUT.img [SIZE_MiB]
#   BUSYBOX=PATH   the BusyBox to install (default: busybox in PATH)
#   GRUB_DIR=DIR   stage1, stage2, e2fs_stage1_5 (default: the usual places)
set -euo pipefail

die() { echo "reference-pipeline.sh: $*" >&2; exit 1; }
[ $# -ge 2 ] || die "usage: $0 KERNEL OUT.img [SIZE_MiB]"
kernel=$1 out=$2 size_mib=${3:-12}
[ -f "$kernel" ] || die "$kernel: no such kernel"
for tool in sfdisk mke2fs debugfs qemu-i386; do
	command -v "$tool" >/dev/null || [ -x "/sbin/$tool" ] || [ -x "/usr/sbin/$tool" ] || die "$tool not found (scripts/host-deps.sh test)"
done
PATH=$PATH:/usr/sbin:/sbin
grub_shell=/usr/sbin/grub
[ -x "$grub_shell" ] || die "$grub_shell not found (apt-get install grub-legacy)"

busybox=${BUSYBOX:-$(command -v busybox || true)}
[ -n "$busybox" ] && [ -f "$busybox" ] || die "busybox not found (apt-get install busybox, or BUSYBOX=PATH)"

grub_dir=${GRUB_DIR:-}
if [ -z "$grub_dir" ]; then
	for d in /usr/lib/grub/x86_64-pc /usr/lib/grub/i386-pc /boot/grub; do
		[ -f "$d/stage1" ] && { grub_dir=$d; break; }
	done
fi
[ -n "$grub_dir" ] && [ -f "$grub_dir/e2fs_stage1_5" ] || die "GRUB Legacy stage files not found (apt-get install grub-legacy, or GRUB_DIR=DIR)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root

# 1. The staging tree: BusyBox with three applet links, the shared libraries
#    ldd names (in the multiarch directory, the interpreter also at the path
#    the ELF header asks for), the kernel, GRUB's files and its menu.
multiarch=x86_64-linux-gnu
mkdir -p "$root"/{bin,dev,proc,sys,etc,boot/grub,lib/$multiarch}
cp "$busybox" "$root/bin/busybox"
for applet in sh ln ls; do ln -s busybox "$root/bin/$applet"; done
if ldd "$busybox" >/dev/null 2>&1; then
	ldd "$busybox" | while read -r first arrow path _; do
		case $first in
		linux-vdso.so.*|linux-gate.so.*) ;;
		/*) # the program interpreter: its file in the multiarch directory, a link at its own path
			cp -L "$first" "$root/lib/$multiarch/$(basename "$first")"
			mkdir -p "$root$(dirname "$first")"
			ln -s "../lib/$multiarch/$(basename "$first")" "$root$first" ;;
		*) [ "$arrow" = "=>" ] && cp -L "$path" "$root/lib/$multiarch/$first" ;;
		esac
	done
fi
cp "$kernel" "$root/boot/vmlinuz"
cp "$grub_dir"/{stage1,stage2,e2fs_stage1_5} "$root/boot/grub/"
cat > "$root/boot/grub/grub.conf" <<'CONF'
serial --unit=0 --speed=115200
terminal --timeout=0 serial
default 0
timeout 1

title minidisk
root (hd0,0)
kernel /boot/vmlinuz root=/dev/sda1 rw console=ttyS0 init=/bin/sh
CONF
ln -s grub.conf "$root/boot/grub/menu.lst"

# 2. The disk: a sparse file, one bootable Linux partition from sector 63
#    (the DOS-era start that leaves sectors 1..62 for GRUB's stage1.5).
rm -f "$out"
truncate -s "${size_mib}M" "$out"
echo 'start=63, type=83, bootable' | sfdisk -q --no-reread --no-tell-kernel "$out"
sectors=$(sfdisk -d "$out" | sed -n 's/.*start= *63, size= *\([0-9]*\).*/\1/p')
[ -n "$sectors" ] || die "sfdisk did not report partition 1"

# 3. The filesystem, sized to the partition: whole KiB, rounded down to a
#    multiple of 4 blocks as mke2fs does for a device.
blocks=$(( sectors / 2 / 4 * 4 ))
fs=$tmp/fs.img
mke2fs -q -F -t ext2 -b 1024 -I 128 -E root_owner=0:0 -d "$root" "$fs" "$blocks" >"$tmp/mke2fs.log" 2>&1 ||
	{ cat "$tmp/mke2fs.log" >&2; die "mke2fs failed"; }
printf 'cd /dev\nmknod console c 5 1\nsif console mode 020600\n' | debugfs -w -f - "$fs" >/dev/null 2>&1
dd if="$fs" of="$out" bs=512 seek=63 conv=notrunc status=none

# 4. GRUB's own setup, run by the 32-bit GRUB shell under user-mode QEMU.
echo "(hd0) $(readlink -f "$out")" > "$tmp/device.map"
printf 'root (hd0,0)\nsetup (hd0)\nquit\n' |
	qemu-i386 "$grub_shell" --batch --no-floppy --device-map="$tmp/device.map" > "$tmp/grub.log" 2>&1 ||
	{ cat "$tmp/grub.log" >&2; die "the GRUB shell failed"; }
grep -q 'succeeded' "$tmp/grub.log" || { cat "$tmp/grub.log" >&2; die "GRUB's setup did not succeed"; }
