package libs

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// maxLinkHops is the kernel's limit on symlinks followed while resolving
// one path (MAXSYMLINKS = 40 in fs/namei.c); more is ELOOP.
const maxLinkHops = 40

// Link is one symlink hop: Path (absolute in the root) holds Target, as
// stored in the link (relative or absolute; absolute targets are taken
// relative to the root).
type Link struct {
	Path   string `json:"path"`
	Target string `json:"target"`
}

// lstatResult caches one Lstat (+ ReadLink for links) of a name in the root.
type lstatResult struct {
	mode   fs.FileMode
	target string
	err    error
}

// fsName converts an absolute-looking root path ("/lib/x") to an fs.FS name
// ("lib/x"); the root itself is ".".
func fsName(abs string) string {
	n := strings.TrimLeft(abs, "/")
	if n == "" {
		return "."
	}
	return n
}

// lstat returns the cached type (and link target) of abs, a path without
// "." or ".." components and without symlinks in its directory part.
func (r *Resolver) lstat(abs string) lstatResult {
	r.mu.Lock()
	res, ok := r.lstatCache[abs]
	r.mu.Unlock()
	if ok {
		return res
	}
	name := fsName(abs)
	if rl, ok := r.Root.(fs.ReadLinkFS); ok {
		fi, err := rl.Lstat(name)
		if err != nil {
			res.err = err
		} else {
			res.mode = fi.Mode()
			if fi.Mode()&fs.ModeSymlink != 0 {
				res.target, res.err = rl.ReadLink(name)
			}
		}
	} else {
		// Without ReadLinkFS links are invisible: Stat follows them (as
		// the underlying file system defines), and we report no hops.
		fi, err := fs.Stat(r.Root, name)
		if err != nil {
			res.err = err
		} else {
			res.mode = fi.Mode()
		}
	}
	r.mu.Lock()
	if r.lstatCache == nil {
		r.lstatCache = make(map[string]lstatResult)
	}
	r.lstatCache[abs] = res
	r.mu.Unlock()
	return res
}

// Realpath resolves p (absolute in the root; a relative p is taken from the
// root) to the real file, following every symlink — in directory
// components too — inside the root: absolute targets restart at the root
// and ".." stops at the root, so resolution never escapes it (sysroot
// semantics, unlike the host's os.DirFS which would follow "/x" on the
// host). links lists each hop in the order followed. A missing component
// gives an error wrapping fs.ErrNotExist; more than 40 hops is an error
// (ELOOP), never a loop.
func (r *Resolver) Realpath(p string) (real string, links []Link, err error) {
	res := r.realpath(p)
	return res.real, slices.Clone(res.links), res.err
}

// realpathResult caches one Realpath; links is shared, callers copy it.
type realpathResult struct {
	real  string
	links []Link
	err   error
}

// realpath is Realpath, cached per path: resolving many binaries probes the
// same candidate paths (every search tries /lib/x86_64-linux-gnu/NAME...).
func (r *Resolver) realpath(p string) realpathResult {
	r.mu.Lock()
	res, ok := r.realCache[p]
	r.mu.Unlock()
	if ok {
		return res
	}
	res.real, res.links, res.err = r.walk(p)
	r.mu.Lock()
	if r.realCache == nil {
		r.realCache = make(map[string]realpathResult)
	}
	r.realCache[p] = res
	r.mu.Unlock()
	return res
}

func (r *Resolver) walk(p string) (real string, links []Link, err error) {
	if r.Root == nil {
		return "", nil, errors.New("libs: Resolver has no Root")
	}
	var done []string // resolved components, no links
	rest := splitComponents(p)
	hops := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		cur := "/" + strings.Join(append(done, c), "/")
		st := r.lstat(cur)
		if st.err != nil {
			return "", links, fmt.Errorf("%s: %w", cur, st.err)
		}
		if st.mode&fs.ModeSymlink == 0 {
			if len(rest) > 0 && !st.mode.IsDir() {
				return "", links, fmt.Errorf("%s: not a directory: %w", cur, fs.ErrNotExist)
			}
			done = append(done, c)
			continue
		}
		hops++
		if hops > maxLinkHops {
			return "", links, fmt.Errorf("%s: too many levels of symbolic links (more than %d)", p, maxLinkHops)
		}
		links = append(links, Link{Path: cur, Target: st.target})
		if strings.HasPrefix(st.target, "/") {
			done = done[:0]
		}
		rest = append(splitComponents(st.target), rest...)
	}
	return "/" + strings.Join(done, "/"), links, nil
}

func splitComponents(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}
