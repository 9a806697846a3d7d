package initramfs

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/minidisk/minidisk/libs"
	"github.com/minidisk/minidisk/rootfs"
	"github.com/minidisk/minidisk/rootfs/cpio"
)

// Module is one kernel module the initramfs loads, in load order.
type Module struct {
	Name string // module name as the kernel knows it, e.g. "ata_piix"
	// File is the host path of the module: .ko, or .ko.gz, .ko.xz, .ko.zst
	// (decompressed while building: BusyBox insmod hands the bytes to
	// init_module(2), which takes an uncompressed ELF object).
	File string
	// Rel is the path inside the modules tree, e.g.
	// "kernel/drivers/ata/ata_piix.ko"; "" means the file's base name.
	Rel string
	Why string // what needs it, for summaries
}

// ModularOptions says what goes into the initramfs of a modular kernel.
type ModularOptions struct {
	// BusyBox is the host path of BusyBox; "" means DefaultBusyBox.
	BusyBox string
	// Release is the kernel release ("6.1.0-57-cloud-amd64"): the modules
	// go to /lib/modules/RELEASE, where modinfo and doctor look for them.
	Release string
	Modules []Module // the closure, in load order
	// Drivers are the modules whose devices must appear for the root device
	// to exist (e.g. ata_piix, sd_mod); /init names the unbound ones when
	// the root device does not appear.
	Drivers []string
	// RootFSType is the filesystem type /init mounts the root with when the
	// command line has no rootfstype= (e.g. "ext4" for an ext2 root on a
	// kernel with CONFIG_EXT4_USE_FOR_EXT2); "" lets mount try every type
	// in /proc/filesystems.
	RootFSType string
	// RootWait is how long /init waits for the root device; 0 means
	// DefaultRootWait.
	RootWait time.Duration
	Epoch    time.Time
	Libs     *libs.Resolver
}

// DefaultRootWait bounds the wait for the root device. QEMU's PIIX disk
// appears about 0.3 s after ata_piix loads (TCG); a USB stick may take
// a few seconds to enumerate.
const DefaultRootWait = 10 * time.Second

// InitMessagePrefix starts every line /init prints, so a console log shows
// which part of the boot speaks.
const InitMessagePrefix = "minidisk initramfs:"

// NewRoot is where /init mounts the real root before switch_root.
const NewRoot = "/newroot"

// maxModuleSize bounds one decompressed module (the largest 6.1 module,
// amdgpu.ko, is about 20 MB).
const maxModuleSize = 256 << 20

// ModularTree assembles the initramfs for a modular kernel: BusyBox, the
// modules (decompressed) under /lib/modules/RELEASE, /dev/console, the
// mount point /newroot, and an /init that loads the modules in order,
// waits for the root device, mounts it and switch_roots to the real init.
// Every module is read and checked (an ELF object) before the tree is
// returned.
func ModularTree(o ModularOptions) (*rootfs.Tree, error) {
	if o.Release == "" || strings.ContainsAny(o.Release, "/ \n") {
		return nil, fmt.Errorf("kernel release %q: not a release name like 6.1.0-57-cloud-amd64", o.Release)
	}
	var inputs []string
	type loaded struct {
		m    Module
		dst  string
		data []byte
	}
	var mods []loaded
	seen := map[string]bool{}
	for _, m := range o.Modules {
		if m.Name == "" || strings.ContainsAny(m.Name, "/ \n'\"$`\\") {
			return nil, fmt.Errorf("%s: module name %q is not a kernel module name", m.File, m.Name)
		}
		if seen[m.Name] {
			continue
		}
		seen[m.Name] = true
		data, err := ReadModule(m.File)
		if err != nil {
			return nil, err
		}
		// ELF header: e_ident[EI_CLASS] at 4 (2 = 64-bit), e_machine at 18
		// (62 = EM_X86_64, little-endian). The kernel refuses any other
		// ("Invalid ELF header" / -ENOEXEC from elf_validity_check).
		if len(data) < 20 || data[4] != 2 || data[5] != 1 || data[18] != 62 || data[19] != 0 {
			return nil, &ModuleError{File: m.File, Reason: "not an x86-64 kernel module (the image boots an x86-64 kernel)"}
		}
		rel := m.Rel
		if rel == "" {
			rel = path.Base(m.File)
		}
		rel = stripCompression(rel)
		dst, err := rootfs.Clean(path.Join("/lib/modules", o.Release, rel))
		if err != nil || !strings.HasPrefix(dst, "/lib/modules/"+o.Release+"/") {
			return nil, fmt.Errorf("%s: module path %q leaves the modules tree", m.File, m.Rel)
		}
		mods = append(mods, loaded{m, dst, data})
		inputs = append(inputs, m.File)
	}
	t, epoch, err := base(o.BusyBox, o.Libs, o.Epoch, inputs)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, l := range mods {
		if err := t.AddBytes(l.dst, 0o644, l.data); err != nil {
			return nil, fmt.Errorf("%s: %w", l.m.File, err)
		}
		files = append(files, l.dst)
	}
	if err := t.Mkdir(NewRoot, 0o755); err != nil {
		return nil, err
	}
	wait := o.RootWait
	if wait <= 0 {
		wait = DefaultRootWait
	}
	script := ModularInit(files, o.Drivers, o.RootFSType, wait)
	if err := t.AddBytes("/init", 0o755, []byte(script)); err != nil {
		return nil, err
	}
	t.ClampTimes(epoch)
	return t, nil
}

