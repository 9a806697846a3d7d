package main

// Regression tests of issue 15, one per group of the issue. The contract
// itself (help, unknown commands and flags, version, completion, man page)
// is contract_test.go.

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel/kerneltest"
)

// legacyInputs returns a kernel and BusyBox for create and rootfs add.
func legacyInputs(t *testing.T) (kernel, busybox string) {
	t.Helper()
	bb := testutil.RequireTool(t, "busybox", "busybox")
	testutil.RequireFile(t, "/usr/lib/grub/x86_64-pc/stage2", "apt-get install grub-legacy")
	return kerneltest.FakeBzImage(t), bb
}

// snapshot is a directory's names with their contents, to prove a failed
// command wrote nothing.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			l, _ := os.Readlink(p)
			m[e.Name()] = "-> " + l
			continue
		}
		b, _ := os.ReadFile(p)
		m[e.Name()] = string(b)
	}
	return m
}

func sameSnapshot(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Group 3: every command that modifies an existing image says so in its
// help, goes through a copy renamed into place, follows a symlink to its
// target, keeps the mode, and refuses to destroy content without --force.
func TestIssue15EditRule(t *testing.T) {
	k, bb := legacyInputs(t)
	editors := map[string][]string{
		"part":         {"part", "IMG", "--disk-id", "1234abcd"},
		"mkfs":         {"mkfs", "IMG", "--force"},
		"rootfs add":   {"rootfs", "add", "IMG", "--kernel", k, "--busybox", bb},
		"grub install": {"grub", "install", "IMG"},
		"grub config":  {"grub", "config", "IMG", "--timeout", "3"},
	}
	// The help of exactly these commands says they modify IMG.
	var said []string
	for _, cc := range allCommands(t) {
		if strings.Contains(cc.cmd.Description, "Modifies IMG") {
			said = append(said, cc.name())
		}
	}
	var want []string
	for n := range editors {
		want = append(want, n)
	}
	sort.Strings(said)
	sort.Strings(want)
	if strings.Join(said, ",") != strings.Join(want, ",") {
		t.Fatalf("commands whose help says they modify IMG: %v, want %v", said, want)
	}
	for _, name := range want {
		if help, _, _ := run(t, append(strings.Fields(name), "--help")...); !strings.Contains(help, "Modifies IMG") {
			t.Errorf("%s --help does not say it modifies IMG", name)
		}
	}

	dir := t.TempDir()
	real := filepath.Join(dir, "real.img")
	link := filepath.Join(dir, "link.img")
	if _, e, code := run(t, "create", real, "--kernel", k, "--busybox", bb, "--size", "12M", "-q"); code != 0 {
		t.Fatal(e)
	}
	os.Chmod(real, 0o600)
	os.Symlink("real.img", link)
	for _, name := range []string{"grub config", "rootfs add", "grub install", "part", "mkfs"} {
		before, _ := os.ReadFile(real)
		args := append([]string(nil), editors[name]...)
		for i, a := range args {
			if a == "IMG" {
				args[i] = link
			}
		}
		if out, e, code := run(t, args...); code != 0 {
			t.Fatalf("%s through a symlink: exit %d\n%s%s", name, code, out, e)
		}
		if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Fatalf("%s replaced the symlink with a file", name)
		}
		fi, _ := os.Stat(real)
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s changed the mode to %v", name, fi.Mode().Perm())
		}
		after, _ := os.ReadFile(real)
		if bytes.Equal(before, after) && name != "grub install" {
			t.Fatalf("%s through a symlink left the target unchanged", name)
		}
		if n := dirEntries(t, dir); len(n) != 2 {
			t.Fatalf("%s left files: %v", name, n)
		}
	}

	// Refusals: a new table that orphans the filesystem, ext2 over ext2.
	snap := snapshot(t, dir)
	mustFail(t, "--force", "part", real, "--align", "1MiB")
	mustFail(t, "--force", "mkfs", real)
	if !sameSnapshot(snap, snapshot(t, dir)) {
		t.Fatal("a refused edit changed the directory")
	}
	// A table that keeps the filesystem where it is, is fine.
	if _, e, code := run(t, "part", real); code != 0 {
		t.Fatalf("part with the same layout: %s", e)
	}
}

