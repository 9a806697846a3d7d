// Package testutil holds helpers shared by minidisk's tests: host tools are
// oracles, so a test that needs one skips where it is absent, except under
// CI=true, where absence means a missing install step and must fail.
package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true), where every host
// tool the tests use must be installed.
func InCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1"
}

// RequireTool returns the path of a host tool, skipping the test when it is
// missing (failing under CI). Install hints name the Debian package.
//
// qemu-system-x86_64 means a QEMU boot: under go test -short (the fast tier,
// no kernel builds, no QEMU) the test is skipped.
func RequireTool(t testing.TB, name, debianPackage string) string {
	t.Helper()
	if testing.Short() && strings.HasPrefix(name, "qemu-system") {
		t.Skip("-short: boots QEMU")
	}
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if _, err := os.Stat(dir + "/" + name); err == nil {
			return dir + "/" + name
		}
	}
	Missing(t, name+" not found (apt-get install "+debianPackage+", or run scripts/host-deps.sh)")
	return ""
}

// RequireFile returns path if it exists, else skips (fails under CI).
func RequireFile(t testing.TB, path, hint string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		Missing(t, path+" not found ("+hint+")")
	}
	return path
}

// RequireRoot skips tests that need root (loop devices, mount). These are
// opt-in paths, so they skip even under CI when not root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (loop devices and mount)")
	}
}

// Missing skips the test with msg, or fails it under CI=true.
func Missing(t testing.TB, msg string) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI=true and a host requirement is missing: %s", msg)
	}
	t.Skip(msg)
}

// Run runs a command and fails the test with its output on error.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// RunStdin is Run with stdin.
func RunStdin(t testing.TB, stdin, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ReferencePipeline returns the path of scripts/reference-pipeline.sh, the
// project's own 2007-recipe image made with host tools (sfdisk, mke2fs -d,
// debugfs, the GRUB shell), after checking the tools it runs are present.
func ReferencePipeline(t testing.TB) string {
	t.Helper()
	for _, tool := range [][2]string{{"sfdisk", "fdisk"}, {"mke2fs", "e2fsprogs"}, {"debugfs", "e2fsprogs"}, {"qemu-i386", "qemu-user"}, {"busybox", "busybox"}} {
		RequireTool(t, tool[0], tool[1])
	}
	RequireFile(t, "/usr/sbin/grub", "apt-get install grub-legacy")
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the testutil source to find scripts/")
	}
	p := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "reference-pipeline.sh")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the reference pipeline is part of the repository: %v", err)
	}
	return p
}
