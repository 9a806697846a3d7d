package legacy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/grub"
	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel/kerneltest"
	"github.com/minidisk/minidisk/rootfs"
	"github.com/minidisk/minidisk/rootfs/ext2"
)

// The recipe step by step (image create, part, mkfs, rootfs add, grub
// install) gives the same system as `create` in one go.
func TestStepByStepEqualsCreate(t *testing.T) {
	bb := hostBusyBox(t)
	e2fsck := testutil.RequireTool(t, "e2fsck", "e2fsprogs")
	k := kerneltest.FakeBzImage(t)
	t.Setenv("SOURCE_DATE_EPOCH", "1190000000")
	dir := t.TempDir()
	steps := filepath.Join(dir, "steps.img")
	if err := disk.CreateImage(steps, 12<<20, false); err != nil {
		t.Fatal(err)
	}
	l, _ := disk.PlanLayout(disk.LayoutOptions{DiskBytes: 12 << 20})
	f, _ := os.OpenFile(steps, os.O_RDWR, 0)
	if _, err := disk.WritePartitionTable(f, l, 0); err != nil {
		t.Fatal(err)
	}
	// mkfs: an empty filesystem with the aligned count.
	if _, err := ext2.Write(f, l.OffsetBytes(), rootfs.New(time.Unix(1190000000, 0)), ext2.Options{Blocks: l.AlignedBlocks(), Time: time.Unix(1190000000, 0)}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, _, err := AddToImage(steps, Payload{Kernel: k, BusyBox: bb}); err != nil {
		t.Fatal(err)
	}
	// grub install, as `minidisk grub install` does it.
	st, err := grub.FindStages("")
	if err != nil {
		t.Fatal(err)
	}
	f, _ = os.OpenFile(steps, os.O_RDWR, 0)
	r, err := ext2.Open(f, l.OffsetBytes(), l.PartitionBytes())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := grub.Install(f, st, grub.InstallOptions{FS: r, Blocks: r, Name: steps}); err != nil {
		t.Fatal(err)
	}
	f.Close()

	once := filepath.Join(dir, "once.img")
	create(t, once, Options{Payload: Payload{Kernel: k, BusyBox: bb}, Layout: disk.LayoutOptions{DiskBytes: 12 << 20}})
	a, b := treeListing(t, steps), treeListing(t, once)
	if len(a) != len(b) {
		t.Fatalf("step-by-step has %d entries, create %d", len(a), len(b))
	}
	for p, v := range b {
		if a[p] != v {
			t.Errorf("%s: steps %q, create %q", p, a[p], v)
		}
	}
	part := extractPartition(t, steps, l)
	if out, err := exec.Command(e2fsck, "-fn", part).CombinedOutput(); err != nil {
		t.Fatalf("e2fsck after rootfs add: %v\n%s", err, out)
	}
	// A second add is idempotent: same tree, still clean.
	if _, _, err := AddToImage(steps, Payload{Kernel: k, BusyBox: bb}); err != nil {
		t.Fatal(err)
	}
	if c := treeListing(t, steps); len(c) != len(a) {
		t.Fatalf("second add: %d entries, want %d", len(c), len(a))
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Fatalf("temporary file left: %s", e.Name())
		}
	}
}

func TestAddToImageRefusesNonImage(t *testing.T) {
	bb := hostBusyBox(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "blank.img")
	disk.CreateImage(img, 8<<20, false)
	_, _, err := AddToImage(img, Payload{Kernel: kerneltest.FakeBzImage(t), BusyBox: bb})
	if err == nil || !strings.Contains(err.Error(), "minidisk part") {
		t.Fatalf("err = %v", err)
	}
}

// An image made by hand may hard-link a symlink or a device node; editing
// it keeps both names.
func TestEditKeepsHardLinkedSpecialFiles(t *testing.T) {
	debugfs := testutil.RequireTool(t, "debugfs", "e2fsprogs")
	testutil.RequireTool(t, "mke2fs", "e2fsprogs")
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	if err := disk.CreateImage(img, 8<<20, false); err != nil {
		t.Fatal(err)
	}
	l, _ := disk.PlanLayout(disk.LayoutOptions{DiskBytes: 8 << 20})
	f, _ := os.OpenFile(img, os.O_RDWR, 0)
	disk.WritePartitionTable(f, l, 0)
	f.Close()
	part := filepath.Join(dir, "part.img")
	testutil.Run(t, "mke2fs", "-q", "-t", "ext2", "-b", "1024", "-I", "128", part, fmt.Sprint(l.AlignedBlocks()))
	cmds := filepath.Join(dir, "cmds")
	os.WriteFile(cmds, []byte("mknod null c 1 3\nln null null2\nsif null links_count 2\n"), 0o644)
	testutil.Run(t, debugfs, "-w", "-f", cmds, part)
	testutil.Run(t, "dd", "if="+part, "of="+img, "bs=512", fmt.Sprintf("seek=%d", l.Partition.Start), "conv=notrunc,sparse", "status=none")
	if _, err := EditImage(img, func(*rootfs.Tree, time.Time) error { return nil }); err != nil {
		t.Fatal(err)
	}
	got := treeListing(t, img)
	if got["/null"] != got["/null2"] || !strings.HasPrefix(got["/null2"], "char device") {
		t.Fatalf("/null %q, /null2 %q", got["/null"], got["/null2"])
	}
}
