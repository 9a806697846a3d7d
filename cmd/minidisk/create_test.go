package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel/kerneltest"
)

// brokenBusyBox copies the host BusyBox with one DT_NEEDED name changed, so
// the loader (and minidisk) cannot find that library.
func brokenBusyBox(t *testing.T, dir string) string {
	bb := testutil.RequireTool(t, "busybox", "busybox")
	b, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("libresolv.so.2\x00"))
	if i < 0 {
		t.Skip("host busybox does not need libresolv.so.2")
	}
	copy(b[i:], "libmissin.so.2")
	p := filepath.Join(dir, "busybox-broken")
	os.WriteFile(p, b, 0o755)
	return p
}

func TestCreateBadInput(t *testing.T) {
	testutil.RequireTool(t, "busybox", "busybox")
	testutil.RequireFile(t, "/usr/lib/grub/x86_64-pc/stage2", "apt-get install grub-legacy")
	in := t.TempDir()
	k := kerneltest.FakeBzImage(t)
	notKernel := filepath.Join(in, "vmlinux.txt")
	os.WriteFile(notKernel, bytes.Repeat([]byte("not a kernel "), 100), 0o644)
	notELF := filepath.Join(in, "busybox.sh")
	os.WriteFile(notELF, []byte("#!/bin/sh\necho hi\n"), 0o755)
	broken := brokenBusyBox(t, in)
	emptyGrub := t.TempDir()

	out := t.TempDir()
	img := filepath.Join(out, "disk.img")
	mustFail(t, "no such file", "create", img, "--kernel", filepath.Join(in, "nope"))
	mustFail(t, "not a Linux bzImage", "create", img, "--kernel", notKernel)
	mustFail(t, "not an ELF", "create", img, "--kernel", k, "--busybox", notELF)
	mustFail(t, "libmissin.so.2", "create", img, "--kernel", k, "--busybox", broken)
	mustFail(t, "stage", "create", img, "--kernel", k, "--grub-dir", emptyGrub)
	mustFail(t, "does not fit", "create", img, "--kernel", k, "--size", "1M")
	mustFail(t, "--add", "create", img, "--kernel", k, "--add", "nocolon")
	if n := dirEntries(t, out); len(n) != 0 {
		t.Fatalf("bad input left files: %v", n)
	}
	if _, stderr, code := run(t, "create", img, "--kernel", k, "-q"); code != 0 {
		t.Fatalf("good create failed: %s", stderr)
	}
	before, _ := os.Stat(img)
	mustFail(t, "--force", "create", img, "--kernel", k)
	after, _ := os.Stat(img)
	if !after.ModTime().Equal(before.ModTime()) {
		t.Fatal("refused create touched the existing image")
	}
}

// SIGINT while the image is being written: the temporary file is removed,
// no image appears, the exit status is 130.
func TestCreateInterrupted(t *testing.T) {
	testutil.RequireTool(t, "busybox", "busybox")
	testutil.RequireFile(t, "/usr/lib/grub/x86_64-pc/stage2", "apt-get install grub-legacy")
	k := kerneltest.FakeBzImage(t)
	in := t.TempDir()
	big := filepath.Join(in, "big")
	f, _ := os.Create(big)
	chunk := bytes.Repeat([]byte("minidisk"), 1<<17) // 1 MiB of non-zero bytes
	for i := 0; i < 400; i++ {
		f.Write(chunk)
	}
	f.Close()
	out := t.TempDir()
	img := filepath.Join(out, "disk.img")
	cmd := exec.Command(bin, "create", img, "--kernel", k, "--add", big+":/big", "-q")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if n := dirEntries(t, out); len(n) > 0 && strings.Contains(n[0], ".tmp-") {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no temporary file appeared")
		}
		time.Sleep(2 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 130 {
		t.Fatalf("exit: %v (stderr %q); want 130 (finished before the signal?)", err, stderr.String())
	}
	if n := dirEntries(t, out); len(n) != 0 {
		t.Fatalf("interrupted create left %v", n)
	}
	if !strings.Contains(stderr.String(), "interrupted") {
		t.Fatalf("stderr %q", stderr.String())
	}
}
