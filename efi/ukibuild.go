package efi

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/minidisk/minidisk/efi/uki"
	"github.com/minidisk/minidisk/initramfs"
	"github.com/minidisk/minidisk/internal/atomicfile"
	"github.com/minidisk/minidisk/internal/debpkg"
	"github.com/minidisk/minidisk/rootfs/cpio"
)

// Initrd values with a meaning of their own (anything else is a file).
const (
	// InitrdAuto builds the initramfs: BusyBox, /init, /dev/console.
	InitrdAuto = "auto"
	// InitrdNone puts no .initrd in the UKI.
	InitrdNone = "none"
)

// DefaultCmdline is the UKI's command line when none is given: the serial
// console, where `minidisk boot` and the tests talk to the shell. Firmware
// passes no command line to \EFI\BOOT\BOOTX64.EFI, so .cmdline is all the
// kernel gets.
const DefaultCmdline = "console=ttyS0"

// UKIOptions says how to make a UKI.
type UKIOptions struct {
	Kernel  string // EFI-stub bzImage (a distro vmlinuz works)
	Initrd  string // InitrdAuto, InitrdNone or a file
	Cmdline string // the kernel command line; "" means DefaultCmdline
	Stub    string // "" finds systemd's stub (installed, cached or fetched)
	OSRel   string // os-release file for .osrel; "" means uki.DefaultOSRelease
	Splash  string // BMP for .splash
	// Modules is a kernel modules tree for an automatic initramfs (not
	// yet: the modular initramfs builder comes from the initramfs package).
	Modules string
	// Initramfs configures an automatic initramfs.
	Initramfs initramfs.Options
	CacheDir  string       // "" means ${XDG_CACHE_HOME:-~/.cache}/minidisk
	Log       func(string) // progress lines (fetching the stub); nil is silent
}

// UKIResult says what went into a UKI, for the summary.
type UKIResult struct {
	*uki.Result
	Stub          uki.StubSource
	KernelPath    string
	InitrdPath    string // the initramfs in .initrd ("" with none)
	InitramfsSize int64  // bytes of .initrd
	AutoInitramfs bool
	BusyBox       BusyBoxChoice // set with an automatic initramfs
	Cmdline       string
}

// BusyBoxChoice says which BusyBox went into an automatic initramfs, and why.
type BusyBoxChoice struct {
	Path   string
	Static bool
	Why    string
}

// ukiBuild is a prepared UKI: inputs checked, layout known, temporary
// files (an automatic initramfs) in dir until cleanup.
type ukiBuild struct {
	res     *UKIResult
	cleanup func()
}

// prepareUKI checks the inputs, finds the stub and builds an automatic
// initramfs, so the UKI's size is known before anything is written.
func prepareUKI(ctx context.Context, o UKIOptions) (*ukiBuild, error) {
	b := &ukiBuild{res: &UKIResult{KernelPath: o.Kernel}, cleanup: func() {}}
	if o.Kernel == "" {
		return nil, errors.New("--kernel: give the EFI-stub kernel for the UKI (e.g. /boot/vmlinuz-$(uname -r))")
	}
	if o.Modules != "" {
		return nil, fmt.Errorf("--modules %s: an initramfs with kernel modules is not built yet; put the drivers you need in the initramfs with `minidisk initramfs --add` and pass it with --initrd", o.Modules)
	}
	cmdline := o.Cmdline
	if cmdline == "" {
		cmdline = DefaultCmdline
	}
	b.res.Cmdline = cmdline
	cache := o.CacheDir
	if cache == "" {
		var err error
		if cache, err = debpkg.CacheDir(); err != nil {
			return nil, err
		}
	}
	// The cheap checks of the kernel and command line first: a wrong
	// --kernel must not cost a stub download or an initramfs build.
	if err := checkKernelForUKI(o.Kernel, cmdline); err != nil {
		return nil, err
	}
	if o.Stub != "" {
		b.res.Stub = uki.StubSource{Path: o.Stub, Why: "given with --stub"}
	} else {
		src, err := uki.FindStub(ctx, cache, true, o.Log)
		if err != nil {
			return nil, fmt.Errorf("--stub: %w (give --stub linuxx64.efi.stub)", err)
		}
		b.res.Stub = src
	}
	var osrel []byte
	if o.OSRel != "" {
		data, err := os.ReadFile(o.OSRel)
		if err != nil {
			return nil, fmt.Errorf("--osrel %s: %w", o.OSRel, errors.Unwrap(err))
		}
		osrel = data
	}

	switch o.Initrd {
	case InitrdNone:
	case InitrdAuto, "":
		tmp, err := os.MkdirTemp("", "minidisk-uki-")
		if err != nil {
			return nil, err
		}
		b.cleanup = func() { os.RemoveAll(tmp) }
		p := filepath.Join(tmp, "initramfs.cpio.gz")
		bb, err := autoInitramfs(p, o.Initramfs)
		if err != nil {
			b.cleanup()
			return nil, err
		}
		b.res.InitrdPath, b.res.AutoInitramfs, b.res.BusyBox = p, true, bb
	default:
		b.res.InitrdPath = o.Initrd
	}
	r, err := uki.Prepare(uki.Options{
		Stub: b.res.Stub.Path, Kernel: o.Kernel, Initrd: b.res.InitrdPath,
		Cmdline: cmdline, OSRelease: osrel, Splash: o.Splash,
	})
	if err != nil {
		b.cleanup()
		return nil, err
	}
	b.res.Result = r
	if s, ok := sectionOf(r, ".initrd"); ok {
		b.res.InitramfsSize = int64(s.VirtualSize)
	}
	return b, nil
}

func sectionOf(r *uki.Result, name string) (uki.Section, bool) {
	for _, s := range r.Added {
		if s.Name == name {
			return s, true
		}
	}
	return uki.Section{}, false
}

