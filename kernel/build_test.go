package kernel_test

import (
	"os"
	"testing"

	"github.com/minidisk/minidisk/kernel/kerneltest"
)

func TestLegacyKernelBuilds(t *testing.T) {
	p := kerneltest.Legacy(t)
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d bytes", p, fi.Size())
}
