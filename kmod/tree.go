package kmod

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
)

// Tree is an opened modules directory (lib/modules/VERSION). It indexes
// the module files by name when opened and reads each module's .modinfo
// only when a resolution needs it (all of them once, the first time a
// name is not a module file and must be looked up as an alias). It is safe
// for concurrent use; the directory must not change while it is used.
type Tree struct {
	Dir     string // the lib/modules/VERSION directory
	Version string // the kernel release the tree is for

	fsys    fs.FS
	files   map[string]string   // module name → path relative to Dir
	builtin map[string]string   // module name → modules.builtin path ("kernel/fs/ext4/ext4.ko")
	binfo   map[string]*ModInfo // modules.builtin.modinfo records, by module name
	// hasBuiltinList is false when modules.builtin is absent: then a name
	// that is no module file cannot be told apart from a missing driver.
	hasBuiltinList bool

	mu          sync.Mutex
	infos       map[string]infoResult // by module name
	aliasOnce   sync.Once
	aliasExact  map[string][]string // normalised alias → module names
	aliasGlobs  []aliasGlob
	aliasErrors []error
}

type infoResult struct {
	info *ModInfo
	err  error
}

type aliasGlob struct {
	prefix, pattern, module string // prefix: the pattern up to its first metacharacter
}

// KernelRelease returns the release ("6.1.0-57-cloud-amd64") from a
// kernel version string as the bzImage header carries it ("6.1.0-57-cloud-amd64
// (debian-kernel@lists.debian.org) #1 SMP ...": uname -r is the first word).
func KernelRelease(version string) string {
	f := strings.Fields(version)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// FindTree returns the modules directory for the kernel at kernelPath and
// its release: beside the kernel the way a package unpacks
// (ROOT/boot/vmlinuz-V → ROOT/lib/modules/V, also ROOT/usr/lib/modules/V
// on merged-/usr), then the running system's /lib/modules/V.
func FindTree(kernelPath, release string) (string, error) {
	release = KernelRelease(release)
	if release == "" {
		return "", errors.New("no kernel release to look up a modules tree for (the kernel has no version string); give --modules DIR")
	}
	var cands []string
	if kernelPath != "" {
		if abs, err := filepath.Abs(kernelPath); err == nil {
			kernelPath = abs
		}
		dir := filepath.Dir(kernelPath)
		parent := filepath.Dir(dir)
		cands = append(cands,
			filepath.Join(parent, "lib", "modules", release),
			filepath.Join(parent, "usr", "lib", "modules", release),
			filepath.Join(dir, "lib", "modules", release))
	}
	cands = append(cands, filepath.Join("/lib/modules", release))
	for _, c := range cands {
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return c, nil
		}
	}
	return "", &TreeNotFoundError{Version: release, Searched: cands}
}

// Open opens a modules tree. dir is a lib/modules/VERSION directory or a
// root holding lib/modules/VERSION. release is the kernel's (a version
// string's first word is taken); "" accepts the tree's own. A tree for
// another release is a *VersionMismatchError: the directory name and, when
// the name does not say, a module's vermagic decide.
func Open(dir, release string) (*Tree, error) {
	release = KernelRelease(release)
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return nil, fmt.Errorf("--modules %s: not a directory (give a lib/modules/VERSION directory, or a root holding one)", dir)
	}
	treeDir := dir
	if st, err := os.Stat(filepath.Join(dir, "lib", "modules")); err == nil && st.IsDir() && !looksLikeTree(dir) {
		base := filepath.Join(dir, "lib", "modules")
		if release != "" {
			treeDir = filepath.Join(base, release)
			if _, err := os.Stat(treeDir); err != nil {
				others := subdirs(base)
				if len(others) == 1 {
					return nil, &VersionMismatchError{File: filepath.Join(base, others[0]), Kernel: release, Found: others[0]}
				}
				return nil, &TreeNotFoundError{Version: release, Searched: []string{treeDir}}
			}
		} else {
			others := subdirs(base)
			if len(others) != 1 {
				return nil, fmt.Errorf("--modules %s: %d kernel releases under lib/modules (%s); give the lib/modules/VERSION directory of the kernel", dir, len(others), strings.Join(others, ", "))
			}
			treeDir = filepath.Join(base, others[0])
		}
	}
	return openFS(os.DirFS(treeDir), treeDir, release)
}

// OpenFS opens the modules tree at dir inside fsys (a lib/modules/VERSION
// path, slash-separated, as in a disk image or an initramfs), for kernel
// release (checked as Open checks it; "" accepts the tree's own).
func OpenFS(fsys fs.FS, dir, release string) (*Tree, error) {
	sub, err := fs.Sub(fsys, path.Clean(dir))
	if err != nil {
		return nil, fmt.Errorf("--modules %s: %w", dir, err)
	}
	return openFS(sub, dir, KernelRelease(release))
}

