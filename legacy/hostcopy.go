package legacy

import (
	"fmt"
	"os"
	"path"
	"path/filepath"

	"github.com/minidisk/minidisk/rootfs"
)

// maxLinkHops is the kernel's limit on symlinks followed in one lookup.
const maxLinkHops = 40

// copyChain puts host path p into the tree the way the loader will look it
// up: every file-level symlink on the way (e.g. /lib64/ld-linux-x86-64.so.2
// -> /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2) becomes the same link in
// the image, made relative so it also resolves when the image is mounted
// elsewhere, and the real file is copied at the path the last link names.
// Directory symlinks of a merged-/usr host (/lib -> usr/lib) are not copied:
// in the image they are plain directories, as in the 2007 layout.
func copyChain(t *rootfs.Tree, p string) ([]Placement, error) {
	var out []Placement
	cur := path.Clean(p)
	for hop := 0; hop <= maxLinkHops; hop++ {
		if e, ok := t.Lookup(cur); ok && e.Type == rootfs.TypeReg {
			return out, nil // already copied (shared by two libraries)
		}
		fi, err := os.Lstat(filepath.FromSlash(cur))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cur, err)
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			if err := t.AddHostFile(cur, cur); err != nil {
				return nil, err
			}
			out = append(out, Placement{Path: cur, From: cur, Size: fi.Size(), Why: "real file"})
			return out, nil
		}
		target, err := os.Readlink(cur)
		if err != nil {
			return nil, err
		}
		abs := target
		if !path.IsAbs(abs) {
			abs = path.Join(path.Dir(cur), target)
		}
		abs = path.Clean(abs)
		rel, err := filepath.Rel(path.Dir(cur), abs)
		if err != nil {
			return nil, err
		}
		if e, ok := t.Lookup(cur); !ok || e.Type != rootfs.TypeSymlink {
			if err := t.Symlink(cur, filepath.ToSlash(rel)); err != nil {
				return nil, err
			}
			out = append(out, Placement{Path: cur, From: cur, Why: "symlink -> " + rel + " (host: -> " + target + ")"})
		}
		cur = abs
	}
	return nil, fmt.Errorf("%s: more than %d symlinks", p, maxLinkHops)
}
