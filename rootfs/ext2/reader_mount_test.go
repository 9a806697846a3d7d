package ext2

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/rootfs/loopmount"
)

// writeMBRDiskImage wraps the filesystem image fsImg in an MBR disk image whose
// only partition (type 0x83) starts at sector 2048.
func writeMBRDiskImage(t *testing.T, fsImg, disk string) {
	t.Helper()
	fs, err := os.ReadFile(fsImg)
	must(t, err)
	const start = 2048
	b := make([]byte, start*512+len(fs))
	e := b[0x1BE:]
	e[4] = 0x83
	binary.LittleEndian.PutUint32(e[8:], start)
	binary.LittleEndian.PutUint32(e[12:], uint32(len(fs)/512))
	b[510], b[511] = 0x55, 0xAA
	copy(b[start*512:], fs)
	must(t, os.WriteFile(disk, b, 0o644))
}

// loopsBacking lists loop devices whose backing file is path.
func loopsBacking(t *testing.T, path string) []string {
	t.Helper()
	matches, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	var out []string
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err == nil && strings.TrimSpace(string(b)) == path {
			out = append(out, m)
		}
	}
	return out
}

// TestReaderMatchesKernelMount mounts the partition of a disk image with
// the kernel's ext2 driver (through loopmount) and compares the mounted
// tree with the reader's view of the same partition; then it checks that
// umount leaves no loop device behind, and that a failed mount releases
// its device too.
func TestReaderMatchesKernelMount(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireTool(t, "mke2fs", "e2fsprogs")
	losetup := testutil.RequireTool(t, "losetup", "mount")
	staging := filepath.Join(t.TempDir(), "staging")
	buildStaging(t, staging)
	tmp := t.TempDir()
	fsImg := filepath.Join(tmp, "fs.img")
	mke2fsStaging(t, staging, fsImg, 1024, 128, 24*1024)
	runDebugfsScript(t, fsImg, true, debugfsDeviceCmds()...)
	disk := filepath.Join(tmp, "disk.img")
	writeMBRDiskImage(t, fsImg, disk)

	f, err := os.Open(disk)
	must(t, err)
	defer f.Close()
	fi, err := f.Stat()
	must(t, err)
	loc, err := FindFilesystem(f, fi.Size(), disk)
	must(t, err)
	if loc.Offset != 2048*512 || loc.Partition != 1 {
		t.Fatalf("FindFilesystem = %+v, want partition 1 at byte %d", loc, 2048*512)
	}
	r, err := Open(f, loc.Offset, loc.Size)
	must(t, err)

	mnt := filepath.Join(tmp, "mnt")
	must(t, os.Mkdir(mnt, 0o755))
	dev, err := loopmount.Mount(loopmount.Options{Image: disk, Offset: loc.Offset, Size: loc.Size, Dir: mnt})
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	mounted := true
	defer func() {
		if mounted {
			_, _ = loopmount.Unmount(mnt)
		}
	}()
	if got := loopsBacking(t, disk); len(got) != 1 {
		t.Errorf("while mounted, loop devices backing %s: %v (want 1)", disk, got)
	}
	// The device is limited to the partition: offset and size as attached.
	sys := "/sys/block/" + filepath.Base(dev)
	if b, err := os.ReadFile(sys + "/loop/offset"); err != nil || strings.TrimSpace(string(b)) != fmt.Sprint(loc.Offset) {
		t.Errorf("%s offset %q, %v; want %d", dev, b, err, loc.Offset)
	}
	if b, err := os.ReadFile(sys + "/size"); err != nil || strings.TrimSpace(string(b)) != fmt.Sprint(loc.Size/512) {
		t.Errorf("%s size %q sectors, %v; want %d", dev, b, err, loc.Size/512)
	}
	// The kernel's view of the whole tree is the oracle: the same walk,
	// owners, modes, times, sizes, links, devices and content.
	compareWithStaging(t, r, mnt, nil)

	gotDev, err := loopmount.Unmount(mnt)
	mounted = false
	if err != nil {
		t.Fatalf("Unmount: %v", err)
	}
	if gotDev != dev {
		t.Errorf("Unmount found %s, Mount attached %s", gotDev, dev)
	}
	if left := loopsBacking(t, disk); len(left) != 0 {
		t.Errorf("after umount, loop devices still back %s: %v", disk, left)
	}
	if out := testutil.Run(t, losetup, "-a"); strings.Contains(out, disk) {
		t.Errorf("losetup -a still lists %s:\n%s", disk, out)
	}

	// A mount that fails (offset 0 is the MBR, not ext2) releases its device.
	_, err = loopmount.Mount(loopmount.Options{Image: disk, Offset: 0, Size: loc.Offset, Dir: mnt})
	if err == nil {
		_, _ = loopmount.Unmount(mnt)
		t.Fatalf("mounting the MBR as ext2 succeeded")
	}
	if left := loopsBacking(t, disk); len(left) != 0 {
		t.Errorf("after a failed mount, loop devices still back %s: %v", disk, left)
	}
}
