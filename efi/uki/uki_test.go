package uki

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel/kerneltest"
)

// testInputs are a stub, a kernel and an initrd for oracle tests.
type testInputs struct {
	stub, kernel, initrd string
	cmdline              string
	osrel                []byte
}

func (in testInputs) options(ts *uint32) Options {
	return Options{Stub: in.stub, Kernel: in.kernel, Initrd: in.initrd, Cmdline: in.cmdline, OSRelease: in.osrel, TimeDateStamp: ts}
}

// fakeInitrd is a gzip member header and odd-sized filler: the writer only
// sniffs the magic, and an odd size exercises the padding and checksum.
func fakeInitrd(t testing.TB, n int) string {
	b := make([]byte, n)
	b[0], b[1], b[2] = 0x1f, 0x8b, 8
	for i := 3; i < n; i++ {
		b[i] = byte(i*13 + i>>9)
	}
	return writeTemp(t, "initrd.cpio.gz", b)
}

// objcopyArgs are the objcopy arguments that add res's sections at the
// addresses we chose, from the same files.
func objcopyArgs(t *testing.T, in testInputs, res *Result) []string {
	t.Helper()
	dir := t.TempDir()
	var args []string
	for _, s := range res.Added {
		var src string
		switch s.Name {
		case ".linux":
			src = in.kernel
		case ".initrd":
			src = in.initrd
		default:
			src = filepath.Join(dir, strings.TrimPrefix(s.Name, "."))
			if err := os.WriteFile(src, sectionBytes(t, res, s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		args = append(args, "--add-section", s.Name+"="+src,
			"--change-section-vma", fmt.Sprintf("%s=%#x", s.Name, s.VirtualAddress))
	}
	return args
}

// sectionBytes reads a small section back from the payload it came from.
func sectionBytes(t *testing.T, res *Result, s Section) []byte {
	t.Helper()
	for _, p := range res.Layout.payloads {
		if p.Name == s.Name {
			rc, err := p.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			var buf bytes.Buffer
			if _, err := buf.ReadFrom(rc); err != nil {
				t.Fatal(err)
			}
			return buf.Bytes()
		}
	}
	t.Fatalf("no payload %s", s.Name)
	return nil
}

func build(t *testing.T, o Options) (string, *Result) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "uki.efi")
	res, err := Build(out, false, o)
	if err != nil {
		t.Fatal(err)
	}
	return out, res
}

// timeDateStamp reads the COFF TimeDateStamp of a PE file.
func timeDateStamp(t *testing.T, p string) uint32 {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	pe := binary.LittleEndian.Uint32(b[dosLfanew:])
	return binary.LittleEndian.Uint32(b[pe+8:])
}

// objdumpX is objdump -x without the first line (the file name) and with
// the lines that must differ replaced by their name, each with the reason
// it differs.
func objdumpX(t *testing.T, p string) string {
	t.Helper()
	out := testutil.Run(t, testutil.RequireTool(t, "objdump", "binutils"), "-x", p)
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.Contains(l, p):
			// The file name.
		case strings.HasPrefix(l, "Time/Date"):
			// objcopy stamps the clock (binutils 2.40 has no option
			// to keep it); we keep the stub's for reproducible output.
			keep = append(keep, "Time/Date <differs: objcopy writes the current time>")
		case strings.HasPrefix(l, "CheckSum"):
			// The checksum covers the timestamp above.
			keep = append(keep, "CheckSum <differs: covers Time/Date>")
		default:
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// TestObjcopyOracle: the same inputs through objcopy --add-section
// --change-section-vma at our addresses give the same file. With objcopy's
// timestamp the files are byte-identical (checksum included, which proves
// our PE checksum is binutils'); with ours (the stub's), objdump -x differs
// in Time/Date and CheckSum only. objdump -h shows every section at our
// address, size and offset, sbverify reads the file, and two runs are
// byte-identical.
func TestObjcopyOracle(t *testing.T) {
	objcopy := testutil.RequireTool(t, "objcopy", "binutils")
	objdump := testutil.RequireTool(t, "objdump", "binutils")
	sbverify := testutil.RequireTool(t, "sbverify", "sbsigntool")
	in := testInputs{
		stub:    realStub(t),
		kernel:  fakeKernel(t, 3_000_001, 2047),
		initrd:  fakeInitrd(t, 1_234_567),
		cmdline: "console=ttyS0 quiet",
	}
	ours, res := build(t, in.options(nil))
	if len(res.Added) != 5 {
		t.Fatalf("added %d sections, want .osrel .cmdline .uname .initrd .linux", len(res.Added))
	}
	theirs := filepath.Join(t.TempDir(), "objcopy.efi")
	testutil.Run(t, objcopy, append(objcopyArgs(t, in, res), in.stub, theirs)...)

	// Byte-identical at objcopy's timestamp.
	ts := timeDateStamp(t, theirs)
	same, _ := build(t, in.options(&ts))
	a, _ := os.ReadFile(same)
	b, _ := os.ReadFile(theirs)
	if !bytes.Equal(a, b) {
		i := 0
		for i < len(a) && i < len(b) && a[i] == b[i] {
			i++
		}
		t.Errorf("with objcopy's timestamp our UKI differs from objcopy's: %d vs %d bytes, first difference at %#x", len(a), len(b), i)
	}
	// objdump -x alike at the stub's timestamp.
	if x, y := objdumpX(t, ours), objdumpX(t, theirs); x != y {
		t.Errorf("objdump -x differs beyond Time/Date and CheckSum:\nours:\n%s\nobjcopy:\n%s", x, y)
	}

	// objdump -h: every added section where the layout says.
	hdr := testutil.Run(t, objdump, "-h", ours)
	re := regexp.MustCompile(`(?m)^\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)`)
	seen := map[string]bool{}
	for _, m := range re.FindAllStringSubmatch(hdr, -1) {
		size, _ := strconv.ParseUint(m[2], 16, 64)
		vma, _ := strconv.ParseUint(m[3], 16, 64)
		off, _ := strconv.ParseUint(m[4], 16, 64)
		for _, s := range res.Added {
			if s.Name == m[1] {
				seen[s.Name] = true
				if uint32(size) != s.VirtualSize || uint32(vma) != s.VirtualAddress || uint32(off) != s.Offset {
					t.Errorf("objdump -h: %s size %#x vma %#x off %#x; we chose size %#x vma %#x off %#x", s.Name, size, vma, off, s.VirtualSize, s.VirtualAddress, s.Offset)
				}
				if s.VirtualAddress%res.Stub.SectionAlignment != 0 || s.Offset%res.Stub.FileAlignment != 0 {
					t.Errorf("%s at %#x/%#x: not aligned to SectionAlignment %#x / FileAlignment %#x", s.Name, s.VirtualAddress, s.Offset, res.Stub.SectionAlignment, res.Stub.FileAlignment)
				}
			}
		}
	}
	if len(seen) != len(res.Added) {
		t.Errorf("objdump -h lists %d of our %d sections:\n%s", len(seen), len(res.Added), hdr)
	}

	out, err := exec.Command(sbverify, "--list", ours).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "No signature table present") {
		t.Errorf("sbverify --list: %v\n%s", err, out)
	}

	again, _ := build(t, in.options(nil))
	c, _ := os.ReadFile(ours)
	d, _ := os.ReadFile(again)
	if !bytes.Equal(c, d) {
		t.Error("two runs with the same inputs differ")
	}
	t.Logf("UKI %d bytes, stub %s, checksum %#x", res.FileSize, res.StubVersion, res.CheckSum)
}

// TestParseOwnOutput: the parser reads back what the writer wrote.
func TestParseOwnOutput(t *testing.T) {
	in := testInputs{stub: goodStub(t), kernel: fakeKernel(t, 70_001, 2047), initrd: fakeInitrd(t, 4097), cmdline: "console=ttyS0"}
	out, res := build(t, in.options(nil))
	data, _ := os.ReadFile(out)
	f, err := Parse(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if !f.IsUKI() || f.StubVersion() != "test-stub 1" {
		t.Errorf("IsUKI %v, stub version %q", f.IsUKI(), f.StubVersion())
	}
	if len(f.Sections) != len(res.Sections) {
		t.Fatalf("parsed %d sections, wrote %d", len(f.Sections), len(res.Sections))
	}
	want := map[string]string{".cmdline": "console=ttyS0", ".uname": "6.1.0-test", ".osrel": string(DefaultOSRelease("6.1.0-test"))}
	for name, w := range want {
		got, err := f.ReadSection(name, 4096)
		if err != nil || string(got) != w {
			t.Errorf("%s = %q, %v; want %q", name, got, err, w)
		}
	}
	for name, src := range map[string]string{".linux": in.kernel, ".initrd": in.initrd} {
		s, _ := f.Section(name)
		sr, err := f.Open(s)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, sr.Size())
		if _, err := sr.ReadAt(got, 0); err != nil {
			t.Fatal(err)
		}
		if w, _ := os.ReadFile(src); !bytes.Equal(got, w) {
			t.Errorf("%s read back differs from %s", name, src)
		}
	}
	if res.SizeOfImage%f.SectionAlignment != 0 || f.SizeOfImage != res.SizeOfImage {
		t.Errorf("SizeOfImage %#x", f.SizeOfImage)
	}
	if f.CheckSum != res.CheckSum || f.CheckSum == 0 {
		t.Errorf("checksum in file %#x, reported %#x", f.CheckSum, res.CheckSum)
	}
}

// TestBadInput: each bad input is refused with one line naming the flag
// and the file, and nothing is written.
func TestBadInput(t *testing.T) {
	stub := goodStub(t)
	kern := fakeKernel(t, 70_000, 64)
	initrd := fakeInitrd(t, 1000)
	arm := writeTemp(t, "arm.efi", makeStub(t, stubSpec{machine: 0xaa64, subsystem: 10, sdmagic: true}))
	noMagic := writeTemp(t, "plain.efi", makeStub(t, stubSpec{machine: MachineAMD64, subsystem: 10}))
	driver := writeTemp(t, "driver.efi", makeStub(t, stubSpec{machine: MachineAMD64, subsystem: 11, sdmagic: true}))
	tight := writeTemp(t, "tight.efi", makeStub(t, stubSpec{machine: MachineAMD64, subsystem: 10, sdmagic: true, sizeOfHeaders: 0x200}))
	text := writeTemp(t, "text.efi", []byte("this is not an EFI program, just text that is long enough to parse\n"))
	notEFI := kerneltest.FakeBzImage(t)
	for _, c := range []struct {
		name string
		o    Options
		want string
		is   error
	}{
		{"non-PE stub", Options{Stub: text, Kernel: kern}, `--stub .*text.efi: not a usable systemd EFI stub: not a PE/COFF executable`, ErrNotPE},
		{"arm64 stub", Options{Stub: arm, Kernel: kern}, `--stub .*arm.efi: .*built for arm64 .*not x86-64`, ErrStub},
		{"not systemd", Options{Stub: noMagic, Kernel: kern}, `--stub .*plain.efi: .*\.sdmagic`, ErrStub},
		{"not an application", Options{Stub: driver, Kernel: kern}, `--stub .*driver.efi: .*subsystem 11`, ErrStub},
		{"no header room", Options{Stub: tight, Kernel: kern, Initrd: initrd, Cmdline: "x"}, `--stub .*tight.efi: no room for 5 more section headers`, nil},
		{"missing stub", Options{Stub: "/nonexistent/stub.efi", Kernel: kern}, `--stub /nonexistent/stub.efi: no such file`, os.ErrNotExist},
		{"missing initrd", Options{Stub: stub, Kernel: kern, Initrd: "/nonexistent/initrd.gz"}, `--initrd /nonexistent/initrd.gz: no such file`, nil},
		{"initrd not cpio", Options{Stub: stub, Kernel: kern, Initrd: text}, `--initrd .*text.efi: not an initramfs`, nil},
		{"kernel without EFI stub", Options{Stub: stub, Kernel: notEFI}, `--kernel .*bzImage: not an EFI-stub kernel`, ErrKernel},
		{"kernel not a kernel", Options{Stub: stub, Kernel: text}, `--kernel .*text.efi: not an EFI-stub kernel`, ErrKernel},
		{"cmdline over the limit", Options{Stub: stub, Kernel: kern, Cmdline: strings.Repeat("a", 65)}, `--cmdline: 65 bytes, over the kernel's limit of 64`, nil},
		{"cmdline with a newline", Options{Stub: stub, Kernel: kern, Cmdline: "console=ttyS0\nroot=/dev/sda"}, `--cmdline: byte 13 is '\\n'`, nil},
		{"no stub", Options{Stub: "", Kernel: kern}, `--stub: no stub given`, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "uki.efi")
			_, err := Build(out, false, c.o)
			if err == nil {
				t.Fatal("accepted")
			}
			if !regexp.MustCompile(c.want).MatchString(err.Error()) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q, want one line matching %q", err, c.want)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %q is not %v", err, c.is)
			}
			if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 0 {
				t.Errorf("left %d files behind", len(ents))
			}
		})
	}
	// A UKI as the stub.
	uki, _ := build(t, Options{Stub: stub, Kernel: kern})
	if _, err := Build(filepath.Join(t.TempDir(), "x.efi"), false, Options{Stub: uki, Kernel: kern}); err == nil || !strings.Contains(err.Error(), "UKI already") {
		t.Errorf("a UKI as the stub: %v", err)
	}
}

