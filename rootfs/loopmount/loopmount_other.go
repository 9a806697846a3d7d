//go:build !linux

package loopmount

// Mount needs Linux's loop devices.
func Mount(o Options) (string, error) { return "", ErrNeedLinux }

// Unmount needs Linux's loop devices.
func Unmount(dir string) (string, error) { return "", ErrNeedLinux }

// Attached is false: there are no loop devices.
func Attached(n uint64) bool { return false }
