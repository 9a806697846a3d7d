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
	tl, err := qemu.Machine{Image: img}.Timeline(ctx, qemu.LegacyTimeline, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(tl.Missed) > 0 {
		t.Errorf("stages not seen: %v", tl.Missed)
	}
	if len(tl.Marks) != len(qemu.LegacyTimeline) {
		t.Fatalf("%d stages of %d: %+v", len(tl.Marks), len(qemu.LegacyTimeline), tl.Marks)
	}
	prev := 0.0
	for i, m := range tl.Marks {
		if m.Stage != qemu.LegacyTimeline[i].Name {
			t.Errorf("stage %d is %q, want %q", i, m.Stage, qemu.LegacyTimeline[i].Name)
		}
		if m.DurationMS <= 0 || m.AtMS <= prev {
			t.Errorf("%s: at %.1f ms, took %.1f ms (previous at %.1f)", m.Stage, m.AtMS, m.DurationMS, prev)
		}
		if m.Line == "" {
			t.Errorf("%s: no console line", m.Stage)
		}
		prev = m.AtMS
		t.Logf("%8.0f ms %+7.0f ms  %-22s %s", m.AtMS, m.DurationMS, m.Stage, m.Line)
	}
}
