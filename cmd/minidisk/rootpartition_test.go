package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel/kerneltest"
)

// twoPartitionImage is the image every command used to disagree on: an
// empty type-83 partition 1 and the ext2 (with GRUB's stage files) in
// partition 2, made with sfdisk and mke2fs -E offset=.
func twoPartitionImage(t *testing.T) string {
	t.Helper()
	sfdisk := testutil.RequireTool(t, "sfdisk", "fdisk")
	mke2fs := testutil.RequireTool(t, "mke2fs", "e2fsprogs")
	stage1 := testutil.RequireFile(t, "/usr/lib/grub/x86_64-pc/stage1", "apt-get install grub-legacy")
	dir := t.TempDir()
	st := filepath.Join(dir, "staging")
	g := filepath.Join(st, "boot", "grub")
	if err := os.MkdirAll(g, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"stage1", "stage2", "e2fs_stage1_5"} {
		testutil.Run(t, "cp", filepath.Join(filepath.Dir(stage1), n), g)
	}
	if err := os.WriteFile(filepath.Join(st, "marker"), []byte("partition two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "two.img")
	testutil.Run(t, "truncate", "-s", "12M", img)
	testutil.RunStdin(t, "start=2048, size=4096, type=83\nstart=6144, type=83\n", sfdisk, "-q", "--no-reread", "--no-tell-kernel", img)
	// Partition 2: sectors 6144..24575, 9216 KiB.
	testutil.Run(t, mke2fs, "-q", "-F", "-t", "ext2", "-b", "1024", "-I", "128",
		"-E", "root_owner=0:0,offset=3145728", "-d", st, img, "9216")
	return img
}

// ls, cat, mkfs, grub install, rootfs add and doctor all pick partition 2
// of the two-partition image (disk.FindRoot's rule).
func TestEveryCommandPicksTheSameRootPartition(t *testing.T) {
	img := twoPartitionImage(t)
	const p2 = "3145728" // partition 2's byte offset

	if out, errs, code := run(t, "ls", img+":/"); code != 0 || !strings.Contains(out, "marker") {
		t.Fatalf("ls: exit %d\n%s%s", code, out, errs)
	}
	if out, errs, code := run(t, "cat", img+":/marker"); code != 0 || out != "partition two\n" {
		t.Fatalf("cat: exit %d\n%q%s", code, out, errs)
	}
	var rep struct {
		FS *struct {
			Partition   int   `json:"partition"`
			OffsetBytes int64 `json:"offset_bytes"`
		} `json:"filesystem"`
	}
	out, errs, _ := run(t, "doctor", "--json", img)
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.FS == nil || rep.FS.Partition != 2 {
		t.Fatalf("doctor: %v %+v\n%s%s", err, rep.FS, out, errs)
	}
	if out, errs, code := run(t, "grub", "install", img); code != 0 || !strings.Contains(out, "(hd0,1)") {
		t.Fatalf("grub install: exit %d\n%s%s", code, out, errs)
	}
	if _, err := exec.LookPath("busybox"); err == nil {
		bb, _ := exec.LookPath("busybox")
		// The menu follows the partition the files go to: GRUB's
		// (hd0,1) and the kernel's /dev/sda2, so doctor's boot check
		// (run before the rename) passes.
		out, errs, code := run(t, "rootfs", "add", img, "--kernel", kerneltest.FakeBzImage(t), "--busybox", bb)
		if code != 0 {
			t.Fatalf("rootfs add: exit %d\n%s%s", code, out, errs)
		}
		if out, errs, code := run(t, "cat", img+":/marker"); code != 0 || out != "partition two\n" {
			t.Fatalf("cat after rootfs add: exit %d\n%q%s", code, out, errs)
		}
		if out, errs, code := run(t, "ls", img+":/bin"); code != 0 || !strings.Contains(out, "busybox") {
			t.Fatalf("ls /bin after rootfs add: exit %d\n%s%s", code, out, errs)
		}
		conf, errs, code := run(t, "cat", img+":/boot/grub/grub.conf")
		if code != 0 || !strings.Contains(conf, "root (hd0,1)\n") || !strings.Contains(conf, "root=/dev/sda2 ") {
			t.Fatalf("grub.conf after rootfs add must boot partition 2: exit %d\n%s%s", code, conf, errs)
		}
	} else {
		testutil.Missing(t, "busybox not found (apt-get install busybox)")
	}
	mustFail(t, "partition 2 already holds an ext2", "mkfs", img)
	if out, errs, code := run(t, "mkfs", img, "--force"); code != 0 || !strings.Contains(out, "ext2 at byte "+p2) {
		t.Fatalf("mkfs: exit %d\n%s%s", code, out, errs)
	}
	// Partition 1 is still empty: nothing wrote its superblock.
	b, _ := os.ReadFile(img)
	if b[2048*512+1080] != 0 || b[2048*512+1081] != 0 {
		t.Fatal("a command wrote into partition 1")
	}
}
