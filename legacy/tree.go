// Package legacy builds the 2007 recipe's image: a raw disk with an MBR, one
// bootable ext2 partition holding a kernel, GRUB Legacy and a dynamically
// linked BusyBox with its libraries, and /dev/console. It only composes the
// packages that know each part (disk, rootfs, rootfs/ext2, libs, grub).
package legacy

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/minidisk/minidisk/grub"
	"github.com/minidisk/minidisk/initramfs"
	"github.com/minidisk/minidisk/kernel"
	"github.com/minidisk/minidisk/libs"
	"github.com/minidisk/minidisk/rootfs"
)

// Payload says what goes into the filesystem.
type Payload struct {
	Kernel  string   // host path of the bzImage
	BusyBox string   // host path of BusyBox; "" = `busybox` found in PATH
	Applets []string // applet links in /bin; nil = sh, ln, ls (the recipe's); ["all"] = every applet BusyBox lists
	Adds    []Add    // extra host files or trees
	GrubDir string   // where GRUB's stage files are; "" = the usual places
	Append  string   // extra kernel arguments after KernelArgs
	// Check, if set, inspects the finished image before it is renamed into
	// place (create, rootfs add); an error keeps the old state.
	Check    Check
	NoSerial bool // GRUB menu on VGA only
	Timeout  int  // GRUB menu timeout in seconds
	Time     time.Time
	// Modules is the kernel's modules tree (lib/modules/VERSION or a root
	// holding it); "" finds it beside the kernel, else /lib/modules/VERSION.
	Modules string
	// For is the disk hardware the image boots on (see kmod.DiskTargets);
	// "" means ide, QEMU's default disk. It picks the drivers and root=.
	For string
	// InitramfsBusyBox is the BusyBox of an automatic initramfs; "" means
	// Debian's static one (fetched into the cache), else the host's.
	InitramfsBusyBox string
	// NoInitramfs never adds an initramfs, even for a kernel that needs
	// one: for making the broken images doctor must recognise.
	NoInitramfs bool
	// Partition is the MBR partition number (1 = the first) whose ext2
	// receives the files; 0 means 1. GRUB's `root (hd0,N-1)` and the
	// kernel's root= follow it, so `rootfs add` on a disk whose system is
	// in partition 2 writes a menu that boots partition 2.
	Partition int
}

// InitrdPath is where an automatic initramfs goes; grub.conf's initrd
// line names it.
const InitrdPath = "/boot/initrd.img"

// RootDevice is the kernel's name for partition N (1-based) of a target's
// first disk: libata, usb-storage and uas disks are SCSI disks (sd),
// virtio_blk names vda, NVMe nvme0n1.
func RootDevice(target string, partition int) string {
	if partition < 1 {
		partition = 1
	}
	switch target {
	case "virtio":
		return fmt.Sprintf("/dev/vda%d", partition)
	case "nvme":
		// NVMe namespaces name partitions with a "p" (nvme0n1p1).
		return fmt.Sprintf("/dev/nvme0n1p%d", partition)
	}
	return fmt.Sprintf("/dev/sda%d", partition)
}

// GrubRoot is GRUB Legacy's name for an MBR partition of the first BIOS
// disk: GRUB counts partitions from 0, Linux from 1.
func GrubRoot(partition int) string {
	if partition < 1 {
		partition = 1
	}
	return fmt.Sprintf("(hd0,%d)", partition-1)
}

// Add is one --add SRC:DST.
type Add struct{ Src, Dst string }

// ParseAdd reads "SRC:DST".
func ParseAdd(s string) (Add, error) {
	src, dst, ok := strings.Cut(s, ":")
	if !ok || src == "" || dst == "" {
		return Add{}, fmt.Errorf("--add %q: give SRC:DST, e.g. ./etc:/etc", s)
	}
	return Add{Src: src, Dst: dst}, nil
}

// Placement records what went where, and why, for the summary.
type Placement struct {
	Path string `json:"path"`
	From string `json:"from,omitempty"`
	Size int64  `json:"size,omitempty"`
	Why  string `json:"why"`
}

// KernelPath is where the kernel goes; grub.conf names it.
const KernelPath = "/boot/vmlinuz"

// KernelArgs is the kernel command line of the legacy image for the
// default disk target (ide), before --append: the root partition as libata
// names it, the serial console, and BusyBox's shell as init. `create
// --append` and `grub config --append` both add to it.
const KernelArgs = "root=/dev/sda1 rw console=ttyS0 init=/bin/sh"

// DefaultApplets are the links the 2007 recipe makes by hand.
var DefaultApplets = []string{"sh", "ln", "ls"}

