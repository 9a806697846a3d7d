package hostos

import "syscall"

// dieWithParent asks the kernel to send SIGKILL to the child when the
// thread that started it exits (prctl PR_SET_PDEATHSIG). Go starts
// children from threads that live as long as the process (none of
// minidisk's goroutines lock an OS thread and exit), so in practice: when
// minidisk exits or is killed.
func dieWithParent(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
