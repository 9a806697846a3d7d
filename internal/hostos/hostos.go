// Package hostos holds the few operating-system calls minidisk makes that
// differ between Unix and Windows: process groups (QEMU and make spawn
// children that must die with them) and advisory file locks (the kernel
// build cache). Everything else in minidisk is portable Go.
package hostos

import "errors"

// ErrUnsupported is wrapped by calls this operating system cannot make.
var ErrUnsupported = errors.New("not supported on this operating system (needs Linux or another Unix)")
