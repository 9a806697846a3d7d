package initramfs

import (
	"time"

	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/rootfs"
	"github.com/minidisk/minidisk/rootfs/cpio"
)

// staticBusyBox returns Debian's static BusyBox from the cache that
// scripts/fetch-busybox-static.sh fills.
// testEpoch is SOURCE_DATE_EPOCH for reproducible archives.
var testEpoch = time.Unix(1735689600, 0).UTC() // 2025-01-01

func staticBusyBox(t testing.TB) string {
	t.Helper()
	return testutil.RequireFile(t, StaticBusyBoxPath(), "run scripts/fetch-busybox-static.sh")
}

func writeCpio(t testing.TB, o Options) (string, []byte) {
	t.Helper()
	if o.Epoch.IsZero() {
		o.Epoch = testEpoch
	}
	out := filepath.Join(t.TempDir(), "initramfs.cpio.gz")
	if _, err := Build(out, false, o, cpio.Gzip); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return out, b
}

// extract unpacks a gzip'd cpio with GNU cpio (as root, device nodes too).
func extract(t *testing.T, archive string) string {
	t.Helper()
	cpioBin := testutil.RequireTool(t, "cpio", "cpio")
	dir := t.TempDir()
	cmd := exec.Command("sh", "-c", "gzip -dc \"$1\" | \"$2\" -i -d --quiet --no-absolute-filenames", "sh", archive, cpioBin)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gzip -dc | cpio -i: %v\n%s", err, out)
	}
	return dir
}

func TestInitramfsStatic(t *testing.T) {
	bb := staticBusyBox(t)
	path, a := writeCpio(t, Options{BusyBox: bb})
	_, b := writeCpio(t, Options{BusyBox: bb})
	if !bytes.Equal(a, b) {
		t.Error("two runs give different archives")
	}
	t.Logf("initramfs with static BusyBox: %d bytes gzip'd", len(a))
	dir := extract(t, path)
	for _, d := range baseDirs {
		if fi, err := os.Stat(filepath.Join(dir, d)); err != nil || !fi.IsDir() {
			t.Errorf("%s missing: %v", d, err)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "init"))
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("/init: %v %v", fi, err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "init")); string(got) != DefaultInit {
		t.Errorf("/init holds %q", got)
	}
	want, _ := os.ReadFile(bb)
	if got, _ := os.ReadFile(filepath.Join(dir, "bin/busybox")); !bytes.Equal(got, want) {
		t.Error("/bin/busybox differs from the input")
	}
	// The applet links are what `busybox --list-full` says.
	out, err := exec.Command(bb, "--list-full").Output()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Fields(string(out)) {
		if l == "bin/busybox" { // some builds list themselves
			continue
		}
		target, err := os.Readlink(filepath.Join(dir, l))
		if err != nil || target != "/bin/busybox" {
			t.Errorf("%s -> %q, %v", l, target, err)
		}
		n++
	}
	if n < 100 {
		t.Errorf("only %d applets", n)
	}
	if os.Geteuid() == 0 {
		fi, err := os.Lstat(filepath.Join(dir, "dev/console"))
		if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
			t.Errorf("/dev/console: %v %v", fi, err)
		}
		// The tree runs: the static BusyBox needs nothing else.
		out, err := exec.Command("chroot", dir, "/bin/sh", "-c", "echo MARK$((6*7))").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "MARK42") {
			t.Errorf("chroot sh: %v\n%s", err, out)
		}
	}
}

// TestInitramfsDynamic packs the host's dynamic BusyBox; its interpreter
// and libraries must come along so that the shell runs inside the tree.
func TestInitramfsDynamic(t *testing.T) {
	bb := testutil.RequireFile(t, "/bin/busybox", "apt-get install busybox")
	f, err := elf.Open(bb)
	if err != nil {
		t.Fatal(err)
	}
	interp := ""
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			p.ReadAt(b, 0)
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	f.Close()
	if interp == "" {
		t.Skip("/bin/busybox is static here")
	}
	path, _ := writeCpio(t, Options{BusyBox: bb})
	dir := extract(t, path)
	if _, err := os.Stat(filepath.Join(dir, interp)); err != nil {
		t.Errorf("interpreter %s does not resolve inside the tree: %v", interp, err)
	}
	testutil.RequireRoot(t)
	out, err := exec.Command("chroot", dir, "/bin/sh", "-c", "echo MARK$((6*7))").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "MARK42") {
		t.Errorf("chroot sh with the dynamic BusyBox: %v\n%s", err, out)
	}
}

