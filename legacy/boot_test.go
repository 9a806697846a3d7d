package legacy

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel/kerneltest"
	"github.com/minidisk/minidisk/qemu"
)

// The product's main job: `create` with a real kernel boots in QEMU
// (SeaBIOS → GRUB → kernel → BusyBox) and a shell computes an answer.
// Both partition starts: the 2007 sector 63 and 1 MiB.
func TestCreatedImageBoots(t *testing.T) {
	bb := hostBusyBox(t)
	testutil.RequireTool(t, "qemu-system-x86_64", "qemu-system-x86")
	k := kerneltest.Legacy(t)
	for _, lo := range []disk.LayoutOptions{{}, {Align1MiB: true}} {
		t.Run(fmt.Sprintf("align1MiB=%v", lo.Align1MiB), func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "disk.img")
			res := create(t, img, Options{Payload: Payload{Kernel: k, BusyBox: bb}, Layout: lo})
			if out, err := exec.Command("sfdisk", "--verify", img).CombinedOutput(); err != nil || !strings.Contains(string(out), "No errors") {
				t.Fatalf("sfdisk --verify: %v\n%s", err, out)
			}
			part := extractPartition(t, img, res.DiskLayout())
			if out, err := exec.Command("e2fsck", "-fn", part).CombinedOutput(); err != nil {
				t.Fatalf("e2fsck -fn: %v\n%s", err, out)
			}
			steps, err := qemu.Script([]string{"echo MARK$((6*7))"}, "MARK42")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			start := time.Now()
			out, err := qemu.Machine{Image: img, Snapshot: true}.Run(ctx, steps, nil)
			if err != nil {
				t.Fatalf("boot: %v\n%s", err, qemu.Tail(out, 40))
			}
			// The computed answer, not the echoed command line, proves a shell ran it.
			if !strings.Contains(string(out), "GRUB") || !strings.Contains(string(out), "\nMARK42") {
				t.Fatalf("transcript lacks GRUB or the answer:\n%s", qemu.Tail(out, 40))
			}
			t.Logf("start %d: BusyBox answered %.1f s after QEMU started", res.DiskLayout().Partition.Start, time.Since(start).Seconds())
		})
	}
}
