package doctor

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel/kerneltest"
	"github.com/minidisk/minidisk/legacy"
)

func writeFakeKernel(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "bzImage")
	must(t, os.WriteFile(p, fakeKernel(t, true, true), 0o644))
	return p
}

// TestMinidiskCreateImageIsClean: images made by `minidisk create` (the
// legacy package) in the three layouts get exit 0 and no warnings.
func TestMinidiskCreateImageIsClean(t *testing.T) {
	requireHostTools(t)
	requireGRUB(t)
	k := writeFakeKernel(t)
	for name, lo := range map[string]disk.LayoutOptions{
		"sector 63":      {},
		"1 MiB aligned":  {Align1MiB: true},
		"cylinder align": {CylinderAlign: true, DiskBytes: 16 << 20},
	} {
		t.Run(name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "disk.img")
			if _, err := legacy.Create(img, legacy.Options{Payload: legacy.Payload{Kernel: k, BusyBox: "/bin/busybox"}, Layout: lo}); err != nil {
				t.Fatal(err)
			}
			rep := diagnoseFile(t, img)
			if rep.ExitCode() != 0 || rep.Warnings() != 0 {
				t.Fatalf("exit %d, %d warnings:\n%s", rep.ExitCode(), rep.Warnings(), dump(rep))
			}
			for _, id := range []ID{"fs-ok", "grub-stage15-ok", "grub-ok", "kernel-ok", "init-ok", "console-ok"} {
				want(t, rep, id, OK)
			}
		})
	}
}

// TestGuidePipelineImageIsClean runs the project's reference pipeline
// (scripts/reference-pipeline.sh: sfdisk, mke2fs -d, debugfs, dd, the GRUB
// shell) and expects exit 0.
func TestGuidePipelineImageIsClean(t *testing.T) {
	guidePipeline := testutil.ReferencePipeline(t)
	requireHostTools(t)
	requireGRUB(t)
	kernels := map[string]string{"stand-in kernel": writeFakeKernel(t)}
	if !testing.Short() {
		kernels["real legacy kernel"] = kerneltest.Legacy(t)
	}
	for name, k := range kernels {
		t.Run(name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "guide.img")
			if out, err := exec.Command("bash", guidePipeline, k, img).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", guidePipeline, err, out)
			}
			rep := diagnoseFile(t, img)
			if rep.ExitCode() != 0 || rep.Warnings() != 0 {
				t.Fatalf("exit %d, %d warnings:\n%s", rep.ExitCode(), rep.Warnings(), dump(rep))
			}
			f := want(t, rep, "kernel-ok", OK)
			t.Logf("kernel: %s", f.Evidence)
		})
	}
}