// ModularInit is the /init script of a modular kernel's initramfs. It
// reads root=, rootfstype=, init=, ro/rw from /proc/cmdline (the kernel
// consumes init= itself, so the script cannot get it from its arguments).
func ModularInit(moduleFiles, drivers []string, fstype string, wait time.Duration) string {
	tenths := int(wait / (100 * time.Millisecond))
	if tenths < 1 {
		tenths = 1
	}
	var b strings.Builder
	p := InitMessagePrefix
	fmt.Fprintf(&b, `#!/bin/sh
# /init of a minidisk initramfs: load the disk's modules, mount the root
# named by root= and switch_root to its init. A failure prints one line
# starting %q and leaves a shell.
PATH=/sbin:/bin:/usr/sbin:/usr/bin
export PATH
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

fail() {
	echo "%s $*"
	echo "%s dropping to a shell"
	exec sh
}

root=
init=
mode=rw
fstype=%s
# No globbing while the command line is split: an argument with a * must
# not expand to file names.
set -f
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	root=*) root="${arg#root=}" ;;
	rootfstype=*) fstype="${arg#rootfstype=}" ;;
	init=*) init="${arg#init=}" ;;
	ro) mode=ro ;;
	rw) mode=rw ;;
	esac
done
set +f
[ -n "$root" ] || fail "no root= on the kernel command line (e.g. root=/dev/sda1)"

`, p, p, p, shellQuote(fstype))
	b.WriteString("for m in")
	for _, f := range moduleFiles {
		b.WriteString(" \\\n\t" + shellQuote(f))
	}
	fmt.Fprintf(&b, `; do
	insmod "$m" || echo "%s insmod $m failed"
done

# drivers_unbound names the disk drivers that have no device: a bound
# driver's sysfs directory holds a symlink per device besides "module".
drivers_unbound() {
	for m in %s; do
		bound=
		for d in /sys/module/$m/drivers/*/*; do
			[ -L "$d" ] && [ "${d##*/}" != module ] && bound=1
		done
		[ -n "$bound" ] || printf ' %%s' "$m"
	done
}

case "$root" in
UUID=*|LABEL=*|PARTUUID=*) want="$root" ;;
*) want= ;;
esac
i=0
while :; do
	if [ -n "$want" ]; then
		root=$(findfs "$want" 2>/dev/null) && [ -b "$root" ] && break
	elif [ -b "$root" ]; then
		break
	fi
	if [ $i -ge %d ]; then
		fail "root device ${want:-$root} did not appear within %s; not bound:$(drivers_unbound); loaded: $(cut -d' ' -f1 /proc/modules | tr '\n' ' ')"
	fi
	sleep 0.1
	i=$((i+1))
done

if [ -n "$fstype" ]; then
	mount -t "$fstype" -o "$mode" "$root" %s || fail "mount -t $fstype -o $mode $root %s failed"
else
	mount -o "$mode" "$root" %s || fail "mount -o $mode $root %s failed"
fi
if [ -z "$init" ]; then
	init=/bin/sh
	[ -e %s/sbin/init ] || [ -L %s/sbin/init ] && init=/sbin/init
fi
[ -e "%s$init" ] || [ -L "%s$init" ] || fail "$root has no $init (give init= on the kernel command line)"
[ -d %s/dev ] && mount --move /dev %s/dev
umount /sys
umount /proc
exec switch_root %s "$init"
`, p, strings.Join(quoteAll(drivers), " "), tenths, wait, NewRoot, NewRoot, NewRoot, NewRoot,
		NewRoot, NewRoot, NewRoot, NewRoot, NewRoot, NewRoot, NewRoot)
	return b.String()
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = shellQuote(v)
	}
	return out
}

