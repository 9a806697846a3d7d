package legacy

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minidisk/minidisk/doctor"
	"github.com/minidisk/minidisk/initramfs"
	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel"
	"github.com/minidisk/minidisk/kernel/kerneltest"
	"github.com/minidisk/minidisk/kmod"
	"github.com/minidisk/minidisk/qemu"
	"github.com/minidisk/minidisk/rootfs/ext2"
)

// debianKernel is Debian's cloud-amd64 kernel from `minidisk kernel
// --debian`'s cache (fetched on first use: apt-get download + dpkg-deb -x).
// Its disk drivers are modules; ext2 is served by the built-in ext4.
func debianKernel(t *testing.T) *kernel.DebianKernel {
	t.Helper()
	if testing.Short() {
		t.Skip("fetches Debian's kernel package (27 MB) on first use")
	}
	testutil.RequireTool(t, "apt-get", "apt")
	testutil.RequireTool(t, "dpkg-deb", "dpkg")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	k, err := kernel.FetchDebian(ctx, kernel.DebianOptions{})
	if err != nil {
		testutil.Missing(t, err.Error())
	}
	return k
}

// bootToMark boots img under SeaBIOS and waits for BusyBox to answer.
func bootToMark(t *testing.T, img, iface string) time.Duration {
	t.Helper()
	testutil.RequireTool(t, "qemu-system-x86_64", "qemu-system-x86")
	steps, err := qemu.Script([]string{"echo MARK$((6*7))"}, "MARK42")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := qemu.Machine{Image: img, Snapshot: true, Interface: iface}.Run(ctx, steps, nil)
	if err != nil {
		t.Fatalf("boot (-drive if=%s): %v\n%s", iface, err, qemu.Tail(out, 40))
	}
	took := time.Since(start)
	// GRUB loaded the initrd, the kernel ran our /init, BusyBox on the
	// ext2 root computed the answer.
	for _, want := range []string{"[Linux-initrd @", "\nMARK42"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Fatalf("transcript lacks %q:\n%s", want, qemu.Tail(out, 40))
		}
	}
	if bytes.Contains(out, []byte(initramfs.InitMessagePrefix)) {
		t.Errorf("/init complained:\n%s", qemu.Tail(out, 40))
	}
	return took
}

// TestDebianKernelBoots is the acceptance path: SeaBIOS → GRUB Legacy →
// Debian's cloud kernel → the automatic initramfs (ata_piix, sd_mod and
// their dependencies) → the ext2 root → the host's dynamic BusyBox with
// its libraries answering; and the twin image built --for virtio, booted
// from a virtio disk.
func TestDebianKernelBoots(t *testing.T) {
	dk := debianKernel(t)
	bb := hostBusyBox(t)
	for _, target := range []string{"ide", "virtio"} {
		t.Run(target, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "dk.img")
			res := create(t, img, Options{Payload: Payload{Kernel: dk.Kernel, BusyBox: bb, For: target}})
			part := extractPartition(t, img, res.DiskLayout())
			if out, err := exec.Command("e2fsck", "-fn", part).CombinedOutput(); err != nil {
				t.Fatalf("e2fsck -fn: %v\n%s", err, out)
			}
			conf := testutil.Run(t, "debugfs", "-R", "cat /boot/grub/grub.conf", part)
			wantRoot := map[string]string{"ide": "root=/dev/sda1 ", "virtio": "root=/dev/vda1 "}[target]
			if !strings.Contains(conf, "\ninitrd /boot/initrd.img\n") || !strings.Contains(conf, wantRoot) {
				t.Fatalf("grub.conf lacks the initrd line or %s:\n%s", wantRoot, conf)
			}
			// The initrd holds every module `modules` resolves for the target,
			// as GNU cpio lists it.
			initrd := filepath.Join(t.TempDir(), "initrd.img")
			testutil.Run(t, "debugfs", "-R", "dump /boot/initrd.img "+initrd, part)
			fi, _ := os.Stat(initrd)
			listing := testutil.Run(t, "sh", "-c", `gzip -dc "$1" | cpio -t --quiet`, "sh", initrd)
			tree, err := kmod.Open(dk.ModulesDir, dk.Release)
			if err != nil {
				t.Fatal(err)
			}
			c, err := tree.Resolve([]string{target}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range c.Load() {
				if !strings.Contains(listing, "lib/modules/"+dk.Release+"/"+m.Path+"\n") {
					t.Errorf("initrd lacks %s", m.Path)
				}
			}
			// doctor agrees before QEMU does: the initrd has what root= needs.
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			fi2, _ := f.Stat()
			rep := doctor.Diagnose(f, fi2.Size(), doctor.Options{Name: img})
			f.Close()
			if rep.ExitCode() != 0 || rep.Has(doctor.IDInitrdModulesOK) == nil {
				t.Errorf("doctor: exit %d, initrd-modules-ok %v: %+v", rep.ExitCode(), rep.Has(doctor.IDInitrdModulesOK) != nil, rep.Findings)
			}
			took := bootToMark(t, img, target)
			t.Logf("%s: initrd %d bytes, MARK42 %.1f s after QEMU started", target, fi.Size(), took.Seconds())
		})
	}
}

