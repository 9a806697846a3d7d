//go:build linux

package flash

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/internal/mountinfo"
)

// Flash writes the image img to the whole-disk block device dev, syncs,
// and verifies by reading it back. It refuses a missing path, anything that
// is not a block device, a partition, a device with a mounted or swapped-on
// partition (or held by device-mapper/md), a non-removable one unless Force,
// and a device smaller than the image; and it asks for confirmation unless
// Yes. It returns the device it wrote.
func Flash(ctx context.Context, img, dev string, o Options) (*Device, error) {
	sys := o.SysRoot
	if sys == "" {
		sys = "/"
	}
	fi, err := os.Stat(img)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (give flash an image file)", img, errors.Unwrap(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (give flash an image written by `minidisk image` or `minidisk efi`)", img)
	}
	d, err := InspectDevice(dev, sys)
	if err != nil {
		return nil, err
	}
	if err := checkNotInUse(d, sys); err != nil {
		return nil, err
	}
	if !d.Removable && !o.Force {
		return nil, fmt.Errorf("%s: not a removable disk (%s); refusing to overwrite what may be an internal disk (use --force if it is really the USB stick)", dev, d.describe())
	}
	if fi.Size() > d.Size {
		return nil, fmt.Errorf("%s: image is %s but %s holds only %s", img, disk.FormatSize(fi.Size()), dev, disk.FormatSize(d.Size))
	}
	if !o.Yes {
		if o.Confirm == nil {
			return nil, fmt.Errorf("%s: not confirmed (give --yes to write without asking)", dev)
		}
		ok, err := o.Confirm(fmt.Sprintf("Write %s (%s) to %s? Everything on it will be lost.", img, disk.FormatSize(fi.Size()), d.describe()))
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%s: not confirmed; nothing written", dev)
		}
	}
	if err := writeAndVerify(ctx, img, fi.Size(), d, o.Progress); err != nil {
		return nil, err
	}
	return d, nil
}

// InspectDevice checks that dev is a whole-disk block device and reads its
// size, model and removable flag from sysfs (/sys/dev/block/MAJ:MIN).
func InspectDevice(dev, sys string) (*Device, error) {
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("%s: no such device (give the whole disk, e.g. /dev/sdb; see lsblk)", dev)
		}
		return nil, fmt.Errorf("%s: %w", dev, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return nil, fmt.Errorf("%s: not a block device; flash writes to a disk such as /dev/sdb (to make an image file, use `minidisk efi`)", dev)
	}
	d := &Device{Path: dev, Major: unix.Major(uint64(st.Rdev)), Minor: unix.Minor(uint64(st.Rdev))}
	sysdir := filepath.Join(sys, "sys/dev/block", fmt.Sprintf("%d:%d", d.Major, d.Minor))
	real, err := filepath.EvalSymlinks(sysdir)
	if err != nil {
		return nil, fmt.Errorf("%s: no sysfs entry %s: %w", dev, sysdir, err)
	}
	d.Name = filepath.Base(real)
	if _, err := os.Stat(filepath.Join(real, "partition")); err == nil {
		return nil, fmt.Errorf("%s: is partition %s of %s; give the whole disk (/dev/%s)", dev, d.Name, filepath.Base(filepath.Dir(real)), filepath.Base(filepath.Dir(real)))
	}
	sectors, err := readSysInt(filepath.Join(real, "size"))
	if err != nil {
		return nil, fmt.Errorf("%s: size: %w", dev, err)
	}
	// sysfs "size" is in 512-byte units whatever the logical sector size.
	d.Size = sectors * 512
	if d.Size == 0 {
		return nil, fmt.Errorf("%s: has size 0 (no medium, or a detached loop device)", dev)
	}
	if r, err := readSysInt(filepath.Join(real, "removable")); err == nil {
		d.Removable = r == 1
	}
	vendor := readSysString(filepath.Join(real, "device/vendor"))
	model := readSysString(filepath.Join(real, "device/model"))
	d.Model = strings.TrimSpace(vendor + " " + model)
	return d, nil
}

