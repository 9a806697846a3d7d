package doctor

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// patch writes b at byte off of the image, as `printf ... | dd
// conv=notrunc seek=` does by hand.
func patch(t *testing.T, img string, off int64, b ...byte) {
	t.Helper()
	f, err := os.OpenFile(img, os.O_WRONLY, 0)
	must(t, err)
	defer f.Close()
	_, err = f.WriteAt(b, off)
	must(t, err)
}

// debugfsImage runs debugfs -w on the filesystem at startSector of an
// existing image (dd it out, change it, dd it back), as one does after
// GRUB's setup.
func debugfsImage(t *testing.T, img string, startSector int64, cmds ...string) {
	t.Helper()
	part := filepath.Join(t.TempDir(), "part.img")
	run(t, "dd", "if="+img, "of="+part, "bs=512", fmt.Sprintf("skip=%d", startSector), "status=none")
	debugfs(t, part, cmds...)
	dd(t, part, img, startSector)
}

// brokenCase is one classic failure made with the real tools.
type brokenCase struct {
	name string
	spec legacySpec
	post func(t *testing.T, img string) // after GRUB's setup
	id   ID
	sev  Severity
	ev   []string // the evidence mentions each
	exit int
}

func conf(kernelLine string, extra ...string) string {
	s := "default 0\ntimeout 1\n\ntitle broken\nroot (hd0,0)\n" + kernelLine + "\n"
	for _, e := range extra {
		s += e + "\n"
	}
	return s
}

func rm(paths ...string) func(t testing.TB, dir string) {
	return func(t testing.TB, dir string) {
		for _, p := range paths {
			must(t, os.Remove(filepath.Join(dir, p)))
		}
	}
}

