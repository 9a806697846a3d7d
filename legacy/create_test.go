package legacy

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel/kerneltest"
	"github.com/minidisk/minidisk/rootfs"
	"github.com/minidisk/minidisk/rootfs/ext2"
)

func hostBusyBox(t *testing.T) string {
	t.Helper()
	testutil.RequireTool(t, "busybox", "busybox")
	testutil.RequireFile(t, "/usr/lib/grub/x86_64-pc/stage2", "apt-get install grub-legacy")
	p, _ := exec.LookPath("busybox")
	return p
}

func create(t *testing.T, out string, opt Options) *Result {
	t.Helper()
	res, err := Create(out, opt)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestCreateCheckedByHostTools(t *testing.T) {
	bb := hostBusyBox(t)
	e2fsck := testutil.RequireTool(t, "e2fsck", "e2fsprogs")
	sfdisk := testutil.RequireTool(t, "sfdisk", "fdisk")
	k := kerneltest.FakeBzImage(t)
	for _, lo := range []disk.LayoutOptions{{}, {Align1MiB: true}, {CylinderAlign: true, DiskBytes: 16 << 20}} {
		t.Run(fmt.Sprintf("align1MiB=%v-cyl=%v", lo.Align1MiB, lo.CylinderAlign), func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "disk.img")
			res := create(t, img, Options{Payload: Payload{Kernel: k, BusyBox: bb}, Layout: lo})
			l := res.DiskLayout()
			if out, err := exec.Command(sfdisk, "--verify", img).CombinedOutput(); err != nil || !strings.Contains(string(out), "No errors") {
				t.Fatalf("sfdisk --verify: %v\n%s", err, out)
			}
			part := extractPartition(t, img, l)
			if out, err := exec.Command(e2fsck, "-fn", part).CombinedOutput(); err != nil {
				t.Fatalf("e2fsck -fn: %v\n%s", err, out)
			}
			if res.FS.Blocks != l.AlignedBlocks() || res.FS.Blocks%4 != 0 || int64(res.FS.Blocks)*1024 > l.PartitionBytes() {
				t.Fatalf("fs blocks %d, partition %d bytes", res.FS.Blocks, l.PartitionBytes())
			}
			// debugfs sees the console node and the loader chain.
			out := testutil.Run(t, "debugfs", "-R", "stat /dev/console", part)
			if !strings.Contains(out, "Type: character special") || !strings.Contains(out, "Mode:  0600") || !strings.Contains(out, "Device major/minor number: 05:01") {
				t.Fatalf("/dev/console:\n%s", out)
			}
		})
	}
}

// extractPartition copies the partition out of the image (sparse-aware via
// dd) so the e2fsprogs tools can check it as a plain filesystem file.
func extractPartition(t *testing.T, img string, l *disk.Layout) string {
	t.Helper()
	part := filepath.Join(t.TempDir(), "part.img")
	testutil.Run(t, "dd", "if="+img, "of="+part, "bs=512", fmt.Sprintf("skip=%d", l.Partition.Start),
		fmt.Sprintf("count=%d", l.Partition.Sectors), "conv=sparse", "status=none")
	return part
}

func TestCreateDeterministic(t *testing.T) {
	bb := hostBusyBox(t)
	k := kerneltest.FakeBzImage(t)
	t.Setenv("SOURCE_DATE_EPOCH", "1190000000") // 2007-09-17
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.img"), filepath.Join(dir, "b.img")
	create(t, a, Options{Payload: Payload{Kernel: k, BusyBox: bb}})
	create(t, b, Options{Payload: Payload{Kernel: k, BusyBox: bb}})
	ab, _ := os.ReadFile(a)
	bbytes, _ := os.ReadFile(b)
	if !bytes.Equal(ab, bbytes) {
		t.Fatal("two runs with the same inputs and SOURCE_DATE_EPOCH differ")
	}
	t.Setenv("SOURCE_DATE_EPOCH", "1190000001")
	c := filepath.Join(dir, "c.img")
	create(t, c, Options{Payload: Payload{Kernel: k, BusyBox: bb}})
	cb, _ := os.ReadFile(c)
	if bytes.Equal(ab, cb) {
		t.Fatal("SOURCE_DATE_EPOCH does not reach the image")
	}
}

// treeListing is `ls -l` of a whole filesystem as path → type, mode, link
// target, device: what two images must agree on to hold the same system.
func treeListing(t *testing.T, img string) map[string]string {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	l, err := disk.ReadLayout(f, fi.Size(), 1024, ext2.HoldsFilesystem(f))
	if err != nil {
		t.Fatal(err)
	}
	r, err := ext2.Open(f, l.OffsetBytes(), l.PartitionBytes())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	err = r.Walk(func(h *rootfs.Header) error {
		out[h.Name] = fmt.Sprintf("%s %04o %s %d,%d", h.Type, h.Mode, h.Linkname, h.Devmajor, h.Devminor)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The 2007 image made with host tools (scripts/reference-pipeline.sh) and
// ours must hold the same files with the same modes, link targets and
// device numbers. Ours adds /tmp (1777), /sbin and /root, which the recipe's
// userland expects but its script leaves out.
func TestSameTreeAsHostToolBaseline(t *testing.T) {
	bb := hostBusyBox(t)
	script := testutil.ReferencePipeline(t)
	k := kerneltest.FakeBzImage(t)
	dir := t.TempDir()
	base := filepath.Join(dir, "baseline.img")
	testutil.Run(t, "env", "BUSYBOX="+bb, "bash", script, k, base)
	ours := filepath.Join(dir, "ours.img")
	create(t, ours, Options{Payload: Payload{Kernel: k, BusyBox: bb}, Layout: disk.LayoutOptions{DiskBytes: 12 << 20}})
	a, b := treeListing(t, base), treeListing(t, ours)
	extra := map[string]bool{"/tmp": true, "/sbin": true, "/root": true}
	var diffs []string
	for p, v := range a {
		if b[p] != v {
			diffs = append(diffs, fmt.Sprintf("%s: baseline %q, ours %q", p, v, b[p]))
		}
	}
	for p, v := range b {
		if _, ok := a[p]; !ok && !extra[p] {
			diffs = append(diffs, fmt.Sprintf("%s: only ours (%s)", p, v))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Fatalf("trees differ:\n%s", strings.Join(diffs, "\n"))
	}
	if len(a) < 20 {
		t.Fatalf("baseline listing has only %d entries", len(a))
	}
	// GRUB's sectors: both images were set up by the same stage files.
	ab, _ := os.ReadFile(base)
	ob, _ := os.ReadFile(ours)
	if !bytes.Equal(ab[:0x1B8], ob[:0x1B8]) {
		t.Fatal("stage1 in the MBR differs from the GRUB shell's")
	}
}

// A payload larger than the image: the error wraps ext2.ErrNoSpace (callers
// decide with errors.Is, not by the message) and nothing is written.
func TestCreateNoSpaceIsErrNoSpace(t *testing.T) {
	bb := hostBusyBox(t)
	out := filepath.Join(t.TempDir(), "small.img")
	_, err := Create(out, Options{Payload: Payload{Kernel: kerneltest.FakeBzImage(t), BusyBox: bb}, Layout: disk.LayoutOptions{DiskBytes: 1 << 20}})
	if !errors.Is(err, ext2.ErrNoSpace) {
		t.Fatalf("1 MiB image: %v, want an error wrapping ext2.ErrNoSpace", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("%s was written: %v", out, err)
	}
}
