package efi

import (
	"bytes"
	"context"
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
	"github.com/minidisk/minidisk/qemu"
)

// TestUKIBootDebianKernel is the headline of the UKI path: Debian's
// cloud-amd64 kernel (not built by us, drivers mostly modules), systemd's
// stub and an automatic initramfs with Debian's static BusyBox, as
// BOOTX64.EFI on an ESP of the default size for that payload; OVMF boots
// it, the stub hands over the initrd, /init runs and a shell computes
// MARK42.
func TestUKIBootDebianKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	testutil.RequireTool(t, "qemu-system-x86_64", "qemu-system-x86")
	if _, _, err := qemu.FindOVMF(); err != nil {
		testutil.Missing(t, err.Error())
	}
	fsck := testutil.RequireTool(t, "fsck.fat", "dosfstools")
	vmlinuz, _ := testutil.DebianKernel(t)
	bb := testutil.DebianStaticBusyBox(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "uki.img")
	efiOut := filepath.Join(dir, "BOOTX64.EFI")
	res, err := Build(context.Background(), Options{Out: img, EFIOut: efiOut, Epoch: testEpoch,
		UKI: &UKIOptions{Kernel: vmlinuz, Initrd: InitrdAuto, Initramfs: initramfs.Options{BusyBox: bb}}})
	if err != nil {
		t.Fatal(err)
	}
	u := res.UKI
	t.Logf("UKI %d bytes (kernel %s, initramfs %d, stub %s), image %d bytes", u.FileSize, u.KernelVersion, u.InitramfsSize, u.StubVersion, res.Image.DiskSize)
	if !u.BusyBox.Static {
		t.Errorf("BusyBox %s is not static", u.BusyBox.Path)
	}
	if res.Image.DiskSize != DefaultUKIImageSize(u.FileSize) {
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

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
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
