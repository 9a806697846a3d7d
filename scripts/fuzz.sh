#!/usr/bin/env bash
# Short fuzzing of every FuzzXxx target in the module, for CI: the parsers of
# untrusted images (MBR, ext2, GRUB stages, cpio, ELF, bzImage, doctor) must
# not panic on hostile input. Targets are discovered with
# `go test -list '^Fuzz' ./...`, so new ones are picked up without editing
# this script. The whole run stays within FUZZ_BUDGET seconds (default 150,
# leaving headroom under CI's 3 minutes): each target gets an equal share of
# what is left, after the time compiling the previous ones took.
#
# Usage: scripts/fuzz.sh [PACKAGE_PATTERN...]   (default ./...)
# A failing input is saved by Go under PKG/testdata/fuzz/FuzzXxx/; commit it
# as a regression seed once fixed.
#
# Minimization is off (-fuzzminimizetime 0s): several seeds are whole disk
# images (megabytes), and minimizing one new input takes longer than a
# target's share, so the workers ran nothing else (FuzzFAT: 89 execs in 30 s
# with minimization, 300,000 in 20 s without). A crasher is still written,
# only not shrunk.
#
# Go 1.26's fuzz coordinator can fail a target with a bare "context deadline
# exceeded" when -fuzztime ends while a worker is busy (go.dev/issue/75804,
# fixed in Go 1.27; here about 2 target runs in 100). That failure writes no
# crasher, so such a target is run again, up to 3 runs in all; any other
# failure, or that one 3 times, fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."

start=$SECONDS # discovery compiles every test binary: it counts too
budget=${FUZZ_BUDGET:-150}
min_per=${FUZZ_MIN_SECONDS:-2}
patterns=("$@")
[ ${#patterns[@]} -eq 0 ] && patterns=(./...)

# `go test -list` prints a package's test names, then "ok <pkg> <time>".
# Build "pkg target" pairs from that.
mapfile -t targets < <(go test -list '^Fuzz' "${patterns[@]}" 2>/dev/null | awk '
	/^Fuzz/ { names[n++] = $1; next }
	/^ok[ \t]/ { for (i = 0; i < n; i++) print $2, names[i]; n = 0 }')
if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz.sh: no FuzzXxx targets found in ${patterns[*]}" >&2
	exit 1
fi

# coordinator_race LOG: the failure is only Go 1.26's deadline race: the
# target failed with "context deadline exceeded" as its one reason and no
# failing input was written.
coordinator_race() {
	grep -q '^    context deadline exceeded$' "$1" &&
		! grep -q 'Failing input written to\|panic:\|fuzzing process hung' "$1" &&
		[ "$(grep -c '^--- FAIL' "$1")" = 1 ]
}

log=$(mktemp)
trap 'rm -f "$log"' EXIT

left=${#targets[@]}
overhead=2
failed=()
echo "fuzz.sh: ${#targets[@]} targets, budget ${budget}s"
for t in "${targets[@]}"; do
	pkg=${t% *} name=${t#* }
	remaining=$((budget - (SECONDS - start)))
	# -fuzztime excludes compiling the instrumented test binary and
	# gathering the baseline coverage: subtract the largest such overhead
	# seen so far from each target's share.
	per=$((remaining / left - overhead))
	[ "$per" -lt "$min_per" ] && per=$min_per
	left=$((left - 1))
	echo "== $name ($pkg) ${per}s"
	for attempt in 1 2 3; do
		t0=$SECONDS
		# timeout guards against a hang.
		if timeout $((per + 120)) go test -run '^$' -fuzz "^${name}\$" \
			-fuzztime "${per}s" -fuzzminimizetime 0s "$pkg" >"$log" 2>&1; then
			tail -n 20 "$log"
			break
		fi
		tail -n 20 "$log"
		if [ "$attempt" -lt 3 ] && coordinator_race "$log"; then
			echo "fuzz.sh: $name: Go's coordinator stopped at the deadline with no crasher (go.dev/issue/75804); running it again"
			continue
		fi
		failed+=("$name ($pkg)")
		break
	done
	took=$((SECONDS - t0 - per))
	[ "$took" -gt "$overhead" ] && overhead=$took
done
echo "fuzz.sh: done in $((SECONDS - start))s"
if [ ${#failed[@]} -gt 0 ]; then
	printf 'fuzz.sh: FAILED: %s\n' "${failed[@]}" >&2
	exit 1
fi
