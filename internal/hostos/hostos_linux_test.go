package hostos

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestChildDiesWithParent: a helper process (this test binary again)
// starts `sleep 60` through NewProcessGroup, prints its pid and is then
// killed with SIGKILL, so no deferred clean-up runs; the sleep must be
// gone soon after, as a QEMU must when a test binary is killed.
func TestChildDiesWithParent(t *testing.T) {
	if os.Getenv("HOSTOS_HELPER") == "1" {
		cmd := exec.Command("sleep", "60")
		NewProcessGroup(cmd)
		if err := cmd.Start(); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(cmd.Process.Pid)
		time.Sleep(time.Minute)
		return
	}
	if _, err := exec.LookPath("sleep"); err != nil {
		t.Skip("no sleep(1)")
	}
	helper := exec.Command(os.Args[0], "-test.run=^TestChildDiesWithParent$")
	helper.Env = append(os.Environ(), "HOSTOS_HELPER=1")
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := out.Read(buf)
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil {
		helper.Process.Kill()
		t.Fatalf("helper printed %q: %v", buf[:n], err)
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("the child %d is not running before its parent is killed: %v", pid, err)
	}
	helper.Process.Kill()
	helper.Wait()
	for i := 0; i < 100; i++ {
		if !alive(pid) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	t.Fatalf("child %d still runs 5 s after its parent was killed", pid)
}

// alive: the process exists and is not a zombie waiting for a reaper
// (the child is re-parented to init, or to a subreaper, which reaps it).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) STATE ...
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