// TestBuiltinKernelGetsNoInitramfs: the tinyconfig kernel has its disk
// driver and ext2 built in, so its image is exactly the one made without
// an initramfs: no initrd file, no initrd line.
func TestBuiltinKernelGetsNoInitramfs(t *testing.T) {
	if testing.Short() {
		t.Skip("may build a kernel")
	}
	bb := hostBusyBox(t)
	k := kerneltest.Legacy(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.img"), filepath.Join(dir, "b.img")
	res := create(t, a, Options{Payload: Payload{Kernel: k, BusyBox: bb}})
	create(t, b, Options{Payload: Payload{Kernel: k, BusyBox: bb, NoInitramfs: true}})
	x, _ := os.ReadFile(a)
	y, _ := os.ReadFile(b)
	if !bytes.Equal(x, y) {
		t.Error("the built-in kernel's image differs from the one made without an initramfs")
	}
	part := extractPartition(t, a, res.DiskLayout())
	if out, _ := exec.Command("debugfs", "-R", "stat /boot/initrd.img", part).CombinedOutput(); !strings.Contains(string(out), "File not found") {
		t.Errorf("/boot/initrd.img exists:\n%s", out)
	}
	if conf := testutil.Run(t, "debugfs", "-R", "cat /boot/grub/grub.conf", part); strings.Contains(conf, "initrd") {
		t.Errorf("grub.conf has an initrd line:\n%s", conf)
	}
}

// miniRoot copies the parts of the Debian package the ide target needs
// into ROOT (boot/vmlinuz-V, boot/config-V, lib/modules/V with
// modules.builtin(.modinfo) and the five modules), for tests that damage
// one of them.
func miniRoot(t *testing.T, dk *kernel.DebianKernel) (root, kernelPath, modDir string) {
	t.Helper()
	root = t.TempDir()
	pkgRoot := filepath.Dir(filepath.Dir(dk.Kernel))
	modDir = filepath.Join(root, "lib", "modules", dk.Release)
	files := []string{
		"boot/vmlinuz-" + dk.Release, "boot/config-" + dk.Release,
		"lib/modules/" + dk.Release + "/modules.builtin",
		"lib/modules/" + dk.Release + "/modules.builtin.modinfo",
	}
	for _, m := range []string{"scsi/scsi_common", "scsi/scsi_mod", "ata/libata", "ata/ata_piix", "scsi/sd_mod"} {
		files = append(files, "lib/modules/"+dk.Release+"/kernel/drivers/"+m+".ko")
	}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(pkgRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(root, f)), 0o755)
		if err := os.WriteFile(filepath.Join(root, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root, filepath.Join(root, "boot", "vmlinuz-"+dk.Release), modDir
}

// TestModularKernelBadInputs: each way a modular kernel cannot boot the
// image is refused before a byte is written, in one line naming the file
// and the fix.
func TestModularKernelBadInputs(t *testing.T) {
	dk := debianKernel(t)
	bb := hostBusyBox(t)
	xzBin := testutil.RequireTool(t, "xz", "xz-utils")
	cases := []struct {
		name   string
		damage func(t *testing.T, root, kernelPath, modDir string) Payload
		want   []string // substrings of the error
		errAs  any
	}{
		{"modules of another kernel version", func(t *testing.T, root, k, modDir string) Payload {
			// The same kernel file, its header's release string changed to
			// one release later: the modules' vermagic no longer matches.
			data, _ := os.ReadFile(k)
			i := bytes.Index(data, []byte(dk.Release+" ("))
			if i < 0 {
				t.Fatal("release string not in the kernel")
			}
			other := strings.Replace(dk.Release, "-57-", "-58-", 1)
			copy(data[i:], other)
			k2 := filepath.Join(root, "boot", "vmlinuz-"+other)
			os.WriteFile(k2, data, 0o644)
			return Payload{Kernel: k2, Modules: modDir}
		}, []string{"modules are for kernel " + dk.Release, "but the kernel is " + strings.Replace(dk.Release, "-57-", "-58-", 1), "--modules"}, new(*kmod.VersionMismatchError)},
		{"kernel without initrd support", func(t *testing.T, root, k, _ string) Payload {
			cfg := filepath.Join(root, "boot", "config-"+dk.Release)
			data, _ := os.ReadFile(cfg)
			os.WriteFile(cfg, bytes.ReplaceAll(data, []byte("CONFIG_BLK_DEV_INITRD=y"), []byte("# CONFIG_BLK_DEV_INITRD is not set")), 0o644)
			return Payload{Kernel: k}
		}, []string{"CONFIG_BLK_DEV_INITRD", "minidisk kernel --profile legacy"}, new(*initramfs.KernelError)},
		{"a .ko that is not ELF", func(t *testing.T, _, k, modDir string) Payload {
			os.WriteFile(filepath.Join(modDir, "kernel/drivers/ata/ata_piix.ko"), []byte("not a module\n"), 0o644)
			return Payload{Kernel: k}
		}, []string{"ata_piix.ko: not an ELF file", "reinstall"}, new(*kmod.NotELFError)},
		{"a module that does not exist", func(t *testing.T, _, k, modDir string) Payload {
			os.Remove(filepath.Join(modDir, "kernel/drivers/ata/libata.ko"))
			return Payload{Kernel: k}
		}, []string{"module libata not found (needed by ata_piix)", "--modules"}, new(*kmod.NotFoundError)},
		{"a truncated .ko.xz", func(t *testing.T, _, k, modDir string) Payload {
			ko := filepath.Join(modDir, "kernel/drivers/ata/ata_piix.ko")
			testutil.Run(t, xzBin, "--check=crc32", ko)
			data, _ := os.ReadFile(ko + ".xz")
			os.WriteFile(ko+".xz", data[:len(data)/2], 0o644)
			return Payload{Kernel: k}
		}, []string{"ata_piix.ko.xz: truncated xz stream", "reinstall"}, new(*kmod.TruncatedError)},
		{"no modules tree", func(t *testing.T, root, k, modDir string) Payload {
			os.RemoveAll(filepath.Join(root, "lib"))
			return Payload{Kernel: k}
		}, []string{"CONFIG_ATA_PIIX is not built into this kernel", "no modules tree was given or found", "--modules DIR"}, new(*initramfs.KernelError)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root, k, modDir := miniRoot(t, dk)
			p := c.damage(t, root, k, modDir)
			p.BusyBox = bb
			out := filepath.Join(t.TempDir(), "dk.img")
			_, err := Create(out, Options{Payload: p})
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			if !errors.As(err, c.errAs) {
				t.Errorf("error %T is not %T", err, c.errAs)
			}
			if _, serr := os.Stat(out); !os.IsNotExist(serr) {
				t.Errorf("%s was written", out)
			}
		})
	}
}

// TestNoInitramfsImage is the broken image of the issue: Debian's kernel
// and no initramfs. create can still make it (NoInitramfs, for doctor's
// tests), and its summary says it will not boot.
func TestNoInitramfsImage(t *testing.T) {
	dk := debianKernel(t)
	bb := hostBusyBox(t)
	img := filepath.Join(t.TempDir(), "dk.img")
	res := create(t, img, Options{Payload: Payload{Kernel: dk.Kernel, BusyBox: bb, NoInitramfs: true}})
	found := false
	for _, p := range res.Files {
		if strings.Contains(p.Why, "will not boot") && strings.Contains(p.Why, "ata_piix") {
			found = true
		}
	}
	if !found {
		t.Errorf("summary does not say the image will not boot: %+v", res.Files)
	}
	fsys := openFS(t, img, res)
	if _, err := fsys.Open("boot/initrd.img"); err == nil {
		t.Error("/boot/initrd.img exists")
	}
}

func openFS(t *testing.T, img string, res *Result) *ext2.Reader {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	l := res.DiskLayout()
	r, err := ext2.Open(f, l.OffsetBytes(), l.PartitionBytes())
	if err != nil {
		t.Fatal(err)
	}
	return r
}
