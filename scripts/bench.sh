#!/usr/bin/env bash
# Whole-process wall times, side by side in one run, with their floors:
#   hello-world Go binary   vs  minidisk --help          (start-up)
#   cat of the payload files vs minidisk create          (the 12 MiB demo image)
#   scripts/reference-pipeline.sh (the 2007 recipe with host tools: sfdisk,
#   mke2fs -d, debugfs, the GRUB shell), same kernel, BusyBox and layout.
#   create with Debian's cloud kernel (automatic initramfs, warm cache:
#   `minidisk kernel --debian` and busybox-static already fetched) vs create
#   with the tinyconfig kernel, and `minidisk initramfs --kernel` alone.
# Usage: scripts/bench.sh [RUNS]   (default 11; prints medians in ms and the ratios)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-11}
pipeline=scripts/reference-pipeline.sh
go build -tags urfave_cli_no_docs -o bin/minidisk ./cmd/minidisk   # as make builds it
kernel=${KERNEL:-$(bin/minidisk kernel --profile legacy)}
busybox=${BUSYBOX:-$(command -v busybox)}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

# The floor for start-up: the smallest Go program, built the same way.
mkdir -p "$work/hello"
printf 'package main\n\nimport "os"\n\nfunc main() { os.Stdout.WriteString("hello\\n") }\n' > "$work/hello/main.go"
printf 'module hello\n\ngo 1.26\n' > "$work/hello/go.mod"
(cd "$work/hello" && go build -o "$work/hello-world" .)

# The floor for create: reading every payload file create reads (kernel,
# BusyBox, its libraries, GRUB's stage files) and writing them out once.
payload=("$kernel" "$busybox")
while read -r first arrow path _; do
	case $first in /*) payload+=("$first") ;; *) [ "${arrow:-}" = "=>" ] && payload+=("$path") ;; esac
done < <(ldd "$busybox" 2>/dev/null || true)
for d in /usr/lib/grub/x86_64-pc /usr/lib/grub/i386-pc /boot/grub; do
	[ -f "$d/stage2" ] && { payload+=("$d/stage1" "$d/stage2" "$d/e2fs_stage1_5"); break; }
done

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# time_ms CMD...: the median wall time of RUNS runs in milliseconds
# (EPOCHREALTIME: no process is started to read the clock).
time_ms() {
	for _ in $(seq "$runs"); do
		rm -f "$work/out.img"
		local s=$EPOCHREALTIME
		"$@" >/dev/null 2>&1
		local e=$EPOCHREALTIME
		echo "($e - $s) * 1000" | bc -l
	done | median
}
cat_payload() { cat "${payload[@]}" > "$work/out.img"; }

hello=$(time_ms "$work/hello-world")
help=$(time_ms bin/minidisk --help)
catp=$(time_ms cat_payload)
create=$(time_ms bin/minidisk create "$work/out.img" --kernel "$kernel" --busybox "$busybox" --size 12M -q --force)
ref=$(time_ms env BUSYBOX="$busybox" bash "$pipeline" "$kernel" "$work/out.img" 12)
# Debian's kernel: the fetch is outside the timing (warm cache), as is the
# static BusyBox the initramfs takes.
dkernel=$(bin/minidisk kernel --debian 2>/dev/null)
bin/minidisk initramfs --kernel "$dkernel" "$work/warm.cpio.gz" --force >/dev/null
dcreate=$(time_ms bin/minidisk create "$work/out.img" --kernel "$dkernel" --busybox "$busybox" -q --force)
dinitrd=$(time_ms bin/minidisk initramfs --kernel "$dkernel" "$work/out.img" --force)
tcreate=$(time_ms bin/minidisk create "$work/out.img" --kernel "$kernel" --busybox "$busybox" -q --force)
# The same without create's doctor check of the result (--no-check), which
# decompresses the kernel: the building alone.
dcreate_nc=$(time_ms bin/minidisk create "$work/out.img" --kernel "$dkernel" --busybox "$busybox" -q --force --no-check)
tcreate_nc=$(time_ms bin/minidisk create "$work/out.img" --kernel "$kernel" --busybox "$busybox" -q --force --no-check)
initrd_bytes=$(stat -c %s "$work/warm.cpio.gz")
peak=$( { /usr/bin/time -f '%M' bin/minidisk create "$work/out.img" --kernel "$kernel" --busybox "$busybox" --size 12M -q --force >/dev/null; } 2>&1 | tail -n1)
payload_bytes=$(cat "${payload[@]}" | wc -c)

printf 'kernel: %s (%s bytes); payload: %d files, %s bytes; runs: %s; %s cores\n' \
	"$kernel" "$(stat -c %s "$kernel")" "${#payload[@]}" "$payload_bytes" "$runs" "$(nproc)"
printf 'binary: minidisk %s bytes, hello-world %s bytes\n' "$(stat -c %s bin/minidisk)" "$(stat -c %s "$work/hello-world")"
printf '%-34s %9.2f ms\n' "hello-world (floor)" "$hello"
printf '%-34s %9.2f ms   (+%.2f ms over hello-world)\n' "minidisk --help" "$help" "$(echo "$help - $hello" | bc -l)"
printf '%-34s %9.2f ms\n' "cat of the payload files (floor)" "$catp" "minidisk create 12M" "$create" "reference-pipeline.sh" "$ref"
printf 'create / cat: %.1fx   reference pipeline / create: %.1fx   create peak RSS: %s KiB\n' \
	"$(echo "$create / $catp" | bc -l)" "$(echo "$ref / $create" | bc -l)" "$peak"
printf '%-34s %9.2f ms   (tinyconfig kernel, default size)\n' "minidisk create (built-in kernel)" "$tcreate"
printf '%-34s %9.2f ms   (%s, automatic initramfs %s bytes)\n' "minidisk create (Debian kernel)" "$dcreate" "$(basename "$dkernel")" "$initrd_bytes"
printf '%-34s %9.2f ms\n' "minidisk initramfs --kernel (alone)" "$dinitrd"
printf '%-34s %9.2f ms   %9.2f ms (Debian kernel)\n' "create --no-check (tinyconfig)" "$tcreate_nc" "$dcreate_nc"
printf 'Debian create / tinyconfig create: %.1fx (--no-check: %.1fx)   initramfs / (Debian create - initramfs): %.2f (--no-check: %.2f)\n' \
	"$(echo "$dcreate / $tcreate" | bc -l)" "$(echo "$dcreate_nc / $tcreate_nc" | bc -l)" \
	"$(echo "$dinitrd / ($dcreate - $dinitrd)" | bc -l)" "$(echo "$dinitrd / ($dcreate_nc - $dinitrd)" | bc -l)"