// checkKernelForUKI refuses a kernel the stub cannot start and a command
// line the kernel would cut, before the slow steps.
func checkKernelForUKI(kernelPath, cmdline string) error {
	f, err := os.Open(kernelPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("--kernel %s: no such file", kernelPath)
		}
		return fmt.Errorf("--kernel %s: %w", kernelPath, errors.Unwrap(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	k, err := uki.InspectKernel(f, fi.Size())
	if err != nil {
		return fmt.Errorf("--kernel %s: %w", kernelPath, err)
	}
	return uki.CheckCmdline(cmdline, k.CmdlineSize)
}

// autoInitramfs writes the EFI variant's initramfs (BusyBox, /init that
// ends in a shell, /dev/console) to p, gzip'd, and says which BusyBox it
// took and why.
func autoInitramfs(p string, o initramfs.Options) (BusyBoxChoice, error) {
	bb := chooseBusyBox(o.BusyBox)
	o.BusyBox = bb.Path
	tree, err := initramfs.Tree(o)
	if err != nil {
		return bb, err
	}
	f, err := os.Create(p)
	if err != nil {
		return bb, err
	}
	if err := initramfs.Write(f, tree, cpio.Gzip); err != nil {
		f.Close()
		return bb, err
	}
	return bb, f.Close()
}

// chooseBusyBox names the BusyBox an automatic initramfs gets: the one
// given, else Debian's static one from the cache, else the host's (with
// its shared libraries, about 1.6 MB more).
func chooseBusyBox(given string) BusyBoxChoice {
	c := BusyBoxChoice{Path: given, Why: "given with --busybox"}
	if given == "" {
		c.Path = initramfs.DefaultBusyBox()
		if c.Path == initramfs.StaticBusyBoxPath() {
			c.Why = "Debian's busybox-static from the cache"
		} else {
			c.Why = "the host's; no static BusyBox in the cache (scripts/fetch-busybox-static.sh fetches one)"
		}
	}
	c.Static = isStaticELF(c.Path)
	return c
}

// isStaticELF: an ELF executable without PT_INTERP needs no libraries.
func isStaticELF(p string) bool {
	f, err := elf.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

// writeUKI writes the prepared UKI to out atomically.
func (b *ukiBuild) writeUKI(out string, force bool) error {
	f, err := atomicfile.Create(out, force)
	if err != nil {
		return err
	}
	defer f.Abort()
	if b.res.CheckSum, err = b.res.Layout.WriteTo(f); err != nil {
		return fmt.Errorf("%s: %w", out, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	return f.Commit()
}

// MakeUKI writes just the UKI file (`minidisk uki`).
func MakeUKI(ctx context.Context, out string, force bool, o UKIOptions) (*UKIResult, error) {
	if err := checkOutput(out, force); err != nil {
		return nil, err
	}
	b, err := prepareUKI(ctx, o)
	if err != nil {
		return nil, err
	}
	defer b.cleanup()
	if err := b.writeUKI(out, force); err != nil {
		return nil, err
	}
	return b.res, nil
}

// DefaultUKIImageSize is the image size for a UKI of payload bytes: the
// default 64 MiB, or, for a large UKI, room for two of it (a new one
// beside the old during an update) plus 16 MiB, in whole MiB.
func DefaultUKIImageSize(payload int64) int64 {
	size := int64(DefaultImageSize)
	if want := (2*payload + 16<<20 + 1<<20 - 1) &^ (1<<20 - 1); want > size {
		size = want
	}
	return size
}

// buildUKIImage is Build for Options.UKI: the UKI, then the GPT + ESP
// image holding it as BOOTX64.EFI.
func buildUKIImage(ctx context.Context, o Options) (*Result, error) {
	for _, out := range []string{o.Out, o.EFIOut} {
		if err := checkOutput(out, o.Force); err != nil {
			return nil, err
		}
	}
	if o.Size != 0 {
		if _, err := PlanImage(o.Size); err != nil {
			return nil, err
		}
	}
	uo := *o.UKI
	if uo.CacheDir == "" {
		uo.CacheDir = o.CacheDir
	}
	if uo.Initramfs.Epoch.IsZero() {
		uo.Initramfs.Epoch = o.Epoch
	}
	b, err := prepareUKI(ctx, uo)
	if err != nil {
		return nil, err
	}
	defer b.cleanup()
	size := o.Size
	if size == 0 {
		size = DefaultUKIImageSize(b.res.FileSize)
	}
	l, err := PlanImage(size)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "minidisk-efi-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	ukiPath := filepath.Join(tmp, "BOOTX64.EFI")
	if err := b.writeUKI(ukiPath, false); err != nil {
		return nil, err
	}
	epoch := o.Epoch
	if epoch.IsZero() {
		fi, err := os.Stat(uo.Kernel)
		if err != nil {
			return nil, err
		}
		epoch = fi.ModTime().UTC().Truncate(time.Second)
	}
	ii, err := writeImage(o.Out, o.Force, ukiPath, l, epoch)
	if err != nil {
		return nil, err
	}
	res := &Result{Kernel: uo.Kernel, KernelCached: true, InitramfsSize: b.res.InitramfsSize,
		EFISize: ii.EFISize, Image: ii, UKI: b.res}
	if o.EFIOut != "" {
		if err := copyFile(ukiPath, o.EFIOut, o.Force); err != nil {
			os.Remove(o.Out)
			return nil, err
		}
	}
	return res, nil
}

// copyFile copies src to dst atomically.
func copyFile(src, dst string, force bool) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	f, err := atomicfile.Create(dst, force)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := io.Copy(f, in); err != nil {
		return fmt.Errorf("%s: %w", dst, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	return f.Commit()
}
