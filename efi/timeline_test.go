package efi

import (
	"path/filepath"
	"testing"

	"github.com/minidisk/minidisk/initramfs"
	"github.com/minidisk/minidisk/qemu"
)

// `minidisk boot IMG --efi --timeline` on a UKI image (Debian's cloud
// kernel, systemd's stub, the automatic initramfs): every stage of the
// UEFI chain appears on the serial console, in order, each after a
// non-zero time.
func TestBootTimelineEFI(t *testing.T) {
	ctx, vmlinuz, bb := debianUKIInputs(t)
	img := filepath.Join(t.TempDir(), "uki.img")
	if _, err := Build(ctx, Options{Out: img, Epoch: testEpoch,
		UKI: &UKIOptions{Kernel: vmlinuz, Initrd: InitrdAuto, Initramfs: initramfs.Options{BusyBox: bb}}}); err != nil {
		t.Fatal(err)
	}
	tl, err := qemu.Machine{Image: img, EFI: true, MemoryMiB: 512}.Timeline(ctx, qemu.EFITimeline, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(tl.Missed) > 0 {
		t.Errorf("stages not seen: %v", tl.Missed)
	}
	if len(tl.Marks) != len(qemu.EFITimeline) {
		t.Fatalf("%d stages of %d: %+v", len(tl.Marks), len(qemu.EFITimeline), tl.Marks)
	}
	prev := 0.0
	for i, m := range tl.Marks {
		if m.Stage != qemu.EFITimeline[i].Name {
			t.Errorf("stage %d is %q, want %q", i, m.Stage, qemu.EFITimeline[i].Name)
		}
		if m.DurationMS <= 0 || m.AtMS <= prev {
			t.Errorf("%s: at %.1f ms, took %.1f ms (previous at %.1f)", m.Stage, m.AtMS, m.DurationMS, prev)
		}
		prev = m.AtMS
		t.Logf("%8.0f ms %+7.0f ms  %-22s %s", m.AtMS, m.DurationMS, m.Stage, m.Line)
	}
}