// Group 4: numeric flags are checked with their range, and the same flag
// means the same in every command.
func TestIssue15FlagRanges(t *testing.T) {
	k, bb := legacyInputs(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "d.img")
	if _, e, code := run(t, "image", "create", img, "--size", "8M"); code != 0 {
		t.Fatal(e)
	}
	snap := snapshot(t, dir)
	for _, c := range []struct {
		want string
		args []string
	}{
		{"--start 0", []string{"part", img, "--start", "0"}},
		{"--part-size \"0\"", []string{"part", img, "--part-size", "0"}},
		{"--disk-id \"12zz\"", []string{"part", img, "--disk-id", "12zz"}},
		{"--disk-id \"0\"", []string{"part", img, "--disk-id", "0"}},
		{"--block-size 3", []string{"part", img, "--block-size", "3"}},
		{"--start and --align", []string{"part", img, "--start", "63", "--align", "1MiB"}},
		{"--timeout -3", []string{"create", filepath.Join(dir, "n.img"), "--kernel", k, "--busybox", bb, "--timeout", "-3"}},
		{"--timeout -1", []string{"grub", "config", "--timeout", "-1"}},
		{"--timeout -1", []string{"rootfs", "add", img, "--kernel", k, "--timeout", "-1"}},
		{"--default -1", []string{"grub", "config", "--default", "-1"}},
		{"--size \"0\"", []string{"image", "create", filepath.Join(dir, "z.img"), "--size", "0"}},
		{"--size \"0\"", []string{"create", filepath.Join(dir, "z.img"), "--kernel", k, "--size", "0"}},
		{"--size \"0\"", []string{"plan", "--size", "0"}},
		{"--size 1000", []string{"image", "create", filepath.Join(dir, "z.img"), "--size", "1000"}},
		{"--inode-size 100", []string{"mkfs", img, "--inode-size", "100"}},
		{"--blocks \"0\"", []string{"mkfs", img, "--blocks", "0"}},
		{"--partition 0", []string{"grub", "install", img, "--partition", "0"}},
		{"--label", []string{"mkfs", img, "--label", "a-label-longer-than-16"}},
	} {
		oneLine(t, exitUsage, c.args, c.want)
	}
	if !sameSnapshot(snap, snapshot(t, dir)) {
		t.Fatal("a refused flag wrote something")
	}

	// --append adds arguments in grub config as in create: root= stays.
	out, _, code := run(t, "grub", "config", "--append", "quiet")
	if code != 0 || !strings.Contains(out, "root=/dev/sda1 rw console=ttyS0 init=/bin/sh quiet") {
		t.Fatalf("grub config --append quiet:\n%s", out)
	}
	full := filepath.Join(dir, "full.img")
	if _, e, code := run(t, "create", full, "--kernel", k, "--busybox", bb, "--append", "quiet", "-q"); code != 0 {
		t.Fatal(e)
	}
	conf, _, _ := run(t, "cat", full+":/boot/grub/grub.conf")
	if !strings.Contains(conf, "root=/dev/sda1 rw console=ttyS0 init=/bin/sh quiet") || !strings.Contains(out, conf[strings.Index(conf, "kernel "):]) {
		t.Fatalf("create --append and grub config --append differ:\ncreate:\n%s\ngrub config:\n%s", conf, out)
	}
}

