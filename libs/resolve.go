// Package libs is a pure-Go ldd: it resolves an ELF binary's interpreter
// and shared-library closure by reading ELF headers, never by running the
// binary (ldd executes it through ld.so, which is unsafe for untrusted
// binaries and impossible for another architecture).
//
// The search follows glibc's ld.so (elf/dl-load.c _dl_map_object): for each
// DT_NEEDED name, breadth first, an already loaded object with that name or
// DT_SONAME is reused; otherwise the directories searched are DT_RPATH of
// the requesting object and of its loaders up to the executable (only when
// the requesting object has no DT_RUNPATH), LD_LIBRARY_PATH (only when the
// caller sets Resolver.LibraryPath), the requesting object's DT_RUNPATH,
// the directories of /etc/ld.so.conf (what ld.so.cache is built from),
// then the default and multiarch directories. Candidates of another ELF
// class, byte order or machine are skipped, as ld.so skips them. A file
// found under two names (a link and its target) is loaded once, as ld.so
// compares files by identity.
//
// Everything is read through an io/fs root, so the same code resolves on
// the host (Host) and inside a sysroot or disk image (NewResolver); absolute
// symlinks are resolved inside that root.
//
// Not modelled: glibc-hwcaps and legacy hwcap subdirectories (their choice
// depends on the CPU running the loader, so a build result would depend on
// the build machine), ld.so.cache entries that differ from the directories
// they were built from (a stale cache), wildcards in the directory part of
// an ld.so.conf include, and DT_NEEDED/RPATH strings over 4096 bytes.
package libs

import (
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
)

// Resolver resolves closures inside Root. It caches what it reads from Root
// (file types, links, ELF headers, ld.so.conf), so reuse one Resolver for
// many binaries of the same root; it is safe for concurrent use. Root must
// not change while the Resolver is used.
type Resolver struct {
	Root        fs.FS    // the target root; must implement fs.ReadLinkFS to follow links
	LibraryPath []string // LD_LIBRARY_PATH, used only when set by the caller

	mu         sync.Mutex
	lstatCache map[string]lstatResult
	realCache  map[string]realpathResult
	elfCache   map[string]elfResult
	confDirs   []string
	confLoaded bool
}

type elfResult struct {
	info *elfInfo
	err  error
}

// Host returns a Resolver for the running system's root.
func Host() *Resolver { return NewResolver(os.DirFS("/")) }

// NewResolver returns a Resolver for the root file system root (a sysroot
// via os.DirFS, or a disk image's file system).
func NewResolver(root fs.FS) *Resolver { return &Resolver{Root: root} }

// Library is one loaded object of a closure.
type Library struct {
	Name  string `json:"name"`            // as asked: "libc.so.6", or the PT_INTERP string for the interpreter
	Path  string `json:"path"`            // where it was found, absolute in root (as ld.so forms it: dir + "/" + name)
	Links []Link `json:"links,omitempty"` // symlink hops from Path to the real file, directory components included
	Real  string `json:"real"`            // the real file, absolute in root, no symlinks
}

// Closure is a binary's interpreter and the libraries ld.so would load.
type Closure struct {
	Binary      string    `json:"binary"`
	Interpreter *Library  `json:"interpreter"` // nil for static executables and for libraries without PT_INTERP
	Libraries   []Library `json:"libraries"`   // in ld.so's breadth-first load order, interpreter not repeated
}

// MissingLibrary is one name the loader would fail to find.
type MissingLibrary struct {
	Name        string   `json:"name"`
	NeededBy    string   `json:"needed_by"`
	Interpreter bool     `json:"interpreter,omitempty"` // Name is the PT_INTERP path
	Searched    []string `json:"searched,omitempty"`    // directories tried, in order
}

// NotFoundError lists every name of a closure that could not be resolved.
// Resolve returns it together with the partial closure.
type NotFoundError struct {
	Binary  string
	Missing []MissingLibrary
}

