package termprogress

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/minidisk/minidisk/internal/testutil"
)

func TestBytesEndsAtTotal(t *testing.T) {
	var out bytes.Buffer
	b := NewBytes(&out, 3<<20, "write + verify")
	for range 3 {
		b.Write(make([]byte, 1<<20))
	}
	s := out.String()
	if !strings.HasSuffix(s, "write + verify  3 MiB / 3 MiB  100%\x1b[K\n") {
		t.Fatalf("final state %q", s)
	}
	b.Write([]byte{1})
	if out.String() != s {
		t.Fatal("drew after reaching the total")
	}
}

func TestSpinnerDrawsAndClears(t *testing.T) {
	var mu testutil.SyncBuffer
	s := NewSpinner(&mu, "kernel: starting")
	s.Describe("kernel: vmlinux: 3 objects")
	time.Sleep(450 * time.Millisecond)
	s.Close()
	got := mu.String()
	if !strings.Contains(got, "kernel: vmlinux: 3 objects (0s)") || !strings.HasSuffix(got, "\r\x1b[K") {
		t.Fatalf("spinner output %q", got)
	}
}