// Group 5: create, rootfs add and grub config run doctor's checks before
// the rename, and refuse with doctor's finding.
func TestIssue15CreateChecksWhatItBuilt(t *testing.T) {
	k, bb := legacyInputs(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "ash.img")
	oneLine(t, exitFailure, []string{"create", img, "--kernel", k, "--busybox", bb, "--append", "init=/bin/ash", "-q"}, "would not boot", "/bin/ash", "--no-check")
	if n := dirEntries(t, dir); len(n) != 0 {
		t.Fatalf("refused create left %v", n)
	}
	if _, e, code := run(t, "create", img, "--kernel", k, "--busybox", bb, "--append", "init=/bin/ash", "-q", "--no-check"); code != 0 {
		t.Fatalf("--no-check: %s", e)
	}
	if _, _, code := run(t, "doctor", img); code != 1 {
		t.Fatalf("doctor on the --no-check image: exit %d, want 1", code)
	}
	good := filepath.Join(dir, "good.img")
	if _, e, code := run(t, "create", good, "--kernel", k, "--busybox", bb, "-q"); code != 0 {
		t.Fatal(e)
	}
	before, _ := os.ReadFile(good)
	oneLine(t, exitFailure, []string{"grub", "config", good, "--kernel", "/boot/nope"}, "would not boot", "--no-check")
	oneLine(t, exitFailure, []string{"rootfs", "add", good, "--kernel", k, "--busybox", bb, "--append", "init=/bin/ash"}, "would not boot")
	if after, _ := os.ReadFile(good); !bytes.Equal(before, after) {
		t.Fatal("a refused edit changed the image")
	}

	// mkfs --blocks naive makes the demo's broken image on purpose, with a
	// warning; doctor finds the overrun.
	demo := filepath.Join(dir, "demo.img")
	run(t, "image", "create", demo, "--size", "8M")
	run(t, "part", demo, "--cylinder-align")
	out, stderr, code := run(t, "mkfs", demo, "--blocks", "naive")
	if code != 0 || !strings.Contains(out, "8160 blocks") || !strings.Contains(stderr, "warning") || !strings.Contains(stderr, "159 more") {
		t.Fatalf("mkfs --blocks naive: %d\n%s%s", code, out, stderr)
	}
	rep, _, _ := run(t, "doctor", "--json", demo)
	if !strings.Contains(rep, `"overrun_blocks": 159`) {
		t.Fatalf("doctor does not see the overrun:\n%s", rep)
	}
}