func (e *NotFoundError) Error() string {
	var b strings.Builder
	b.WriteString(e.Binary)
	b.WriteString(": ")
	for i, m := range e.Missing {
		if i > 0 {
			b.WriteString("; ")
		}
		if m.Interpreter {
			fmt.Fprintf(&b, "interpreter %s not found (PT_INTERP of %s; copy the C library's loader into the root)", m.Name, m.NeededBy)
			continue
		}
		fmt.Fprintf(&b, "%s not found (needed by %s)", m.Name, m.NeededBy)
		if len(m.Searched) > 0 {
			fmt.Fprintf(&b, "; searched: %s", strings.Join(m.Searched, ":"))
		}
	}
	return b.String()
}

// object is one loaded object while resolving (ld.so's link_map).
type object struct {
	path   string          // as found, used for $ORIGIN
	real   string          // identity, as ld.so compares st_dev/st_ino
	names  map[string]bool // names it satisfies: asked names and DT_SONAME
	info   *elfInfo
	loader *object // the object whose DT_NEEDED loaded it (l_loader)
}

// Resolve returns the closure of binary, an absolute path in the root. A
// static executable has an empty closure. Unresolved names give a
// *NotFoundError alongside the partial closure.
func (r *Resolver) Resolve(binary string) (*Closure, error) {
	real, _, err := r.Realpath(binary)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", binary, err)
	}
	info, err := r.elf(real)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", binary, err)
	}
	c := &Closure{Binary: binary, Libraries: []Library{}}
	nf := &NotFoundError{Binary: binary}
	main := &object{path: binary, real: real, info: info, names: map[string]bool{}}
	if info.soname != "" {
		// ld.so matches a DT_NEEDED against every loaded object's soname,
		// the main object's too (a library listed on its own).
		main.names[info.soname] = true
	}
	loaded := []*object{main}
	p := platformOf(info.ident())

	if info.interp != "" {
		lib := Library{Name: info.interp, Path: info.interp}
		ireal, links, err := r.Realpath(info.interp)
		if err != nil {
			nf.Missing = append(nf.Missing, MissingLibrary{Name: info.interp, NeededBy: binary, Interpreter: true})
		} else {
			lib.Links, lib.Real = links, ireal
			rtld := &object{path: info.interp, real: ireal, names: map[string]bool{info.interp: true}}
			// The loader satisfies DT_NEEDED of its DT_SONAME (libc.so.6
			// needs ld-linux-x86-64.so.2) without a search.
			if ii, err := r.elf(ireal); err == nil {
				rtld.info = ii
				if ii.soname != "" {
					rtld.names[ii.soname] = true
				}
			}
			loaded = append(loaded, rtld)
		}
		c.Interpreter = &lib
	}

	queue := []*object{main}
	missing := map[string]bool{}
	for len(queue) > 0 {
		obj := queue[0]
		queue = queue[1:]
		if obj.info == nil {
			continue
		}
		for _, name := range obj.info.needed {
			if findLoaded(loaded, name) != nil || missing[name] {
				continue
			}
			found, searched := r.search(name, obj, main, p)
			if found == nil {
				missing[name] = true
				nf.Missing = append(nf.Missing, MissingLibrary{Name: name, NeededBy: obj.path, Searched: searched})
				continue
			}
			if same := findReal(loaded, found.real); same != nil {
				same.names[name] = true
				continue
			}
			found.names[name] = true
			if found.info.soname != "" {
				found.names[found.info.soname] = true
			}
			found.loader = obj
			loaded = append(loaded, found)
			queue = append(queue, found)
			links := slices.Clone(r.realpath(found.path).links) // cached: search resolved it
			c.Libraries = append(c.Libraries, Library{Name: name, Path: found.path, Links: links, Real: found.real})
		}
	}
	if len(nf.Missing) > 0 {
		return c, nf
	}
	return c, nil
}

