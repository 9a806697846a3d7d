#!/usr/bin/env bash
# Installs the Debian host packages minidisk's demo and tests use as oracles.
# Idempotent: installs only what is missing, with apt-get as root (sudo when
# run as a user); minidisk itself never needs root.
# Usage: scripts/host-deps.sh [demo|test]   (test is a superset of demo)
set -euo pipefail
want=(
  e2fsprogs fdisk qemu-system-x86 qemu-user grub-legacy busybox ovmf
  mtools dosfstools cpio xz-utils time
  linux-source-6.1 bc flex bison libelf-dev libssl-dev make gcc
)
if [ "${1:-test}" = test ]; then
  want+=(chromium binutils sbsigntool file) # file: the bzImage header oracle
  want+=(tidy libxml2-utils) # explain --html: HTML validators
  # doctor's corpus: images made by other boot loaders and partitioners
  want+=(gdisk parted syslinux extlinux isolinux syslinux-common xorriso mbr)
  # kmod: depmod/modprobe/modinfo, the module resolver's oracle; the kernel
  # payload compressors (xz-utils also gives lzma)
  want+=(kmod lz4 bzip2 zstd)
fi
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null; then sudo=sudo; else
    echo "host-deps: need root to install: ${missing[*]} (run: su -c '$0')" >&2
    exit 1
  fi
fi
echo "host-deps: installing ${missing[*]}" >&2
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