func openFS(fsys fs.FS, treeDir, release string) (*Tree, error) {
	t := &Tree{Dir: treeDir, Version: path.Base(filepath.ToSlash(treeDir)), fsys: fsys}
	if err := t.index(); err != nil {
		return nil, err
	}
	if release != "" && release != t.Version {
		// A tree copied under another name still loads if its modules
		// were built for this release: vermagic is what the kernel checks.
		found := t.Version
		if names := t.Names(); len(names) > 0 {
			if mi, err := t.ModInfo(names[0]); err == nil && mi.Release() != "" {
				found = mi.Release()
			}
		}
		if found != release {
			return nil, &VersionMismatchError{File: treeDir, Kernel: release, Found: found}
		}
		t.Version = release
	}
	return t, nil
}

// looksLikeTree reports whether dir itself is a lib/modules/VERSION
// directory.
func looksLikeTree(dir string) bool {
	for _, f := range []string{"modules.builtin", "modules.order", "modules.dep", "kernel"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	return false
}

func subdirs(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// index lists the module files and reads modules.builtin(.modinfo).
func (t *Tree) index() error {
	t.files = map[string]string{}
	t.infos = map[string]infoResult{}
	err := fs.WalkDir(t.fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == "." {
				return err
			}
			return nil // an unreadable subdirectory holds nothing we can load
		}
		if d.Type().IsRegular() || d.Type()&fs.ModeSymlink != 0 {
			if name := moduleName(p); name != "" {
				if old, ok := t.files[name]; !ok || preferPath(p, old) {
					t.files[name] = p
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("--modules %s: %w", t.Dir, err)
	}
	t.builtin = map[string]string{}
	t.binfo = map[string]*ModInfo{}
	if data, err := fs.ReadFile(t.fsys, "modules.builtin"); err == nil {
		t.hasBuiltinList = true
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if name := moduleName(line); name != "" {
				t.builtin[name] = line
			}
		}
	}
	if data, err := fs.ReadFile(t.fsys, "modules.builtin.modinfo"); err == nil {
		// Records are "modname.key=value\0" (scripts/Makefile.vmlinux_o
		// extracts the kernel's .modinfo section; modname has no dots).
		for _, rec := range bytes.Split(data, []byte{0}) {
			mod, kv, ok := strings.Cut(string(rec), ".")
			if !ok {
				continue
			}
			key, val, ok := strings.Cut(kv, "=")
			if !ok {
				continue
			}
			mod = Normalize(mod)
			mi := t.binfo[mod]
			if mi == nil {
				mi = &ModInfo{Name: mod, Depends: []string{}}
				t.binfo[mod] = mi
			}
			mi.add(key, val)
			if _, ok := t.builtin[mod]; !ok {
				t.builtin[mod] = ""
			}
		}
	}
	if len(t.files) == 0 && !t.hasBuiltinList {
		return fmt.Errorf("--modules %s: %w: no *.ko, *.ko.xz, *.ko.zst or *.ko.gz files and no modules.builtin; give the lib/modules/VERSION directory that came with the kernel", t.Dir, ErrNotModulesTree)
	}
	return nil
}

// preferPath decides between two files of one module name as depmod's
// default search order does ("search updates built-in", depmod.d(5)):
// updates/ first; otherwise the first in path order, for determinism.
func preferPath(p, old string) bool {
	pu, ou := strings.HasPrefix(p, "updates/"), strings.HasPrefix(old, "updates/")
	if pu != ou {
		return pu
	}
	return p < old
}

// Names returns the names of the module files, sorted.
func (t *Tree) Names() []string {
	out := make([]string, 0, len(t.files))
	for n := range t.files {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Path returns the path of module name relative to Dir, "" when the tree
// has no file for it.
func (t *Tree) Path(name string) string { return t.files[Normalize(name)] }

// IsBuiltin reports whether modules.builtin (or modules.builtin.modinfo)
// lists name: the kernel has it built in, there is nothing to load.
func (t *Tree) IsBuiltin(name string) bool {
	_, ok := t.builtin[Normalize(name)]
	return ok
}

// HasBuiltinList reports whether the tree has modules.builtin; without it
// a name that is no module file may still be built in.
func (t *Tree) HasBuiltinList() bool { return t.hasBuiltinList }

// Counts returns how many module files and built-in modules the tree has.
func (t *Tree) Counts() (files, builtin int) { return len(t.files), len(t.builtin) }

// ModInfo returns the .modinfo of module file name (read once, cached).
func (t *Tree) ModInfo(name string) (*ModInfo, error) {
	name = Normalize(name)
	t.mu.Lock()
	r, ok := t.infos[name]
	t.mu.Unlock()
	if ok {
		return r.info, r.err
	}
	p, ok := t.files[name]
	if !ok {
		if mi := t.binfo[name]; mi != nil {
			return mi, nil
		}
		return nil, t.notFound(name, "")
	}
	r.info, r.err = ReadModInfoFS(t.fsys, p)
	if r.err != nil {
		r.err = t.nameFile(r.err, p)
	}
	t.mu.Lock()
	t.infos[name] = r
	t.mu.Unlock()
	return r.info, r.err
}

// ModuleData returns module name's ELF image, decompressed (.ko.gz,
// .ko.xz and .ko.zst are inflated: an initramfs gets plain .ko files, which
// every insmod and every kernel loads, with or without
// CONFIG_MODULE_DECOMPRESS).
func (t *Tree) ModuleData(name string) ([]byte, error) {
	p, ok := t.files[Normalize(name)]
	if !ok {
		return nil, t.notFound(name, "")
	}
	data, err := readModuleFS(t.fsys, p)
	if err != nil {
		return nil, t.nameFile(err, p)
	}
	if len(data) < 4 || string(data[:4]) != "\x7fELF" {
		return nil, &NotELFError{File: filepath.Join(t.Dir, filepath.FromSlash(p))}
	}
	return data, nil
}

// nameFile makes an error name the file by its full path.
func (t *Tree) nameFile(err error, rel string) error {
	full := filepath.Join(t.Dir, filepath.FromSlash(rel))
	var ne *NotELFError
	var te *TruncatedError
	var ce *CorruptError
	switch {
	case errors.As(err, &ne):
		return &NotELFError{File: full}
	case errors.As(err, &te):
		return &TruncatedError{File: full, Format: te.Format, Err: te.Err}
	case errors.As(err, &ce):
		return &CorruptError{File: full, Format: ce.Format, Err: ce.Err}
	}
	if inner := errors.Unwrap(err); inner != nil {
		err = inner
	}
	return fmt.Errorf("%s: %w", full, err)
}

func (t *Tree) notFound(name, neededBy string) *NotFoundError {
	searched := []string{fmt.Sprintf("%d module files under %s", len(t.files), t.Dir), "their alias= entries"}
	if t.hasBuiltinList {
		searched = append(searched, fmt.Sprintf("modules.builtin (%d built-in modules) and their aliases", len(t.builtin)))
	} else {
		searched = append(searched, "no modules.builtin in the tree")
	}
	return &NotFoundError{Name: name, NeededBy: neededBy, Tree: t.Dir, Searched: searched}
}

// loadAliases reads every module's .modinfo once, in parallel, and indexes
// its alias= entries (normalised as depmod writes modules.alias).
func (t *Tree) loadAliases() {
	t.aliasOnce.Do(func() {
		names := t.Names()
		type res struct {
			name string
			info *ModInfo
			err  error
		}
		out := make([]res, len(names))
		var wg sync.WaitGroup
		next := make(chan int)
		for w := 0; w < runtime.GOMAXPROCS(0); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					mi, err := t.ModInfo(names[i])
					out[i] = res{names[i], mi, err}
				}
			}()
		}
		for i := range names {
			next <- i
		}
		close(next)
		wg.Wait()
		t.aliasExact = map[string][]string{}
		for _, r := range out {
			if r.err != nil {
				t.aliasErrors = append(t.aliasErrors, r.err)
				continue
			}
			for _, a := range r.info.Aliases {
				a = normalizeAlias(a)
				if strings.ContainsAny(a, "*?[") {
					t.aliasGlobs = append(t.aliasGlobs, aliasGlob{a[:strings.IndexAny(a, "*?[")], a, r.name})
				} else {
					t.aliasExact[a] = append(t.aliasExact[a], r.name)
				}
			}
		}
	})
}

// Match is one module a name resolves to.
type Match struct {
	Name    string // module name
	Builtin bool
	Via     string // "" for the module's own name, else "alias X"
}

// Lookup resolves a name as modprobe does: a module file of that name,
// else every module with a matching alias (sorted by name), else a
// built-in module of that name, else the built-in modules with a matching
// alias (modules.builtin.modinfo; this is how "ext2" finds ext4 in a kernel
// with CONFIG_EXT4_USE_FOR_EXT2). No match is a *NotFoundError.
func (t *Tree) Lookup(name string) ([]Match, error) {
	n := Normalize(name)
	if _, ok := t.files[n]; ok {
		return []Match{{Name: n}}, nil
	}
	a := normalizeAlias(name)
	t.loadAliases()
	seen := map[string]bool{}
	var out []Match
	for _, m := range t.aliasExact[a] {
		if !seen[m] {
			seen[m] = true
			out = append(out, Match{Name: m, Via: "alias " + name})
		}
	}
	for _, g := range t.aliasGlobs {
		if !strings.HasPrefix(a, g.prefix) || seen[g.module] {
			continue // most patterns are "pci:v0000...", "usb:v...": their prefix rules them out
		}
		if ok, _ := path.Match(g.pattern, a); ok {
			seen[g.module] = true
			out = append(out, Match{Name: g.module, Via: "alias " + name})
		}
	}
	if len(out) > 0 {
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out, nil
	}
	if _, ok := t.builtin[n]; ok {
		return []Match{{Name: n, Builtin: true}}, nil
	}
	for _, mod := range sortedKeys(t.binfo) {
		for _, al := range t.binfo[mod].Aliases {
			al = normalizeAlias(al)
			if ok, _ := path.Match(al, a); ok || al == a {
				out = append(out, Match{Name: mod, Builtin: true, Via: "alias " + name})
				break
			}
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	return nil, t.notFound(name, "")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
