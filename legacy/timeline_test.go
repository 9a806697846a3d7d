package legacy

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel/kerneltest"
	"github.com/minidisk/minidisk/qemu"
)

// `minidisk boot IMG --timeline` on the legacy image: every stage of the
// BIOS chain appears on the serial console, in boot order, each after a
// non-zero time, and the image is not written.
func TestBootTimeline(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	bb := hostBusyBox(t)
	testutil.RequireTool(t, "qemu-system-x86_64", "qemu-system-x86")
	k := kerneltest.Legacy(t)
	img := filepath.Join(t.TempDir(), "disk.img")
	create(t, img, Options{Payload: Payload{Kernel: k, BusyBox: bb}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tl, err := qemu.Machine{Image: img}.Timeline(ctx, qemu.LegacyTimeline(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range tl.Marks {
		if m.Line == "" {
			t.Errorf("%s: no console line", m.Stage)
		}
		t.Logf("%8.0f ms %+7.0f ms  %-22s %s", m.AtMS, m.DurationMS, m.Stage, m.Line)
	}
	for _, p := range tl.Problems(qemu.LegacyTimeline()) {
		t.Error(p)
	}
}