// checkNotInUse refuses a device that is mounted, swapped on, or held by
// another driver, directly or through one of its partitions.
func checkNotInUse(d *Device, sys string) error {
	devs := map[string]string{fmt.Sprintf("%d:%d", d.Major, d.Minor): d.Name}
	real, _ := filepath.EvalSymlinks(filepath.Join(sys, "sys/dev/block", fmt.Sprintf("%d:%d", d.Major, d.Minor)))
	names := []string{d.Name}
	if entries, err := os.ReadDir(real); err == nil {
		for _, e := range entries {
			p := filepath.Join(real, e.Name())
			if _, err := os.Stat(filepath.Join(p, "partition")); err != nil {
				continue
			}
			if mm := readSysString(filepath.Join(p, "dev")); mm != "" {
				devs[mm] = e.Name()
				names = append(names, e.Name())
			}
		}
	}
	mounts, err := mountinfo.Read(filepath.Join(sys, "proc/self/mountinfo"))
	if err != nil {
		return fmt.Errorf("cannot check whether %s is mounted: %w", d.Path, err)
	}
	for _, m := range mounts {
		if name, ok := devs[m.Device]; ok {
			mnt := m.MountPoint
			if name == d.Name {
				return fmt.Errorf("%s: is mounted on %s; unmount it first (umount %s)", d.Path, mnt, mnt)
			}
			return fmt.Errorf("%s: its partition /dev/%s is mounted on %s; unmount it first (umount %s)", d.Path, name, mnt, mnt)
		}
	}
	if sw, err := os.ReadFile(filepath.Join(sys, "proc/swaps")); err == nil {
		for _, l := range strings.Split(string(sw), "\n")[1:] {
			f := strings.Fields(l)
			if len(f) == 0 {
				continue
			}
			for _, n := range names {
				if f[0] == "/dev/"+n {
					return fmt.Errorf("%s: /dev/%s is in use as swap; swapoff it first", d.Path, n)
				}
			}
		}
	}
	for _, n := range names {
		dir := filepath.Join(sys, "sys/class/block", n, "holders")
		if h, err := os.ReadDir(dir); err == nil && len(h) > 0 {
			return fmt.Errorf("%s: /dev/%s is held by %s (device-mapper, md or LVM); release it first", d.Path, n, h[0].Name())
		}
	}
	return nil
}

func writeAndVerify(ctx context.Context, img string, size int64, d *Device, progress func(int64) io.Writer) error {
	var prog io.Writer = io.Discard
	if progress != nil {
		prog = progress(2 * size)
	}
	src, err := os.Open(img)
	if err != nil {
		return fmt.Errorf("%s: %w", img, err)
	}
	defer src.Close()
	// O_EXCL on a block device takes an exclusive claim: the kernel refuses
	// it (EBUSY) while the device is mounted, closing the race with the
	// mountinfo check above.
	dst, err := os.OpenFile(d.Path, os.O_WRONLY|unix.O_EXCL, 0)
	if err != nil {
		if errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("%s: busy (mounted or in use); unmount it first", d.Path)
		}
		return fmt.Errorf("%s: %w", d.Path, err)
	}
	want := sha256.New()
	buf := make([]byte, 1<<20)
	var written int64
	for {
		if err := ctx.Err(); err != nil {
			dst.Close()
			return fmt.Errorf("%s: interrupted after %s; the device holds a partial image", d.Path, disk.FormatSize(written))
		}
		n, rerr := io.ReadFull(src, buf)
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				dst.Close()
				return fmt.Errorf("%s: write at byte %d: %w", d.Path, written, err)
			}
			want.Write(buf[:n])
			prog.Write(buf[:n])
			written += int64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			dst.Close()
			return fmt.Errorf("%s: %w", img, rerr)
		}
	}
	if written != size {
		dst.Close()
		return fmt.Errorf("%s: changed while flashing (%d bytes read, %d expected)", img, written, size)
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		return fmt.Errorf("%s: fsync: %w", d.Path, err)
	}
	// Drop the device's cached pages so the read-back comes from the
	// medium, not from the page cache the write just filled.
	if err := unix.IoctlSetInt(int(dst.Fd()), unix.BLKFLSBUF, 0); err != nil {
		unix.Fadvise(int(dst.Fd()), 0, size, unix.FADV_DONTNEED)
	}
	if err := dst.Close(); err != nil {
		return fmt.Errorf("%s: %w", d.Path, err)
	}
	back, err := os.Open(d.Path)
	if err != nil {
		return fmt.Errorf("%s: reopen for verification: %w", d.Path, err)
	}
	defer back.Close()
	got := sha256.New()
	if _, err := io.Copy(io.MultiWriter(got, prog), io.LimitReader(back, size)); err != nil {
		return fmt.Errorf("%s: read back: %w", d.Path, err)
	}
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		return fmt.Errorf("%s: verification failed: the device does not read back what was written (bad medium?)", d.Path)
	}
	return nil
}

func readSysInt(p string) (int64, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

func readSysString(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