func TestBrokenImages(t *testing.T) {
	requireHostTools(t)
	requireGRUB(t)
	const noInit = "kernel /boot/vmlinuz root=/dev/sda1 rw console=ttyS0"
	cases := []brokenCase{
		// Partition table.
		{name: "no MBR signature", post: func(t *testing.T, img string) { patch(t, img, 510, 0, 0) },
			id: "mbr-signature-missing", sev: Error, ev: []string{"00 00"}, exit: 1},
		{name: "partition past the image end", post: func(t *testing.T, img string) { must(t, os.Truncate(img, 8<<20)) },
			id: "part-past-end", sev: Error, ev: []string{"sectors 63..24575", "16384 sectors", "8192 sectors missing"}, exit: 1},
		{name: "overlapping partitions", spec: legacySpec{sfdisk: "start=63, size=20000, type=83, bootable\nstart=20063, type=82"},
			// Partition 2's start moved into partition 1 (sector 10000 = 0x2710) by hand.
			post: func(t *testing.T, img string) { patch(t, img, 0x1BE+16+8, 0x10, 0x27, 0, 0) },
			id:   "part-overlap", sev: Error, ev: []string{"partitions 1 and 2", "shared sectors (10000.."}, exit: 1},
		{name: "zero-size entry", spec: legacySpec{sfdisk: "start=63, size=20000, type=83, bootable\nstart=20063, type=82"},
			post: func(t *testing.T, img string) { patch(t, img, 0x1BE+16+12, 0, 0, 0, 0) },
			id:   "part-zero-size", sev: Warning, ev: []string{"type 0x82"}, exit: 0},
		{name: "CHS disagrees with LBA", post: func(t *testing.T, img string) { patch(t, img, 0x1BE+1, 0, 5, 0) },
			id: "part-chs-mismatch", sev: Warning, ev: []string{"0/0/5", "0/1/1"}, exit: 0},
		{name: "no bootable flag", spec: legacySpec{sfdisk: "start=63, type=83"},
			id: "part-no-bootable", sev: Warning, exit: 0},
		{name: "type FAT32 holding ext2", spec: legacySpec{sfdisk: "start=63, type=c, bootable"},
			id: "part-type-mismatch", sev: Warning, ev: []string{"type 0x0C", "ext2"}, exit: 1},
		// The GRUB shell refuses it too ("Filesystem type unknown, partition
		// type 0xc"), so setup runs before the type is changed by hand.
		{name: "type changed after setup", post: func(t *testing.T, img string) { run(t, "sfdisk", "-q", "--part-type", img, "1", "c") },
			id: "grub-partition-type", sev: Error, ev: []string{"0x0C", "Error 17"}, exit: 1},
		// GRUB Legacy.
		{name: "GRUB never installed", spec: legacySpec{noGRUB: true},
			id: "boot-code-zero", sev: Error, ev: []string{"are zero"}, exit: 1},
		{name: "re-partitioned over the embedded stage1.5",
			post: func(t *testing.T, img string) { sfdisk(t, img, "start=16, type=83, bootable") },
			id:   "grub-blocklist-outside-gap", sev: Error, ev: []string{"overlap partition 1", "16"}, exit: 1},
		{name: "stage2 deleted after setup",
			post: func(t *testing.T, img string) { debugfsImage(t, img, 63, "rm /boot/grub/stage2") },
			id:   "grub-stage2-missing", sev: Error, ev: []string{"/boot/grub/stage2", "Error 15"}, exit: 1},
		{name: "stage2 rewritten after a blocklist install",
			spec: legacySpec{sfdisk: "start=10, type=83, bootable"}, // no room to embed: GRUB points stage1 at stage2's blocks
			post: func(t *testing.T, img string) {
				// A filler takes the freed blocks, so the new copy lands elsewhere.
				debugfsImage(t, img, 10, "rm /boot/grub/stage2", "write "+grubStageDir+"/stage2 /filler", "write "+grubStageDir+"/stage2 /boot/grub/stage2")
			},
			id: "grub-stage2-moved", sev: Error, ev: []string{"stage1 loads sector"}, exit: 1},
		{name: "menu.lst symlink dangling", spec: legacySpec{stage: rm("boot/grub/grub.conf")},
			id: "grub-config-missing", sev: Error, ev: []string{"symlink to grub.conf", "Error 15"}, exit: 1},
		{name: "menu without entries", spec: legacySpec{conf: "default 0\ntimeout 5\n"},
			id: "grub-menu-empty", sev: Error, exit: 1},
		{name: "kernel path wrong", spec: legacySpec{conf: conf("kernel /boot/bzImage root=/dev/sda1 rw init=/bin/sh")},
			id: "grub-kernel-missing", sev: Error, ev: []string{"/boot/bzImage", "Error 15"}, exit: 1},
		{name: "initrd missing", spec: legacySpec{conf: conf("kernel /boot/vmlinuz root=/dev/sda1 rw init=/bin/sh", "initrd /boot/initrd.img")},
			id: "grub-initrd-missing", sev: Error, ev: []string{"/boot/initrd.img"}, exit: 1},
		{name: "root (hd0,1)", spec: legacySpec{conf: "default 0\ntitle x\nroot (hd0,1)\nkernel /boot/vmlinuz root=/dev/sda1 rw init=/bin/sh\n"},
			id: "grub-root-mismatch", sev: Error, ev: []string{"(hd0,1)", "(hd0,0)"}, exit: 1},
		{name: "root=/dev/hda1", spec: legacySpec{conf: conf("kernel /boot/vmlinuz root=/dev/hda1 rw init=/bin/sh")},
			id: "kernel-root-hd", sev: Warning, ev: []string{"sda"}, exit: 0},
		{name: "root=/dev/sda2", spec: legacySpec{conf: conf("kernel /boot/vmlinuz root=/dev/sda2 rw init=/bin/sh")},
			id: "kernel-root-partition", sev: Error, ev: []string{"partition 1"}, exit: 1},
		{name: "no root=", spec: legacySpec{conf: conf("kernel /boot/vmlinuz rw init=/bin/sh")},
			id: "kernel-root-missing", sev: Error, ev: []string{"VFS"}, exit: 1},
		{name: "stage1 load address changed by hand",
			// 0x42: stage2_address; 0x8000 says "a stage2", but sector 1 holds the stage1.5.
			post: func(t *testing.T, img string) { patch(t, img, 0x42, 0x00, 0x80) },
			id:   "grub-stage-address-mismatch", sev: Error, ev: []string{"0x8000", "e2fs_stage1_5"}, exit: 1},
		{name: "fat_stage1_5 embedded for an ext2 partition", spec: legacySpec{noGRUB: true, stage: func(t testing.TB, dir string) {
			copyFile(t, grubStageDir+"/fat_stage1_5", filepath.Join(dir, "boot/grub/fat_stage1_5"), 0o644)
		}},
			post: func(t *testing.T, img string) {
				// What setup does, by hand, with the wrong stage1.5.
				out := grubSetup(t, img, "root (hd0,0)", "embed /boot/grub/fat_stage1_5 (hd0)")
				var n int
				if i := strings.Index(out, " sectors are embedded"); i < 0 {
					t.Fatalf("embed:\n%s", out)
				} else {
					f := strings.Fields(out[:i])
					n, _ = strconv.Atoi(f[len(f)-1])
				}
				grubSetup(t, img, "root (hd0,0)", fmt.Sprintf("install /boot/grub/stage1 (hd0) (hd0)1+%d p (hd0,0)/boot/grub/stage2 /boot/grub/menu.lst", n))
			},
			id: "grub-stage15-fs-mismatch", sev: Error, ev: []string{"fat_stage1_5", "e2fs_stage1_5"}, exit: 1},
		{name: "setup with root on the other partition", spec: legacySpec{sfdisk: "start=63, size=12000, type=83, bootable\nstart=12063, type=83"},
			post: func(t *testing.T, img string) {
				// The same filesystem copied into partition 2, then setup told (hd0,1).
				part := filepath.Join(t.TempDir(), "p1")
				run(t, "dd", "if="+img, "of="+part, "bs=512", "skip=63", "count=12000", "status=none")
				dd(t, part, img, 12063)
				grubSetup(t, img, "root (hd0,1)", "setup (hd0)")
			},
			id: "grub-install-partition", sev: Error, ev: []string{"partition 2", "partition 1"}, exit: 1},
		// The GRUB shell cannot install on extents; stage1 alone makes GRUB
		// Legacy the loader, whose reader cannot follow them.
		{name: "ext4 extents", spec: legacySpec{mke2fs: []string{"-O", "extents"}, noGRUB: true},
			post: func(t *testing.T, img string) {
				run(t, "dd", "if="+grubStageDir+"/stage1", "of="+img, "bs=440", "count=1", "conv=notrunc", "status=none")
			},
			id: "grub-fs-features", sev: Error, ev: []string{"extent"}, exit: 1},
		// Debian's GRUB Legacy build (whose stage files these are) reads
		// 256-byte inodes: the corpus boots ext3 with them.
		{name: "256-byte inodes", spec: legacySpec{mke2fs: []string{"-I", "256"}},
			id: "grub-inode-size", sev: Info, ev: []string{"s_inode_size = 256", "splashimage"}, exit: 0},
		// Kernel.
		{name: "kernel without ext2", spec: legacySpec{kernel: fakeKernel(t, false, true)},
			id: "kernel-no-ext2", sev: Warning, ev: []string{"ext2"}, exit: 0},
		{name: "kernel without an ATA driver", spec: legacySpec{kernel: fakeKernel(t, true, false)},
			id: "kernel-no-ata", sev: Warning, ev: []string{"ata_piix"}, exit: 0},
		{name: "kernel is not a bzImage", spec: legacySpec{kernel: bytes.Repeat([]byte("not a kernel\n"), 1000)},
			id: "kernel-invalid", sev: Error, ev: []string{"HdrS"}, exit: 1},
		// Userland ("No init found").
		{name: "no init at all", spec: legacySpec{conf: conf(noInit), stage: rm("bin/sh")},
			id: "init-missing", sev: Error, ev: []string{"/sbin/init", "/bin/sh"}, exit: 1},
		{name: "init= names a missing file", spec: legacySpec{conf: conf("kernel /boot/vmlinuz root=/dev/sda1 rw init=/linuxrc")},
			id: "init-missing", sev: Error, ev: []string{"/linuxrc", "Requested init"}, exit: 1},
		{name: "busybox not executable", spec: legacySpec{stage: func(t testing.TB, dir string) {
			must(t, os.Chmod(filepath.Join(dir, "bin/busybox"), 0o644))
		}},
			id: "init-not-executable", sev: Error, ev: []string{"/bin/sh", "-rw-r--r--"}, exit: 1},
		{name: "init is a text file", spec: legacySpec{conf: conf("kernel /boot/vmlinuz root=/dev/sda1 rw init=/sbin/init"), stage: func(t testing.TB, dir string) {
			must(t, os.MkdirAll(filepath.Join(dir, "sbin"), 0o755))
			must(t, os.WriteFile(filepath.Join(dir, "sbin/init"), []byte("mount -t proc proc /proc\nexec /bin/sh\n"), 0o755))
		}},
			id: "init-bad-format", sev: Error, ev: []string{"ENOEXEC"}, exit: 1},
		{name: "script for a missing interpreter", spec: legacySpec{conf: conf(noInit), stage: func(t testing.TB, dir string) {
			must(t, os.MkdirAll(filepath.Join(dir, "sbin"), 0o755))
			must(t, os.WriteFile(filepath.Join(dir, "sbin/init"), []byte("#!/bin/bash\nexec /bin/sh\n"), 0o755))
		}},
			// The kernel skips /sbin/init and runs /bin/sh: a warning.
			id: "init-interpreter-missing", sev: Warning, ev: []string{"/bin/bash"}, exit: 0},
		{name: "library missing", spec: legacySpec{stage: rm("lib/x86_64-linux-gnu/libresolv.so.2")},
			id: "lib-missing", sev: Error, ev: []string{"libresolv.so.2"}, exit: 1},
		{name: "program interpreter missing", spec: legacySpec{stage: rm("lib64/ld-linux-x86-64.so.2")},
			id: "interp-missing", sev: Error, ev: []string{"/lib64/ld-linux-x86-64.so.2"}, exit: 1},
		{name: "no /dev/console", spec: legacySpec{noDev: true},
			id: "console-missing", sev: Warning, exit: 0},
		{name: "/dev/console wrong numbers", spec: legacySpec{noDev: true, debugfs: []string{"cd /dev", "mknod console c 4 1"}},
			id: "console-wrong", sev: Warning, ev: []string{"4,1"}, exit: 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			img := makeLegacy(t, c.spec)
			if c.post != nil {
				c.post(t, img)
			}
			rep := diagnoseFile(t, img)
			want(t, rep, c.id, c.sev, c.ev...)
			if rep.ExitCode() != c.exit {
				t.Errorf("exit code %d, want %d:\n%s", rep.ExitCode(), c.exit, dump(rep))
			}
		})
	}
}
