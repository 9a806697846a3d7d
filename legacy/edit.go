package legacy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/grub"
	"github.com/minidisk/minidisk/internal/atomicfile"
	"github.com/minidisk/minidisk/rootfs"
	"github.com/minidisk/minidisk/rootfs/ext2"
)

// EditImage changes the files of an image's ext2 filesystem. The
// filesystem is read into a tree, edit changes the tree, and a new
// filesystem with the same block count, block size and inode size is
// written into a copy of the image, which replaces the original only when
// complete. Everything outside the partition (MBR, GRUB's sectors, the
// tail) is copied unchanged. The block count never grows: a filesystem
// that was made too large for its partition stays as it was (doctor
// reports it) and a tree that no longer fits is refused.
//
// Each check runs on the finished copy before it replaces the original; an
// error from one keeps the original (the CLI runs doctor's checks here).
func EditImage(img string, edit func(t *rootfs.Tree, fsTime time.Time) error, checks ...Check) (*ext2.Stats, error) {
	src, err := os.Open(img)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read the image: %w; make one with `minidisk create` or `minidisk image create`", img, errors.Unwrap(err))
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", img)
	}
	l, err := disk.ReadLayout(src, fi.Size(), 0, ext2.HoldsFilesystem(src))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", img, err)
	}
	r, err := ext2.Open(src, l.OffsetBytes(), l.PartitionBytes())
	if err != nil {
		return nil, fmt.Errorf("%s: no ext2 filesystem in partition %d (%w); run `minidisk mkfs %s` first", img, l.Partition.Index, err, img)
	}
	sb := r.Superblock()
	fsTime := time.Unix(int64(sb.Wtime), 0).UTC()
	tree, err := TreeFromFS(r, fsTime)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", img, err)
	}
	if err := edit(tree, fsTime); err != nil {
		return nil, err
	}
	opt := ext2.Options{
		BlockSize: r.BlockSize(),
		InodeSize: int(sb.InodeSize),
		Blocks:    uint64(sb.BlocksCount),
		Label:     strings.TrimRight(string(sb.VolumeName[:]), "\x00"),
		Time:      fsTime,
	}
	uuid := sb.UUID
	opt.UUID = &uuid
	if sde, ok, err := rootfs.SourceDateEpoch(); err != nil {
		return nil, err
	} else if ok {
		tree.ClampTimes(sde)
		opt.Time = sde
	}
	if _, err := ext2.Plan(tree, opt); err != nil {
		return nil, fmt.Errorf("%s: %w; make a larger image", img, err)
	}
	// Replace follows a symlink to the image and keeps its mode.
	out, err := atomicfile.Replace(img)
	if err != nil {
		return nil, err
	}
	defer out.Abort()
	if err := out.Truncate(fi.Size()); err != nil {
		return nil, err
	}
	fsEnd := l.OffsetBytes() + int64(opt.Blocks)*int64(opt.BlockSize)
	if err := copySparse(out.File, src, 0, l.OffsetBytes()); err != nil {
		return nil, fmt.Errorf("%s: %w", img, err)
	}
	if err := copySparse(out.File, src, fsEnd, fi.Size()); err != nil {
		return nil, fmt.Errorf("%s: %w", img, err)
	}
	st, err := ext2.Write(out.File, l.OffsetBytes(), tree, opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", img, err)
	}
	for _, check := range checks {
		if check == nil {
			continue
		}
		if err := check(out.File, fi.Size()); err != nil {
			return nil, err
		}
	}
	return st, out.Commit()
}

// Check inspects a finished image (size bytes) before it is renamed into
// place; an error stops the rename.
type Check func(img io.ReaderAt, size int64) error

// copySparse copies bytes [from, to) of src to the same place in dst,
// skipping all-zero blocks so the copy stays sparse.
func copySparse(dst io.WriterAt, src io.ReaderAt, from, to int64) error {
	buf := make([]byte, 64<<10)
	for off := from; off < to; {
		n := int64(len(buf))
		if to-off < n {
			n = to - off
		}
		got, err := src.ReadAt(buf[:n], off)
		if err != nil && err != io.EOF {
			return err
		}
		if got == 0 {
			return nil
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

func allZero(b []byte) bool { return len(bytes.Trim(b, "\x00")) == 0 }

// TreeFromFS reads a filesystem into a tree whose file contents are read
// from fsys when written, so an edit streams file data instead of holding
// it. lost+found is left out: the ext2 writer makes its own.
func TreeFromFS(r *ext2.Reader, dirTime time.Time) (*rootfs.Tree, error) {
	t := rootfs.New(dirTime)
	err := r.Walk(func(h *rootfs.Header) error {
		if h.Name == "/lost+found" || strings.HasPrefix(h.Name, "/lost+found/") {
			return nil
		}
		e := rootfs.Entry{Header: *h}
		if h.Type == rootfs.TypeLink {
			// A hard link to a symlink or device (legal in ext2, made by
			// hand with ln) becomes a copy of it: the tree links regular
			// files only, and a copy behaves the same at boot.
			if target, ok := t.Lookup(h.Linkname); ok && target.Type != rootfs.TypeReg {
				e.Header = target.Header
				e.Name = h.Name
			}
		}
		if e.Type == rootfs.TypeReg {
			e.Content = fsContent{fsys: r, name: strings.TrimPrefix(h.Name, "/")}
		}
		return t.Add(e)
	})
	return t, err
}

// fsContent is a file inside an fs.FS used as tree content.
type fsContent struct {
	fsys fs.FS
	name string
}

func (c fsContent) Open() (io.ReadCloser, error) { return c.fsys.Open(c.name) }

// rootPartition is the number of the partition EditImage would edit.
func rootPartition(img string) (int, error) {
	f, err := os.Open(img)
	if err != nil {
		return 0, fmt.Errorf("%s: cannot read the image: %w; make one with `minidisk create` or `minidisk image create`", img, errors.Unwrap(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", img, err)
	}
	l, err := disk.ReadLayout(f, fi.Size(), 0, ext2.HoldsFilesystem(f))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", img, err)
	}
	return l.Partition.Index, nil
}

// AddToImage puts the payload (kernel, BusyBox and its libraries, GRUB
// files and config, /dev/console) into an image that already has a
// partition and an ext2 filesystem: the `rootfs add` step of the recipe.
func AddToImage(img string, p Payload) ([]Placement, *ext2.Stats, error) {
	if p.Time.IsZero() {
		t, err := InputTime(p)
		if err != nil {
			return nil, nil, err
		}
		p.Time = t
	}
	st, err := grub.FindStages(p.GrubDir)
	if err != nil {
		return nil, nil, err
	}
	if p.Partition == 0 {
		// The menu must name the partition the files go to: the one
		// disk.FindRoot picks, which EditImage edits.
		n, err := rootPartition(img)
		if err != nil {
			return nil, nil, err
		}
		p.Partition = n
	}
	add, placed, err := BuildTree(p, st)
	if err != nil {
		return nil, nil, err
	}
	stats, err := EditImage(img, func(t *rootfs.Tree, _ time.Time) error {
		for _, e := range add.Entries() {
			if err := t.Add(*e); err != nil {
				return fmt.Errorf("%s: %w", img, err)
			}
		}
		return nil
	}, p.Check)
	return placed, stats, err
}
