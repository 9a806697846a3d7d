package doctor

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel"
)

// Fixtures are made the way a user makes them by hand: truncate, sfdisk,
// mke2fs -d from a staging directory, debugfs -w for device nodes and
// late writes, dd at the partition offset, and the GRUB shell's setup
// under qemu-i386 — the commands of scripts/reference-pipeline.sh.

const grubStageDir = "/usr/lib/grub/x86_64-pc"

// legacySpec describes one hand-made legacy image.
type legacySpec struct {
	size   int64  // image bytes (default 12 MiB)
	sfdisk string // sfdisk script (default "start=63, type=83, bootable")
	// blocks is the mke2fs block count: 0 → the partition's size in KiB
	// rounded down to a multiple of 4 (as the guide pipeline does); -1 → no
	// count, mke2fs on everything from the offset to the end of the file
	// (the 2007 recipe's trap).
	blocks  int64
	mke2fs  []string                       // extra mke2fs options (default -b 1024 -I 128)
	stage   func(t testing.TB, dir string) // edits the staging root before mke2fs
	debugfs []string                       // commands run with debugfs -w on the filesystem
	noGRUB  bool                           // skip `setup (hd0)`
	conf    string                         // grub.conf (default: the guide's)
	kernel  []byte                         // /boot/vmlinuz (default: fakeKernel(true, true))
	noDev   bool                           // do not create /dev/console
}

const guideConf = `default 0
timeout 1

title minidisk
root (hd0,0)
kernel /boot/vmlinuz root=/dev/sda1 rw console=ttyS0 init=/bin/sh
`

func requireHostTools(t testing.TB) {
	t.Helper()
	testutil.RequireTool(t, "sfdisk", "fdisk")
	testutil.RequireTool(t, "mke2fs", "e2fsprogs")
	testutil.RequireTool(t, "debugfs", "e2fsprogs")
	testutil.RequireFile(t, "/bin/busybox", "apt-get install busybox")
}

func requireGRUB(t testing.TB) {
	t.Helper()
	testutil.RequireTool(t, "qemu-i386", "qemu-user")
	testutil.RequireFile(t, "/usr/sbin/grub", "apt-get install grub-legacy")
	testutil.RequireFile(t, grubStageDir+"/e2fs_stage1_5", "apt-get install grub-legacy")
}

