package initramfs

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/minidisk/minidisk/internal/atomicfile"
	"github.com/minidisk/minidisk/libs"
	"github.com/minidisk/minidisk/rootfs"
	"github.com/minidisk/minidisk/rootfs/cpio"
)

// Banner is what the default /init prints once the kernel has run it; boot
// tests wait for it.
const Banner = "minidisk: EFI initramfs is up"

// DefaultInit is the recipe's /init: mount the kernel's virtual
// filesystems, say hello, and become the shell. devtmpfs is mounted by hand
// because CONFIG_DEVTMPFS_MOUNT does not apply to an initramfs root.
const DefaultInit = `#!/bin/sh
mount -t proc none /proc
mount -t sysfs none /sys
mount -t devtmpfs none /dev
echo
echo "` + Banner + `"
echo
exec /bin/sh
`

// baseDirs are the directories every initramfs gets (the recipe's
// mkdir -p bin sbin etc proc sys dev tmp run var).
var baseDirs = []string{"/bin", "/sbin", "/etc", "/proc", "/sys", "/dev", "/tmp", "/run", "/var"}

// Add copies a host file or directory into the initramfs (--add SRC:DST).
type Add struct {
	Src, Dst string
}

// ParseAdd parses SRC:DST; DST must be absolute inside the image.
func ParseAdd(s string) (Add, error) {
	i := strings.LastIndex(s, ":")
	if i <= 0 || i == len(s)-1 {
		return Add{}, fmt.Errorf("--add %q: want SRC:DST, e.g. ./hello:/bin/hello", s)
	}
	a := Add{Src: s[:i], Dst: s[i+1:]}
	if !strings.HasPrefix(a.Dst, "/") {
		return Add{}, fmt.Errorf("--add %q: DST %q must be an absolute path inside the image", s, a.Dst)
	}
	return a, nil
}

// Options says what goes into the initramfs.
type Options struct {
	// BusyBox is the host path of the BusyBox binary (static or dynamic).
	BusyBox string
	// Init is a host file to use as /init; empty means DefaultInit.
	Init string
	// Adds are extra host files or trees.
	Adds []Add
	// Epoch is the newest time stored in the archive (SOURCE_DATE_EPOCH);
	// zero means the newest modification time among the inputs, so the
	// same input files give the same archive.
	Epoch time.Time
	// Libs resolves a dynamic BusyBox's libraries; nil means libs.Host().
	Libs *libs.Resolver
}

// DefaultBusyBox is the BusyBox used without --busybox: a static one in
// the cache (from scripts/fetch-busybox-static.sh or FetchStaticBusyBox),
// else the host's.
func DefaultBusyBox() string {
	if p := cachedStaticBusyBox(); p != "" {
		return p
	}
	return "/bin/busybox"
}

// StaticBusyBoxPath is where scripts/fetch-busybox-static.sh puts Debian's
// static BusyBox; "" when there is no home or cache directory.
func StaticBusyBoxPath() string {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" || !filepath.IsAbs(base) {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "minidisk", "busybox-static", "bin", "busybox")
}

// Tree assembles the initramfs tree: base directories, BusyBox
// at /bin/busybox with a symlink per applet, its libraries when dynamic,
// /init, /dev/console, and the extra files. Inputs are checked first, so a
// bad input is reported before anything is written.
func Tree(o Options) (*rootfs.Tree, error) {
	initData := []byte(DefaultInit)
	if o.Init != "" {
		var err error
		if initData, err = readInit(o.Init); err != nil {
			return nil, err
		}
	}
	var extra []string
	if o.Init != "" {
		extra = append(extra, o.Init)
	}
	for _, a := range o.Adds {
		extra = append(extra, a.Src)
	}
	t, epoch, err := base(o.BusyBox, o.Libs, o.Epoch, extra)
	if err != nil {
		return nil, err
	}
	if err := t.AddBytes("/init", 0o755, initData); err != nil {
		return nil, err
	}
	for _, a := range o.Adds {
		if err := t.AddHostTree(a.Dst, a.Src); err != nil {
			return nil, fmt.Errorf("--add %s:%s: %w", a.Src, a.Dst, err)
		}
	}
	t.ClampTimes(epoch)
	return t, nil
}

