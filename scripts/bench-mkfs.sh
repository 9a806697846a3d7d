#!/bin/sh
# bench-mkfs.sh — whole-process time and peak memory of minidisk's ext2
# writer against `mke2fs -d` on the same tree of 10,000 files (100
# directories of 100 files of 1500 bytes), into the same 64 MiB image.
# Both read the same (page-cached) host files and write a sparse image
# file in the same directory. Usage: scripts/bench-mkfs.sh [RUNS]
set -eu
runs=${1:-5}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-mkfs.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
mke2fs=$(command -v mke2fs || echo /sbin/mke2fs)
blocks=65536

echo "building the tree (10,000 files) in $work/tree"
mkdir -p "$work/tree"
i=0
while [ $i -lt 100 ]; do
	d=$(printf '%s/tree/d%02d' "$work" $i)
	mkdir -p "$d"
	head -c 150000 /dev/urandom | (cd "$d" && split -a 3 -d -b 1500 - f)
	i=$((i + 1))
done

echo "building the ext2 test binary"
(cd "$repo" && go test -c -o "$work/ext2.test" ./rootfs/ext2)

# measure LABEL CMD...: best wall time and its peak RSS over $runs runs.
measure() {
	label=$1
	shift
	best=""
	n=0
	while [ $n -lt "$runs" ]; do
		rm -f "$work/img"
		truncate -s $((blocks * 1024)) "$work/img"
		/usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$work/out" 2>&1 || {
			cat "$work/out"
			exit 1
		}
		read -r secs kib <"$work/time"
		if [ -z "$best" ] || [ "$(echo "$secs < $best" | bc)" = 1 ]; then
			best=$secs
			bestkib=$kib
		fi
		n=$((n + 1))
	done
	e2fsck -fn "$work/img" >/dev/null 2>&1 || {
		echo "$label: e2fsck -fn is not clean"
		exit 1
	}
	printf '%-8s best of %d: %6.3f s  peak RSS %6d KiB\n' "$label" "$runs" "$best" "$bestkib"
	eval "${label}_secs=$best"
}

export E2FSPROGS_FAKE_TIME=1700000000
measure mke2fs "$mke2fs" -q -F -t ext2 -b 1024 -I 128 -O ^resize_inode,^dir_index,^ext_attr \
	-d "$work/tree" "$work/img" $blocks
BENCH_MKFS_DIR="$work/tree" BENCH_MKFS_IMG="$work/img" BENCH_MKFS_BLOCKS=$blocks \
	measure minidisk "$work/ext2.test" -test.run '^$' -test.bench BenchmarkMkfsHostDir -test.benchtime 1x
echo "ratio mke2fs/minidisk: $(echo "scale=2; $mke2fs_secs / $minidisk_secs" | bc)x"
