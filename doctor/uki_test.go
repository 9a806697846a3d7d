package doctor

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/minidisk/minidisk/efi/uki"
	"github.com/minidisk/minidisk/internal/debpkg"
	"github.com/minidisk/minidisk/internal/testutil"
)

// ukiStub is systemd's x86-64 stub, found or fetched through uki.FindStub.
func ukiStub(t *testing.T) string {
	t.Helper()
	cache, err := debpkg.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	src, err := uki.FindStub(context.Background(), cache, true, nil)
	if err != nil {
		testutil.Missing(t, "systemd EFI stub: "+err.Error())
	}
	return src.Path
}

// makeUKI writes a UKI of the stand-in EFI kernel with initrd (nil: none)
// and cmdline, and returns its bytes; patch may change them afterwards.
func makeUKI(t *testing.T, stub string, initrd []byte, cmdline string) []byte {
	t.Helper()
	dir := t.TempDir()
	k := filepath.Join(dir, "vmlinuz")
	must(t, os.WriteFile(k, fakeEFIKernel(t, makeInitramfs(t, initramfsSpec{}), 0x8664), 0o644))
	o := uki.Options{Stub: stub, Kernel: k, Cmdline: cmdline}
	if initrd != nil {
		o.Initrd = filepath.Join(dir, "initrd.cpio.gz")
		must(t, os.WriteFile(o.Initrd, initrd, 0o644))
	}
	out := filepath.Join(dir, "uki.efi")
	if _, err := uki.Build(out, false, o); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	must(t, err)
	return b
}

// TestUKIImages: a good UKI on an ESP is clean (exit 0); a UKI whose
// initrd lacks /init, whose .linux is not an EFI kernel, whose .cmdline has
// no console, or that has no .cmdline at all each gives its finding, with
// exit 1 for errors and 0 for warnings.
func TestUKIImages(t *testing.T) {
	stub := ukiStub(t)
	good := makeInitramfs(t, initramfsSpec{})
	// .linux patched to an i386 PE header: the stub could not start it.
	notEFI := makeUKI(t, stub, good, "console=ttyS0")
	pf, err := uki.Parse(bytes.NewReader(notEFI), int64(len(notEFI)))
	must(t, err)
	lx, _ := pf.Section(".linux")
	kf, err := uki.Parse(io.NewSectionReader(bytes.NewReader(notEFI), int64(lx.Offset), lx.Size()), lx.Size())
	must(t, err)
	pe := int64(lx.Offset) + kf.PEOffset
	binary.LittleEndian.PutUint16(notEFI[pe+4:], 0x14c)

	cases := []struct {
		name   string
		loader []byte
		id     ID
		sev    Severity
		ev     []string
		exit   int
	}{
		{"good", makeUKI(t, stub, good, "console=ttyS0"), IDUEFIUKICmdlineOK, OK, []string{"ttyS0"}, 0},
		{"good lists sections", makeUKI(t, stub, good, "console=ttyS0"), IDUEFIUKI, Info, []string{"systemd-stub", ".linux 0x", ".initrd 0x", ".cmdline 0x"}, 0},
		{"good kernel", makeUKI(t, stub, good, "console=ttyS0"), IDUEFIUKILinuxOK, OK, []string{"6.1.0-fake-efi"}, 0},
		{"good init", makeUKI(t, stub, good, "console=ttyS0"), IDUEFIInitOK, OK, []string{".initrd"}, 0},
		{"named a UKI", makeUKI(t, stub, good, "console=ttyS0"), IDUEFIBootX64OK, OK, []string{"a unified kernel image"}, 0},
		{"initrd without /init", makeUKI(t, stub, makeInitramfs(t, initramfsSpec{noInit: true}), "console=ttyS0"), IDUEFIInitMissing, Error, []string{"no /init"}, 1},
		{"initrd not executable", makeUKI(t, stub, makeInitramfs(t, initramfsSpec{initMode: 0o644}), "console=ttyS0"), IDUEFIInitNotExecutable, Error, []string{"0644"}, 1},
		{".linux not an EFI kernel", notEFI, IDUEFIUKILinuxNotEFI, Error, []string{"0x014c"}, 1},
		{"cmdline without console", makeUKI(t, stub, good, "quiet loglevel=3"), IDUEFIUKICmdlineNoConsole, Warning, []string{"quiet loglevel=3"}, 0},
		{"no cmdline", makeUKI(t, stub, good, ""), IDUEFIUKICmdlineMissing, Warning, nil, 0},
		{"no initrd, no root", makeUKI(t, stub, nil, "console=ttyS0"), IDUEFIUKIInitrdMissing, Error, []string{"no root="}, 1},
		{"no initrd, root on disk", makeUKI(t, stub, nil, "console=ttyS0 root=/dev/sda1"), IDUEFIUKIInitrdMissing, Warning, nil, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			img := makeEFIImage(t, "U", c.loader)
			rep := diagnoseFile(t, img)
			f := want(t, rep, c.id, c.sev, c.ev...)
			if f.Area != AreaUEFI {
				t.Errorf("%s in area %s", c.id, f.Area)
			}
			if rep.ExitCode() != c.exit {
				t.Errorf("exit %d, want %d:\n%s", rep.ExitCode(), c.exit, dump(rep))
			}
			if c.exit == 0 && c.sev == OK && rep.Warnings() != 0 {
				t.Errorf("a good UKI has warnings:\n%s", dump(rep))
			}
			// The built-in-initramfs checks are not applied to a UKI.
			if rep.Has(IDUEFIInitramfsMissing) != nil {
				t.Errorf("the UKI was also judged as a kernel with a built-in initramfs:\n%s", dump(rep))
			}
		})
	}
}
