package grub

import (
	"fmt"
	"strings"
)

// Config is the 2007 recipe's grub.conf (read by GRUB as menu.lst, a
// symlink to it).
type Config struct {
	Default int
	Timeout int
	Title   string
	Root    string // GRUB device, "" → (hd0,0)
	Kernel  string // file in /boot, or an absolute path
	Append  string // kernel arguments; "" → root=/dev/sda1 rw console=ttyS0
	Initrd  string // optional, like Kernel
	// Serial puts GRUB's menu on COM1 at 115200 baud, so QEMU -nographic
	// shows it; GRUB Legacy otherwise draws only on VGA.
	Serial bool
}

// DefaultAppend is the kernel command line for the legacy image: libata
// names the IDE disk sda, and the console is the serial port.
const DefaultAppend = "root=/dev/sda1 rw console=ttyS0"

func bootPath(p string) string {
	if strings.HasPrefix(p, "/") {
		return p
	}
	return "/boot/" + p
}

// Render returns grub.conf's text.
func (c Config) Render() []byte {
	var b strings.Builder
	if c.Serial {
		b.WriteString("serial --unit=0 --speed=115200\n")
		b.WriteString("terminal --timeout=0 serial\n")
	}
	fmt.Fprintf(&b, "default %d\n", c.Default)
	fmt.Fprintf(&b, "timeout %d\n", c.Timeout)
	title := c.Title
	if title == "" {
		title = "minidisk"
	}
	root := c.Root
	if root == "" {
		root = "(hd0,0)"
	}
	args := c.Append
	if args == "" {
		args = DefaultAppend
	}
	fmt.Fprintf(&b, "\ntitle %s\n", title)
	fmt.Fprintf(&b, "root %s\n", root)
	fmt.Fprintf(&b, "kernel %s %s\n", bootPath(c.Kernel), args)
	if c.Initrd != "" {
		fmt.Fprintf(&b, "initrd %s\n", bootPath(c.Initrd))
	}
	return []byte(b.String())
}

// Validate rejects what would make GRUB's menu parser misread the file.
func (c Config) Validate() error {
	for what, v := range map[string]string{"title": c.Title, "kernel": c.Kernel, "append": c.Append, "initrd": c.Initrd, "root": c.Root} {
		if strings.ContainsAny(v, "\n\r\x00") {
			return fmt.Errorf("grub.conf %s %q: contains a line break", what, v)
		}
	}
	if c.Kernel == "" {
		return fmt.Errorf("grub.conf: no kernel (give --kernel, e.g. vmlinuz)")
	}
	if strings.ContainsAny(c.Kernel, " \t") || strings.ContainsAny(c.Initrd, " \t") {
		return fmt.Errorf("grub.conf: kernel and initrd paths cannot contain spaces")
	}
	if c.Default < 0 || c.Timeout < 0 {
		return fmt.Errorf("grub.conf: default and timeout must be ≥ 0")
	}
	return nil
}
