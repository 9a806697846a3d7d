package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/efi/uki"
	"github.com/minidisk/minidisk/internal/debpkg"
	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel"
)

// fakeEFIKernel writes the headers of an x86-64 EFI-stub bzImage (MZ, PE32+
// at 0x40 with the EFI application subsystem, 55AA, "HdrS", protocol 2.15,
// cmdline_size 64) and filler: enough for `minidisk uki` to accept it.
func fakeEFIKernel(t *testing.T, dir string) string {
	b := make([]byte, 64<<10)
	copy(b, "MZ")
	binary.LittleEndian.PutUint32(b[0x3C:], 0x40)
	copy(b[0x40:], "PE\x00\x00")
	binary.LittleEndian.PutUint16(b[0x44:], uki.MachineAMD64)
	binary.LittleEndian.PutUint16(b[0x44+16:], 0xF0)
	binary.LittleEndian.PutUint16(b[0x58:], 0x20B)
	binary.LittleEndian.PutUint32(b[0x58+32:], 0x1000)
	binary.LittleEndian.PutUint32(b[0x58+36:], 0x200)
	binary.LittleEndian.PutUint32(b[0x58+60:], 0x200)
	binary.LittleEndian.PutUint16(b[0x58+68:], uki.SubsystemEFIApplication)
	b[kernel.OffBootFlag], b[kernel.OffBootFlag+1] = 0x55, 0xAA
	copy(b[kernel.OffHeader:], "HdrS")
	binary.LittleEndian.PutUint16(b[kernel.OffVersion:], 0x020F)
	binary.LittleEndian.PutUint32(b[kernel.OffCmdlineSize:], 64)
	p := filepath.Join(dir, "vmlinuz")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestUKIBadInput: a non-PE stub, a stub of another architecture, a
// missing initrd file and a command line over the kernel's limit each give
// one line naming the flag and file, a failure exit, and no output file.
func TestUKIBadInput(t *testing.T) {
	in := t.TempDir()
	kernel := fakeEFIKernel(t, in)
	text := filepath.Join(in, "notes.txt")
	os.WriteFile(text, []byte("not a PE file, only some text for the test\n"), 0o644)
	initrd := filepath.Join(in, "initrd.cpio")
	os.WriteFile(initrd, []byte("070701"+strings.Repeat("0", 200)), 0o644)

	cache, err := debpkg.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	src, err := uki.FindStub(context.Background(), cache, true, nil)
	if err != nil {
		testutil.Missing(t, "systemd EFI stub: "+err.Error())
	}
	stub, _ := os.ReadFile(src.Path)
	arm := append([]byte(nil), stub...)
	spf, err := uki.Parse(bytes.NewReader(arm), int64(len(arm)))
	if err != nil {
		t.Fatal(err)
	}
	pe := spf.PEOffset
	binary.LittleEndian.PutUint16(arm[pe+4:], 0xAA64)
	armStub := filepath.Join(in, "linuxaa64.efi.stub")
	os.WriteFile(armStub, arm, 0o644)

	out := t.TempDir()
	o := filepath.Join(out, "linux.efi")
	for _, c := range []struct {
		want string
		args []string
	}{
		{"--stub " + text + ": not a usable systemd EFI stub: not a PE/COFF executable", []string{"--stub", text, "--initrd", initrd}},
		{"built for arm64 (linuxaa64.efi.stub), not x86-64", []string{"--stub", armStub, "--initrd", initrd}},
		{"--initrd " + filepath.Join(in, "missing.cpio.gz") + ": no such file", []string{"--stub", src.Path, "--initrd", filepath.Join(in, "missing.cpio.gz")}},
		{"--cmdline: 65 bytes, over the kernel's limit of 64", []string{"--stub", src.Path, "--initrd", initrd, "--cmdline", strings.Repeat("x", 65)}},
	} {
		mustFail(t, c.want, append([]string{"uki", o, "--kernel", kernel}, c.args...)...)
		if ents := dirEntries(t, out); len(ents) != 0 {
			t.Errorf("%s: left %v", c.want, ents)
		}
	}
	// And the same inputs, correct, make a UKI.
	stdout, stderr, code := run(t, "uki", o, "--kernel", kernel, "--stub", src.Path, "--initrd", initrd)
	if code != 0 || !strings.Contains(stdout, "section .linux") {
		t.Fatalf("good input: exit %d\n%s%s", code, stdout, stderr)
	}
}
