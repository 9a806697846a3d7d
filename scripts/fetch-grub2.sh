#!/bin/sh
# fetch-grub2.sh: unpack Debian's GRUB 2 images and tools (grub-pc-bin,
# grub-efi-amd64-bin, grub-common) into
# ${XDG_CACHE_HOME:-$HOME/.cache}/minidisk/grub2 and print that directory.
# Installing grub-pc would remove grub-legacy (the GRUB 0.97 the project
# uses), so the packages are downloaded and unpacked, never installed.
# Idempotent: a second run only prints the path.
set -eu
dir="${XDG_CACHE_HOME:-$HOME/.cache}/minidisk/grub2"
if [ -x "$dir/usr/bin/grub-mkimage" ] && [ -f "$dir/usr/lib/grub/i386-pc/boot.img" ] && [ -d "$dir/usr/lib/grub/x86_64-efi" ]; then
	echo "$dir"
	exit 0
fi
command -v apt-get >/dev/null || { echo "fetch-grub2.sh: needs apt-get and dpkg-deb (Debian/Ubuntu)" >&2; exit 1; }
mkdir -p "$dir"
tmp=$(mktemp -d "$dir/../.fetch-grub2-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download grub-pc-bin grub-efi-amd64-bin grub-common >&2)
for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$tmp/root"; done
cp -a "$tmp/root/." "$dir/"
echo "$dir"