// Group 6: 40+ bad inputs across the commands: each error is one line that
// names the file or flag and the fix, the exit status is right, no raw Go
// error, nothing written.
func TestIssue15BadInputs(t *testing.T) {
	k, bb := legacyInputs(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.img")
	if _, e, code := run(t, "create", good, "--kernel", k, "--busybox", bb, "-q"); code != 0 {
		t.Fatal(e)
	}
	empty := filepath.Join(dir, "empty.img")
	os.WriteFile(empty, nil, 0o644)
	blank := filepath.Join(dir, "blank.img")
	run(t, "image", "create", blank, "--size", "8M")
	nope := filepath.Join(dir, "nope.img")
	txt := filepath.Join(dir, "notes.txt")
	os.WriteFile(txt, []byte("hello\n"), 0o644)
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	snap := snapshot(t, dir)

	cases := []struct {
		code int
		args []string
		want []string // substrings: the file or flag, and the fix
	}{
		{exitUsage, []string{"imag", "create"}, []string{`"imag"`, "did you mean"}},
		{exitUsage, []string{"image", "create"}, []string{"usage", "IMG", "--size"}},
		{exitUsage, []string{"image", "create", nope}, []string{"--size", "required"}},
		{exitUsage, []string{"image", "create", nope, "--size", "12X"}, []string{"--size", "unknown unit"}},
		{exitUsage, []string{"image", "create", nope, "--size", "8mb"}, []string{"--size", "8MB"}},
		{exitFailure, []string{"image", "create", good, "--size", "8M"}, []string{good, "--force"}},
		{exitFailure, []string{"part", nope}, []string{nope, "image create"}},
		{exitFailure, []string{"part", "/dev/null"}, []string{"/dev/null", "flash"}},
		{exitFailure, []string{"part", sub}, []string{sub, "not a regular file"}},
		{exitFailure, []string{"part", empty, "--align", "1MiB"}, []string{empty}},
		{exitUsage, []string{"part", good, "--geometry", "300/63"}, []string{"--geometry", "255"}},
		{exitFailure, []string{"plan", nope}, []string{nope, "image create"}},
		{exitFailure, []string{"plan", blank}, []string{blank, "minidisk part", "--size"}},
		{exitUsage, []string{"plan"}, []string{"usage", "--size"}},
		{exitUsage, []string{"plan", good, "--size", "8M"}, []string{"usage"}},
		{exitUsage, []string{"plan", "--size", "8M", "--picture", "all"}, []string{"--picture", "planned"}},
		{exitFailure, []string{"plan", "--size", "4M", "--cylinder-align"}, []string{"cylinder"}},
		{exitFailure, []string{"mkfs", nope}, []string{nope, "image create"}},
		{exitFailure, []string{"mkfs", blank}, []string{blank, "minidisk part"}},
		{exitFailure, []string{"mkfs", empty}, []string{empty}},
		{exitUsage, []string{"mkfs", good, "--blocks", "lots"}, []string{"--blocks", "naive"}},
		{exitFailure, []string{"rootfs", "add", nope, "--kernel", k, "--busybox", bb}, []string{nope, "create"}},
		{exitFailure, []string{"rootfs", "add", blank, "--kernel", k, "--busybox", bb}, []string{blank, "minidisk part"}},
		{exitUsage, []string{"rootfs", "add", good}, []string{"--kernel", "required"}},
		{exitFailure, []string{"rootfs", "add", good, "--kernel", filepath.Join(dir, "bz")}, []string{"bz"}},
		{exitFailure, []string{"rootfs", "add", good, "--kernel", txt}, []string{txt, "bzImage"}},
		{exitFailure, []string{"grub", "install", empty}, []string{empty}},
		{exitFailure, []string{"grub", "install", nope}, []string{nope}},
		{exitFailure, []string{"grub", "install", blank}, []string{blank}},
		{exitUsage, []string{"grub", "install", good, "--via", "usb"}, []string{"--via", "floppy"}},
		{exitFailure, []string{"grub", "install", good, "--grub-dir", sub}, []string{sub}},
		{exitUsage, []string{"grub", "config", good, "--out", filepath.Join(dir, "g.conf")}, []string{"IMG or --out"}},
		{exitFailure, []string{"grub", "config", "--out", good}, []string{good, "--force"}},
		{exitUsage, []string{"grub", "config", "--title", "a\nb"}, []string{"title", "line break"}},
		{exitFailure, []string{"grub", "config", nope}, []string{nope}},
		{exitFailure, []string{"ls", nope}, []string{nope}},
		{exitFailure, []string{"ls", good + ":/nothere"}, []string{"/nothere"}},
		{exitFailure, []string{"ls", "a:" + nope}, []string{"a:" + nope}},
		{exitFailure, []string{"cat", good}, []string{good, "IMG:PATH"}},
		{exitFailure, []string{"cat", good + ":/bin"}, []string{"/bin"}},
		{exitFailure, []string{"cat", txt + ":/x"}, []string{txt}},
		{exitFailure, []string{"libs", filepath.Join(dir, "nolib")}, []string{"nolib"}},
		{exitFailure, []string{"libs", txt}, []string{txt}},
		{exitUsage, []string{"libs"}, []string{"usage"}},
		{exitFailure, []string{"libs", "--root", nope, "/bin/sh"}, []string{"--root"}},
		{2, []string{"doctor", nope}, []string{nope}},
		{2, []string{"doctor", sub}, []string{sub}},
		{exitUsage, []string{"doctor"}, []string{"usage"}},
		{exitUsage, []string{"doctor", good, "--svg"}, []string{"--svg", "needs a value"}},
		{exitFailure, []string{"create", filepath.Join(dir, "c.img"), "--kernel", k, "--busybox", bb, "--add", "nocolon"}, []string{"--add"}},
		{exitFailure, []string{"create", good, "--kernel", k, "--busybox", bb}, []string{good, "--force"}},
		{exitUsage, []string{"create", filepath.Join(dir, "c.img"), "--kernel", k, "--align", "4K"}, []string{"--align", "1MiB"}},
		{exitUsage, []string{"boot"}, []string{"usage"}},
		{exitUsage, []string{"completion"}, []string{"bash"}},
	}
	if len(cases) < 40 {
		t.Fatalf("only %d bad inputs", len(cases))
	}
	raw := regexp.MustCompile(`(^|: )(open|stat|read|write|lstat) /|: EOF$|: EOF;|unexpected EOF|no such file or directory$`)
	for _, c := range cases {
		stdout, stderr, code := run(t, c.args...)
		msg := strings.TrimRight(stderr, "\n")
		if code != c.code || strings.Contains(msg, "\n") || msg == "" {
			t.Errorf("minidisk %s: exit %d (want %d), stderr %q, stdout %q", strings.Join(c.args, " "), code, c.code, stderr, stdout)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("minidisk %s: %q does not contain %q", strings.Join(c.args, " "), msg, w)
			}
		}
		if raw.MatchString(msg) {
			t.Errorf("minidisk %s: raw Go error %q", strings.Join(c.args, " "), msg)
		}
		for _, a := range c.args {
			if filepath.IsAbs(a) && strings.Count(msg, a) > 1 && !strings.Contains(msg, "`") {
				t.Errorf("minidisk %s: path %s named %d times: %q", strings.Join(c.args, " "), a, strings.Count(msg, a), msg)
			}
		}
	}
	if !sameSnapshot(snap, snapshot(t, dir)) {
		t.Fatal("bad inputs changed or left files")
	}
}

