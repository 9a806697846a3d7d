package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/rootfs/loopmount"
)

// TestLsMatchesGNULs checks `minidisk ls -l -R` against GNU ls -lnR on the
// kernel's mount of the same filesystem (made by the real mke2fs and
// debugfs): every header, mode string (setuid, setgid, sticky), link count,
// owner, size or device numbers, time and symlink target.
func TestLsMatchesGNULs(t *testing.T) {
	testutil.RequireRoot(t)
	mke2fs := testutil.RequireTool(t, "mke2fs", "e2fsprogs")
	debugfs := testutil.RequireTool(t, "debugfs", "e2fsprogs")
	lsBin := testutil.RequireTool(t, "ls", "coreutils")
	tmp := t.TempDir()
	st := filepath.Join(tmp, "staging")
	for _, d := range []string{"etc", "bin", "tmp/sub"} {
		if err := os.MkdirAll(filepath.Join(st, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, data string, mode os.FileMode) {
		full := filepath.Join(st, p)
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(full, mode); err != nil {
			t.Fatal(err)
		}
	}
	write("etc/hostname", "minidisk\n", 0o644)
	write("bin/su", "#!/bin/sh\n", 0o755|os.ModeSetuid|os.ModeSetgid)
	write("bin/nox", "", 0o600|os.ModeSetuid|os.ModeSetgid|os.ModeSticky)
	if err := os.Chmod(filepath.Join(st, "tmp"), 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../etc/hostname", filepath.Join(st, "bin/link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(st, "etc/hostname"), filepath.Join(st, "hard")); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(tmp, "fs.img")
	cmd := exec.Command(mke2fs, "-q", "-F", "-t", "ext2", "-b", "1024", "-E", "root_owner=0:0", "-d", st, img, "4096k")
	cmd.Env = append(os.Environ(), "E2FSPROGS_FAKE_TIME=1500000000", "MKE2FS_CONFIG=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mke2fs: %v\n%s", err, out)
	}
	cmds := filepath.Join(tmp, "cmds")
	if err := os.WriteFile(cmds, []byte("mkdir dev\ncd /dev\nmknod console c 5 1\nsif console mode 020620\nmknod sda b 8 0\nsif sda mode 060660\nsif sda uid 6\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, debugfs, "-w", "-f", cmds, img)

	mnt := filepath.Join(tmp, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := loopmount.Mount(loopmount.Options{Image: img, Dir: mnt}); err != nil {
		t.Fatalf("Mount: %v", err)
	}
	ls := exec.Command(lsBin, "-lnR", "--time-style=+%Y-%m-%d %H:%M", mnt)
	ls.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	out, err := ls.Output()
	if _, uerr := loopmount.Unmount(mnt); uerr != nil {
		t.Errorf("Unmount: %v", uerr)
	}
	if err != nil {
		t.Fatalf("ls -lnR: %v", err)
	}
	var want []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "total ") {
			continue
		}
		if strings.HasPrefix(line, mnt) && strings.HasSuffix(line, ":") {
			line = "/" + strings.TrimPrefix(strings.TrimPrefix(line, mnt), "/")
		}
		want = append(want, strings.Join(strings.Fields(line), " "))
	}
	stdout, errs, code := run(t, "ls", "-l", "-R", img+":/")
	if code != 0 {
		t.Fatalf("minidisk ls -l -R: exit %d: %s", code, errs)
	}
	var got []string
	for _, line := range strings.Split(stdout, "\n") {
		got = append(got, strings.Join(strings.Fields(line), " "))
	}
	if !slices.Equal(got, want) {
		t.Errorf("minidisk ls -l -R differs from GNU ls -lnR on the mount:\ngot:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
