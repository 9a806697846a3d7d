#!/bin/sh
# bench-mkfs.sh — whole-process time and peak memory of minidisk's ext2
# writer against `mke2fs -d` on the same tree of 10,000 files (100
# directories of 100 files of 1500 bytes), into the same 64 MiB image.
# Both read the same (page-cached) host files and write a sparse image
# file in the same directory. Usage: scripts/bench-mkfs.sh [RUNS] (default 9)
set -eu
runs=${1:-9}
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

# once LABEL CMD...: one run into a fresh sparse image; appends "secs KiB"
# to $work/LABEL.times and checks the result with e2fsck.
once() {
	label=$1
	shift
	rm -f "$work/img"
	truncate -s $((blocks * 1024)) "$work/img"
	/usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$work/out" 2>&1 || {
		cat "$work/out"
		exit 1
	}
	cat "$work/time" >>"$work/$label.times"
	e2fsck -fn "$work/img" >/dev/null 2>&1 || {
		echo "$label: e2fsck -fn is not clean"
		exit 1
	}
}

# summary LABEL: best and median wall time, and the best run's peak RSS.
summary() {
	sort -n "$work/$1.times" >"$work/sorted"
	best=$(head -n 1 "$work/sorted" | cut -d' ' -f1)
	bestkib=$(head -n 1 "$work/sorted" | cut -d' ' -f2)
	median=$(sed -n "$(((runs + 1) / 2))p" "$work/sorted" | cut -d' ' -f1)
	printf '%-8s %d runs: best %6.3f s  median %6.3f s  peak RSS %6d KiB\n' "$1" "$runs" "$best" "$median" "$bestkib"
	eval "${1}_best=$best ${1}_median=$median"
}

export E2FSPROGS_FAKE_TIME=1700000000
export BENCH_MKFS_DIR="$work/tree" BENCH_MKFS_IMG="$work/img" BENCH_MKFS_BLOCKS=$blocks
# Warm the page cache with the tree, then alternate the tools so that both
# see the same background load.
cat "$work"/tree/*/* >/dev/null
: >"$work/mke2fs.times"
: >"$work/minidisk.times"
n=0
while [ $n -lt "$runs" ]; do
	once mke2fs "$mke2fs" -q -F -t ext2 -b 1024 -I 128 -O ^resize_inode,^dir_index,^ext_attr \
		-d "$work/tree" "$work/img" $blocks
	once minidisk "$work/ext2.test" -test.run '^$' -test.bench BenchmarkMkfsHostDir -test.benchtime 1x
	n=$((n + 1))
done
summary mke2fs
summary minidisk
echo "mke2fs/minidisk time ratio: best $(echo "scale=2; $mke2fs_best / $minidisk_best" | bc)x, median $(echo "scale=2; $mke2fs_median / $minidisk_median" | bc)x"
