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

	"github.com/minidisk/minidisk/initramfs"
	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel"
	"github.com/minidisk/minidisk/kernel/kerneltest"
	"github.com/minidisk/minidisk/qemu"
	"github.com/minidisk/minidisk/rootfs"
	"github.com/minidisk/minidisk/rootfs/cpio"
)

// recipeMaxEFI is the 2025 recipe's headline: BOOTX64.EFI of about 2.5 MB
// with Debian's static BusyBox and the default profile.
const recipeMaxEFI = 2_500_000

// TestEFIBoot is the headline: our cpio linked into the efi-profile kernel,
// our GPT + FAT32 image, booted by OVMF; the banner appears, a shell
// computes a command's output, and a hard link survived the unpacking.
func TestEFIBoot(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU (and may build a kernel)")
	}
	testutil.RequireTool(t, "qemu-system-x86_64", "qemu-system-x86")
	if _, _, err := qemu.FindOVMF(); err != nil {
		testutil.Missing(t, err.Error())
	}
	bb := staticBusyBox(t)
	// A hard link to BusyBox that sorts after it: the newc writer puts the
	// data on the group's last member only, so /bin/busybox (and with it
	// /init's #!/bin/sh) works only if the kernel links the members.
	tree, err := initramfs.Tree(initramfs.Options{BusyBox: bb, Epoch: testEpoch})
	if err != nil {
		t.Fatal(err)
	}
	if err := tree.Add(rootfs.Entry{Header: rootfs.Header{Name: "/sbin/zz-busybox", Type: rootfs.TypeLink, Linkname: "/bin/busybox"}}); err != nil {
		t.Fatal(err)
	}
	var archive bytes.Buffer
	if err := initramfs.Write(&archive, tree, cpio.Gzip); err != nil {
		t.Fatal(err)
	}
	cpioPath := filepath.Join(t.TempDir(), "initramfs.cpio.gz")
	if err := os.WriteFile(cpioPath, archive.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	k := kerneltest.EFI(t, cpioPath)

	info, err := kernel.InspectFile(k)
	if err != nil {
		t.Fatal(err)
	}
	if !info.EFIStub || info.PEMachine != 0x8664 {
		t.Fatalf("%s: EFI stub %v, PE machine %#x", k, info.EFIStub, info.PEMachine)
	}
	img := filepath.Join(t.TempDir(), "efi.img")
	ii, err := WriteImage(img, false, k, DefaultImageSize, testEpoch)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("initramfs %d bytes, BOOTX64.EFI %d bytes, image %d bytes", archive.Len(), ii.EFISize, ii.DiskSize)
	if ii.EFISize > recipeMaxEFI {
		t.Errorf("BOOTX64.EFI is %d bytes, over the recipe's 2.5 MB", ii.EFISize)
	}
	sfdisk := testutil.RequireTool(t, "sfdisk", "fdisk")
	if out, err := exec.Command(sfdisk, "--verify", img).CombinedOutput(); err != nil || !strings.Contains(string(out), "No errors detected") {
		t.Errorf("sfdisk --verify: %v\n%s", err, out)
	}
	fsck := testutil.RequireTool(t, "fsck.vfat", "dosfstools")
	if out, err := exec.Command(fsck, "-n", extractPartition(t, img, ii.Layout)).CombinedOutput(); err != nil {
		t.Errorf("fsck.vfat -n: %v\n%s", err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	start := time.Now()
	var console bytes.Buffer
	_, err = qemu.Machine{Image: img, EFI: true}.Run(ctx, []qemu.Step{
		{Expect: regexp.MustCompile(regexp.QuoteMeta(initramfs.Banner))},
		{Expect: regexp.MustCompile(regexp.QuoteMeta(qemu.PromptPattern)), Send: "echo MARK$((6*7))"},
		{Expect: regexp.MustCompile(`MARK42`)},
		{Expect: regexp.MustCompile(regexp.QuoteMeta(qemu.PromptPattern)), Send: "[ /bin/busybox -ef /sbin/zz-busybox ] && echo LINK$((6*7))"},
		{Expect: regexp.MustCompile(`LINK42`)},
	}, &console)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("banner and MARK42 after %s", time.Since(start).Round(100*time.Millisecond))
}

// TestBuildDeterministic runs the whole pipeline twice (the second kernel
// build is a cache hit) and compares the images byte for byte.
func TestBuildDeterministic(t *testing.T) {
	if testing.Short() {
		t.Skip("may build a kernel")
	}
	bb := staticBusyBox(t)
	cpioPath := filepath.Join(t.TempDir(), "initramfs.cpio.gz")
	if _, err := initramfs.Build(cpioPath, false, initramfs.Options{BusyBox: bb, Epoch: testEpoch}, cpio.Gzip); err != nil {
		t.Fatal(err)
	}
	kerneltest.EFI(t, cpioPath) // build (or find) it under the test's skip rules
	dir := t.TempDir()
	var imgs [2][]byte
	for i := range imgs {
		out := filepath.Join(dir, "efi"+string(rune('a'+i))+".img")
		efiOut := filepath.Join(dir, "BOOTX64"+string(rune('a'+i))+".EFI")
		start := time.Now()
		res, err := Build(context.Background(), Options{Out: out, EFIOut: efiOut, Epoch: testEpoch, Initramfs: initramfs.Options{BusyBox: bb}})
		if err != nil {
			t.Fatal(err)
		}
		if !res.KernelCached {
			t.Errorf("run %d rebuilt the kernel; the same initramfs must hit the cache", i+1)
		}
		t.Logf("run %d: %s (cached kernel), initramfs %d, EFI %d", i+1, time.Since(start).Round(time.Millisecond), res.InitramfsSize, res.EFISize)
		imgs[i], _ = os.ReadFile(out)
		efi, _ := os.ReadFile(efiOut)
		if k, _ := os.ReadFile(res.Kernel); !bytes.Equal(efi, k) {
			t.Error("--efi-out differs from the kernel in the image")
		}
	}
	if !bytes.Equal(imgs[0], imgs[1]) {
		t.Error("two runs give different images")
	}
}

// staticBusyBox returns Debian's static BusyBox from the cache that
// scripts/fetch-busybox-static.sh fills.
func staticBusyBox(t testing.TB) string {
	t.Helper()
	return testutil.RequireFile(t, initramfs.StaticBusyBoxPath(), "run scripts/fetch-busybox-static.sh")
}

// TestBadInputs: a kernel source that is not a Linux tree, a prebuilt
// kernel that is not EFI: each a one-line error naming the file, and no
// output file.
func TestBadInputs(t *testing.T) {
	dir := t.TempDir()
	notELF := filepath.Join(dir, "busybox.bad")
	os.WriteFile(notELF, []byte("#!/bin/sh\necho not busybox\n"), 0o755)
	notLinux := filepath.Join(dir, "src")
	os.MkdirAll(notLinux, 0o755)
	os.WriteFile(filepath.Join(notLinux, "Makefile"), []byte("all:\n"), 0o644)
	bb := staticBusyBox(t)
	cases := []struct {
		name string
		run  func() error
		want string
	}{
		{"kernel source not Linux", func() error {
			_, err := Build(context.Background(), Options{Out: filepath.Join(dir, "efi.img"), KernelSource: notLinux, Initramfs: initramfs.Options{BusyBox: bb}})
			return err
		}, "src: not a Linux source tree"},
		{"prebuilt kernel not EFI", func() error {
			_, err := Build(context.Background(), Options{Out: filepath.Join(dir, "efi.img"), Kernel: notELF})
			return err
		}, "busybox.bad"},
	}
	for _, c := range cases {
		err := c.run()
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line containing %q", c.name, err, c.want)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		switch e.Name() {
		case "busybox.bad", "src":
		default:
			t.Errorf("left behind: %s", e.Name())
		}
	}
}
