// Package disk holds the arithmetic and on-disk structures of a legacy BIOS
// disk image: sizes, CHS geometry, where the partition goes, how many
// filesystem blocks fit in it, and the MBR that records it.
package disk

import (
	"fmt"
	"strconv"
	"strings"
)

// SectorSize is the logical sector size of every image minidisk writes (and
// the only one BIOS INT 13h and GRUB Legacy know).
const SectorSize = 512

// ParseSize reads a size as qemu-img and the 2007 recipe write them: a
// number with an optional unit. K, M, G, T (with or without "iB") are powers
// of 1024, as in `qemu-img create`; "s" counts 512-byte sectors; a bare
// number is bytes.
func ParseSize(s string) (int64, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, fmt.Errorf("empty size (give e.g. 12M, 8MiB, 1G or 16384s)")
	}
	i := 0
	for i < len(in) && in[i] >= '0' && in[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("size %q does not start with a number (give e.g. 12M, 8MiB, 1G or 16384s)", s)
	}
	n, err := strconv.ParseInt(in[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: number too large", s)
	}
	var mult int64
	switch strings.ToLower(in[i:]) {
	case "", "b":
		mult = 1
	case "s":
		mult = SectorSize
	case "k", "kib", "kb":
		mult = 1 << 10
	case "m", "mib", "mb":
		mult = 1 << 20
	case "g", "gib", "gb":
		mult = 1 << 30
	case "t", "tib", "tb":
		mult = 1 << 40
	default:
		return 0, fmt.Errorf("size %q: unknown unit %q (use K, M, G, T, or s for 512-byte sectors)", s, in[i:])
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n * mult, nil
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
