package doctor

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minidisk/minidisk/grub"
	"github.com/minidisk/minidisk/internal/testutil"
)

// smallImage makes a 1 MiB hand-made image with the host tools — MBR,
// ext2 with a script init, menu.lst, GRUB's stages and its setup — as a
// fuzz seed small enough to mutate. nil when the tools are missing.
func smallImage(tb testing.TB) []byte {
	for _, tool := range []string{"sfdisk", "mke2fs", "qemu-i386"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil
		}
	}
	if _, err := os.Stat(grubStageDir + "/stage2"); err != nil {
		return nil
	}
	dir := tb.TempDir()
	st := filepath.Join(dir, "st")
	for _, d := range []string{"bin", "sbin", "dev", "boot/grub", "lib64"} {
		must(tb, os.MkdirAll(filepath.Join(st, d), 0o755))
	}
	must(tb, os.WriteFile(filepath.Join(st, "sbin/init"), []byte("#!/bin/sh\nexec /bin/sh\n"), 0o755))
	must(tb, os.Symlink("../sbin/init", filepath.Join(st, "bin/sh")))
	must(tb, os.WriteFile(filepath.Join(st, "boot/vmlinuz"), fakeKernel(tb, true, true), 0o644))
	must(tb, os.WriteFile(filepath.Join(st, "boot/grub/grub.conf"), []byte(guideConf+"initrd /boot/initrd\n"), 0o644))
	must(tb, os.Symlink("grub.conf", filepath.Join(st, "boot/grub/menu.lst")))
	for _, s := range []string{"stage1", "stage2", "e2fs_stage1_5"} {
		copyFile(tb, filepath.Join(grubStageDir, s), filepath.Join(st, "boot/grub", s), 0o644)
	}
	img := filepath.Join(dir, "small.img")
	must(tb, os.WriteFile(img, nil, 0o644))
	must(tb, os.Truncate(img, 1<<20))
	sfdisk(tb, img, "start=63, type=83, bootable")
	part := filepath.Join(dir, "part.img")
	run(tb, "mke2fs", "-q", "-F", "-t", "ext2", "-b", "1024", "-I", "128", "-N", "32", "-d", st, part, "988")
	debugfs(tb, part, "cd /dev", "mknod console c 5 1")
	dd(tb, part, img, 63)
	grubSetup(tb, img, "root (hd0,0)", "setup (hd0)")
	b, err := os.ReadFile(img)
	must(tb, err)
	return b
}

// smallEFIImage is a 1 MiB GPT disk (both GPT copies) whose FAT12 ESP holds
// the stand-in EFI-stub kernel as BOOTX64.EFI: a seed for the GPT, backup
// GPT, FAT and PE paths. nil when the tools are missing.
func smallEFIImage(f *testing.F) []byte {
	return smallEFIImageWith(f, nil)
}

// smallEFIImageWith is smallEFIImage with loader as BOOTX64.EFI (nil: the
// stand-in EFI-stub kernel).
func smallEFIImageWith(tb testing.TB, loader []byte) []byte {
	for _, tool := range []string{"sfdisk", "mkfs.vfat", "mcopy"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil
		}
	}
	f := tb
	if loader == nil {
		loader = fakeEFIKernel(f, makeInitramfs(f, initramfsSpec{}), 0x8664)
	}
	dir := f.TempDir()
	img := filepath.Join(dir, "efi.img")
	must(f, os.WriteFile(img, nil, 0o644))
	must(f, os.Truncate(img, 1<<20))
	sfdisk(f, img, "label: gpt\nfirst-lba: 34\nstart=40, size=1960, type=U")
	run(f, "mkfs.vfat", "-F", "12", "-S", "512", "--offset=40", img, "980")
	src := filepath.Join(dir, "BOOTX64.EFI")
	must(f, os.WriteFile(src, loader, 0o644))
	at := img + "@@" + strconv.Itoa(40*512)
	run(f, "mmd", "-i", at, "::EFI", "::EFI/BOOT")
	run(f, "mcopy", "-i", at, src, "::EFI/BOOT/BOOTX64.EFI")
	b, err := os.ReadFile(img)
	must(f, err)
	return b
}