// BuildTree assembles the filesystem tree and validates every input before
// anything is written: a bad kernel, BusyBox, library or GRUB file is an
// error here, naming the file and the fix.
func BuildTree(p Payload, st *grub.Stages) (*rootfs.Tree, []Placement, error) {
	t := rootfs.New(p.Time)
	var placed []Placement
	place := func(path, from string, size int64, why string) {
		placed = append(placed, Placement{Path: path, From: from, Size: size, Why: why})
	}
	for _, d := range []string{"/bin", "/sbin", "/boot/grub", "/dev", "/etc", "/proc", "/sys", "/root"} {
		if err := t.Mkdir(d, 0o755); err != nil {
			return nil, nil, err
		}
	}
	if err := t.Mkdir("/tmp", 0o1777); err != nil {
		return nil, nil, err
	}
	place("/proc /sys /dev /tmp /etc", "", 0, "empty mount points and directories the userland expects")
	// The kernel opens /dev/console for init's stdin/out/err before any
	// devtmpfs is mounted: without the node, init runs with no console.
	if err := t.Mknod("/dev/console", rootfs.TypeChar, 0o600, 5, 1); err != nil {
		return nil, nil, err
	}
	place("/dev/console", "", 0, "char 5,1 mode 0600: the kernel opens it for init before devtmpfs exists")

	// Kernel.
	if _, err := os.Stat(p.Kernel); err != nil {
		return nil, nil, fmt.Errorf("--kernel %s: no such file (build one with `minidisk kernel --profile legacy`)", p.Kernel)
	}
	if _, err := kernel.InspectHeaderFile(p.Kernel); err != nil {
		return nil, nil, fmt.Errorf("--kernel %w", err)
	}
	if err := t.AddHostFile(KernelPath, p.Kernel); err != nil {
		return nil, nil, fmt.Errorf("--kernel %w", err)
	}
	if e, _ := t.Lookup(KernelPath); e != nil {
		e.Mode = 0o644
		place(KernelPath, p.Kernel, e.Size, "GRUB loads it by path from grub.conf")
	}
	// Can this kernel mount an ext2 root on the target by itself, and if
	// not, what must an initramfs load? Decided before anything is written.
	plan, err := initramfs.CheckKernel(p.Kernel, p.Modules, p.For)
	if err != nil {
		return nil, nil, err
	}
	initrd := ""
	if plan.Needed && !p.NoInitramfs {
		data, why, err := buildInitrd(plan, p)
		if err != nil {
			return nil, nil, err
		}
		if err := t.AddBytes(InitrdPath, 0o644, data); err != nil {
			return nil, nil, err
		}
		initrd = InitrdPath
		place(InitrdPath, "", int64(len(data)), why)
		for _, r := range plan.Reasons {
			place("", "", 0, r)
		}
	} else if plan.Needed {
		place("", "", 0, "no initramfs (asked for): this image will not boot; "+strings.Join(plan.Reasons, "; "))
	}

	// BusyBox and what the loader needs to run it.
	bb := p.BusyBox
	if bb == "" {
		found, err := exec.LookPath("busybox")
		if err != nil {
			return nil, nil, fmt.Errorf("no busybox in PATH; give --busybox PATH (Debian: apt-get install busybox)")
		}
		bb = found
	}
	if err := checkELF(bb); err != nil {
		return nil, nil, err
	}
	if err := t.AddHostFile("/bin/busybox", bb); err != nil {
		return nil, nil, fmt.Errorf("--busybox %w", err)
	}
	e, _ := t.Lookup("/bin/busybox")
	e.Mode = 0o755
	place("/bin/busybox", bb, e.Size, "the whole userland in one binary")
	applets, err := appletList(bb, p.Applets)
	if err != nil {
		return nil, nil, err
	}
	for _, a := range applets {
		if a == "busybox" {
			continue
		}
		if err := t.Symlink("/bin/"+a, "busybox"); err != nil {
			return nil, nil, err
		}
	}
	place("/bin/{"+strings.Join(applets, ",")+"}", "", 0, "symlinks to busybox: it runs the applet named by argv[0]")

	hostBB, err := hostAbs(bb)
	if err != nil {
		return nil, nil, err
	}
	closure, err := libs.Host().Resolve(hostBB)
	if err != nil {
		return nil, nil, fmt.Errorf("--busybox %s: %w (install the missing libraries, or use a static BusyBox)", bb, err)
	}
	var need []libs.Library
	if closure.Interpreter != nil {
		need = append(need, *closure.Interpreter)
	}
	need = append(need, closure.Libraries...)
	for _, l := range need {
		chain, err := copyChain(t, l.Path)
		if err != nil {
			return nil, nil, fmt.Errorf("library %s: %w", l.Name, err)
		}
		for _, c := range chain {
			place(c.Path, c.From, c.Size, c.Why+" (needed by busybox: "+l.Name+")")
		}
	}

	// GRUB Legacy: the stage files live in /boot/grub (stage1.5 finds stage2
	// there by path), grub.conf with the menu.lst link GRUB actually reads.
	for _, f := range []struct {
		name string
		data []byte
	}{{"stage1", st.Stage1}, {"stage2", st.Stage2}, {"e2fs_stage1_5", st.E2fsStage15}} {
		if err := t.AddBytes("/boot/grub/"+f.name, 0o644, f.data); err != nil {
			return nil, nil, err
		}
		place("/boot/grub/"+f.name, path.Join(st.Dir, f.name), int64(len(f.data)), "GRUB Legacy 0.97 stage file")
	}
	conf := grub.Config{
		Timeout: p.Timeout, Title: "minidisk", Kernel: KernelPath, Serial: !p.NoSerial,
		Root:   GrubRoot(p.Partition),
		Append: strings.TrimSpace("root=" + RootDevice(plan.Target, p.Partition) + " rw console=ttyS0 init=/bin/sh " + p.Append),
		Initrd: initrd,
	}
	if err := t.AddBytes("/boot/grub/grub.conf", 0o644, conf.Render()); err != nil {
		return nil, nil, err
	}
	if err := t.Symlink("/boot/grub/menu.lst", "grub.conf"); err != nil {
		return nil, nil, err
	}
	menu := "the menu: root " + conf.Root + ", kernel " + KernelPath + " " + conf.Append
	if initrd != "" {
		menu += ", initrd " + initrd
	}
	place("/boot/grub/grub.conf", "", 0, menu)
	place("/boot/grub/menu.lst", "", 0, "-> grub.conf: GRUB Legacy reads menu.lst, the recipe writes grub.conf")

	for _, a := range p.Adds {
		if err := t.AddHostTree(a.Dst, a.Src); err != nil {
			return nil, nil, fmt.Errorf("--add %s:%s: %w", a.Src, a.Dst, err)
		}
		place(a.Dst, a.Src, 0, "--add")
	}
	return t, placed, nil
}

