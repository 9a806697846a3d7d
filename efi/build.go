package efi

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/minidisk/minidisk/initramfs"
	"github.com/minidisk/minidisk/kernel"
	"github.com/minidisk/minidisk/rootfs/cpio"
)

// Options says how to build an EFI image.
type Options struct {
	Out   string // the disk image
	Force bool   // replace existing outputs
	Size  int64  // image size; 0 means DefaultImageSize

	// Kernel is a prebuilt EFI-stub kernel that already has its initramfs
	// linked in; when set, nothing is built and Initramfs is unused.
	Kernel string
	// KernelSource is a kernel tree or tarball for the efi profile; empty
	// means the kernel package's default (Debian's linux-source).
	KernelSource string
	Initramfs    initramfs.Options
	// EFIOut, when set, also receives the bare BOOTX64.EFI.
	EFIOut string
	// Epoch is SOURCE_DATE_EPOCH; zero means the inputs' newest time for
	// the initramfs and the kernel file's time for the ESP.
	Epoch time.Time

	CacheDir string          // kernel cache; empty means the default
	Jobs     int             // make -j
	Progress kernel.Progress // kernel build progress; nil is silent

	// UKI, when set, makes BOOTX64.EFI a Unified Kernel Image of any
	// EFI-stub kernel (systemd stub + kernel + initramfs + command line)
	// instead of a kernel with its initramfs linked in; Kernel,
	// KernelSource and Initramfs are then unused.
	UKI *UKIOptions
}

// Result reports what Build made.
type Result struct {
	Kernel        string // the EFI-stub kernel used (cached bzImage or Options.Kernel)
	KernelCached  bool   // no kernel build ran
	InitramfsSize int64  // gzip'd cpio bytes; 0 with a prebuilt kernel
	EFISize       int64  // BOOTX64.EFI bytes (kernel with initramfs inside)
	Image         *ImageInfo
	UKI           *UKIResult    // with Options.UKI
	BusyBox       BusyBoxChoice // the initramfs' BusyBox, when Build made the initramfs
}

// Build makes the initramfs, the efi-profile kernel with it linked in (or
// takes a prebuilt one), and the GPT + FAT32 ESP image. Every input and
// output path is checked before the (long) kernel build, and outputs are
// written atomically, so a failure leaves nothing behind.
func Build(ctx context.Context, o Options) (*Result, error) {
	if o.UKI != nil {
		return buildUKIImage(ctx, o)
	}
	size := o.Size
	if size == 0 {
		size = DefaultImageSize
	}
	if _, err := PlanImage(size); err != nil {
		return nil, err
	}
	for _, out := range []string{o.Out, o.EFIOut} {
		if err := checkOutput(out, o.Force); err != nil {
			return nil, err
		}
	}
	res := &Result{}
	if o.Kernel != "" {
		info, err := kernel.InspectFile(o.Kernel)
		if err != nil {
			return nil, err
		}
		if !info.EFIStub {
			return nil, fmt.Errorf("%s: not an EFI-stub kernel (no PE header); give --kernel a bzImage built with CONFIG_EFI_STUB, or --kernel-src to build one", o.Kernel)
		}
		res.Kernel, res.KernelCached = o.Kernel, true
	} else {
		if err := checkKernelSource(o.KernelSource); err != nil {
			return nil, err
		}
		ib := o.Initramfs
		if ib.Epoch.IsZero() {
			ib.Epoch = o.Epoch
		}
		// No hidden step: the static BusyBox is fetched into the cache
		// when it is not there, and the summary says which one went in.
		res.BusyBox = chooseBusyBox(ctx, ib.BusyBox)
		ib.BusyBox = res.BusyBox.Path
		tree, err := initramfs.Tree(ib)
		if err != nil {
			return nil, err
		}
		tmp, err := os.MkdirTemp("", "minidisk-efi-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		cpioPath := filepath.Join(tmp, "initramfs.cpio.gz")
		f, err := os.Create(cpioPath)
		if err != nil {
			return nil, err
		}
		if err := initramfs.Write(f, tree, cpio.Gzip); err != nil {
			f.Close()
			return nil, err
		}
		if res.InitramfsSize, err = f.Seek(0, 1); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
		kr, err := kernel.Build(ctx, kernel.BuildOptions{
			Profile: kernel.EFI, Source: o.KernelSource, Initramfs: cpioPath,
			CacheDir: o.CacheDir, Jobs: o.Jobs, Progress: o.Progress,
		})
		if err != nil {
			return nil, err
		}
		res.Kernel, res.KernelCached = kr.BzImage, kr.Cached
	}
	epoch := o.Epoch
	if epoch.IsZero() {
		fi, err := os.Stat(res.Kernel)
		if err != nil {
			return nil, err
		}
		epoch = fi.ModTime().UTC().Truncate(time.Second)
	}
	ii, err := WriteImage(o.Out, o.Force, res.Kernel, size, epoch)
	if err != nil {
		return nil, err
	}
	res.Image, res.EFISize = ii, ii.EFISize
	if o.EFIOut != "" {
		if err := kernel.CopyOut(res.Kernel, o.EFIOut, o.Force); err != nil {
			// Do not leave half the outputs: the image goes too.
			os.Remove(o.Out)
			return nil, err
		}
	}
	return res, nil
}

// checkOutput refuses early what atomicfile.Create would refuse late.
func checkOutput(p string, force bool) error {
	if p == "" {
		return nil
	}
	fi, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat(filepath.Dir(p)); err != nil {
			return fmt.Errorf("%s: directory %s does not exist", p, filepath.Dir(p))
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file; refusing to write to it (use `minidisk flash` for devices)", p)
	}
	if !force {
		return fmt.Errorf("%s: exists; use --force to replace it", p)
	}
	return nil
}

// checkKernelSource rejects a directory that is not a Linux tree before
// the build starts (tarballs are checked by the kernel package on unpack).
func checkKernelSource(src string) error {
	if src == "" {
		return nil
	}
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("%s: %w (give --kernel-src a Linux source tree or tarball)", src, errors.Unwrap(err))
	}
	if !fi.IsDir() {
		return nil
	}
	for _, f := range []string{"Makefile", "Kconfig", "arch/x86/Kconfig", "init/initramfs.c"} {
		if _, err := os.Stat(filepath.Join(src, f)); err != nil {
			return fmt.Errorf("%s: not a Linux source tree (no %s); give --kernel-src a kernel tree or a linux-*.tar.xz", src, f)
		}
	}
	return nil
}