// stageRoot fills dir like the guide: dynamic BusyBox with its libraries,
// GRUB's stage files, grub.conf with menu.lst -> grub.conf, the kernel.
func stageRoot(t testing.TB, dir string, spec legacySpec) {
	t.Helper()
	for _, d := range []string{"bin", "lib/x86_64-linux-gnu", "lib64", "dev", "proc", "sys", "boot/grub", "etc"} {
		must(t, os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	copyFile(t, "/bin/busybox", filepath.Join(dir, "bin/busybox"), 0o755)
	for _, a := range []string{"sh", "ln", "ls"} {
		must(t, os.Symlink("busybox", filepath.Join(dir, "bin", a)))
	}
	for _, l := range []string{"libc.so.6", "libresolv.so.2", "ld-linux-x86-64.so.2"} {
		src, err := filepath.EvalSymlinks("/lib/x86_64-linux-gnu/" + l)
		must(t, err)
		copyFile(t, src, filepath.Join(dir, "lib/x86_64-linux-gnu", l), 0o755)
	}
	must(t, os.Symlink("../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", filepath.Join(dir, "lib64/ld-linux-x86-64.so.2")))
	k := spec.kernel
	if k == nil {
		k = fakeKernel(t, true, true)
	}
	must(t, os.WriteFile(filepath.Join(dir, "boot/vmlinuz"), k, 0o644))
	for _, s := range []string{"stage1", "stage2", "e2fs_stage1_5"} {
		if _, err := os.Stat(filepath.Join(grubStageDir, s)); err == nil {
			copyFile(t, filepath.Join(grubStageDir, s), filepath.Join(dir, "boot/grub", s), 0o644)
		}
	}
	conf := spec.conf
	if conf == "" {
		conf = guideConf
	}
	must(t, os.WriteFile(filepath.Join(dir, "boot/grub/grub.conf"), []byte(conf), 0o644))
	must(t, os.Symlink("grub.conf", filepath.Join(dir, "boot/grub/menu.lst")))
	if spec.stage != nil {
		spec.stage(t, dir)
	}
}

// makeLegacy builds the image and returns its path.
func makeLegacy(t *testing.T, spec legacySpec) string {
	t.Helper()
	requireHostTools(t)
	if !spec.noGRUB {
		requireGRUB(t)
	}
	if spec.size == 0 {
		spec.size = 12 << 20
	}
	if spec.sfdisk == "" {
		spec.sfdisk = "start=63, type=83, bootable"
	}
	work := t.TempDir()
	img := filepath.Join(work, "disk.img")
	must(t, os.WriteFile(img, nil, 0o644))
	must(t, os.Truncate(img, spec.size))
	sfdisk(t, img, spec.sfdisk)
	start, sectors := partitionOf(t, img, 1)
	st := filepath.Join(work, "stage")
	stageRoot(t, st, spec)
	part := filepath.Join(work, "part.img")
	args := []string{"-q", "-F", "-t", "ext2", "-b", "1024", "-I", "128", "-E", "root_owner=0:0"}
	args = append(args, spec.mke2fs...)
	args = append(args, "-d", st, part)
	switch {
	case spec.blocks > 0:
		args = append(args, strconv.FormatInt(spec.blocks, 10))
	case spec.blocks == 0:
		args = append(args, strconv.FormatInt(sectors/2/4*4, 10))
	default:
		// The 2007 recipe: losetup -o OFFSET and mke2fs on the loop device,
		// i.e. on everything from the offset to the end of the image file.
		must(t, os.WriteFile(part, nil, 0o644))
		must(t, os.Truncate(part, spec.size-start*512))
	}
	run(t, "mke2fs", args...)
	cmds := spec.debugfs
	if !spec.noDev {
		cmds = append([]string{"cd /dev", "mknod console c 5 1", "sif console mode 020600", "cd /"}, cmds...)
	}
	if len(cmds) > 0 {
		debugfs(t, part, cmds...)
	}
	dd(t, part, img, start)
	if !spec.noGRUB {
		grubSetup(t, img, "root (hd0,0)", "setup (hd0)")
	}
	return img
}

func sfdisk(t testing.TB, img, script string) {
	t.Helper()
	cmd := exec.Command("sfdisk", "-q", "--no-reread", "--no-tell-kernel", img)
	cmd.Stdin = strings.NewReader(script + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk %s <<< %q: %v\n%s", img, script, err, out)
	}
}

// partitionOf reads start and size of partition n as sfdisk -d prints them.
func partitionOf(t testing.TB, img string, n int) (start, sectors int64) {
	t.Helper()
	out := run(t, "sfdisk", "-d", img)
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, img+strconv.Itoa(n)+" ") {
			continue
		}
		for _, f := range strings.Split(line[strings.Index(line, ":")+1:], ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
			switch strings.TrimSpace(k) {
			case "start":
				start, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			case "size":
				sectors, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			}
		}
		return start, sectors
	}
	t.Fatalf("sfdisk -d %s: no partition %d in\n%s", img, n, out)
	return 0, 0
}

func debugfs(t testing.TB, fsImg string, cmds ...string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "debugfs.cmds")
	must(t, os.WriteFile(f, []byte(strings.Join(cmds, "\n")+"\n"), 0o644))
	out, err := exec.Command("debugfs", "-w", "-f", f, fsImg).CombinedOutput()
	if err != nil {
		t.Fatalf("debugfs %v: %v\n%s", cmds, err, out)
	}
	return string(out)
}

// debugfsRead runs read-only debugfs requests (the oracle for block owners).
func debugfsRead(t testing.TB, fsImg string, req string) string {
	t.Helper()
	out, err := exec.Command("debugfs", "-R", req, fsImg).Output()
	if err != nil {
		t.Fatalf("debugfs -R %q: %v", req, err)
	}
	return string(out)
}