func TestInitramfsAddAndInit(t *testing.T) {
	bb := staticBusyBox(t)
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "motd"), []byte("hi\n"), 0o644)
	os.MkdirAll(filepath.Join(src, "tree/sub"), 0o755)
	os.WriteFile(filepath.Join(src, "tree/sub/f"), []byte("f"), 0o600)
	init := filepath.Join(src, "myinit")
	os.WriteFile(init, []byte("#!/bin/sh\necho custom\nexec sh\n"), 0o755)
	tree, err := Tree(Options{BusyBox: bb, Init: init, Epoch: testEpoch,
		Adds: []Add{{Src: filepath.Join(src, "motd"), Dst: "/etc/motd"}, {Src: filepath.Join(src, "tree"), Dst: "/opt/tree"}}})
	if err != nil {
		t.Fatal(err)
	}
	for name, typ := range map[string]rootfs.Type{"/etc/motd": rootfs.TypeReg, "/opt/tree/sub/f": rootfs.TypeReg, "/init": rootfs.TypeReg, "/dev/console": rootfs.TypeChar} {
		if e, ok := tree.Lookup(name); !ok || e.Type != typ {
			t.Errorf("%s: %v", name, e)
		}
	}
	for _, e := range tree.Entries() {
		if e.ModTime.After(testEpoch) {
			t.Errorf("%s: time %v after the epoch", e.Name, e.ModTime)
		}
	}
	if e, _ := tree.Lookup("/init"); e.Size != int64(len("#!/bin/sh\necho custom\nexec sh\n")) {
		t.Errorf("/init is not the given file")
	}
}

// TestBadInputs: a BusyBox that is not ELF, an /init that is not
// executable or not a script: each a one-line error naming the file, and no output file.
func TestBadInputs(t *testing.T) {
	dir := t.TempDir()
	notELF := filepath.Join(dir, "busybox.bad")
	os.WriteFile(notELF, []byte("#!/bin/sh\necho not busybox\n"), 0o755)
	noExec := filepath.Join(dir, "init.noexec")
	os.WriteFile(noExec, []byte("#!/bin/sh\nexec sh\n"), 0o644)
	noShebang := filepath.Join(dir, "init.text")
	os.WriteFile(noShebang, []byte("mount -t proc none /proc\n"), 0o755)
	bb := staticBusyBox(t)

	out := filepath.Join(dir, "out.cpio.gz")
	cases := []struct {
		name string
		run  func() error
		want string
	}{
		{"busybox not ELF", func() error {
			_, err := Build(out, false, Options{BusyBox: notELF}, cpio.Gzip)
			return err
		}, "busybox.bad: not an ELF file"},
		{"busybox missing", func() error {
			_, err := Build(out, false, Options{BusyBox: filepath.Join(dir, "nope")}, cpio.Gzip)
			return err
		}, "nope: no such file"},
		{"init not executable", func() error {
			_, err := Build(out, false, Options{BusyBox: bb, Init: noExec}, cpio.Gzip)
			return err
		}, "init.noexec: not executable"},
		{"init not a script", func() error {
			_, err := Build(out, false, Options{BusyBox: bb, Init: noShebang}, cpio.Gzip)
			return err
		}, "init.text: neither a #! script nor an ELF binary"},
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
		case "busybox.bad", "init.noexec", "init.text":
		default:
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func TestParseAdd(t *testing.T) {
	if a, err := ParseAdd("./x:y:/opt/x"); err != nil || a.Src != "./x:y" || a.Dst != "/opt/x" {
		t.Errorf("%+v %v", a, err)
	}
	for _, bad := range []string{"x", ":/a", "x:", "x:rel"} {
		if _, err := ParseAdd(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func BenchmarkInitramfsStatic(b *testing.B) {
	bb := staticBusyBox(b)
	out := filepath.Join(b.TempDir(), "initramfs.cpio.gz")
	for b.Loop() {
		if _, err := Build(out, true, Options{BusyBox: bb, Epoch: testEpoch}, cpio.Gzip); err != nil {
			b.Fatal(err)
		}
	}
}
