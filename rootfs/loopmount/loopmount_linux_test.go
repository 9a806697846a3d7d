package loopmount

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestLoopNumber(t *testing.T) {
	if n, ok := loopNumber("/dev/loop12"); !ok || n != 12 {
		t.Errorf("loopNumber = %d, %v", n, ok)
	}
	if _, ok := loopNumber("/dev/sda1"); ok {
		t.Errorf("/dev/sda1 taken for a loop device")
	}
}

// The real /proc/self/mountinfo parses: / is always mounted.
func TestMountSourceOfRoot(t *testing.T) {
	src, err := mountSource("/")
	if err != nil || src == "" {
		t.Fatalf("mountSource(/) = %q, %v", src, err)
	}
	if _, err := mountSource("/definitely/not/mounted"); err == nil || !strings.Contains(err.Error(), "not a mount point") {
		t.Errorf("unmounted dir: %v", err)
	}
}

func TestNeedsRoot(t *testing.T) {
	if os.Geteuid() == 0 {
		// Run this test again as nobody, so the message is checked here too.
		// The test binary lives in a 0700 build directory: copy it where
		// nobody can execute it.
		dir := t.TempDir()
		bin := filepath.Join(dir, "loopmount.test")
		data, err := os.ReadFile(os.Args[0])
		if err == nil {
			err = os.WriteFile(bin, data, 0o755)
		}
		if err == nil {
			err = errors.Join(os.Chmod(dir, 0o755), os.Chmod(filepath.Dir(dir), 0o755))
		}
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-test.run=^TestNeedsRoot$", "-test.v")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		cmd.Dir = "/"
		out, err := cmd.CombinedOutput()
		if strings.Contains(string(out), "--- FAIL") {
			t.Fatalf("as nobody:\n%s", out)
		}
		if err != nil || !strings.Contains(string(out), "--- PASS: TestNeedsRoot") {
			t.Skipf("cannot re-run as nobody (%v): %s", err, out)
		}
		return
	}
	_, err := Mount(Options{Image: "x.img", Dir: "."})
	if err != ErrNeedRoot || !strings.Contains(err.Error(), "minidisk ls") {
		t.Errorf("Mount as a user: %v", err)
	}
}
