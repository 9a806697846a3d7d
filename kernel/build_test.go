package kernel_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel"
	"github.com/minidisk/minidisk/kernel/kerneltest"
)

// TestLegacyKernelInspect builds (or reuses) the legacy kernel and checks
// Inspect against two oracles: file(1) for the header's version string,
// and the kernel's own scripts/extract-vmlinux for the decompressed image.
func TestLegacyKernelInspect(t *testing.T) {
	bz := kerneltest.Legacy(t)
	fi, err := os.Stat(bz)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d bytes", bz, fi.Size())
	info, err := kernel.InspectFile(bz)
	if err != nil {
		t.Fatal(err)
	}
	if info.DecompressError != "" {
		t.Fatalf("decompress: %s", info.DecompressError)
	}
	if info.EFIStub {
		t.Error("legacy kernel reports an EFI stub (CONFIG_EFI_STUB is not in the legacy profile)")
	}
	for _, f := range []string{"ext2", "ata_piix", "ata", "devtmpfs", "serial"} {
		if ok, ev := info.Builtin(f); !ok {
			t.Errorf("Builtin(%s) = false (%s); the legacy profile builds it in", f, ev)
		}
	}
	for _, f := range []string{"ahci", "vfat", "ext4"} {
		if ok, ev := info.Builtin(f); ok {
			t.Errorf("Builtin(%s) = true (%s); the legacy profile does not have it", f, ev)
		}
	}
	if fileTool, err := exec.LookPath("file"); err == nil {
		out, _ := exec.Command(fileTool, "-b", bz).Output()
		if info.Version == "" || !strings.Contains(string(out), "version "+info.Version+",") {
			t.Errorf("Version %q; file(1) says %s", info.Version, out)
		}
	}
	if xz := testutil.RequireTool(t, "xz", "xz-utils"); xz != "" && os.Getenv("MINIDISK_TEST_KERNEL") == "" {
		srcs, _ := filepath.Glob(filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(bz))), "src", "*", "*", "scripts", "extract-vmlinux"))
		if len(srcs) == 0 {
			t.Skip("no extracted source with scripts/extract-vmlinux")
		}
		want, err := exec.Command(srcs[0], bz).Output()
		if err != nil {
			t.Fatalf("extract-vmlinux: %v", err)
		}
		got := info.Vmlinux()
		if !bytes.Equal(got, want) {
			t.Errorf("decompressed %d bytes, extract-vmlinux %d bytes: they differ", len(got), len(want))
		}
	}
}

// BenchmarkInspectLegacy: header parse plus xz+BCJ decompression of the
// whole legacy kernel (what create and doctor pay per --kernel).
func BenchmarkInspectLegacy(b *testing.B) {
	bz := kerneltest.Legacy(b)
	for b.Loop() {
		if _, err := kernel.InspectFile(bz); err != nil {
			b.Fatal(err)
		}
	}
}

// newcCPIO writes a newc archive (the initramfs format,
// Documentation/driver-api/early-userspace/buffer-format.rst) of regular
// files, so the efi test needs no other package.
func newcCPIO(files map[string]string, names []string) []byte {
	var b bytes.Buffer
	entry := func(ino int, name string, mode uint32, data string) {
		fmt.Fprintf(&b, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
		b.WriteString(name + "\x00")
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
		b.WriteString(data)
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
	}
	for i, n := range names {
		entry(i+1, n, 0o100755, files[n])
	}
	entry(0, "TRAILER!!!", 0, "")
	return b.Bytes()
}

// TestEFIKernelInspect builds (or reuses) an efi-profile kernel around a
// tiny initramfs: every requested option must stick (Build checks), and the
// result must carry an x86-64 PE/COFF header and lack the legacy disk
// drivers.
func TestEFIKernelInspect(t *testing.T) {
	initramfs := filepath.Join(t.TempDir(), "init.cpio")
	cpio := newcCPIO(map[string]string{"init": "#!/bin/sh\necho minidisk kernel test\n"}, []string{"init"})
	if err := os.WriteFile(initramfs, cpio, 0o644); err != nil {
		t.Fatal(err)
	}
	bz := kerneltest.EFI(t, initramfs)
	info, err := kernel.InspectFile(bz)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(bz)
	t.Logf("%s: %d bytes", bz, fi.Size())
	if !info.EFIStub || info.PEMachine != 0x8664 {
		t.Errorf("efi kernel: EFIStub=%v machine=%#x, want an x86-64 PE image", info.EFIStub, info.PEMachine)
	}
	if ok, ev := info.Builtin("ata_piix"); ok {
		t.Errorf("efi kernel has ata_piix (%s); the efi profile boots from its initramfs", ev)
	}
	if ok, ev := info.Builtin("devtmpfs"); !ok {
		t.Errorf("efi kernel lacks devtmpfs: %s", ev)
	}
	if objdump, err := exec.LookPath("objdump"); err == nil {
		// binutils reads the PE header independently: the oracle for EFIStub.
		out, err := exec.Command(objdump, "-f", bz).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "pei-x86-64") {
			t.Errorf("objdump -f: %v\n%s", err, out)
		}
	}
}
