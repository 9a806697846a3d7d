package qemu

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel/kerneltest"
)

func blankImage(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "blank.img")
	if err := os.WriteFile(p, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// qemuRunning reports whether any process still has path on its command
// line: Run must leave no QEMU behind, on success or failure.
func qemuRunning(path string) bool {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), path) {
			return true
		}
	}
	return false
}

func TestScript(t *testing.T) {
	steps, err := Script([]string{"echo a", "echo b"}, "b$")
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 3 || steps[0].Send != "echo a" || steps[1].Send != "echo b" ||
		steps[0].Expect.String() != PromptPattern || steps[2].Expect.String() != "b$" || steps[2].Send != "" {
		t.Fatalf("steps = %+v", steps)
	}
	if _, err := Script(nil, "("); err == nil || !strings.Contains(err.Error(), "--expect") {
		t.Fatalf("bad regexp: err = %v", err)
	}
}

func TestParseMemory(t *testing.T) {
	for in, want := range map[string]int{"256M": 256, "256": 256, "1G": 1024, "512m": 512} {
		if got, err := ParseMemory(in); err != nil || got != want {
			t.Errorf("ParseMemory(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1M", "12X", "1.5G", "256MB"} {
		if _, err := ParseMemory(in); err == nil {
			t.Errorf("ParseMemory(%q) accepted", in)
		}
	}
}

// TestRunBlankDiskSeaBIOS: SeaBIOS finds nothing to boot on a zeroed disk
// and says so on the serial console; a text that never comes times out
// with the console tail in the error, and QEMU is gone either way.
func TestRunBlankDiskSeaBIOS(t *testing.T) {
	testutil.RequireTool(t, "qemu-system-x86_64", "qemu-system-x86")
	img := blankImage(t)
	m := Machine{Image: img, MemoryMiB: 64}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := m.Run(ctx, []Step{{Expect: regexp.MustCompile(`Boot failed: not a bootable disk`)}}, nil)
	if err != nil {
		t.Fatalf("%v", err)
	}
	if !strings.Contains(string(out), "SeaBIOS") {
		t.Errorf("transcript lacks the SeaBIOS banner:\n%s", out)
	}
	if qemuRunning(img) {
		t.Error("QEMU still running after a successful Run")
	}

	ctx2, cancel2 := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel2()
	_, err = m.Run(ctx2, []Step{{Expect: regexp.MustCompile(`never printed`)}}, nil)
	if err == nil || !strings.Contains(err.Error(), "did not appear within") || !strings.Contains(err.Error(), "SeaBIOS") {
		t.Fatalf("err = %v, want a timeout naming the console tail", err)
	}
	if qemuRunning(img) {
		t.Error("QEMU still running after a timed-out Run")
	}
}

// TestRunEFIFirmwareStarts checks the OVMF command line: the firmware
// starts on q35, finds no bootable EFI file on a blank disk and says so.
func TestRunEFIFirmwareStarts(t *testing.T) {
	testutil.RequireTool(t, "qemu-system-x86_64", "qemu-system-x86")
	if _, _, err := FindOVMF(); err != nil {
		testutil.Missing(t, err.Error())
	}
	m := Machine{Image: blankImage(t), EFI: true}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now()
	// OVMF's boot manager logs each failed boot option on the serial port.
	_, err := m.Run(ctx, []Step{{Expect: regexp.MustCompile(`BdsDxe: failed to load Boot`)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("OVMF reached its boot manager in %s", time.Since(start).Round(100*time.Millisecond))
}

// TestKernelRunsWithoutRoot boots the cached legacy kernel directly
// (-kernel) with no root device: it must get as far as the VFS panic,
// which proves the kernel starts and prints on ttyS0.
func TestKernelRunsWithoutRoot(t *testing.T) {
	testutil.RequireTool(t, "qemu-system-x86_64", "qemu-system-x86")
	bz := kerneltest.Legacy(t)
	m := Machine{Image: blankImage(t), ExtraArgs: []string{"-kernel", bz, "-append", "console=ttyS0 root=/dev/sdz9 panic=-1"}}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now()
	out, err := m.Run(ctx, []Step{{Expect: regexp.MustCompile(`VFS: Unable to mount root fs`)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "Linux version") {
		t.Errorf("no kernel banner in the transcript")
	}
	t.Logf("kernel reached the root-mount panic in %s", time.Since(start).Round(100*time.Millisecond))
}

// TestGuideImageBootsToShell is the qemu + kernel integration proof: the
// reference pipeline (host tools) builds a GRUB Legacy + ext2 image around
// the legacy kernel; Run waits for the BusyBox prompt, types a command whose
// output only a running shell can produce, and waits for it.
func TestGuideImageBootsToShell(t *testing.T) {
	testutil.RequireTool(t, "qemu-system-x86_64", "qemu-system-x86")
	script := testutil.ReferencePipeline(t)
	bz := kerneltest.Legacy(t)
	img := filepath.Join(t.TempDir(), "guide.img")
	if out, err := exec.Command("bash", script, bz, img).CombinedOutput(); err != nil {
		t.Fatalf("reference-pipeline.sh: %v\n%s", err, out)
	}
	m := Machine{Image: img}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	start := time.Now()
	steps, err := Script([]string{"echo MARK$((6*7))"}, "MARK42")
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.Run(ctx, steps, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("prompt and MARK42 after %s", time.Since(start).Round(100*time.Millisecond))
	if !strings.Contains(string(out), "GRUB") {
		t.Errorf("no GRUB in the transcript: the image did not boot through GRUB Legacy")
	}
	if qemuRunning(img) {
		t.Error("QEMU still running after Run")
	}
}

// TestRunToExit: an abort pattern stops QEMU as soon as it appears; a
// deadline stops it too; a machine that powers off by itself (here: the
// kernel alone, which panics and, with -no-reboot and panic=-1, exits)
// returns without an error. QEMU is gone on every path.
func TestRunToExit(t *testing.T) {
	testutil.RequireTool(t, "qemu-system-x86_64", "qemu-system-x86")
	img := blankImage(t)
	m := Machine{Image: img, MemoryMiB: 64, Snapshot: true}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, aborted, err := m.RunToExit(ctx, regexp.MustCompile(`not a bootable disk`), nil)
	if err != nil || !aborted || !strings.Contains(string(out), "SeaBIOS") {
		t.Fatalf("abort: aborted=%v err=%v\n%s", aborted, err, out)
	}
	if qemuRunning(img) {
		t.Error("QEMU still running after an abort")
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	if _, aborted, err := m.RunToExit(ctx2, nil, nil); aborted || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline: aborted=%v err=%v", aborted, err)
	}
	if qemuRunning(img) {
		t.Error("QEMU still running after the deadline")
	}
	// -no-reboot turns the guest's reset into QEMU's exit: a kernel that
	// panics with panic=-1 resets at once.
	k := kerneltest.Legacy(t)
	m.ExtraArgs = []string{"-kernel", k, "-append", "console=ttyS0 panic=-1"}
	ctx3, cancel3 := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel3()
	out, aborted, err = m.RunToExit(ctx3, nil, nil)
	if err != nil || aborted || !strings.Contains(string(out), "Kernel panic") {
		t.Fatalf("exit by itself: aborted=%v err=%v\n%s", aborted, err, Tail(out, 10))
	}
}
