#!/usr/bin/env bash
# Whole-process wall time: `minidisk create` vs the 2007 recipe done with
# host tools (../shared/ref/guide-pipeline.sh: sfdisk, mke2fs -d, debugfs,
# the GRUB shell), same kernel, same BusyBox, same 12 MiB layout.
# Usage: scripts/bench.sh [RUNS]   (default 11; prints medians and the ratio)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-11}
pipeline=${GUIDE_PIPELINE:-../shared/ref/guide-pipeline.sh}
[ -f "$pipeline" ] || { echo "bench: $pipeline not found (set GUIDE_PIPELINE)" >&2; exit 1; }
go build -o bin/minidisk ./cmd/minidisk
kernel=${KERNEL:-$(bin/minidisk kernel --profile legacy)}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
time_runs() { # label, command...
  local label=$1; shift
  for i in $(seq "$runs"); do
    rm -f "$work/out.img"
    local s e
    s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N)
    echo "$e - $s" | bc
  done | median
}
m=$(time_runs minidisk bin/minidisk create "$work/out.img" --kernel "$kernel" --size 12M -q --force)
g=$(time_runs pipeline bash "$pipeline" "$kernel" "$work/out.img" 12)
ratio=$(echo "scale=1; $g / $m" | bc)
peak=$( { /usr/bin/time -f '%M' bin/minidisk create "$work/out.img" --kernel "$kernel" --size 12M -q --force >/dev/null; } 2>&1 | tail -n1)
printf 'kernel: %s (%s bytes)\nruns: %s\nminidisk create: median %.3f s (peak RSS %s KiB)\nguide-pipeline.sh: median %.3f s\nratio: %sx faster\n' \
  "$kernel" "$(stat -c %s "$kernel")" "$runs" "$m" "$peak" "$g" "$ratio"
