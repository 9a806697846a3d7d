package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// The one rule for changing an existing image (docs/cli.md): the change is
// made on a copy beside the file, which replaces it by rename only when
// complete. A symlink is followed and its target replaced (the link stays a
// link); the file keeps its permission bits. The copy is cheap: a reflink
// (FICLONE) where the filesystem offers it (btrfs, XFS), else a sparse copy
// that reads only the data extents (SEEK_DATA/SEEK_HOLE) and leaves holes
// as holes.

// Edit starts a change to the existing regular file path: the returned
// File holds a copy of its content. Write the changes through it, then
// Commit (rename onto the original) or Abort (the original is untouched).
func Edit(path string) (*File, error) {
	target, fi, err := existing(path)
	if err != nil {
		return nil, err
	}
	src, err := os.Open(target)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read it: %w", path, errors.Unwrap(err))
	}
	defer src.Close()
	f, err := create(target, fi.Mode().Perm())
	if err != nil {
		return nil, err
	}
	if err := copyFile(f.File, src, fi.Size()); err != nil {
		f.Abort()
		return nil, fmt.Errorf("%s: copying it to a temporary file: %w", path, err)
	}
	return f, nil
}

// Replace starts rewriting the existing regular file path from scratch: an
// empty temporary file that, on Commit, replaces the original (its symlink
// followed, its permission bits kept). For writers that produce every byte
// themselves and read the original on the side.
func Replace(path string) (*File, error) {
	target, fi, err := existing(path)
	if err != nil {
		return nil, err
	}
	return create(target, fi.Mode().Perm())
}

// existing resolves path to the regular file it names.
func existing(path string) (string, os.FileInfo, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil, fmt.Errorf("%s: no such file", path)
	}
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", path, errors.Unwrap(err))
	}
	if !fi.Mode().IsRegular() {
		return "", nil, fmt.Errorf("%s: not a regular file; refusing to write to it (use `minidisk flash` for devices)", path)
	}
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", path, err)
	}
	return target, fi, nil
}

// copyZeroSkipping copies src to dst block by block, skipping all-zero
// blocks so dst stays sparse: the fallback where neither reflinks nor
// SEEK_DATA exist.
func copyZeroSkipping(dst, src *os.File, from, to int64) error {
	buf := make([]byte, 1<<20)
	for off := from; off < to; {
		n := min(int64(len(buf)), to-off)
		got, err := src.ReadAt(buf[:n], off)
		if got == 0 && err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		for b := 0; b < got; b += 4096 {
			e := min(b+4096, got)
			if !allZero(buf[b:e]) {
				if _, err := dst.WriteAt(buf[b:e], off+int64(b)); err != nil {
					return err
				}
			}
		}
		off += int64(got)
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// lastCopy says how the last Edit copied its file (reflink, sparse,
// zero-skipping): for the tests.
var lastCopy string
