// Package mountinfo reads /proc/self/mountinfo (proc(5)), which both
// `minidisk umount` (which loop device is mounted here?) and `minidisk flash`
// (is this disk mounted anywhere?) need.
package mountinfo

import (
	"bufio"
	"io"
	"os"
	"strconv"
	"strings"
)

// Mount is one line of mountinfo.
type Mount struct {
	Device     string // major:minor (field 3)
	MountPoint string // field 5, unescaped
	Source     string // the second field after " - ", unescaped
}

// ParseLine decodes one mountinfo line; ok is false for a malformed line.
func ParseLine(line string) (m Mount, ok bool) {
	pre, post, found := strings.Cut(line, " - ")
	if !found {
		return Mount{}, false
	}
	f := strings.Fields(pre)
	g := strings.Fields(post)
	if len(f) < 5 || len(g) < 2 {
		return Mount{}, false
	}
	return Mount{Device: f[2], MountPoint: unescape(f[4]), Source: unescape(g[1])}, true
}

// Parse reads every well-formed line of r.
func Parse(r io.Reader) ([]Mount, error) {
	var out []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if m, ok := ParseLine(sc.Text()); ok {
			out = append(out, m)
		}
	}
	return out, sc.Err()
}

// Read parses the mountinfo file at path (normally /proc/self/mountinfo).
func Read(path string) ([]Mount, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(f)
}

// unescape undoes mountinfo's \ooo escapes (space, tab, newline, backslash).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
