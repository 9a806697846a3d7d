package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minidisk/minidisk/internal/testutil"
)

// grubTestImage builds an 8 MiB image with host tools: one ext2 partition
// at start (1 KiB blocks, 128-byte inodes) holding /boot/grub's stage files
// and a menu.lst -> grub.conf.
func grubTestImage(t *testing.T, start int) string {
	t.Helper()
	testutil.RequireTool(t, "sfdisk", "fdisk")
	testutil.RequireTool(t, "mke2fs", "e2fsprogs")
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
	if err := os.WriteFile(filepath.Join(g, "grub.conf"), []byte("timeout 5\ntitle old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("grub.conf", filepath.Join(g, "menu.lst")); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "disk.img")
	testutil.Run(t, "truncate", "-s", "8M", img)
	cmd := exec.Command("sfdisk", "-q", img)
	cmd.Stdin = strings.NewReader("start=" + strconv.Itoa(start) + ", type=83, bootable\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	blocks := (8<<20 - start*512) / 1024
	testutil.Run(t, "mke2fs", "-q", "-F", "-t", "ext2", "-b", "1024", "-I", "128",
		"-E", "offset="+strconv.Itoa(start*512), "-d", st, img, strconv.Itoa(blocks))
	return img
}

// `minidisk grub install` gives the GRUB shell's bytes; a second run and a
// bad partition number fail cleanly or change nothing.
func TestGrubInstallCLIMatchesGrubShell(t *testing.T) {
	img := grubTestImage(t, 63)
	qemuUser := testutil.RequireTool(t, "qemu-i386", "qemu-user")
	oracle := img + ".grub"
	testutil.Run(t, "cp", img, oracle)
	dm := filepath.Join(t.TempDir(), "device.map")
	if err := os.WriteFile(dm, []byte("(hd0) "+oracle+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sh := exec.Command(qemuUser, "/usr/sbin/grub", "--batch", "--no-floppy", "--device-map="+dm)
	sh.Stdin = strings.NewReader("root (hd0,0)\nsetup (hd0)\nquit\n")
	if out, err := sh.CombinedOutput(); err != nil || !strings.Contains(string(out), "Done.") {
		t.Fatalf("GRUB shell: %v\n%s", err, out)
	}
	stdout, stderr, code := run(t, "grub", "install", img)
	if code != 0 || !strings.Contains(stdout, "stage1.5 embedded") {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	a, _ := os.ReadFile(img)
	b, _ := os.ReadFile(oracle)
	if !bytes.Equal(a, b) {
		t.Fatal("minidisk grub install differs from the GRUB shell's setup (hd0)")
	}
	mustFail(t, "--partition 0", "grub", "install", img, "--partition", "0")
	mustFail(t, "partition 2 is empty", "grub", "install", img, "--partition", "2")
	if c, _ := os.ReadFile(img); !bytes.Equal(c, a) {
		t.Fatal("a refused install changed the image")
	}
}

// `grub config IMG` on a blocklist install (partition at sector 16) moves
// stage2 by rewriting the filesystem; the install is refreshed and the
// image boots to the new menu.
func TestGrubConfigCLIRewritesAndStillBoots(t *testing.T) {
	img := grubTestImage(t, 16)
	qemu := testutil.RequireTool(t, "qemu-system-x86_64", "qemu-system-x86")
	if out, stderr, code := run(t, "grub", "install", img); code != 0 || !strings.Contains(out, "blocklist") {
		t.Fatalf("install: exit %d\n%s%s", code, out, stderr)
	}
	out, stderr, code := run(t, "grub", "config", img, "--kernel", "bzImage", "--title", "fresh-menu-entry", "--timeout", "9")
	if code != 0 {
		t.Fatalf("config: exit %d\n%s%s", code, out, stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, "-m", "64", "-nodefaults", "-display", "none", "-serial", "stdio",
		"-drive", "file="+img+",format=raw,if=ide,snapshot=on", "-no-reboot")
	serial := &testutil.SyncBuffer{}
	cmd.Stdout = serial
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); cmd.Wait() }()
	for !strings.Contains(serial.String(), "fresh-menu-entry") {
		select {
		case <-ctx.Done():
			t.Fatalf("no menu with the new title:\n%s", serial.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
