package doctor

import (
	"fmt"
	"strconv"
	"strings"
)

// menu is a GRUB Legacy menu.lst as stage2 reads it (stage2/cmdline.c,
// stage2/stage2.c): commands before the first "title" run when the menu
// loads; each title starts an entry whose commands run when it is chosen.
// Separators are blanks or '=' ("default=0" works).
type menu struct {
	Default     int
	DefaultSet  bool
	GlobalRoot  string // a root command before the first title
	Entries     []menuEntry
	DefaultLine int
}

type menuEntry struct {
	Title  string
	Line   int // 1-based line of the title
	Root   string
	Kernel string // the file, possibly with a device prefix
	Args   string // kernel arguments
	Initrd string
	Other  []string // commands doctor does not model (chainloader, configfile, ...)
}

// maxMenuLines bounds parsing of a hostile config file.
const maxMenuLines = 10000

func splitCommand(line string) (cmd, rest string) {
	line = strings.TrimSpace(line)
	i := strings.IndexAny(line, " \t=")
	if i < 0 {
		return line, ""
	}
	return line[:i], strings.TrimLeft(line[i+1:], " \t=")
}

func parseMenu(text string) *menu {
	m := &menu{}
	var cur *menuEntry
	for n, line := range strings.Split(text, "\n") {
		if n >= maxMenuLines {
			break
		}
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cmd, rest := splitCommand(line)
		switch cmd {
		case "title":
			m.Entries = append(m.Entries, menuEntry{Title: rest, Line: n + 1, Root: m.GlobalRoot})
			cur = &m.Entries[len(m.Entries)-1]
			continue
		case "default":
			if v, err := strconv.Atoi(strings.Fields(rest + " x")[0]); err == nil && cur == nil {
				m.Default, m.DefaultSet, m.DefaultLine = v, true, n+1
			}
			continue
		}
		if cur == nil {
			if cmd == "root" || cmd == "rootnoverify" {
				m.GlobalRoot = strings.TrimSpace(rest)
			}
			continue
		}
		switch cmd {
		case "root", "rootnoverify":
			cur.Root = strings.TrimSpace(rest)
		case "kernel":
			f := strings.Fields(rest)
			for len(f) > 0 && strings.HasPrefix(f[0], "--") {
				f = f[1:]
			}
			if len(f) > 0 {
				cur.Kernel, cur.Args = f[0], strings.Join(f[1:], " ")
			}
		case "initrd":
			if f := strings.Fields(rest); len(f) > 0 {
				cur.Initrd = f[0]
			}
		default:
			cur.Other = append(cur.Other, cmd)
		}
	}
	return m
}

// grubDevice is a parsed "(hdX,Y)" or "(hdX)".
type grubDevice struct {
	Disk      string // "hd0", "fd0"
	Partition int    // 0-based; -1 for the whole disk
}

func (g grubDevice) String() string {
	if g.Partition < 0 {
		return "(" + g.Disk + ")"
	}
	return fmt.Sprintf("(%s,%d)", g.Disk, g.Partition)
}

// parseDevice reads "(hd0,0)" and returns the device and whatever follows.
func parseDevice(s string) (grubDevice, string, bool) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "(") {
		return grubDevice{}, s, false
	}
	end := strings.IndexByte(s, ')')
	if end < 0 {
		return grubDevice{}, s, false
	}
	inner, rest := s[1:end], s[end+1:]
	dev := grubDevice{Partition: -1}
	name, part, hasPart := strings.Cut(inner, ",")
	dev.Disk = strings.TrimSpace(name)
	if hasPart {
		p, _, _ := strings.Cut(part, ",") // (hd0,0,a): BSD sub-partition
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return grubDevice{}, s, false
		}
		dev.Partition = v
	}
	return dev, rest, true
}

// parseCmdline splits kernel arguments into key=value (flags map to "").
// Later values win, as in the kernel for root= and init=.
func parseCmdline(args string) map[string]string {
	out := map[string]string{}
	for _, f := range strings.Fields(args) {
		k, v, _ := strings.Cut(f, "=")
		out[k] = v
	}
	return out
}
