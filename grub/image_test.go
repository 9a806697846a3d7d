package grub

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/rootfs/ext2"
)

// With minidisk's own ext2 reader as FS and block map, InstallImage gives
// the GRUB shell's bytes on both paths (embedded, and blocklist when the
// partition starts at sector 16).
func TestInstallImageWithExt2Reader(t *testing.T) {
	st := hostStages(t)
	for _, l := range []layout{
		{name: "embedded", sizeMiB: 12, sfdisk: "start=2048, type=83, bootable\n", fillerKiB: 40},
		{name: "blocklist", sizeMiB: 8, sfdisk: "start=16, type=83, bootable\n", fillerKiB: 300},
	} {
		t.Run(l.name, func(t *testing.T) {
			b := buildImage(t, st, l)
			ours := filepath.Join(t.TempDir(), "ours.img")
			theirs := filepath.Join(t.TempDir(), "grub.img")
			copyFile(t, b.path, ours)
			copyFile(t, b.path, theirs)
			grubShell(t, theirs, "root (hd0,0)", "setup (hd0)")
			rep, err := InstallImage(ours, st, InstallOptions{})
			if err != nil {
				t.Fatal(err)
			}
			t.Log(rep)
			if d := diffSectors(t, ours, theirs); len(d) != 0 {
				t.Fatalf("differs from GRUB in sectors %v:\n%s", d, byteDiffs(t, ours, theirs, d))
			}
		})
	}
	// Installing again over a blocklist install (its stage2 now patched
	// inside the filesystem) gives the same bytes.
	b := buildImage(t, st, layout{sizeMiB: 8, sfdisk: "start=16, type=83, bootable\n", fillerKiB: 300})
	once := filepath.Join(t.TempDir(), "grub.img")
	copyFile(t, b.path, once)
	grubShell(t, once, "root (hd0,0)", "setup (hd0)")
	for i := 0; i < 2; i++ {
		if _, err := InstallImage(b.path, st, InstallOptions{}); err != nil {
			t.Fatalf("install %d: %v", i+1, err)
		}
	}
	if d := diffSectors(t, b.path, once); len(d) != 0 {
		t.Fatalf("installed twice differs from GRUB's once in sectors %v", d)
	}
	// The reader also sees missing stage files.
	b = buildImage(t, st, layout{sizeMiB: 8, sfdisk: "start=63, type=83\n", noStageFS: true})
	if _, err := InstallImage(b.path, st, InstallOptions{}); err == nil || !strings.Contains(err.Error(), "not in the filesystem") {
		t.Fatalf("missing stage files: %v", err)
	}
}

// An image with our install boots in QEMU (SeaBIOS, TCG) through stage1
// and the stage1.5 to GRUB's menu on the serial console.
func TestNativeInstallBootsToMenu(t *testing.T) {
	st := hostStages(t)
	qemu := testutil.RequireTool(t, "qemu-system-x86_64", "qemu-system-x86")
	for _, l := range []layout{
		{name: "embedded", sizeMiB: 12, sfdisk: "start=63, type=83, bootable\n"},
		{name: "blocklist", sizeMiB: 8, sfdisk: "start=16, type=83, bootable\n", fillerKiB: 300},
	} {
		t.Run(l.name, func(t *testing.T) {
			b := buildImage(t, st, l)
			if _, err := InstallImage(b.path, st, InstallOptions{}); err != nil {
				t.Fatal(err)
			}
			// staging() wrote grub.conf with the serial lines and this
			// title; stage2 only finds it through the stage1.5 or the
			// blocklist our install wrote.
			if out, err := bootUntil(t, qemu, b.path, 60*time.Second, "GNU GRUB  version 0.97", testMenuTitle); err != nil {
				t.Fatalf("%v:\n%s", err, out)
			}
		})
	}
}

// Control: the same image without GRUB in the MBR never shows the menu,
// so the test above can fail.
func TestUninstalledImageDoesNotBootToMenu(t *testing.T) {
	st := hostStages(t)
	qemu := testutil.RequireTool(t, "qemu-system-x86_64", "qemu-system-x86")
	b := buildImage(t, st, layout{sizeMiB: 8, sfdisk: "start=63, type=83, bootable\n"})
	if out, err := bootUntil(t, qemu, b.path, 5*time.Second, "GNU GRUB"); err == nil {
		t.Fatalf("an image without boot code reached GRUB:\n%s", out)
	}
}

// bootUntil boots img and returns the serial output once every marker has
// appeared, or an error when QEMU exits or the time runs out; it kills QEMU
// on every path.
func bootUntil(t *testing.T, qemu, img string, timeout time.Duration, markers ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out := &testutil.SyncBuffer{}
	cmd := exec.CommandContext(ctx, qemu, "-m", "64", "-nodefaults", "-display", "none", "-serial", "stdio",
		"-drive", "file="+img+",format=raw,if=ide,snapshot=on", "-no-reboot")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		cancel()
		<-done
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		s := out.String()
		all := true
		for _, m := range markers {
			all = all && strings.Contains(s, m)
		}
		if all {
			return s, nil
		}
		select {
		case err := <-done:
			done <- err
			return s, fmt.Errorf("QEMU exited (%v) before %q", err, markers)
		case <-ctx.Done():
			return s, fmt.Errorf("no %q within %v", markers, timeout)
		case <-tick.C:
		}
	}
}

// openExt2ForLog returns stage2's block list read by minidisk's ext2 reader,
// for test logs only.
func openExt2ForLog(img string, part int) ([]uint32, error) {
	f, err := os.Open(img)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	off, size, err := PartitionExtent(f, part)
	if err != nil {
		return nil, err
	}
	r, err := ext2.Open(f, off, size)
	if err != nil {
		return nil, err
	}
	return r.FileBlocks(DefaultStage2Path)
}
