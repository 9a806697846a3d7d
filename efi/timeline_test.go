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
	tl, err := qemu.Machine{Image: img, EFI: true, MemoryMiB: 512}.Timeline(ctx, qemu.EFITimeline(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range tl.Marks {
		t.Logf("%8.0f ms %+7.0f ms  %-22s %s", m.AtMS, m.DurationMS, m.Stage, m.Line)
	}
	for _, p := range tl.Problems(qemu.EFITimeline()) {
		t.Error(p)
	}
}
