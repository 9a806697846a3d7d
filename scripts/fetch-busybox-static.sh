#!/bin/sh
# fetch-busybox-static.sh: put Debian's static BusyBox at
# ${XDG_CACHE_HOME:-$HOME/.cache}/minidisk/busybox-static/bin/busybox and print
# that path. busybox-static conflicts with the busybox package (both own
# /bin/busybox), so it is downloaded and unpacked, never installed.
# Idempotent: a second run only prints the path.
set -eu
dir="${XDG_CACHE_HOME:-$HOME/.cache}/minidisk/busybox-static"
bin="$dir/bin/busybox"
if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi
command -v apt-get >/dev/null || { echo "fetch-busybox-static.sh: needs apt-get and dpkg-deb (Debian/Ubuntu)" >&2; exit 1; }
mkdir -p "$dir"
tmp=$(mktemp -d "$dir/.fetch-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download busybox-static >&2)
dpkg-deb -x "$tmp"/busybox-static_*.deb "$tmp/root"
# Debian's package puts it in /bin (or /usr/bin on merged-/usr releases).
src="$tmp/root/bin/busybox"
[ -f "$src" ] || src="$tmp/root/usr/bin/busybox"
[ -f "$src" ] || { echo "fetch-busybox-static.sh: no busybox in the package" >&2; exit 1; }
mkdir -p "$dir/bin"
cp "$src" "$bin.tmp"
chmod 755 "$bin.tmp"
mv "$bin.tmp" "$bin"
echo "$bin"