func findLoaded(loaded []*object, name string) *object {
	for _, o := range loaded {
		if o.names[name] {
			return o
		}
	}
	return nil
}

func findReal(loaded []*object, real string) *object {
	for _, o := range loaded {
		if o.real == real {
			return o
		}
	}
	return nil
}

// search finds name for requester as _dl_map_object does, returning the
// object found (not yet loaded) or nil and the directories tried.
func (r *Resolver) search(name string, requester, main *object, p platform) (*object, []string) {
	if strings.Contains(name, "/") {
		// A name with a slash is a path, not searched (DSTs expanded).
		for _, cand := range expandDST(name, originOf(requester.path), p) {
			if o := r.candidate(cand, main.info.ident()); o != nil {
				return o, nil
			}
		}
		return nil, nil
	}
	var dirs []string
	seen := map[string]bool{}
	add := func(ds []string, origin string) {
		for _, d := range ds {
			for _, e := range expandDST(d, origin, p) {
				for len(e) > 1 && strings.HasSuffix(e, "/") {
					e = e[:len(e)-1] // ld.so strips trailing slashes (fillin_rpath)
				}
				if !seen[e] {
					seen[e] = true
					dirs = append(dirs, e)
				}
			}
		}
	}
	if !requester.info.hasRunpath {
		for l := requester; l != nil; l = l.loader {
			if l.info != nil && !l.info.hasRunpath {
				add(l.info.rpath, originOf(l.path))
			}
		}
	}
	if len(r.LibraryPath) > 0 {
		add(r.LibraryPath, originOf(main.path))
	}
	add(requester.info.runpath, originOf(requester.path))
	// DF_1_NODEFLIB (ld -z nodefaultlib) on the requesting object skips
	// ld.so.cache and the default directories (_dl_map_object).
	if !requester.info.nodeflib {
		add(r.ldsoConfDirs(), "")
		add(p.defaultDirs, "")
	}

	want := main.info.ident()
	for _, d := range dirs {
		cand := d + "/" + name
		if d == "/" {
			cand = "/" + name
		}
		if o := r.candidate(cand, want); o != nil {
			return o, dirs
		}
	}
	return nil, dirs
}

// candidate returns the object at path if it exists and is an ELF object
// ld.so would accept for a process whose main object has ident want.
func (r *Resolver) candidate(path string, want elfIdent) *object {
	rp := r.realpath(path)
	if rp.err != nil {
		return nil
	}
	real := rp.real
	info, err := r.elf(real)
	if err != nil || !want.compatible(info.ident()) {
		return nil
	}
	return &object{path: path, real: real, info: info, names: map[string]bool{}}
}

// originOf is $ORIGIN of an object: the directory part of the path it was
// loaded from, taken as a string (ld.so does not canonicalise it, and a
// lexical clean would be wrong across a symlinked directory).
func originOf(p string) string {
	i := strings.LastIndexByte(p, '/')
	switch {
	case i < 0:
		return "/"
	case i == 0:
		return "/"
	}
	return p[:i]
}

// elf parses (once) the ELF object at real, a link-free path in the root.
func (r *Resolver) elf(real string) (info *elfInfo, err error) {
	r.mu.Lock()
	res, ok := r.elfCache[real]
	r.mu.Unlock()
	if ok {
		return res.info, res.err
	}
	res.info, res.err = r.parseFile(real)
	r.mu.Lock()
	if r.elfCache == nil {
		r.elfCache = make(map[string]elfResult)
	}
	r.elfCache[real] = res
	r.mu.Unlock()
	return res.info, res.err
}

func (r *Resolver) parseFile(real string) (info *elfInfo, err error) {
	// parseELF bounds-checks everything; recover only converts a bug we
	// missed into an error instead of crashing a doctor run on a hostile
	// image.
	defer func() {
		if v := recover(); v != nil {
			info, err = nil, fmt.Errorf("corrupt ELF (parser panic: %v)", v)
		}
	}()
	ra, size, closeFn, err := readerAtFile(r.Root, fsName(real))
	if err != nil {
		return nil, err
	}
	defer closeFn()
	info, err = parseELF(ra, size)
	if err == errNotELF {
		return nil, fmt.Errorf("not an ELF file (give an ELF executable or shared library)")
	}
	return info, err
}

