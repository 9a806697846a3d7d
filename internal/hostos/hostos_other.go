//go:build !unix

package hostos

import (
	"fmt"
	"os"
	"os/exec"
)

// NewProcessGroup does nothing here: there are no Unix process groups.
func NewProcessGroup(cmd *exec.Cmd) {}

// KillProcessGroup kills the process itself (its children may survive).
func KillProcessGroup(cmd *exec.Cmd) error { return cmd.Process.Kill() }

// TryLock is not available: the build cache that needs it builds Linux
// kernels, which needs Linux.
func TryLock(f *os.File) (bool, error) {
	return false, fmt.Errorf("locking %s: %w", f.Name(), ErrUnsupported)
}

// Unlock is not available (see TryLock).
func Unlock(f *os.File) error { return ErrUnsupported }
