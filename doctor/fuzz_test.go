package doctor

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
	f.Fuzz(func(t *testing.T, b []byte) {
		rep := Diagnose(bytes.NewReader(b), int64(len(b)), Options{Name: "fuzz.img", MaxFiles: 2000})
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
	})
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
