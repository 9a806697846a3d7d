package grub

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minidisk/minidisk/internal/testutil"
)

// The classroom floppy is exactly the GRUB manual's recipe:
// dd stage1 to sector 0, stage2 from sector 1, on a 1440 KiB floppy.
func TestWriteFloppyMatchesDDRecipe(t *testing.T) {
	st := hostStages(t)
	dir := t.TempDir()
	want := filepath.Join(dir, "dd.img")
	testutil.Run(t, "dd", "if=/dev/zero", "of="+want, "bs=1024", "count=1440", "status=none")
	testutil.Run(t, "dd", "if="+filepath.Join(hostGrubDir, Stage1Name), "of="+want, "bs=512", "count=1", "conv=notrunc", "status=none")
	testutil.Run(t, "dd", "if="+filepath.Join(hostGrubDir, Stage2Name), "of="+want, "bs=512", "seek=1", "conv=notrunc", "status=none")
	got := filepath.Join(dir, "ours.img")
	f, err := os.Create(got)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFloppy(f, st, nil); err != nil {
		t.Fatal(err)
	}
	f.Close()
	a, _ := os.ReadFile(got)
	b, _ := os.ReadFile(want)
	if !bytes.Equal(a, b) {
		t.Fatal("classroom floppy differs from the dd recipe")
	}

	// The setup floppy differs only in stage2's config_file and the config.
	f, _ = os.Create(got)
	cfg := SetupConfig(0)
	if err := WriteFloppy(f, st, cfg); err != nil {
		t.Fatal(err)
	}
	f.Close()
	a, _ = os.ReadFile(got)
	in, err := ParseStage15(a[sectorSize : 3*sectorSize])
	if err != nil || in.ConfigPath != "(fd0)300+1" {
		t.Fatalf("setup floppy's stage2 config_file = %+v, %v", in, err)
	}
	if !bytes.HasPrefix(a[300*sectorSize:], cfg) || a[300*sectorSize+len(cfg)] != 0 {
		t.Fatal("config text not at sector 300")
	}
}

// GRUB installing itself from the setup floppy in QEMU gives the same whole
// image as the GRUB shell, and our native install.
func TestInstallViaFloppyMatchesGrubShell(t *testing.T) {
	st := hostStages(t)
	testutil.RequireTool(t, "qemu-system-x86_64", "qemu-system-x86")
	for _, l := range []layout{
		{name: "8MiB-start63", sizeMiB: 8, sfdisk: "start=63, type=83, bootable\n"},
		{name: "12MiB-start2048-part2", sizeMiB: 12, sfdisk: "start=2048, size=2048, type=83\nstart=4096, type=83, bootable\n", part: 1, fillerKiB: 100},
	} {
		t.Run(l.name, func(t *testing.T) {
			b := buildImage(t, st, l)
			viaFloppy := filepath.Join(t.TempDir(), "floppy.img")
			theirs := filepath.Join(t.TempDir(), "grub.img")
			copyFile(t, b.path, viaFloppy)
			copyFile(t, b.path, theirs)
			grubShell(t, theirs, "root (hd0,"+string(rune('0'+l.part))+")", "setup (hd0)")
			out, err := InstallViaFloppy(context.Background(), viaFloppy, st, FloppyInstallOptions{PartitionIndex: l.part, Timeout: 60 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "sectors are embedded") {
				t.Fatalf("transcript lacks the embed step:\n%s", out)
			}
			if d := diffSectors(t, viaFloppy, theirs); len(d) != 0 {
				t.Fatalf("floppy install differs from the GRUB shell in sectors %v:\n%s", d, byteDiffs(t, viaFloppy, theirs, d))
			}
		})
	}
}

// A GRUB error inside QEMU is reported with GRUB's output; the image is
// then as GRUB left it (here: unchanged, the partition has no stage files).
func TestInstallViaFloppyReportsGrubError(t *testing.T) {
	st := hostStages(t)
	testutil.RequireTool(t, "qemu-system-x86_64", "qemu-system-x86")
	b := buildImage(t, st, layout{sizeMiB: 8, sfdisk: "start=63, type=83\n", noStageFS: true})
	before, _ := os.ReadFile(b.path)
	_, err := InstallViaFloppy(context.Background(), b.path, st, FloppyInstallOptions{Timeout: 60 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "Error 15") {
		t.Fatalf("err = %v, want GRUB's Error 15 (file not found) in the message", err)
	}
	after, _ := os.ReadFile(b.path)
	if !bytes.Equal(before, after) {
		t.Fatal("image changed")
	}
}

func TestInstallViaFloppyMissingQEMU(t *testing.T) {
	st := hostStages(t)
	b := buildImage(t, st, layout{sizeMiB: 8, sfdisk: "start=63, type=83\n"})
	_, err := InstallViaFloppy(context.Background(), b.path, st, FloppyInstallOptions{QEMU: "qemu-system-nonexistent-arch"})
	if err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("err = %v", err)
	}
}