// platform holds the per-architecture values ld.so was built with.
type platform struct {
	lib         string   // $LIB
	name        string   // $PLATFORM (AT_PLATFORM)
	defaultDirs []string // system directories searched last
}

// platformOf returns Debian's values for the architecture of the main
// object: $LIB is the multiarch slibdir ("lib/x86_64-linux-gnu", checked
// with LD_DEBUG=libs on Debian 12), $PLATFORM the kernel's AT_PLATFORM.
func platformOf(id elfIdent) platform {
	triplet, plat := "", ""
	switch id.machine {
	case elf.EM_X86_64:
		if id.class == elf.ELFCLASS32 {
			triplet, plat = "x86_64-linux-gnux32", "x86_64"
		} else {
			triplet, plat = "x86_64-linux-gnu", "x86_64"
		}
	case elf.EM_386:
		triplet, plat = "i386-linux-gnu", "i686"
	case elf.EM_AARCH64:
		triplet, plat = "aarch64-linux-gnu", "aarch64"
	case elf.EM_ARM:
		triplet, plat = "arm-linux-gnueabihf", "v7l"
	case elf.EM_RISCV:
		triplet, plat = "riscv64-linux-gnu", "riscv64"
	case elf.EM_PPC64:
		triplet, plat = "powerpc64le-linux-gnu", "powerpc64le"
	case elf.EM_S390:
		triplet, plat = "s390x-linux-gnu", "s390x"
	}
	var dirs []string
	lib := "lib"
	if triplet != "" {
		lib = "lib/" + triplet
		dirs = append(dirs, "/lib/"+triplet, "/usr/lib/"+triplet)
	}
	// Biarch directories: /lib64 for 64-bit objects, /lib32 for 32-bit
	// (Debian's libc6-i386 installs the i386 libraries in /lib32).
	if id.class == elf.ELFCLASS64 {
		dirs = append(dirs, "/lib64", "/usr/lib64")
	} else {
		dirs = append(dirs, "/lib32", "/usr/lib32")
	}
	dirs = append(dirs, "/lib", "/usr/lib")
	return platform{lib: lib, name: plat, defaultDirs: dirs}
}

// expandDST expands the dynamic string tokens $ORIGIN, $LIB and $PLATFORM
// (also as ${...}) in s. origin "" means unknown: like ld.so, an element
// using $ORIGIN is then dropped. Unknown tokens stay literal.
func expandDST(s, origin string, p platform) []string {
	if !strings.Contains(s, "$") {
		return []string{s}
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '$' {
			b.WriteByte(s[i])
			i++
			continue
		}
		tok, n := dstToken(s[i+1:])
		var val string
		switch tok {
		case "ORIGIN":
			if origin == "" {
				return nil
			}
			val = origin
		case "LIB":
			val = p.lib
		case "PLATFORM":
			if p.name == "" {
				return nil
			}
			val = p.name
		default:
			b.WriteByte('$')
			i++
			continue
		}
		b.WriteString(val)
		i += 1 + n
	}
	return []string{b.String()}
}

// dstToken recognises a token name after '$': "ORIGIN" or "{ORIGIN}";
// a bare name must end at a non-identifier character (elf/dl-load.c
// is_dst).
func dstToken(s string) (string, int) {
	for _, t := range []string{"ORIGIN", "LIB", "PLATFORM"} {
		if strings.HasPrefix(s, "{"+t+"}") {
			return t, len(t) + 2
		}
		if strings.HasPrefix(s, t) {
			rest := s[len(t):]
			if rest == "" || !isIdent(rest[0]) {
				return t, len(t)
			}
		}
	}
	return "", 0
}

func isIdent(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
