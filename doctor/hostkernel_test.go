package doctor

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/legacy"
)

// TestHostKernelConfig: a kernel whose decompressed image shows no driver
// strings, but whose config file beside the host copy says ext2 and
// ata_piix are built in. With Options.HostKernels naming that host file
// (what create's boot check passes), doctor takes the config and does not
// guess; without it, or when the host file differs by one byte, it falls
// back to the strings and warns.
func TestHostKernelConfig(t *testing.T) {
	requireHostTools(t)
	requireGRUB(t)
	dir := t.TempDir()
	k := filepath.Join(dir, "bzImage")
	must(t, os.WriteFile(k, fakeKernel(t, false, false), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "config"), []byte("CONFIG_BLK_DEV_INITRD=y\nCONFIG_EXT2_FS=y\nCONFIG_ATA_PIIX=y\nCONFIG_BLK_DEV_SD=y\n"), 0o644))
	img := filepath.Join(t.TempDir(), "disk.img")
	if _, err := legacy.Create(img, legacy.Options{Payload: legacy.Payload{Kernel: k, BusyBox: "/bin/busybox"}}); err != nil {
		t.Fatal(err)
	}
	diagnose := func(hosts ...string) *Report {
		f, err := os.Open(img)
		must(t, err)
		defer f.Close()
		fi, err := f.Stat()
		must(t, err)
		return Diagnose(f, fi.Size(), Options{Name: "disk.img", HostKernels: hosts})
	}

	rep := diagnose(k)
	if rep.Has(IDKernelNoExt2) != nil || rep.Has(IDKernelNoATA) != nil {
		t.Fatalf("with the host kernel's config, no driver should be missing:\n%s", dump(rep))
	}
	want(t, rep, IDKernelOK, OK)

	rep = diagnose()
	want(t, rep, IDKernelNoExt2, Warning)

	// Same size, one byte different: not the same kernel, config not used.
	other := filepath.Join(t.TempDir(), "bzImage")
	b := fakeKernel(t, false, false)
	b[0x300] ^= 1
	must(t, os.WriteFile(other, b, 0o644))
	must(t, os.WriteFile(filepath.Join(filepath.Dir(other), "config"), []byte("CONFIG_EXT2_FS=y\nCONFIG_ATA_PIIX=y\n"), 0o644))
	rep = diagnose(other)
	if f := want(t, rep, IDKernelNoExt2, Warning); strings.Contains(f.Evidence, "CONFIG_") {
		t.Fatalf("a different host kernel's config was used: %s", f.Evidence)
	}
}

// TestSameBytes: equal streams, a difference in the last byte of a second
// 32 KiB piece, one stream a byte longer, both empty.
func TestSameBytes(t *testing.T) {
	a := bytes.Repeat([]byte("minidisk"), 40000) // 320,000 bytes: three pieces
	last := bytes.Clone(a)
	last[len(last)-1] ^= 1
	second := bytes.Clone(a)
	second[2*32<<10-1] ^= 1
	for _, c := range []struct {
		name string
		a, b []byte
		want bool
	}{
		{"equal", a, bytes.Clone(a), true},
		{"last byte differs", a, last, false},
		{"end of the second 32 KiB piece differs", a, second, false},
		{"b one byte longer", a, append(bytes.Clone(a), 0), false},
		{"a one byte longer", append(bytes.Clone(a), 0), a, false},
		{"empty", nil, nil, true},
	} {
		got, err := sameBytes(bytes.NewReader(c.a), bytes.NewReader(c.b))
		if err != nil || got != c.want {
			t.Errorf("%s: sameBytes = %v, %v; want %v", c.name, got, err, c.want)
		}
	}
}
