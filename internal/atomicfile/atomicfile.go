// Package atomicfile writes an output file so that it is either complete or
// absent: data goes to a temporary file beside the target and is renamed over
// it only on Commit. An interrupted or failed run leaves nothing behind.
package atomicfile

import (
	"errors"
	"fmt"
	"github.com/minidisk/minidisk/internal/hostos"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
)

// ErrExists is returned by Create when the target exists and force is false.
var ErrExists = errors.New("exists")

// File is a pending output file. Write through *os.File (it supports WriteAt
// and Truncate, so images stay sparse), then Commit or Abort.
type File struct {
	*os.File
	target string      // the path renamed onto: a symlink's final target
	mode   os.FileMode // permission bits the result gets
	done   bool
	stop   func()
}

// Create starts writing target. It refuses an existing target unless force,
// and always refuses anything that is not a regular file (a block device is
// never an output here: see `minidisk flash`).
//
// Replacing an existing file (force) follows the rule of Edit: a symlink is
// followed and its target replaced, and the file keeps its permission bits.
func Create(target string, force bool) (*File, error) {
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(target); err == nil {
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%s: not a regular file; refusing to write to it (use `minidisk flash` for devices)", target)
		}
		if !force {
			return nil, fmt.Errorf("%s: %w; use --force to replace it", target, ErrExists)
		}
		resolved, err := filepath.EvalSymlinks(target)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", target, err)
		}
		target, mode = resolved, fi.Mode().Perm()
	}
	return create(target, mode)
}

// create makes the temporary file for target (already resolved).
func create(target string, mode os.FileMode) (*File, error) {
	dir := filepath.Dir(target)
	// The handler is in place before the file exists, and the file is
	// created and registered under the lock the handler takes: a signal at
	// any moment finds the temporary file registered, or no file at all.
	installHandler()
	mu.Lock()
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(target)+".tmp-*")
	if err == nil {
		pending[tmp.Name()]++
	}
	mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("%s: cannot create a temporary file in %s: %w", target, dir, errors.Unwrap(err))
	}
	name := tmp.Name()
	f := &File{File: tmp, target: target, mode: mode, stop: func() {
		mu.Lock()
		delete(pending, name)
		mu.Unlock()
	}}
	return f, nil
}

// Target is the final path (a symlink given to Create or Edit resolved).
func (f *File) Target() string { return f.target }

// Commit syncs the data and renames the temporary file onto the target.
func (f *File) Commit() error {
	if f.done {
		return errors.New("atomicfile: already finished")
	}
	f.done = true
	defer f.stop()
	if err := f.File.Sync(); err != nil {
		f.File.Close()
		os.Remove(f.File.Name())
		return fmt.Errorf("%s: %w", f.target, err)
	}
	if err := f.File.Close(); err != nil {
		os.Remove(f.File.Name())
		return fmt.Errorf("%s: %w", f.target, err)
	}
	if err := os.Chmod(f.File.Name(), f.mode); err != nil {
		os.Remove(f.File.Name())
		return fmt.Errorf("%s: %w", f.target, err)
	}
	if err := os.Rename(f.File.Name(), f.target); err != nil {
		os.Remove(f.File.Name())
		return fmt.Errorf("%s: %w", f.target, err)
	}
	return nil
}

// StartSync starts writing the file's data to disk without waiting for it
// (Linux; elsewhere a no-op), for a caller that still has checks to make
// before Commit: Commit's fsync then has less left to wait for. Errors are
// ignored here; Commit's fsync reports them.
func (f *File) StartSync() {
	_ = hostos.StartWriteback(f.File)
}

// Abort removes the temporary file. It is safe to call after Commit (no-op),
// so `defer f.Abort()` is the usual pattern.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.File.Close()
	os.Remove(f.File.Name())
	f.stop()
}

// pending holds temporary files to delete if SIGINT/SIGTERM arrives; the
// handler then exits with the conventional 128+signal status.
var (
	mu      sync.Mutex
	pending = map[string]int{}
	sigOnce sync.Once
)

func installHandler() {
	sigOnce.Do(func() {
		c := make(chan os.Signal, 1)
		signal.Notify(c, os.Interrupt, syscall.SIGTERM)
		go func() {
			s := <-c
			mu.Lock()
			for n := range pending {
				os.Remove(n)
			}
			// Keep the lock: no new temporary file may appear while exiting.
			fmt.Fprintf(os.Stderr, "minidisk: interrupted (%v); no output written\n", s)
			code := 130
			if s == syscall.SIGTERM {
				code = 143
			}
			os.Exit(code)
		}()
	})
}
