package efi

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minidisk/minidisk/efi/uki"
	"github.com/minidisk/minidisk/initramfs"
	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel"
	"github.com/minidisk/minidisk/qemu"
)

// TestUKIBootDebianKernel is the headline of the UKI path: Debian's
// cloud-amd64 kernel (not built by us, drivers mostly modules), systemd's
// stub and an automatic initramfs with Debian's static BusyBox, as
// BOOTX64.EFI on an ESP of the default size for that payload (FAT32) and
// on a 32 MiB image (FAT16: too small for a FAT32 firmware accepts); OVMF boots
// it, the stub hands over the initrd, /init runs and a shell computes
// MARK42.
func TestUKIBootDebianKernel(t *testing.T) {
	ctx, vmlinuz, bb := debianUKIInputs(t)
	for _, size := range []int64{0, 32 << 20} {
		t.Run(fmt.Sprintf("size=%d", size), func(t *testing.T) {
			bootUKI(ctx, t, vmlinuz, bb, size)
		})
	}
}

// debianUKIInputs skips under -short, requires QEMU and OVMF, and fetches
// Debian's cloud kernel and static BusyBox into the cache through the code
// of `minidisk kernel --debian` and the initramfs' BusyBox choice: the
// inputs of every UKI boot test. The context bounds the whole test.
func debianUKIInputs(t *testing.T) (ctx context.Context, vmlinuz, busybox string) {
	t.Helper()
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	testutil.RequireTool(t, "qemu-system-x86_64", "qemu-system-x86")
	if _, _, err := qemu.FindOVMF(); err != nil {
		testutil.Missing(t, err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	t.Cleanup(cancel)
	dk, err := kernel.FetchDebian(ctx, kernel.DebianOptions{})
	if err != nil {
		testutil.Missing(t, "Debian's kernel: "+err.Error())
	}
	bb, err := initramfs.FetchStaticBusyBox(ctx)
	if err != nil {
		testutil.Missing(t, "Debian's busybox-static: "+err.Error())
	}
	return ctx, dk.Kernel, bb
}

// bootUKI makes the UKI image (size 0: the default for the payload) and
// boots it to MARK42.
func bootUKI(ctx context.Context, t *testing.T, vmlinuz, bb string, size int64) {
	fsck := testutil.RequireTool(t, "fsck.fat", "dosfstools")
	dir := t.TempDir()
	img := filepath.Join(dir, "uki.img")
	efiOut := filepath.Join(dir, "BOOTX64.EFI")
	res, err := Build(ctx, Options{Out: img, EFIOut: efiOut, Epoch: testEpoch, Size: size,
		UKI: &UKIOptions{Kernel: vmlinuz, Initrd: InitrdAuto, Initramfs: initramfs.Options{BusyBox: bb}}})
	if err != nil {
		t.Fatal(err)
	}
	u := res.UKI
	t.Logf("UKI %d bytes (kernel %s, initramfs %d, stub %s), image %d bytes, ESP %s (%s)", u.FileSize, u.KernelVersion, u.InitramfsSize, u.StubVersion, res.Image.DiskSize, res.Image.FAT, res.Image.FATWhy)
	if !u.BusyBox.Static {
		t.Errorf("BusyBox %s is not static", u.BusyBox.Path)
	}
	if size == 0 && res.Image.DiskSize != DefaultUKIImageSize(u.FileSize) {
		t.Errorf("image %d bytes, the default for a %d-byte UKI is %d", res.Image.DiskSize, u.FileSize, DefaultUKIImageSize(u.FileSize))
	}
	// The file on the ESP is the --efi-out file, and a UKI.
	data, _ := os.ReadFile(efiOut)
	pf, err := uki.Parse(bytes.NewReader(data), int64(len(data)))
	if err != nil || !pf.IsUKI() {
		t.Fatalf("--efi-out is not a UKI: %v", err)
	}
	if out, err := exec.Command(fsck, "-n", extractPartition(t, img, res.Image.Layout)).CombinedOutput(); err != nil {
		t.Errorf("fsck.fat -n: %v\n%s", err, out)
	}

	start := time.Now()
	var console bytes.Buffer
	_, err = qemu.Machine{Image: img, EFI: true, MemoryMiB: 512}.Run(ctx, []qemu.Step{
		{Expect: regexp.MustCompile(regexp.QuoteMeta(initramfs.Banner))},
		{Expect: regexp.MustCompile(regexp.QuoteMeta(qemu.PromptPattern)), Send: "echo MARK$((6*7))"},
		{Expect: regexp.MustCompile(`MARK42`)},
	}, &console)
	if err != nil {
		t.Fatalf("%v\n%s", err, qemu.Tail(console.Bytes(), 30))
	}
	// The stub passed the initrd the UKI way (systemd 252's LoadImage path).
	if !strings.Contains(console.String(), "Loaded initrd from LINUX_EFI_INITRD_MEDIA_GUID") {
		t.Errorf("the kernel did not report the stub's initrd:\n%s", qemu.Tail(console.Bytes(), 40))
	}
	t.Logf("OVMF → stub → kernel → /init → MARK42 in %s", time.Since(start).Round(100*time.Millisecond))
}
