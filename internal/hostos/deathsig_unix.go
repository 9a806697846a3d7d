//go:build unix && !linux

package hostos

import "syscall"

// dieWithParent: only Linux has a parent-death signal; elsewhere
// KillProcessGroup is the only clean-up.
func dieWithParent(*syscall.SysProcAttr) {}