// TestChecksumOddLength: the checksum of odd-length data split anywhere is
// the one of the whole (the stream's writes do not align to words).
func TestChecksumOddLength(t *testing.T) {
	data := make([]byte, 10001)
	for i := range data {
		data[i] = byte(i*151 + 7)
	}
	whole := &checksumWriter{w: &bytes.Buffer{}}
	whole.Write(data)
	for _, cut := range []int{0, 1, 2, 3, 5000, 5001, 10000} {
		c := &checksumWriter{w: &bytes.Buffer{}}
		c.Write(data[:cut])
		c.Write(data[cut:])
		if c.sum() != whole.sum() {
			t.Errorf("split at %d: %#x, whole %#x", cut, c.sum(), whole.sum())
		}
	}
}

// TestSplash: a BMP goes into .splash before .initrd and .linux; a file
// that is not a BMP is refused (systemd-stub draws BMP only).
func TestSplash(t *testing.T) {
	stub, kern := goodStub(t), fakeKernel(t, 70_000, 2047)
	bmp := writeTemp(t, "splash.bmp", append([]byte("BM"), make([]byte, 998)...))
	out, res := build(t, Options{Stub: stub, Kernel: kern, Splash: bmp, Initrd: fakeInitrd(t, 100)})
	var names []string
	for _, s := range res.Added {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, " "); got != ".osrel .uname .splash .initrd .linux" {
		t.Errorf("sections %s", got)
	}
	data, _ := os.ReadFile(out)
	f, err := Parse(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := f.ReadSection(".splash", 4096); err != nil || !bytes.HasPrefix(b, []byte("BM")) || len(b) != 1000 {
		t.Errorf(".splash: %d bytes, %v", len(b), err)
	}
	if _, err := Build(filepath.Join(t.TempDir(), "x.efi"), false, Options{Stub: stub, Kernel: kern, Splash: kern}); err == nil || !strings.Contains(err.Error(), "not a BMP") {
		t.Errorf("a kernel as the splash: %v", err)
	}
}