// Group 7: tables fit COLUMNS, --ascii is ASCII, plurals, JSON in one style.
func TestIssue15Output(t *testing.T) {
	for _, width := range []int{50, 64, 80, 132} {
		cmd := []string{"plan", "--size", "8M", "--cylinder-align", "--ascii"}
		out := runEnv(t, []string{"COLUMNS=" + strconv.Itoa(width)}, cmd...)
		for _, line := range strings.Split(out, "\n") {
			if n := len([]rune(line)); n > width {
				t.Errorf("COLUMNS=%d: %d-column line %q", width, n, line)
			}
		}
		for i, r := range out {
			if r > 127 {
				t.Fatalf("--ascii output has %q at %d", r, i)
			}
		}
	}
	// The picture: the overrunning ext2 is labelled with its whole range,
	// and every letter of the legend appears in a bar.
	pic := runEnv(t, []string{"COLUMNS=80"}, "plan", "--size", "8M", "--cylinder-align", "--ascii")
	if !strings.Contains(pic, "ext2, 8160 blocks 63..16382") || strings.Contains(pic, "8160 blocks 63..16064") {
		t.Errorf("naive picture labels the ext2 bar with the wrong range:\n%s", pic)
	}
	// The overrun (sectors 16065..16382) is drawn as wide as the tail it
	// overlaps (16065..16383), give or take the one sector between them.
	var diskBar, fsBar string
	for _, line := range strings.Split(pic, "\n") {
		if strings.HasPrefix(line, "disk ") && strings.Contains(line, "|t") {
			diskBar = line
		}
		if strings.HasPrefix(line, "ext2 ") && strings.Contains(line, "|X") {
			fsBar = line
		}
	}
	if diskBar == "" || fsBar == "" {
		t.Fatalf("no tail or overrun in the picture:\n%s", pic)
	}
	t0, x0 := strings.Index(diskBar, "|t"), strings.Index(fsBar, "|X")
	tw, xw := strings.Index(diskBar[t0+1:], "|"), strings.Index(fsBar[x0+1:], "|")
	if t0 != x0 || tw-xw > 1 || xw > tw {
		t.Errorf("overrun drawn %d columns wide at %d, the tail %d at %d:\n%s\n%s", xw, x0, tw, t0, diskBar, fsBar)
	}
	var bars strings.Builder
	for _, line := range strings.Split(pic, "\n") {
		if strings.HasPrefix(line, "disk ") || strings.HasPrefix(line, "ext2 ") {
			bars.WriteString(line)
		}
		if m := regexp.MustCompile(`^([A-Za-z])  \S`).FindStringSubmatch(line); m != nil &&
			!regexp.MustCompile(`\|`+m[1]+`[ .#=!|x]`).MatchString(bars.String()) {
			t.Errorf("legend letter %s does not appear in the bars above it:\n%s", m[1], pic)
		}
		if strings.TrimSpace(line) == "" {
			bars.Reset()
		}
	}

	dir := t.TempDir()
	img := filepath.Join(dir, "p.img")
	run(t, "image", "create", img, "--size", "2M")
	run(t, "part", img)
	out, _, _ := run(t, "mkfs", img)
	if !strings.Contains(out, "1 group,") || strings.Contains(out, "1 groups") {
		t.Errorf("mkfs plural: %s", out)
	}

	// create's summary and doctor's report: fit COLUMNS, pure ASCII.
	k, bb := legacyInputs(t)
	for _, width := range []int{60, 100} {
		c := filepath.Join(dir, "c"+strconv.Itoa(width)+".img")
		for _, args := range [][]string{
			{"create", c, "--kernel", k, "--busybox", bb, "--ascii"},
			{"doctor", c, "--ascii"},
			{"plan", c, "--ascii"},
		} {
			name := args[0]
			out := runEnv(t, []string{"COLUMNS=" + strconv.Itoa(width)}, args...)
			for _, line := range strings.Split(out, "\n") {
				if n := len([]rune(line)); n > width {
					t.Errorf("%s, COLUMNS=%d: %d-column line %q", name, width, n, line)
				}
			}
			for _, r := range out {
				if r > 127 {
					t.Errorf("%s --ascii prints %q", name, r)
					break
				}
			}
		}
	}
	// A failed --svg write is a failure (1), not an unreadable image (2).
	_, stderr, code := run(t, "doctor", filepath.Join(dir, "c60.img"), "--svg", filepath.Join(dir, "no", "such", "dir.svg"))
	if code != exitFailure || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "dir.svg") {
		t.Errorf("doctor --svg into a missing directory: exit %d, stderr %q; want 1 and one line", code, stderr)
	}
}