// base is what every initramfs holds: the base directories, BusyBox at
// /bin/busybox with a symlink per applet, its interpreter and libraries
// when it is dynamic, and /dev/console. A zero epoch becomes the newest
// modification time among BusyBox, its libraries and extraInputs.
func base(bb string, resolver *libs.Resolver, epoch time.Time, extraInputs []string) (*rootfs.Tree, time.Time, error) {
	if bb == "" {
		bb = DefaultBusyBox()
	}
	bbAbs, err := filepath.Abs(bb)
	if err != nil {
		return nil, epoch, fmt.Errorf("%s: %w", bb, err)
	}
	if err := checkBusyBox(bb); err != nil {
		return nil, epoch, err
	}
	applets, err := listApplets(bb)
	if err != nil {
		return nil, epoch, err
	}
	if resolver == nil {
		resolver = libs.Host()
	}
	closure, err := resolver.Resolve(bbAbs)
	if err != nil {
		return nil, epoch, fmt.Errorf("%s: cannot find its shared libraries: %w (give --busybox a static BusyBox: scripts/fetch-busybox-static.sh)", bb, err)
	}
	if epoch.IsZero() {
		epoch, err = newestInput(append([]string{bb}, extraInputs...), closure)
		if err != nil {
			return nil, epoch, err
		}
	}
	t := rootfs.New(epoch)
	for _, d := range baseDirs {
		if err := t.Mkdir(d, 0o755); err != nil {
			return nil, epoch, err
		}
	}
	// /tmp is world-writable with the sticky bit, as on any Unix.
	if err := t.Mkdir("/tmp", 0o1777); err != nil {
		return nil, epoch, err
	}
	if err := t.AddHostFile("/bin/busybox", bb); err != nil {
		return nil, epoch, err
	}
	for _, a := range applets {
		if a == "/bin/busybox" {
			continue
		}
		if err := t.Symlink(a, "/bin/busybox"); err != nil {
			return nil, epoch, fmt.Errorf("%s: applet %s: %w", bb, a, err)
		}
	}
	if err := addClosure(t, closure); err != nil {
		return nil, epoch, err
	}
	// The kernel opens /dev/console for init's stdin/out/err before /init
	// runs (init/main.c console_on_rootfs); devtmpfs is not mounted yet, so
	// without this node there is no console and init dies.
	if err := t.Mknod("/dev/console", rootfs.TypeChar, 0o600, 5, 1); err != nil {
		return nil, epoch, err
	}
	return t, epoch, nil
}

// Write writes the tree as a compressed newc archive.
func Write(w io.Writer, t *rootfs.Tree, c cpio.Compression) error {
	zw, err := cpio.Compress(w, c)
	if err != nil {
		return err
	}
	if err := cpio.WriteTree(cpio.NewWriter(zw), t); err != nil {
		return err
	}
	return zw.Close()
}

// Build assembles the tree and writes it to out atomically,
// returning the archive's size.
func Build(out string, force bool, o Options, c cpio.Compression) (int64, error) {
	t, err := Tree(o)
	if err != nil {
		return 0, err
	}
	return WriteFile(out, force, func(w io.Writer) error { return Write(w, t, c) })
}

