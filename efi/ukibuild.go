package efi

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minidisk/minidisk/efi/uki"
	"github.com/minidisk/minidisk/initramfs"
	"github.com/minidisk/minidisk/internal/atomicfile"
	"github.com/minidisk/minidisk/internal/debpkg"
	"github.com/minidisk/minidisk/rootfs"
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
	// Modules is the kernel's modules tree for an automatic initramfs that
	// mounts root= ("" finds it beside the kernel or in /lib/modules).
	Modules string
	// Target is the disk the root is on (initramfs.CheckKernel's targets:
	// ide, ahci, virtio, nvme, usb); "" means ide.
	Target string
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
	// Modular is the plan of an automatic initramfs that mounts root=
	// (modules to load and why); nil when the initramfs is the system.
	Modular *initramfs.Plan
	Cmdline string
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
		bb, plan, err := autoInitramfs(ctx, p, o, hasRoot(cmdline))
		if err != nil {
			b.cleanup()
			return nil, err
		}
		b.res.InitrdPath, b.res.AutoInitramfs, b.res.BusyBox, b.res.Modular = p, true, bb, plan
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

// hasRoot reports whether the command line names a root device.
func hasRoot(cmdline string) bool {
	for _, f := range strings.Fields(cmdline) {
		if strings.HasPrefix(f, "root=") {
			return true
		}
	}
	return false
}

// autoInitramfs writes an initramfs for the UKI to p, gzip'd, and says
// which BusyBox it took and why. With root= on the command line it is the
// bridge to that root (initramfs.ForKernel: the kernel's modules for the
// target disk, then switch_root); without, it is the whole system (the EFI
// variant's BusyBox, /init that ends in a shell, /dev/console).
func autoInitramfs(ctx context.Context, p string, o UKIOptions, root bool) (BusyBoxChoice, *initramfs.Plan, error) {
	bb := chooseBusyBox(ctx, o.Initramfs.BusyBox)
	var plan *initramfs.Plan
	var tree *rootfs.Tree
	var err error
	if root {
		if o.Initramfs.Init != "" || len(o.Initramfs.Adds) > 0 {
			return bb, nil, errors.New("--init and --add build the initramfs that is the whole system; with root= on --cmdline the automatic initramfs only mounts that root")
		}
		target := o.Target
		if target == "" {
			target = "ide"
		}
		tree, plan, err = initramfs.ForKernel(o.Kernel, o.Modules, target, bb.Path)
	} else {
		if o.Modules != "" {
			return bb, nil, fmt.Errorf("--modules %s: the automatic initramfs loads modules to mount root=; without root= on --cmdline it is the whole system and needs none", o.Modules)
		}
		io := o.Initramfs
		io.BusyBox = bb.Path
		tree, err = initramfs.Tree(io)
	}
	if err != nil {
		return bb, nil, err
	}
	f, err := os.Create(p)
	if err != nil {
		return bb, nil, err
	}
	if err := initramfs.Write(f, tree, cpio.Gzip); err != nil {
		f.Close()
		return bb, nil, err
	}
	return bb, plan, f.Close()
}

// chooseBusyBox names the BusyBox an automatic initramfs gets: the one
// given, else initramfs.BusyBoxForInitramfs's choice (Debian's static one,
// fetched into the cache when missing, else the host's with its
// libraries, about 1.6 MB more).
func chooseBusyBox(ctx context.Context, given string) BusyBoxChoice {
	c := BusyBoxChoice{Path: given, Why: "given with --busybox"}
	if given == "" {
		c.Path, c.Why = initramfs.BusyBoxForInitramfs(ctx)
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
