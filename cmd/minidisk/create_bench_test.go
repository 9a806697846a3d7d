package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BenchmarkCreate12M runs `minidisk create` of the 12 MiB demo image in
// this process: the work of create without the process start-up, which
// scripts/bench.sh measures with it. KERNEL names the kernel, e.g.
// KERNEL=$(minidisk kernel --profile legacy) (a build takes minutes, so
// the benchmark does not start one).
func BenchmarkCreate12M(b *testing.B) {
	kernel := os.Getenv("KERNEL")
	if kernel == "" {
		b.Skip("KERNEL is not set: KERNEL=$(minidisk kernel --profile legacy) go test -bench Create12M")
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		b.Skip("no busybox")
	}
	out := filepath.Join(b.TempDir(), "demo.img")
	for b.Loop() {
		if code := runCLI([]string{"minidisk", "create", out, "--kernel", kernel, "--busybox", busybox, "--size", "12M", "-q", "--force"}, io.Discard, os.Stderr); code != 0 {
			b.Fatalf("create exited %d", code)
		}
	}
}