// TestIssue15JSONSchema: every --json output is snake_case, gives UUIDs as
// strings and partition types as hex strings ("83"), as docs/cli.md says.
func TestIssue15JSONSchema(t *testing.T) {
	k, bb := legacyInputs(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "j.img")
	outs := map[string]string{}
	o, e, code := run(t, "create", img, "--kernel", k, "--busybox", bb, "--json")
	if code != 0 {
		t.Fatal(e)
	}
	outs["create"] = o
	outs["plan"], _, _ = run(t, "plan", img, "--json")
	outs["plan --size"], _, _ = run(t, "plan", "--size", "8M", "--json")
	outs["doctor"], _, _ = run(t, "doctor", img, "--json")
	outs["libs"], _, _ = run(t, "libs", bb, "--json")
	outs["grub install"], _, _ = run(t, "grub", "install", img, "--json")
	snake := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	for name, out := range outs {
		var v any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("%s --json: %v\n%s", name, err, out)
		}
		var walk func(path string, v any)
		walk = func(path string, v any) {
			switch x := v.(type) {
			case map[string]any:
				for key, val := range x {
					if !snake.MatchString(key) {
						t.Errorf("%s --json: key %s.%s is not snake_case", name, path, key)
					}
					if (key == "uuid" || strings.HasSuffix(key, "_uuid")) && !isString(val) {
						t.Errorf("%s --json: %s.%s = %v, want a string", name, path, key, val)
					}
					if (key == "type" || key == "partition_type") && !isString(val) {
						t.Errorf("%s --json: %s.%s = %v, want a hex string like \"83\"", name, path, key, val)
					}
					walk(path+"."+key, val)
				}
			case []any:
				if len(x) == 16 {
					t.Errorf("%s --json: %s is an array of 16 (a UUID as numbers?)", name, path)
				}
				for _, e := range x {
					walk(path+"[]", e)
				}
			}
		}
		walk("", v)
	}
}

func isString(v any) bool { _, ok := v.(string); return ok }

// runEnv runs minidisk with extra environment variables and returns its
// stdout; it fails the test on a non-zero exit.
func runEnv(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("minidisk %s: %v %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}
