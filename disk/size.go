// Package disk holds the arithmetic and on-disk structures of a legacy BIOS
// disk image: sizes, CHS geometry, where the partition goes, how many
// filesystem blocks fit in it, and the MBR that records it.
package disk

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// SectorSize is the logical sector size of every image minidisk writes (and
// the only one BIOS INT 13h and GRUB Legacy know).
const SectorSize = 512

// ParseSize reads a size as truncate(1) and qemu-img write them, with the
// same meaning:
//
//   - a bare number, or with B: bytes
//   - K, M, G, T (any case), or KiB, MiB, GiB, TiB: powers of 1024, as in
//     `qemu-img create` and `truncate -s 8M`
//   - KB, MB, GB, TB (kB too): powers of 1000, as in `truncate -s 8MB`
//     (8,000,000 bytes)
//   - s: 512-byte sectors (minidisk's own, as parted writes them)
//
// The number may have a decimal part (8.5M, as qemu-img takes it) as long
// as the result is a whole number of bytes.
func ParseSize(s string) (int64, error) {
	in := strings.TrimSpace(s)
	const hint = "give e.g. 8M (8 MiB), 8MB (8,000,000 bytes), 8.5M, 1G or 16384s"
	if in == "" {
		return 0, fmt.Errorf("empty size (%s)", hint)
	}
	i := 0
	for i < len(in) && (in[i] >= '0' && in[i] <= '9' || in[i] == '.') {
		i++
	}
	num, unit := in[:i], in[i:]
	whole, frac, hasDot := strings.Cut(num, ".")
	if whole == "" && frac == "" || strings.Contains(frac, ".") || hasDot && frac == "" {
		return 0, fmt.Errorf("size %q does not start with a number (%s)", s, hint)
	}
	var mult int64
	switch {
	case unit == "" || unit == "B" || unit == "b":
		mult = 1
	case unit == "s":
		mult = SectorSize
	default:
		pow := strings.IndexByte("KMGT", byte(unicode.ToUpper(rune(unit[0])))) + 1
		if pow == 0 {
			return 0, fmt.Errorf("size %q: unknown unit %q (%s)", s, unit, hint)
		}
		base := int64(0)
		switch rest := unit[1:]; {
		case rest == "":
			base = 1024
		case strings.EqualFold(rest, "iB"):
			base = 1024
		case rest == "B":
			base = 1000
		default:
			return 0, fmt.Errorf("size %q: unknown unit %q (%s)", s, unit, hint)
		}
		mult = 1
		for range pow {
			mult *= base
		}
	}
	// whole.frac × mult, exactly: (whole×10^k + frac) × mult / 10^k.
	digits := whole + frac
	scale := int64(1)
	for range len(frac) {
		scale *= 10
	}
	n, err := strconv.ParseInt(strings.TrimLeft(digits, "0")+"0", 10, 64)
	if err != nil || len(digits) > 18 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	n /= 10 // the "0" appended so that all-zero digits parse
	if mult > 0 && n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	if n*mult%scale != 0 {
		return 0, fmt.Errorf("size %q is not a whole number of bytes (%s)", s, hint)
	}
	return n * mult / scale, nil
}

// DescribeSize says a size back with its byte count: "8 MiB (8388608
// bytes)", "8000000 bytes (7.6 MiB)".
func DescribeSize(n int64) string {
	f := FormatSize(n)
	if strings.HasSuffix(f, " B") {
		return fmt.Sprintf("%d bytes", n)
	}
	if strings.Contains(f, ".") {
		return fmt.Sprintf("%d bytes (%s)", n, f)
	}
	return fmt.Sprintf("%s (%d bytes)", f, n)
}

// FormatSize prints bytes the way people say them: "8 MiB", "1.5 GiB", or
// bytes when not a whole number of KiB.
func FormatSize(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	v := float64(n)
	u := 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d %s", int64(v), units[u])
	}
	return fmt.Sprintf("%.1f %s", v, units[u])
}