// WriteFile writes an archive to out atomically (nothing at out unless
// complete) with write (Write or WriteModular), returning its size.
func WriteFile(out string, force bool, write func(io.Writer) error) (int64, error) {
	f, err := atomicfile.Create(out, force)
	if err != nil {
		return 0, err
	}
	defer f.Abort()
	if err := write(f); err != nil {
		return 0, fmt.Errorf("%s: %w", out, err)
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	return size, f.Commit()
}

// checkBusyBox refuses anything that is not an x86-64 ELF executable: the
// kernel would only fail later with "Failed to execute /init (error -8)".
func checkBusyBox(p string) error {
	f, err := elf.Open(p)
	if err != nil {
		var fe *elf.FormatError
		if errors.As(err, &fe) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%s: not an ELF file (give --busybox a BusyBox binary)", p)
		}
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: no such file (give --busybox a BusyBox binary, or run scripts/fetch-busybox-static.sh)", p)
		}
		return fmt.Errorf("%s: %w", p, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 || f.Class != elf.ELFCLASS64 {
		return fmt.Errorf("%s: a %v %v binary; the image is x86-64 (give --busybox an x86-64 BusyBox)", p, f.Class, f.Machine)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("%s: ELF type %v is not an executable (give --busybox a BusyBox binary)", p, f.Type)
	}
	return nil
}

// readInit reads an /init file, which the kernel will execve: it must be
// executable and be a script (#!) or an ELF binary.
func readInit(p string) ([]byte, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (give --init an executable script)", p, errors.Unwrap(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (give --init an executable script)", p)
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return nil, fmt.Errorf("%s: not executable; the kernel cannot run it as /init (chmod +x %s)", p, p)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if !bytes.HasPrefix(data, []byte("#!")) && !bytes.HasPrefix(data, []byte("\x7fELF")) {
		return nil, fmt.Errorf("%s: neither a #! script nor an ELF binary; the kernel cannot execute it as /init (add a #!/bin/sh line)", p)
	}
	return data, nil
}

// listApplets asks BusyBox for its applets' install paths
// (busybox --list-full: "bin/ls", "sbin/ifconfig", ...). Running the binary
// is the only reliable source: the list is compiled in and differs between
// builds (Debian's static and dynamic BusyBox have different sets).
func listApplets(bb string) ([]string, error) {
	out, err := exec.Command(bb, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("%s: `busybox --list-full` failed: %w (is it a BusyBox for this machine?)", bb, err)
	}
	var applets []string
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		name, err := rootfs.Clean("/" + l)
		if err != nil || name == "/" || path.Base(name) == ".." {
			return nil, fmt.Errorf("%s: --list-full printed %q, not an applet path", bb, l)
		}
		applets = append(applets, name)
	}
	if len(applets) == 0 {
		return nil, fmt.Errorf("%s: --list-full printed no applets; not a BusyBox? (give --busybox a BusyBox binary)", bb)
	}
	sort.Strings(applets)
	return applets, nil
}

// addClosure copies a dynamic BusyBox's interpreter and libraries to the
// same paths as on the host, with the symlink hops ld.so follows, so the
// PT_INTERP path and the search directories work unchanged in the image.
func addClosure(t *rootfs.Tree, c *libs.Closure) error {
	var all []libs.Library
	if c.Interpreter != nil {
		all = append(all, *c.Interpreter)
	}
	all = append(all, c.Libraries...)
	for _, l := range all {
		for _, ln := range l.Links {
			// A directory hop (/lib64 -> usr/lib64 on merged-/usr) may meet a
			// real directory the tree already has; the hop is then not needed
			// for the resolved paths below, which contain no links.
			if e, ok := t.Lookup(ln.Path); ok && e.Type == rootfs.TypeDir {
				continue
			}
			if err := t.Symlink(ln.Path, ln.Target); err != nil {
				return fmt.Errorf("library link %s -> %s: %w", ln.Path, ln.Target, err)
			}
		}
		if err := t.AddHostFile(l.Real, l.Real); err != nil {
			return fmt.Errorf("library %s: %w", l.Name, err)
		}
	}
	return nil
}

// newestInput is the newest modification time among the input files.
func newestInput(inputs []string, c *libs.Closure) (time.Time, error) {
	files := append([]string(nil), inputs...)
	if c.Interpreter != nil {
		files = append(files, c.Interpreter.Real)
	}
	for _, l := range c.Libraries {
		files = append(files, l.Real)
	}
	var newest time.Time
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s: %w", f, errors.Unwrap(err))
		}
		if fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
	}
	return newest.UTC().Truncate(time.Second), nil
}
