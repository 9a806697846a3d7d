package kmod

import (
	"errors"
	"fmt"
	"strings"
)

// NotFoundError: a module name (asked for, or in another module's depends=)
// that is neither a module file, an alias of one, nor built in.
type NotFoundError struct {
	Name     string   // as asked
	NeededBy string   // the module whose depends= names it, "" when asked directly
	Tree     string   // the modules directory searched
	Searched []string // what was searched, e.g. "1121 module files under DIR"
}

func (e *NotFoundError) Error() string {
	by := ""
	if e.NeededBy != "" {
		by = " (needed by " + e.NeededBy + ")"
	}
	return fmt.Sprintf("module %s not found%s; searched: %s; check the name with `minidisk modules --modules %s` or give the modules tree of this kernel with --modules",
		e.Name, by, strings.Join(e.Searched, ", "), e.Tree)
}

// VersionMismatchError: the modules were built for another kernel release
// than the kernel they are to be loaded into (the kernel refuses them:
// "disagrees about version of symbol module_layout" or "invalid module
// format").
type VersionMismatchError struct {
	File   string // the tree directory or the module file whose vermagic differs
	Kernel string // the kernel's release, e.g. "6.1.0-57-cloud-amd64"
	Found  string // the tree's or module's release
}

func (e *VersionMismatchError) Error() string {
	return fmt.Sprintf("%s: modules are for kernel %s, but the kernel is %s; give --modules the lib/modules/%s tree that came with this kernel",
		e.File, e.Found, e.Kernel, e.Kernel)
}

// NotELFError: a module file that is not an ELF object.
type NotELFError struct{ File string }

func (e *NotELFError) Error() string {
	f := e.File
	if f == "" {
		f = "module"
	}
	return f + ": not an ELF file, so not a kernel module; reinstall the kernel's modules (the file is damaged or misnamed)"
}

// TruncatedError: a compressed module whose stream ends early.
type TruncatedError struct {
	File   string
	Format string // gz, xz or zst
	Err    error
}

func (e *TruncatedError) Error() string {
	return fmt.Sprintf("%s: truncated %s stream (%v); the download or copy was cut short: reinstall the kernel's modules", e.File, e.Format, e.Err)
}

func (e *TruncatedError) Unwrap() error { return e.Err }

// CorruptError: a compressed module whose stream does not decode.
type CorruptError struct {
	File   string
	Format string
	Err    error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%s: corrupt %s stream (%v); reinstall the kernel's modules", e.File, e.Format, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// TargetError: a target whose drivers this kernel has neither as modules
// nor built in.
type TargetError struct {
	Target  string
	Missing []string // module names (with their config symbols) not found
	Tree    string
	Hint    string // which kernel can, e.g. Debian's generic flavour
}

func (e *TargetError) Error() string {
	return fmt.Sprintf("target %s: this kernel has no %s (not a module in %s, not in its modules.builtin); %s",
		e.Target, strings.Join(e.Missing, ", "), e.Tree, e.Hint)
}

// TreeNotFoundError: no modules directory for a kernel release.
type TreeNotFoundError struct {
	Version  string
	Searched []string
}

func (e *TreeNotFoundError) Error() string {
	return fmt.Sprintf("no modules tree for kernel %s (searched %s); give --modules DIR (a lib/modules/%s directory, or a root holding one)",
		e.Version, strings.Join(e.Searched, ", "), e.Version)
}

// ErrNotModulesTree is wrapped when a --modules directory holds no module.
var ErrNotModulesTree = errors.New("not a modules tree")

// wrapFileErr names the file in an error from ParseModInfo.
func wrapFileErr(file string, err error) error {
	var ne *NotELFError
	if errors.As(err, &ne) {
		return &NotELFError{File: file}
	}
	return fmt.Errorf("%s: %w", file, err)
}
