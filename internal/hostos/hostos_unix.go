//go:build unix

package hostos

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// NewProcessGroup makes cmd the leader of a new process group, so
// KillProcessGroup reaches the children it spawns. On Linux cmd also gets
// SIGKILL when minidisk dies (dieWithParent): a QEMU left behind by a
// killed test binary or an interrupted `minidisk boot` would otherwise run
// on, holding the image and a core.
func NewProcessGroup(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	dieWithParent(cmd.SysProcAttr)
}

// KillProcessGroup sends SIGKILL to the process group cmd leads.
func KillProcessGroup(cmd *exec.Cmd) error {
	return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}

// TryLock takes an exclusive advisory lock (flock) on f without waiting:
// false when another process holds it.
func TryLock(f *os.File) (bool, error) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EINTR) {
		return false, nil
	}
	return false, err
}

// Unlock releases TryLock's lock.
func Unlock(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