// shellQuote quotes s for sh; names without special characters stay bare
// so the script reads naturally.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./,+=:") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// stripCompression turns "x.ko.xz" into "x.ko".
func stripCompression(name string) string {
	for _, ext := range []string{".gz", ".xz", ".zst"} {
		if strings.HasSuffix(name, ".ko"+ext) {
			return strings.TrimSuffix(name, ext)
		}
	}
	return name
}

// ModuleError is a module file that cannot go into the initramfs: not
// readable, a truncated or corrupt compressed stream, or not an ELF object.
type ModuleError struct {
	File   string
	Reason string
	Err    error
}

func (e *ModuleError) Error() string {
	return fmt.Sprintf("%s: %s; reinstall the kernel's modules (e.g. `minidisk kernel --debian` again, or dpkg-deb -x the linux-image package) or give --modules the tree that came with this kernel", e.File, e.Reason)
}

func (e *ModuleError) Unwrap() error { return e.Err }

// ReadModule returns a module's ELF bytes, decompressing .ko.gz, .ko.xz
// and .ko.zst (kmod's make modules_install suffixes).
func ReadModule(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, &ModuleError{File: file, Reason: "cannot read the module (" + errText(err) + ")", Err: err}
	}
	defer f.Close()
	var src io.Reader = f
	kind := ""
	switch {
	case strings.HasSuffix(file, ".ko.gz"):
		kind = "gzip"
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, streamError(file, kind, err)
		}
		src = zr
	case strings.HasSuffix(file, ".ko.xz"):
		kind = "xz"
		zr, err := xz.NewReader(f)
		if err != nil {
			return nil, streamError(file, kind, err)
		}
		src = zr
	case strings.HasSuffix(file, ".ko.zst"):
		kind = "zstd"
		zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxModuleSize))
		if err != nil {
			return nil, streamError(file, kind, err)
		}
		defer zr.Close()
		src = zr
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(src, maxModuleSize+1))
	if err != nil {
		if kind == "" {
			return nil, &ModuleError{File: file, Reason: "cannot read the module (" + errText(err) + ")", Err: err}
		}
		return nil, streamError(file, kind, err)
	}
	if n > maxModuleSize {
		return nil, &ModuleError{File: file, Reason: fmt.Sprintf("larger than %d MiB: not a kernel module", maxModuleSize>>20)}
	}
	data := buf.Bytes()
	if !bytes.HasPrefix(data, []byte("\x7fELF")) {
		return nil, &ModuleError{File: file, Reason: "not an ELF file, so not a kernel module (damaged or misnamed)"}
	}
	return data, nil
}

func streamError(file, kind string, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || strings.Contains(err.Error(), "unexpected EOF") {
		return &ModuleError{File: file, Reason: "truncated " + kind + " stream (the download or copy was cut short)", Err: err}
	}
	return &ModuleError{File: file, Reason: "corrupt " + kind + " stream (" + errText(err) + ")", Err: err}
}

// errText is an error's text without the path os errors repeat.
func errText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// WriteModular writes a modular kernel's initramfs as a gzip'd newc
// archive with klauspost/compress's gzip at level 6, not cpio.Compress's
// standard-library level 9: on Debian's cloud kernel's ide initramfs (3.6 MB
// of BusyBox and modules, a loaded 2-core machine) level 9 took 3.1 s,
// the standard library's level 6 0.32-0.40 s and klauspost's level 6
// 0.16 s, for 1,465,412, 1,468,540 and about 1,500,000 bytes (1,505,718 as
// create writes it): the best level would cost most of `create`'s time
// for 3%. Every kernel with initrd
// support reads gzip (RD_GZIP is on by default); the output is
// deterministic (one goroutine, no name, zero mtime).
func WriteModular(w io.Writer, t *rootfs.Tree) error {
	zw, err := kgzip.NewWriterLevel(w, kgzip.DefaultCompression)
	if err != nil {
		return err
	}
	if err := cpio.WriteTree(cpio.NewWriter(zw), t); err != nil {
		return err
	}
	return zw.Close()
}
