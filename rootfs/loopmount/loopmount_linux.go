//go:build linux

package loopmount

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	losetup "github.com/freddierice/go-losetup"
	"golang.org/x/sys/unix"

	"github.com/minidisk/minidisk/internal/mountinfo"
)

// Mount attaches a loop device for the partition and mounts it on Dir. It
// returns the loop device's path. On any failure the loop device is
// released before Mount returns.
func Mount(o Options) (string, error) {
	if os.Geteuid() != 0 {
		return "", ErrNeedRoot
	}
	if o.Offset < 0 || o.Size < 0 {
		return "", fmt.Errorf("%s: negative offset or size", o.Image)
	}
	fi, err := os.Stat(o.Dir)
	if err != nil {
		return "", fmt.Errorf("%s: %w (create the mount point first)", o.Dir, unwrap(err))
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("%s: not a directory (give a mount point)", o.Dir)
	}
	img, err := filepath.Abs(o.Image)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(img); err != nil {
		return "", fmt.Errorf("%s: %w", o.Image, unwrap(err))
	}
	fstype := o.FSType
	if fstype == "" {
		fstype = "ext2"
	}

	dev, err := attach(img, uint64(o.Offset), !o.RW)
	if err != nil {
		return "", fmt.Errorf("%s: attaching a loop device: %w", o.Image, err)
	}
	// Hold the device open while setting autoclear and mounting: the
	// kernel clears an autoclear device when its last opener closes it.
	flags := os.O_RDWR
	if !o.RW {
		flags = os.O_RDONLY
	}
	hold, err := os.OpenFile(dev.Path(), flags, 0)
	if err != nil {
		_ = dev.Detach()
		return "", fmt.Errorf("%s: %w", dev.Path(), err)
	}
	defer hold.Close()
	info, err := dev.GetInfo()
	if err == nil {
		info.SizeLimit = uint64(o.Size)
		info.Flags |= losetup.FlagsAutoClear
		err = dev.SetInfo(info)
	}
	if err != nil {
		_ = dev.Detach()
		return "", fmt.Errorf("%s: setting the size limit of %s: %w", o.Image, dev.Path(), err)
	}
	var mflags uintptr
	if !o.RW {
		mflags |= unix.MS_RDONLY
	}
	if err := unix.Mount(dev.Path(), o.Dir, fstype, mflags, ""); err != nil {
		_ = dev.Detach()
		return "", fmt.Errorf("%s: mount %s (partition at byte %d) on %s as %s: %w (is it a %s filesystem? try `minidisk ls`)", o.Image, dev.Path(), o.Offset, o.Dir, fstype, err, fstype)
	}
	return dev.Path(), nil
}

// attach finds a free loop device and attaches the image; another process
// may take the same free device between LOOP_CTL_GET_FREE and
// LOOP_SET_FD (EBUSY), so it retries a few times.
func attach(img string, offset uint64, ro bool) (losetup.Device, error) {
	var err error
	for try := 0; try < 8; try++ {
		var dev losetup.Device
		dev, err = losetup.Attach(img, offset, ro)
		if err == nil {
			return dev, nil
		}
		if !errors.Is(err, unix.EBUSY) {
			return dev, err
		}
		time.Sleep(time.Duration(try+1) * 10 * time.Millisecond)
	}
	return losetup.Device{}, err
}

// Unmount unmounts dir and detaches its loop device (if the kernel's
// autoclear has not already done so). It returns the loop device's path.
func Unmount(dir string) (string, error) {
	if os.Geteuid() != 0 {
		return "", ErrNeedRoot
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	src, err := mountSource(abs)
	if err != nil {
		return "", err
	}
	n, isLoop := loopNumber(src)
	// What the device is attached to while it is still ours (mounted):
	// after the unmount another process may attach the same loopN, and
	// that one must not be detached.
	ours := ""
	if isLoop {
		ours = backing(n)
	}
	if err := unix.Unmount(abs, 0); err != nil {
		return "", fmt.Errorf("%s: umount: %w", dir, err)
	}
	if !isLoop {
		return src, nil
	}
	// Autoclear detaches asynchronously after the last close; detach
	// explicitly if the device still has our backing file.
	for i := 0; i < 50; i++ {
		if ours == "" || backing(n) != ours {
			return src, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := losetup.New(n, os.O_RDONLY).Detach(); err != nil && backing(n) == ours {
		return src, fmt.Errorf("%s: unmounted, but detaching %s failed: %w (run `losetup -d %s`)", dir, src, err, src)
	}
	return src, nil
}

// backing is /dev/loopN's backing file and offset ("" when detached).
func backing(n uint64) string {
	f, err := os.ReadFile(fmt.Sprintf("/sys/block/loop%d/loop/backing_file", n))
	if err != nil {
		return ""
	}
	off, _ := os.ReadFile(fmt.Sprintf("/sys/block/loop%d/loop/offset", n))
	return strings.TrimSpace(string(f)) + "@" + strings.TrimSpace(string(off))
}

// Attached reports whether /dev/loopN has a backing file.
func Attached(n uint64) bool {
	_, err := os.Stat(fmt.Sprintf("/sys/block/loop%d/loop/backing_file", n))
	return err == nil
}

// loopNumber parses "/dev/loopN".
func loopNumber(dev string) (uint64, bool) {
	s, ok := strings.CutPrefix(dev, "/dev/loop")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 32)
	return n, err == nil
}

// mountSource finds the device mounted on dir in /proc/self/mountinfo (the
// last such mount, which is the visible one).
func mountSource(dir string) (string, error) {
	mounts, err := mountinfo.Read("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	src := ""
	for _, m := range mounts {
		if m.MountPoint == dir {
			src = m.Source
		}
	}
	if src == "" {
		return "", fmt.Errorf("%s: not a mount point", dir)
	}
	return src, nil
}

func unwrap(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
