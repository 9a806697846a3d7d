// Package loopmount mounts a filesystem that lies inside an image file (a
// partition of a disk image) through a loop device, with the kernel's own
// driver. It is the root-only, opt-in way to look inside an image; the
// rootless way is the ext2 reader (`minidisk ls`/`cat`).
//
// The loop device is attached at the partition's byte offset with a size
// limit, so the kernel cannot read past the partition, and it carries
// LO_FLAGS_AUTOCLEAR: the kernel detaches it by itself when the last user
// (the mount) goes away, so neither a failed mount nor an umount by another
// tool leaves a device behind.
package loopmount

import "errors"

// ErrNeedRoot is returned when the caller is not root.
var ErrNeedRoot = errors.New("mount needs root (loop devices); use `minidisk ls`/`cat` for a rootless look")

// ErrNeedLinux is returned outside Linux: loop devices are Linux's.
var ErrNeedLinux = errors.New("mount needs Linux (loop devices); use `minidisk ls`/`cat` to look inside an image on any system")

// Options say what to mount.
type Options struct {
	Image  string // image file
	Offset int64  // byte offset of the filesystem in Image
	Size   int64  // byte size of the partition (0: to the end of the file)
	Dir    string // mount point (an existing directory)
	FSType string // "ext2" when empty
	RW     bool   // mount read-write (default read-only)
}