// buildInitrd writes the plan's initramfs (gzip'd newc, RD_GZIP being in
// every kernel that has initrd support) and says what it holds.
func buildInitrd(plan *initramfs.Plan, p Payload) ([]byte, string, error) {
	bb, bbWhy := p.InitramfsBusyBox, "given"
	if bb == "" {
		bb, bbWhy = initramfs.BusyBoxForInitramfs(context.Background())
	}
	tree, err := plan.Tree(initramfs.ModularOptions{BusyBox: bb, Epoch: p.Time})
	if err != nil {
		return nil, "", err
	}
	var buf bytes.Buffer
	if err := initramfs.WriteModular(&buf, tree); err != nil {
		return nil, "", err
	}
	var names []string
	for _, m := range plan.Modules {
		names = append(names, m.Name)
	}
	why := fmt.Sprintf("initramfs for %s: loads %s, mounts %s (-t %s), switch_root to init=; BusyBox: %s",
		plan.Target, strings.Join(names, ", "), RootDevice(plan.Target, p.Partition), plan.RootFSType, bbWhy)
	return buf.Bytes(), why, nil
}

// checkELF refuses a BusyBox that is not an x86-64 ELF executable.
func checkELF(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return fmt.Errorf("--busybox %s: no such file", path)
		}
		return fmt.Errorf("--busybox %s: not an ELF executable (give a BusyBox binary, e.g. /bin/busybox)", path)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 || (f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN) {
		return fmt.Errorf("--busybox %s: an ELF %v %v, not an x86-64 executable (the image boots an x86-64 kernel)", path, f.Machine, f.Type)
	}
	return nil
}

// appletList returns the applet names to link. "all" asks BusyBox itself
// (`busybox --list`), which runs the binary: fine for the host's BusyBox,
// and the only source of truth for which applets a build has.
func appletList(bb string, want []string) ([]string, error) {
	if len(want) == 0 {
		return DefaultApplets, nil
	}
	if len(want) == 1 && want[0] == "all" {
		out, err := exec.Command(bb, "--list").Output()
		if err != nil {
			return nil, fmt.Errorf("--applets all: `%s --list` failed (%w); list the applets instead, e.g. --applets sh,ls,mount", bb, err)
		}
		names := strings.Fields(string(out))
		sort.Strings(names)
		return names, nil
	}
	for _, a := range want {
		if a == "" || strings.ContainsAny(a, "/\x00") {
			return nil, fmt.Errorf("--applets: %q is not an applet name", a)
		}
	}
	return want, nil
}

func hostAbs(p string) (string, error) {
	if strings.HasPrefix(p, "/") {
		return p, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return path.Join(wd, p), nil
}
