package libs

import (
	"bufio"
	"bytes"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// ldconfDepth caps nested includes (a file including itself would recurse
// forever); ldconfig itself has no cap but real configurations nest once.
const ldconfDepth = 8

// maxConfSize caps one configuration file read (real ones are < 1 KiB).
const maxConfSize = 1 << 20

// ldsoConfDirs returns the directories named by /etc/ld.so.conf in the
// root, in file order with includes expanded in place, as ldconfig reads
// them (elf/ldconfig.c parse_conf). ld.so itself consults the cache
// ldconfig builds from these directories; reading the configuration
// instead keeps the result independent of a stale or absent cache, which a
// freshly assembled sysroot usually has.
func (r *Resolver) ldsoConfDirs() []string {
	r.mu.Lock()
	if r.confLoaded {
		d := r.confDirs
		r.mu.Unlock()
		return d
	}
	r.mu.Unlock()
	var dirs []string
	seen := map[string]bool{}
	r.parseConf("/etc/ld.so.conf", 0, &dirs, seen, map[string]bool{})
	r.mu.Lock()
	r.confDirs, r.confLoaded = dirs, true
	r.mu.Unlock()
	return dirs
}

func (r *Resolver) readRootFile(p string) ([]byte, error) {
	real, _, err := r.Realpath(p)
	if err != nil {
		return nil, err
	}
	ra, size, closeFn, err := readerAtFile(r.Root, fsName(real))
	if err != nil {
		return nil, err
	}
	defer closeFn()
	if size > maxConfSize {
		size = maxConfSize
	}
	b := make([]byte, size)
	n, _ := ra.ReadAt(b, 0)
	return b[:n], nil
}

func (r *Resolver) parseConf(file string, depth int, dirs *[]string, seen, visiting map[string]bool) {
	if depth > ldconfDepth || visiting[file] {
		return
	}
	visiting[file] = true
	defer delete(visiting, file)
	b, err := r.readRootFile(file)
	if err != nil {
		return // ldconfig warns and goes on; a missing file adds nothing
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxConfSize)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		fields := strings.Fields(line)
		switch fields[0] {
		case "include":
			for _, pat := range fields[1:] {
				// Relative patterns are relative to the including file's
				// directory (ldconfig parse_conf_include).
				if !strings.HasPrefix(pat, "/") {
					pat = path.Join(path.Dir(file), pat)
				}
				for _, f := range r.glob(pat) {
					r.parseConf(f, depth+1, dirs, seen, visiting)
				}
			}
			continue
		case "hwcap":
			continue // legacy hwcap lines name no directory
		}
		// "dir=TYPE" is an old syntax that tags a directory's library
		// type; the directory is what matters (ldconfig add_dir).
		d := line
		if i := strings.IndexByte(d, '='); i >= 0 {
			d = d[:i]
		}
		d = strings.TrimSpace(d)
		for len(d) > 1 && strings.HasSuffix(d, "/") {
			d = d[:len(d)-1]
		}
		if d == "" || seen[d] {
			continue
		}
		seen[d] = true
		*dirs = append(*dirs, d)
	}
}

// glob expands pat inside the root. The directory part is resolved with
// Realpath (so links stay inside the root); the last element may hold
// wildcards. Matches are sorted, as glob(3) returns them.
func (r *Resolver) glob(pat string) []string {
	dir, base := path.Split(pat)
	if dir == "" {
		dir = "/"
	}
	realDir, _, err := r.Realpath(dir)
	if err != nil {
		return nil
	}
	if !hasMeta(base) {
		return []string{path.Join(dir, base)}
	}
	ents, err := fs.ReadDir(r.Root, fsName(realDir))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if ok, _ := path.Match(base, e.Name()); ok {
			out = append(out, path.Join(realDir, e.Name()))
		}
	}
	sort.Strings(out)
	return out
}

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }
