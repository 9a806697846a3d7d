package flash

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/minidisk/minidisk/internal/testutil"
)

// testImage is a 40 MiB image file with a distinct byte pattern (what it
// holds does not matter to flash; that it is read back intact does).
func testImage(t *testing.T) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "disk.img")
	b := make([]byte, 40<<20)
	for i := range b {
		b[i] = byte(i*7 + i>>12)
	}
	if err := os.WriteFile(img, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return img
}

func TestFlashRefusesNonDevices(t *testing.T) {
	img := testImage(t)
	regular := filepath.Join(t.TempDir(), "disk.img")
	os.WriteFile(regular, make([]byte, 1<<20), 0o644)
	for dev, want := range map[string]string{
		regular:                                  "not a block device",
		filepath.Join(t.TempDir(), "missing"):    "no such device",
		"/dev/null":                              "not a block device",
		filepath.Join(t.TempDir(), "") + "/dir/": "no such device",
	} {
		_, err := Flash(context.Background(), img, dev, Options{Yes: true, Force: true})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", dev, err, want)
		}
	}
	if b, _ := os.ReadFile(regular); !bytes.Equal(b, make([]byte, 1<<20)) {
		t.Error("the regular file was written")
	}
	if _, err := Flash(context.Background(), filepath.Join(t.TempDir(), "none.img"), regular, Options{Yes: true}); err == nil || !strings.Contains(err.Error(), "none.img") {
		t.Errorf("missing image: %v", err)
	}
}

// loopDevice attaches a fresh backing file of size bytes to a loop device.
func loopDevice(t *testing.T, size int64) (dev, backing string) {
	t.Helper()
	testutil.RequireRoot(t)
	losetup := testutil.RequireTool(t, "losetup", "mount")
	backing = filepath.Join(t.TempDir(), "stick.img")
	if err := os.WriteFile(backing, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(backing, size); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(losetup, "-f", "--show", backing).CombinedOutput()
	if err != nil {
		t.Skipf("no loop device available: %v %s", err, out)
	}
	dev = strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command(losetup, "-d", dev).Run() })
	return dev, backing
}

func TestFlashLoopDevice(t *testing.T) {
	img := testImage(t)
	dev, backing := loopDevice(t, 48<<20)
	ctx := context.Background()

	// A loop device is not removable: refused without --force.
	if _, err := Flash(ctx, img, dev, Options{Yes: true}); err == nil || !strings.Contains(err.Error(), "not a removable disk") {
		t.Errorf("non-removable: %v", err)
	}
	// Not confirmed: nothing written. The question names the device and size.
	var asked string
	_, err := Flash(ctx, img, dev, Options{Force: true, Confirm: func(q string) (bool, error) { asked = q; return false, nil }})
	if err == nil || !strings.Contains(err.Error(), "not confirmed") {
		t.Errorf("declined: %v", err)
	}
	if !strings.Contains(asked, dev) || !strings.Contains(asked, "48 MiB") {
		t.Errorf("question %q does not name the device and its size", asked)
	}
	// No confirmation possible (no terminal) and no --yes: refused.
	if _, err := Flash(ctx, img, dev, Options{Force: true}); err == nil || !strings.Contains(err.Error(), "--yes") {
		t.Errorf("unconfirmed: %v", err)
	}
	if b, _ := os.ReadFile(backing); !bytes.Equal(b, make([]byte, len(b))) {
		t.Fatal("the device was written before confirmation")
	}

	var progress bytes.Buffer
	d, err := Flash(ctx, img, dev, Options{Force: true, Yes: true, Progress: func(total int64) io.Writer {
		return &progress
	}})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(img)
	got, _ := os.ReadFile(backing)
	if !bytes.Equal(got[:len(want)], want) {
		t.Error("the loop device's backing file does not hold the image")
	}
	if progress.Len() != 2*len(want) {
		t.Errorf("progress saw %d bytes, want %d (write + verify)", progress.Len(), 2*len(want))
	}
	if d.Size != 48<<20 {
		t.Errorf("device size %d", d.Size)
	}
	// The image is too big for a smaller device.
	small, _ := loopDevice(t, 8<<20)
	if _, err := Flash(ctx, img, small, Options{Force: true, Yes: true}); err == nil || !strings.Contains(err.Error(), "holds only") {
		t.Errorf("small device: %v", err)
	}
}

func TestFlashRefusesMounted(t *testing.T) {
	// ext2, not vfat: the test only needs some filesystem this kernel mounts.
	mkfs := testutil.RequireTool(t, "mke2fs", "e2fsprogs")
	img := testImage(t)
	dev, _ := loopDevice(t, 48<<20)
	if out, err := exec.Command(mkfs, "-q", dev).CombinedOutput(); err != nil {
		t.Fatalf("mke2fs: %v %s", err, out)
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", dev, mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	_, err := Flash(context.Background(), img, dev, Options{Force: true, Yes: true})
	if err == nil || !strings.Contains(err.Error(), "is mounted on "+mnt) {
		t.Errorf("mounted: %v", err)
	}
	// The same through a second device node (another name, same device).
	alias := filepath.Join(t.TempDir(), "alias")
	var st syscall.Stat_t
	if err := syscall.Stat(dev, &st); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mknod(alias, syscall.S_IFBLK|0o600, int(st.Rdev)); err != nil {
		t.Fatal(err)
	}
	if _, err := Flash(context.Background(), img, alias, Options{Force: true, Yes: true}); err == nil || !strings.Contains(err.Error(), "is mounted") {
		t.Errorf("mounted, via another node: %v", err)
	}
}

func TestFlashRefusesPartition(t *testing.T) {
	img := testImage(t)
	testutil.RequireRoot(t)
	losetup := testutil.RequireTool(t, "losetup", "mount")
	backing := filepath.Join(t.TempDir(), "disk.img")
	testutil.Run(t, "truncate", "-s", "8M", backing)
	testutil.RunStdin(t, "start=2048, type=83\n", testutil.RequireTool(t, "sfdisk", "fdisk"), "-q", "--no-reread", "--no-tell-kernel", backing)
	out, err := exec.Command(losetup, "-f", "--show", "-P", backing).CombinedOutput()
	if err != nil {
		t.Skipf("no loop device: %v %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command(losetup, "-d", dev).Run() })
	// Without udev there may be no /dev node for the partition; make one
	// from the numbers sysfs gives.
	name := filepath.Base(dev) + "p1"
	mm, err := os.ReadFile("/sys/class/block/" + name + "/dev")
	if err != nil {
		t.Skipf("the kernel did not scan %s's partitions: %v", dev, err)
	}
	var maj, min uint32
	if _, err := fmt.Sscanf(strings.TrimSpace(string(mm)), "%d:%d", &maj, &min); err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(t.TempDir(), name)
	if err := syscall.Mknod(part, syscall.S_IFBLK|0o600, int(unix.Mkdev(maj, min))); err != nil {
		t.Fatal(err)
	}
	if _, err := Flash(context.Background(), img, part, Options{Force: true, Yes: true}); err == nil || !strings.Contains(err.Error(), "give the whole disk") {
		t.Errorf("partition: %v", err)
	}
}