func dd(t testing.TB, part, img string, startSector int64) {
	t.Helper()
	run(t, "dd", "if="+part, "of="+img, "bs=512", fmt.Sprintf("seek=%d", startSector), "conv=notrunc", "status=none")
}

// grubSetup runs the GRUB shell (32-bit, so under qemu-i386) on the image.
func grubSetup(t testing.TB, img string, cmds ...string) string {
	t.Helper()
	dm := filepath.Join(t.TempDir(), "device.map")
	must(t, os.WriteFile(dm, []byte("(hd0) "+img+"\n"), 0o644))
	cmd := exec.Command("qemu-i386", "/usr/sbin/grub", "--batch", "--no-floppy", "--device-map="+dm)
	cmd.Stdin = strings.NewReader(strings.Join(cmds, "\n") + "\nquit\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("grub %v: %v\n%s", cmds, err, out)
	}
	return string(out)
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	return testutil.Run(t, name, args...)
}

func copyFile(t testing.TB, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	must(t, err)
	must(t, os.WriteFile(dst, b, mode))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// fakeKernel lays out a bzImage as arch/x86/boot/header.S does (boot
// sector, setup sectors, "HdrS" header, gzip payload located by
// payload_offset/length). The decompressed payload carries the drivers'
// registered names as the kernel's .rodata does, or not.
func fakeKernel(t testing.TB, ext2, ata bool) []byte {
	vmlinux := "\x7fELF....\x00serial8250\x00"
	if ext2 {
		// The registered name and fs/ext2's message prefix.
		vmlinux += "ext2\x00%sEXT2-fs (%s): %pV\n\x00"
	}
	if ata {
		vmlinux += "ata_piix\x00"
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write([]byte(vmlinux))
	zw.Close()
	payload := z.Bytes()
	const setupSects = 3
	pm := (setupSects + 1) * 512
	img := make([]byte, pm+64+len(payload)+4)
	img[kernel.OffSetupSects] = setupSects
	img[kernel.OffBootFlag], img[kernel.OffBootFlag+1] = 0x55, 0xAA
	copy(img[kernel.OffHeader:], "HdrS")
	binary.LittleEndian.PutUint16(img[kernel.OffVersion:], 0x020F)
	img[kernel.OffLoadFlags] = 1
	copy(img[0x300:], "6.1.0-fake (doctor@test) #1\x00")
	binary.LittleEndian.PutUint16(img[kernel.OffKernelVersion:], 0x300-0x200)
	binary.LittleEndian.PutUint32(img[kernel.OffPayloadOffset:], 64)
	binary.LittleEndian.PutUint32(img[kernel.OffPayloadLength:], uint32(len(payload)+4))
	copy(img[pm+64:], payload)
	return img
}

// diagnoseFile runs Diagnose on an image file.
func diagnoseFile(t testing.TB, img string) *Report {
	t.Helper()
	f, err := os.Open(img)
	must(t, err)
	defer f.Close()
	fi, err := f.Stat()
	must(t, err)
	return Diagnose(f, fi.Size(), Options{Name: filepath.Base(img)})
}

// want asserts that the report has finding id with the given severity and
// that its evidence mentions every string in ev.
func want(t testing.TB, rep *Report, id ID, sev Severity, ev ...string) *Finding {
	t.Helper()
	f := rep.Has(id)
	if f == nil {
		t.Fatalf("no %q finding; report:\n%s", id, dump(rep))
	}
	if f.Severity != sev {
		t.Fatalf("%s: severity %v, want %v:\n%s", id, f.Severity, sev, dump(rep))
	}
	for _, s := range ev {
		if !strings.Contains(f.Evidence, s) && !strings.Contains(f.Title, s) {
			t.Fatalf("%s: evidence %q does not mention %q", id, f.Evidence, s)
		}
	}
	return f
}

func dump(rep *Report) string {
	var b strings.Builder
	for _, f := range rep.Findings {
		fmt.Fprintf(&b, "  [%v] %s: %s — %s\n", f.Severity, f.ID, f.Title, f.Evidence)
	}
	return b.String()
}
