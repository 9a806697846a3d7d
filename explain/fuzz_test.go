package explain

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// seedImage is a 2 MiB host-tool image (sfdisk, mke2fs -d, GRUB's setup):
// small enough to mutate, with every structure explain reads. nil when the
// tools are missing.
func seedImage(tb testing.TB) []byte {
	for _, tool := range []string{"sfdisk", "mke2fs", "qemu-i386"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil
		}
	}
	if _, err := os.Stat("/usr/sbin/grub"); err != nil {
		return nil
	}
	dir := tb.TempDir()
	st := filepath.Join(dir, "st")
	for _, d := range []string{"bin", "boot/grub"} {
		must(tb, os.MkdirAll(filepath.Join(st, d), 0o755))
	}
	must(tb, os.WriteFile(filepath.Join(st, "bin/init"), bytes.Repeat([]byte("#!/bin/sh\n"), 2000), 0o755))
	must(tb, os.Symlink("init", filepath.Join(st, "bin/sh")))
	must(tb, os.WriteFile(filepath.Join(st, "boot/vmlinuz"), bytes.Repeat([]byte{0x5a}, 20<<10), 0o644))
	must(tb, os.WriteFile(filepath.Join(st, "boot/grub/grub.conf"), []byte("default 0\ntitle x\nroot (hd0,0)\nkernel /boot/vmlinuz root=/dev/sda1 init=/bin/sh\n"), 0o644))
	must(tb, os.Symlink("grub.conf", filepath.Join(st, "boot/grub/menu.lst")))
	for _, s := range []string{"stage1", "stage2", "e2fs_stage1_5"} {
		b, err := os.ReadFile(filepath.Join(grubStageDir, s))
		if err != nil {
			return nil
		}
		must(tb, os.WriteFile(filepath.Join(st, "boot/grub", s), b, 0o644))
	}
	img := filepath.Join(dir, "seed.img")
	must(tb, os.WriteFile(img, nil, 0o644))
	must(tb, os.Truncate(img, 2<<20))
	cmd := exec.Command("sfdisk", "-q", "--no-reread", "--no-tell-kernel", img)
	cmd.Stdin = strings.NewReader("start=63, type=83, bootable\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("sfdisk: %v\n%s", err, out)
	}
	part := filepath.Join(dir, "part.img")
	if out, err := exec.Command("mke2fs", "-q", "-F", "-t", "ext2", "-b", "1024", "-I", "128", "-N", "32", "-d", st, part, strconv.Itoa((2<<20-63*512)/1024/4*4)).CombinedOutput(); err != nil {
		tb.Fatalf("mke2fs: %v\n%s", err, out)
	}
	if out, err := exec.Command("dd", "if="+part, "of="+img, "bs=512", "seek=63", "conv=notrunc", "status=none").CombinedOutput(); err != nil {
		tb.Fatalf("dd: %v\n%s", err, out)
	}
	grubSetup(tb, img)
	b, err := os.ReadFile(img)
	must(tb, err)
	return b
}

// FuzzExplain feeds hostile images to every view: explain must return a
// view or an error, never panic (Explain recovers; a recovered panic is a
// failure here), and the text and JSON renderers must cope with what the
// views hold.
func FuzzExplain(f *testing.F) {
	if img := seedImage(f); img != nil {
		f.Add(img)
		f.Add(img[:len(img)/2])
		f.Add(img[:64<<10])
	}
	mbr := make([]byte, 512)
	mbr[510], mbr[511] = 0x55, 0xAA
	f.Add(mbr)
	f.Fuzz(func(t *testing.T, img []byte) {
		d, err := Open(bytes.NewReader(img), int64(len(img)), "fuzz.img")
		if err != nil {
			return
		}
		for _, w := range Views {
			v, err := d.Explain(w, "/bin/sh")
			if err != nil {
				if strings.Contains(err.Error(), "crashed") {
					t.Fatalf("explain %s: %v", w, err)
				}
				continue
			}
			if err := v.WriteText(io.Discard, TextOptions{Width: 60}); err != nil {
				t.Fatal(err)
			}
			if err := v.WriteJSON(io.Discard); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.WriteHTML(io.Discard, HTMLOptions{}); err != nil && strings.Contains(err.Error(), "crashed") {
			t.Fatal(err)
		}
	})
}
