package explain

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel/kerneltest"
)

// BenchmarkExplain4GiB explains every view of a sparse 4 GiB image (ext2
// of 4 million 1 KiB blocks, 512 groups, GRUB installed): explain reads
// metadata only, so each view takes milliseconds whatever the disk size.
func BenchmarkExplain4GiB(b *testing.B) {
	requireTools(b)
	dir := b.TempDir()
	st := filepath.Join(dir, "st")
	must(b, os.MkdirAll(filepath.Join(st, "boot/grub"), 0o755))
	must(b, os.MkdirAll(filepath.Join(st, "bin"), 0o755))
	testutil.Run(b, "cp", "/bin/busybox", filepath.Join(st, "bin/busybox"))
	must(b, os.Symlink("busybox", filepath.Join(st, "bin/sh")))
	testutil.Run(b, "cp", kerneltest.FakeBzImage(b), filepath.Join(st, "boot/vmlinuz"))
	for _, s := range []string{"stage1", "stage2", "e2fs_stage1_5"} {
		testutil.Run(b, "cp", filepath.Join(grubStageDir, s), filepath.Join(st, "boot/grub", s))
	}
	must(b, os.WriteFile(filepath.Join(st, "boot/grub/grub.conf"), []byte("default 0\ntitle x\nroot (hd0,0)\nkernel /boot/vmlinuz root=/dev/sda1 init=/bin/sh\n"), 0o644))
	must(b, os.Symlink("grub.conf", filepath.Join(st, "boot/grub/menu.lst")))
	img := filepath.Join(dir, "4g.img")
	must(b, os.WriteFile(img, nil, 0o644))
	must(b, os.Truncate(img, 4<<30))
	testutil.RunStdin(b, "start=2048, type=83, bootable\n", "sfdisk", "-q", "--no-reread", "--no-tell-kernel", img)
	start, sectors := sfdiskPart(b, img)
	testutil.Run(b, "mke2fs", "-q", "-F", "-t", "ext2", "-b", "1024", "-I", "128", "-E", "offset="+strconv.FormatInt(start*512, 10)+",root_owner=0:0", "-d", st, img, strconv.FormatInt(sectors/2/4*4, 10))
	grubSetup(b, img)
	f, err := os.Open(img)
	must(b, err)
	defer f.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, err := Open(f, 4<<30, img)
		must(b, err)
		for _, w := range Views {
			v, err := d.Explain(w, "/bin/sh")
			if err != nil {
				b.Fatalf("%s: %v", w, err)
			}
			must(b, v.WriteText(io.Discard, TextOptions{Width: 100}))
		}
	}
}
