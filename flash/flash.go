// Package flash writes a finished image to a USB stick or other whole-disk
// block device, and verifies it by reading it back. It needs Linux (sysfs,
// block-device ioctls); elsewhere Flash returns ErrNeedLinux.
package flash

import (
	"errors"
	"fmt"
	"io"

	"github.com/minidisk/minidisk/disk"
)

// ErrNeedLinux is returned by Flash outside Linux.
var ErrNeedLinux = errors.New("flash needs Linux (it reads the device from sysfs); write the image with your system's own tool (dd, Etcher)")

// Options controls Flash.
type Options struct {
	// Force allows a target that the kernel does not report as removable
	// (USB disks often say removable=0; internal disks always do).
	Force bool
	// Yes skips the confirmation.
	Yes bool
	// Confirm asks the user; it gets the question (naming the device's
	// model and size) and returns whether to go on. Nil with Yes unset refuses.
	Confirm func(question string) (bool, error)
	// Progress, when set, returns a writer that is told about every byte
	// written and then read back (total is twice the image size).
	Progress func(total int64) io.Writer
	// SysRoot is where sysfs and procfs are (tests); empty means "/".
	SysRoot string
}

// Device describes a target block device, from sysfs.
type Device struct {
	Path         string
	Name         string // kernel name, e.g. sdb or loop3
	Major, Minor uint32
	Size         int64  // bytes
	Model        string // vendor and model, or "" when sysfs has none (loop)
	Removable    bool
}

func (d *Device) describe() string {
	model := d.Model
	if model == "" {
		model = "(no model: " + d.Name + ")"
	}
	return fmt.Sprintf("%s %s, %s", d.Path, model, disk.FormatSize(d.Size))
}