// FuzzDiagnose feeds hostile images to the whole doctor: the MBR, ext2,
// GRUB stage, menu, ELF and bzImage parsers behind it. It must not panic
// (Diagnose recovers, so a recovered panic is a failure here too) and must
// return a report with a valid exit code.
func FuzzDiagnose(f *testing.F) {
	if img := smallImage(f); img != nil {
		f.Add(img)
		// The same image cut short: the filesystem now runs past the end.
		f.Add(img[:len(img)/2])
		// Only the MBR and the embedded stage1.5.
		f.Add(img[:20*512])
	}
	mbr := make([]byte, 512)
	mbr[510], mbr[511] = 0x55, 0xAA
	copy(mbr[0x1BE:], []byte{0x80, 1, 1, 0, 0x83, 0xfe, 0xff, 0xff, 63, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Add(mbr)
	f.Add([]byte{})
	if fl := grubFloppy(f); fl != nil {
		f.Add(fl)
	}
	if efi := smallEFIImage(f); efi != nil {
		f.Add(efi)
	}
	// The boot corpus's images (when TestCorpusBootsAsDoctorSays kept
	// them), cut to their first 128 KiB: GRUB 2's boot.img and core.img,
	// SYSLINUX boot sectors, FAT superfloppies, GPT headers, EBR chains.
	imgs, _ := filepath.Glob(filepath.Join(corpusDir(), "*.img"))
	for _, p := range imgs {
		if fh, err := os.Open(p); err == nil {
			b := make([]byte, 128<<10)
			n, _ := io.ReadFull(fh, b)
			fh.Close()
			f.Add(b[:n])
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		start := time.Now()
		rep := Diagnose(bytes.NewReader(b), int64(len(b)), Options{Name: "fuzz.img", MaxFiles: 2000})
		if d := time.Since(start); d > 10*time.Second { // hostile input must not cost unbounded time
			t.Fatalf("Diagnose took %s on a %d-byte image", d, len(b))
		}
		for _, fd := range rep.Findings {
			if fd.ID == "internal-error" {
				t.Fatalf("panic in a check: %s", fd.Evidence)
			}
		}
		if c := rep.ExitCode(); c < 0 || c > 2 {
			t.Fatalf("exit code %d", c)
		}
		if err := rep.WriteText(&strings.Builder{}, TextOptions{Verbose: true}); err != nil {
			t.Fatal(err)
		}
		checkSaneNumbers(t, rep)
	})
}

// negativeNumber finds a minus sign starting a number ("-5", "= -1"), not
// an option ("-I 128") or a range ("63..24575").
var negativeNumber = regexp.MustCompile(`(^|[\s(=:,])-[0-9]`)

var truncateSize = regexp.MustCompile(`truncate -s ([0-9]+)`)

// checkSaneNumbers fails on numbers that cannot be: negative counts and
// sizes, sizes past what an MBR can describe (2^32 sectors from a start
// below 2^32: 4 TiB), partitions reported on images doctor identified as a
// boot sector or filesystem at sector 0.
func checkSaneNumbers(t *testing.T, rep *Report) {
	t.Helper()
	const mbrLimit = uint64(1) << 33 // sectors
	for _, fd := range rep.Findings {
		for _, s := range []string{fd.Title, fd.Evidence, fd.Fix} {
			if negativeNumber.MatchString(s) {
				t.Fatalf("%s: a negative number: %q", fd.ID, s)
			}
		}
		for _, m := range truncateSize.FindAllStringSubmatch(fd.Fix, -1) {
			if n, err := strconv.ParseUint(m[1], 10, 64); err != nil || n > mbrLimit*sectorSize {
				t.Fatalf("%s: an impossible size in the fix: %q", fd.ID, fd.Fix)
			}
		}
		if strings.HasPrefix(string(fd.ID), "part-") && (rep.Scheme == SchemeSuperfloppy || rep.Scheme == SchemeGRUBFloppy || rep.Scheme == SchemeISO || rep.Scheme == SchemeISOHybrid || rep.Scheme == SchemeBareExt2) {
			t.Fatalf("%s on a %s: partitions read from a boot sector or filesystem", fd.ID, rep.Scheme)
		}
	}
	for _, p := range rep.Partitions {
		if p.Start+p.Sectors > mbrLimit {
			t.Fatalf("partition %d: sectors %d+%d past any MBR", p.Index, p.Start, p.Sectors)
		}
	}
	if fs := rep.FS; fs != nil && (fs.OverrunBlocks > fs.Blocks || fs.PartitionBytes < 0 || fs.OffsetBytes < 0) {
		t.Fatalf("impossible filesystem numbers: %+v", *fs)
	}
}

// FuzzMenu: the menu.lst parser on arbitrary text.
func FuzzMenu(f *testing.F) {
	f.Add(guideConf)
	f.Add("default=1\ntitle a\nroot (hd0,0,a)\nkernel --type=linux (hd0,1)/vmlinuz root=/dev/hda1\ninitrd=/x\n")
	f.Add("root (hd")
	f.Fuzz(func(t *testing.T, s string) {
		m := parseMenu(s)
		for _, e := range m.Entries {
			parseDevice(e.Root)
			parseDevice(e.Kernel)
			parseCmdline(e.Args)
			splitDevName(parseCmdline(e.Args)["root"])
		}
	})
}

// grubFloppy is the classroom GRUB boot floppy `minidisk grub floppy`
// writes, or nil without the stage files.
func grubFloppy(tb testing.TB) []byte {
	st, err := grub.FindStages(grubStageDir)
	if err != nil {
		return nil
	}
	w := &memWriterAt{}
	must(tb, grub.WriteFloppy(w, st, nil))
	return w.b
}

type memWriterAt struct{ b []byte }

func (m *memWriterAt) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(m.b) {
		m.b = append(m.b, make([]byte, end-len(m.b))...)
	}
	return copy(m.b[off:], p), nil
}

// TestGRUBFloppyIsAFloppy: the floppy of `minidisk grub floppy` is named
// a GRUB Legacy boot floppy, with no partition findings (stage1's code
// bytes fill its partition-table area) and exit 0.
func TestGRUBFloppyIsAFloppy(t *testing.T) {
	fl := grubFloppy(t)
	if fl == nil {
		testutil.Missing(t, "GRUB Legacy stage files not installed (apt-get install grub-legacy)")
	}
	rep := Diagnose(bytes.NewReader(fl), int64(len(fl)), Options{Name: "floppy.img"})
	if rep.Boot.Loader != LoaderGRUBLegacyFloppy || rep.Scheme != SchemeGRUBFloppy || rep.ExitCode() != 0 || rep.Has(IDGRUBFloppyOK) == nil {
		t.Fatalf("floppy: loader %q, scheme %q, exit %d:\n%s", rep.Boot.Loader, rep.Scheme, rep.ExitCode(), dump(rep))
	}
	checkSaneNumbers(t, rep)
	if len(rep.Partitions) != 0 {
		t.Fatalf("partitions read from stage1's code: %+v", rep.Partitions)
	}
}
