package grub

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minidisk/minidisk/internal/testutil"
)

// Render reproduces the reference pipeline's grub.conf (the 2007 recipe
// with serial lines), read from scripts/reference-pipeline.sh itself.
func TestConfigRenderMatchesReferencePipeline(t *testing.T) {
	b, err := os.ReadFile("../scripts/reference-pipeline.sh")
	if err != nil {
		t.Fatalf("the reference pipeline is part of the repository: %v", err)
	}
	m := regexp.MustCompile(`(?s)<<'CONF'\n(.*?)\nCONF\n`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no grub.conf heredoc in the reference script")
	}
	want := string(m[1]) + "\n"
	got := string(Config{Timeout: 1, Title: "minidisk", Kernel: "vmlinuz", Append: "root=/dev/sda1 rw console=ttyS0 init=/bin/sh", Serial: true}.Render())
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	noSerial := string(Config{Kernel: "vmlinuz", Initrd: "initrd.gz"}.Render())
	if strings.Contains(noSerial, "serial") || strings.Contains(noSerial, "terminal") || !strings.Contains(noSerial, "initrd /boot/initrd.gz\n") || !strings.Contains(noSerial, "kernel /boot/vmlinuz "+DefaultAppend+"\n") {
		t.Fatalf("no-serial config:\n%s", noSerial)
	}
	if err := (Config{Kernel: "a\nb"}).Validate(); err == nil {
		t.Fatal("line break in kernel accepted")
	}
}

// The search takes the first directory in order that has the stage files,
// skipping those without, and says where it looked when none has them.
func TestFindStagesSearchesUsualPlaces(t *testing.T) {
	host := hostStages(t)
	if d := DefaultDirs(); len(d) < 3 || d[0] != "/usr/lib/grub/x86_64-pc" || d[1] != "/usr/lib/grub/i386-pc" || d[2] != "/boot/grub" {
		t.Fatalf("DefaultDirs = %v, want Debian's x86_64-pc, then i386-pc, then /boot/grub first", d)
	}
	empty, first, second := t.TempDir(), t.TempDir(), t.TempDir()
	for _, d := range []string{first, second} {
		for name, b := range map[string][]byte{Stage1Name: host.Stage1, Stage2Name: host.Stage2, E2fsStage15Name: host.E2fsStage15} {
			if err := os.WriteFile(filepath.Join(d, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, order := range [][]string{{empty, first, second}, {empty, second, first}} {
		st, err := findStagesIn(order)
		if err != nil || st.Dir != order[1] {
			t.Fatalf("search %v found %v, %v; want the second directory", order, st, err)
		}
	}
	if _, err := findStagesIn([]string{empty}); err == nil || !strings.Contains(err.Error(), empty) {
		t.Fatalf("nothing found: %v, want an error naming %s", err, empty)
	}
	st, err := FindStages("")
	if err != nil {
		t.Fatal(err)
	}
	if st.Stage15Sectors() != (len(st.E2fsStage15)+511)/512 {
		t.Fatal("stage1.5 sector count")
	}
}

func TestInstallViaFloppyTimesOut(t *testing.T) {
	st := hostStages(t)
	testutil.RequireTool(t, "qemu-system-x86_64", "qemu-system-x86")
	b := buildImage(t, st, layout{sizeMiB: 8, sfdisk: "start=63, type=83\n"})
	start := time.Now()
	_, err := InstallViaFloppy(context.Background(), b.path, st, FloppyInstallOptions{Timeout: 50 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "did not finish within") {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 20*time.Second {
		t.Fatal("QEMU was not killed at the timeout")
	}
}

func BenchmarkInstall(b *testing.B) {
	st := hostStages(b)
	l := layout{sizeMiB: 12, sfdisk: "start=2048, type=83, bootable\n"}
	img := buildImage(b, st, l)
	f, err := os.OpenFile(img.path, os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	fsys := os.DirFS(img.stage)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Install(f, st, InstallOptions{FS: fsys}); err != nil {
			b.Fatal(err)
		}
	}
}
