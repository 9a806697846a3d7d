package initramfs

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/rootfs"
	"github.com/minidisk/minidisk/rootfs/cpio"
)

// fakeModules writes three "modules" (copies of a small host ELF file, which
// is all ReadModule checks) as .ko, .ko.xz (host xz) and .ko.zst (host
// zstd), and returns them in load order with the original bytes.
func fakeModules(t *testing.T) ([]Module, []byte) {
	t.Helper()
	elfBytes, err := os.ReadFile(testutil.RequireFile(t, "/bin/true", "coreutils"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, d := range []string{"kernel/a", "kernel/b"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	plain := filepath.Join(dir, "kernel/a/first.ko")
	os.WriteFile(plain, elfBytes, 0o644)
	xzIn := filepath.Join(dir, "kernel/b/second.ko")
	os.WriteFile(xzIn, elfBytes, 0o644)
	testutil.Run(t, testutil.RequireTool(t, "xz", "xz-utils"), "--check=crc32", "--lzma2=dict=1MiB", xzIn)
	zstIn := filepath.Join(dir, "kernel/b/third.ko")
	os.WriteFile(zstIn, elfBytes, 0o644)
	testutil.Run(t, testutil.RequireTool(t, "zstd", "zstd"), "-q", "--rm", zstIn)
	return []Module{
		{Name: "first", File: plain, Rel: "kernel/a/first.ko"},
		{Name: "second", File: xzIn + ".xz", Rel: "kernel/b/second.ko.xz"},
		{Name: "third", File: zstIn + ".zst", Rel: "kernel/b/third.ko.zst"},
	}, elfBytes
}

func TestModularTree(t *testing.T) {
	bb := staticBusyBox(t)
	mods, elfBytes := fakeModules(t)
	o := ModularOptions{BusyBox: bb, Release: "6.1.0-test", Modules: mods,
		Drivers: []string{"second"}, RootFSType: "ext4", Epoch: testEpoch}
	tree, err := ModularTree(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"first.ko", "../b/second.ko", "../b/third.ko"} {
		p := filepath.Join("/lib/modules/6.1.0-test/kernel/a", name)
		e, ok := tree.Lookup(filepath.Clean(p))
		if !ok {
			t.Fatalf("%s missing from the tree", p)
		}
		rc, _ := e.Content.Open()
		var got bytes.Buffer
		got.ReadFrom(rc)
		rc.Close()
		if !bytes.Equal(got.Bytes(), elfBytes) {
			t.Errorf("%s: not the decompressed module", p)
		}
	}
	if e, ok := tree.Lookup("/dev/console"); !ok || e.Type != rootfs.TypeChar || e.Devmajor != 5 || e.Devminor != 1 {
		t.Errorf("/dev/console: %+v", e)
	}
	if e, ok := tree.Lookup(NewRoot); !ok || e.Type != rootfs.TypeDir {
		t.Errorf("%s: %+v", NewRoot, e)
	}
	e, ok := tree.Lookup("/init")
	if !ok || e.Mode != 0o755 {
		t.Fatalf("/init: %+v", e)
	}
	rc, _ := e.Content.Open()
	var init bytes.Buffer
	init.ReadFrom(rc)
	rc.Close()
	script := init.String()
	// Load order is the given order.
	a := strings.Index(script, "kernel/a/first.ko")
	b := strings.Index(script, "kernel/b/second.ko")
	c := strings.Index(script, "kernel/b/third.ko")
	if a < 0 || b < a || c < b {
		t.Errorf("modules not in load order in /init:\n%s", script)
	}
	// The script parses (BusyBox ash, the shell that runs it).
	f := filepath.Join(t.TempDir(), "init")
	os.WriteFile(f, init.Bytes(), 0o755)
	if out, err := exec.Command(bb, "sh", "-n", f).CombinedOutput(); err != nil {
		t.Errorf("busybox sh -n /init: %v\n%s", err, out)
	}

	// Deterministic: two builds give the same archive.
	var x, y bytes.Buffer
	if err := Write(&x, tree, cpio.Gzip); err != nil {
		t.Fatal(err)
	}
	tree2, err := ModularTree(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(&y, tree2, cpio.Gzip); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x.Bytes(), y.Bytes()) {
		t.Error("two builds differ")
	}
	var m1, m2 bytes.Buffer
	if err := WriteModular(&m1, tree); err != nil {
		t.Fatal(err)
	}
	if err := WriteModular(&m2, tree2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m1.Bytes(), m2.Bytes()) {
		t.Error("WriteModular: two builds differ")
	}
	plain := func(b []byte) []byte {
		c := exec.Command("gzip", "-dc")
		c.Stdin = bytes.NewReader(b)
		out, err := c.Output()
		if err != nil {
			t.Fatalf("gzip -dc: %v", err)
		}
		return out
	}
	if !bytes.Equal(plain(m1.Bytes()), plain(x.Bytes())) {
		t.Error("WriteModular and Write hold different archives")
	}
	// GNU cpio lists what the kernel will unpack.
	cpioBin := testutil.RequireTool(t, "cpio", "cpio")
	cmd := exec.Command("sh", "-c", `gzip -dc | "$0" -t --quiet -v`, cpioBin)
	cmd.Stdin = bytes.NewReader(x.Bytes())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -t: %v\n%s", err, out)
	}
	for _, want := range []string{" init\n", "lib/modules/6.1.0-test/kernel/b/third.ko\n", "dev/console\n", "newroot\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("cpio -t lacks %q", want)
		}
	}
	if !regexp.MustCompile(`(?m)^crw------- .* 5,\s+1 .*dev/console$`).MatchString(string(out)) {
		t.Errorf("cpio -tv: /dev/console is not char 5,1:\n%s", out)
	}
}

// stubbedInit returns /init rewritten to run on the host harmlessly: the
// host's POSIX sh runs it (BusyBox ash would run its own mount applet
// whatever PATH says), mount, umount, insmod, switch_root and findfs are
// stubs that log their arguments, /proc files are test files, and a
// regular file stands for the block device.
func stubbedInit(t *testing.T, script, cmdline string) (initPath, logPath string) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.MkdirAll(bin, 0o755)
	logPath = filepath.Join(dir, "log")
	for _, stub := range []string{"mount", "umount", "insmod", "switch_root", "findfs"} {
		os.WriteFile(filepath.Join(bin, stub), []byte("#!/bin/sh\necho \""+stub+" $*\" >> "+logPath+"\n"), 0o755)
	}
	for _, c := range []string{"sh", "cat", "cut", "tr", "sleep", "printf"} {
		p, err := exec.LookPath(c)
		if err != nil {
			testutil.Missing(t, c+" not found")
		}
		os.Symlink(p, filepath.Join(bin, c))
	}
	os.WriteFile(filepath.Join(dir, "cmdline"), []byte(cmdline+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "modules"), []byte("a 16384 0 - Live 0x0\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "sda1"), nil, 0o644)
	for from, to := range map[string]string{
		"PATH=/sbin:/bin:/usr/sbin:/usr/bin": "PATH=" + bin,
		"/proc/cmdline":                      filepath.Join(dir, "cmdline"),
		"/proc/modules":                      filepath.Join(dir, "modules"),
		`[ -b "$root" ]`:                     `[ -f "$root" ]`,
		`"/newroot$init"`:                    `"` + dir + `$init"`,
		"/newroot/sbin/init":                 dir + "/sbin/init",
		"/sys/module/":                       dir + "/sys/module/",
		"[ -d /newroot/dev ]":                "[ -d / ]",
	} {
		if !strings.Contains(script, from) {
			t.Fatalf("/init no longer contains %q; update the test", from)
		}
		script = strings.ReplaceAll(script, from, to)
	}
	os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
	initPath = filepath.Join(dir, "init")
	os.WriteFile(initPath, []byte(script), 0o755)
	return initPath, logPath
}

// TestModularInitScript checks what /init does with the kernel command
// line: modules, mount options, the init it hands over to.
func TestModularInitScript(t *testing.T) {
	cases := []struct {
		cmdline, fstype string
		want            []string
	}{
		{"root=ROOT rw console=ttyS0 init=/bin/sh", "ext4", []string{
			"mount -t proc proc /proc", "mount -t devtmpfs devtmpfs /dev",
			"insmod /lib/modules/R/a.ko", "insmod /lib/modules/R/b.ko",
			"mount -t ext4 -o rw ROOT /newroot", "mount --move /dev /newroot/dev", "switch_root /newroot /bin/sh"}},
		{"root=ROOT ro rootfstype=ext2", "ext4", []string{"mount -t ext2 -o ro ROOT /newroot", "switch_root /newroot /bin/sh"}},
		{"root=ROOT", "", []string{"mount -o rw ROOT /newroot", "switch_root /newroot /bin/sh"}},
		{"root=UUID=1234-5678", "", []string{"findfs UUID=1234-5678"}},
	}
	for _, c := range cases {
		script := ModularInit([]string{"/lib/modules/R/a.ko", "/lib/modules/R/b.ko"}, []string{"a"}, c.fstype, 300_000_000)
		f, log := stubbedInit(t, script, "")
		dir := filepath.Dir(f)
		root := filepath.Join(dir, "sda1")
		os.WriteFile(filepath.Join(dir, "cmdline"), []byte(strings.ReplaceAll(c.cmdline, "ROOT", root)+"\n"), 0o644)
		os.MkdirAll(filepath.Join(dir, "newroot-unused"), 0o755)
		cmd := exec.Command(filepath.Join(dir, "bin", "sh"), f)
		cmd.Stdin = strings.NewReader("")
		out, _ := cmd.CombinedOutput()
		got, _ := os.ReadFile(log)
		for _, w := range c.want {
			w = strings.ReplaceAll(w, "ROOT", root)
			w = strings.ReplaceAll(w, "/newroot", NewRoot)
			if !strings.Contains(string(got), w+"\n") {
				t.Errorf("cmdline %q: /init did not run %q; it ran:\n%s%s", c.cmdline, w, got, out)
			}
		}
	}
}

// TestModularTimeout: a root device that never appears ends in one line
// naming the device and the unbound driver, then a shell.
func TestModularTimeout(t *testing.T) {
	script := ModularInit(nil, []string{"ata_piix", "sd_mod"}, "", 300_000_000)
	f, _ := stubbedInit(t, script, "root=/dev/sdz9 rw")
	dir := filepath.Dir(f)
	// sd_mod has a device bound; ata_piix has none.
	for _, d := range []string{"sys/module/ata_piix/drivers/pci:ata_piix", "sys/module/sd_mod/drivers/scsi:sd"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
		os.Symlink("../../../../module", filepath.Join(dir, d, "module"))
	}
	os.Symlink("/nonexistent/0:0:0:0", filepath.Join(dir, "sys/module/sd_mod/drivers/scsi:sd/0:0:0:0"))
	cmd := exec.Command(filepath.Join(dir, "bin", "sh"), f)
	cmd.Stdin = strings.NewReader("echo RESCUE$((6*7))\n")
	out, _ := cmd.CombinedOutput()
	want := InitMessagePrefix + " root device /dev/sdz9 did not appear within 300ms; not bound: ata_piix; loaded: a \n"
	if !strings.Contains(string(out), want) || !strings.Contains(string(out), "RESCUE42") {
		t.Errorf("want %q and a shell, got:\n%s", want, out)
	}
}

func TestModularBadModules(t *testing.T) {
	bb := staticBusyBox(t)
	mods, _ := fakeModules(t)
	dir := t.TempDir()
	notELF := filepath.Join(dir, "notelf.ko")
	os.WriteFile(notELF, []byte("this is no module\n"), 0o644)
	data, _ := os.ReadFile(mods[1].File)
	truncated := filepath.Join(dir, "cut.ko.xz")
	os.WriteFile(truncated, data[:len(data)/2], 0o644)
	for _, c := range []struct {
		file, want string
	}{
		{notELF, "notelf.ko: not an ELF file"},
		{truncated, "cut.ko.xz: truncated xz stream"},
		{filepath.Join(dir, "missing.ko"), "missing.ko: cannot read the module"},
	} {
		_, err := ModularTree(ModularOptions{BusyBox: bb, Release: "R", Modules: []Module{{Name: "x", File: c.file}}, Epoch: testEpoch})
		var me *ModuleError
		if err == nil || !errors.As(err, &me) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "--modules") {
			t.Errorf("%s: error %v, want one line with %q and the fix", c.file, err, c.want)
		}
	}
}

// TestFetchStaticBusyBox fetches Debian's busybox-static into an empty
// cache, as scripts/fetch-busybox-static.sh does, and checks it is a static
// BusyBox that runs.
func TestFetchStaticBusyBox(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads a package")
	}
	testutil.RequireTool(t, "apt-get", "apt")
	testutil.RequireTool(t, "dpkg-deb", "dpkg")
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	p, err := FetchStaticBusyBox(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p, os.Getenv("XDG_CACHE_HOME")) {
		t.Errorf("fetched to %s, outside the cache", p)
	}
	f, err := elf.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			t.Errorf("%s has an interpreter: not static", p)
		}
	}
	if out, err := exec.Command(p, "sh", "-c", "echo MARK$((6*7))").CombinedOutput(); err != nil || !strings.Contains(string(out), "MARK42") {
		t.Errorf("%s sh: %v %s", p, err, out)
	}
	// A second call finds it in the cache.
	if p2, err := FetchStaticBusyBox(context.Background()); err != nil || p2 != p {
		t.Errorf("second fetch: %s %v", p2, err)
	}
}
