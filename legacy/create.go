package legacy

import (
	"fmt"
	"os"
	"time"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/grub"
	"github.com/minidisk/minidisk/internal/atomicfile"
	"github.com/minidisk/minidisk/rootfs"
	"github.com/minidisk/minidisk/rootfs/ext2"
)

// Options are everything `minidisk create` takes.
type Options struct {
	Payload
	Layout disk.LayoutOptions // DiskBytes 0 = what the payload needs plus headroom
	Force  bool
	// Progress, if set, is told each step as it starts (for the CLI).
	Progress func(step string)
}

// Result is the summary of a created image.
type Result struct {
	Image  string              `json:"image"`
	Layout disk.PlanJSON       `json:"layout"`
	FS     *ext2.Stats         `json:"filesystem"`
	Grub   *grub.InstallReport `json:"grub"`
	Files  []Placement         `json:"files"`
	layout *disk.Layout
}

// Layout returns the disk layout of the image.
func (r *Result) DiskLayout() *disk.Layout { return r.layout }

// headroom is the free space a default-sized image gets beyond its payload,
// so a class can add files; the image is sparse, so it costs nothing on disk.
const headroom = 4 << 20

// Create builds the whole image at out: every input is checked and the
// filesystem planned before the first byte is written, the image is written
// to a temporary file beside out and renamed only when complete.
func Create(out string, opt Options) (*Result, error) {
	step := func(s string) {
		if opt.Progress != nil {
			opt.Progress(s)
		}
	}
	if opt.Time.IsZero() {
		t, err := InputTime(opt.Payload)
		if err != nil {
			return nil, err
		}
		opt.Time = t
	}
	step("checking GRUB stage files")
	st, err := grub.FindStages(opt.GrubDir)
	if err != nil {
		return nil, err
	}
	step("assembling the tree (kernel, BusyBox, libraries, GRUB, /dev/console)")
	tree, placed, err := BuildTree(opt.Payload, st)
	if err != nil {
		return nil, err
	}
	if sde, ok, err := rootfs.SourceDateEpoch(); err != nil {
		return nil, err
	} else if ok {
		tree.ClampTimes(sde)
	}

	step("planning the layout")
	lopt := opt.Layout
	fsopt := ext2.Options{BlockSize: lopt.BlockSize, Time: opt.Time}
	if lopt.DiskBytes == 0 {
		size, err := defaultSize(tree, lopt, fsopt)
		if err != nil {
			return nil, err
		}
		lopt.DiskBytes = size
	}
	l, err := disk.PlanLayout(lopt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", out, err)
	}
	fsopt.BlockSize = l.BlockSize
	fsopt.Blocks = l.AlignedBlocks()
	if _, err := ext2.Plan(tree, fsopt); err != nil {
		return nil, fmt.Errorf("%s: the payload does not fit a %s image: %w; give a larger --size", out, disk.FormatSize(l.DiskBytes()), err)
	}

	f, err := atomicfile.Create(out, opt.Force)
	if err != nil {
		return nil, err
	}
	defer f.Abort()
	step(fmt.Sprintf("raw image: %s, sparse", disk.FormatSize(l.DiskBytes())))
	if err := f.Truncate(l.DiskBytes()); err != nil {
		return nil, fmt.Errorf("%s: %w", out, err)
	}
	step(fmt.Sprintf("MBR: partition 1 at sector %d, %d sectors", l.Partition.Start, l.Partition.Sectors))
	if _, err := disk.WritePartitionTable(f.File, l, 0); err != nil {
		return nil, fmt.Errorf("%s: %w", out, err)
	}
	step(fmt.Sprintf("ext2: %d blocks of %d bytes at byte offset %d", fsopt.Blocks, l.BlockSize, l.OffsetBytes()))
	stats, err := ext2.Write(f.File, l.OffsetBytes(), tree, fsopt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", out, err)
	}
	step("GRUB: stage1 into the MBR, e2fs_stage1_5 after it")
	// The data is written: its way to the disk overlaps with GRUB's
	// install and the check, and Commit's fsync waits for the rest.
	f.StartSync()
	fsys, err := ext2.Open(f.File, l.OffsetBytes(), l.PartitionBytes())
	if err != nil {
		return nil, fmt.Errorf("%s: reading back the new filesystem: %w", out, err)
	}
	rep, err := grub.Install(f.File, st, grub.InstallOptions{FS: fsys, Blocks: fsys, Name: out})
	if err != nil {
		return nil, err
	}
	if opt.Check != nil {
		step("checking the image as doctor does")
		if err := opt.Check(f.File, l.DiskBytes()); err != nil {
			return nil, err
		}
	}
	if err := f.Commit(); err != nil {
		return nil, err
	}
	return &Result{Image: out, Layout: l.JSON(), FS: stats, Grub: rep, Files: placed, layout: l}, nil
}

// defaultSize is the payload's need plus headroom, rounded up to whole MiB.
func defaultSize(t *rootfs.Tree, lopt disk.LayoutOptions, fsopt ext2.Options) (int64, error) {
	bs := int64(fsopt.BlockSize)
	if bs == 0 {
		bs = 1024
	}
	var payload int64
	for _, e := range t.Entries() {
		payload += (e.Size + bs - 1) / bs * bs
	}
	start := int64(disk.LegacyStart)
	if lopt.Align1MiB {
		start = disk.AlignedStart
	} else if lopt.Start != 0 {
		start = int64(lopt.Start)
	}
	// ext2 metadata (inode tables, bitmaps, indirect blocks) is a few
	// percent of a small filesystem; a quarter more leaves room for it.
	need := start*disk.SectorSize + payload + payload/4 + headroom
	const mib = 1 << 20
	size := (need + mib - 1) / mib * mib
	if lopt.CylinderAlign {
		cyl := int64(disk.DefaultGeometry.CylinderSectors()) * disk.SectorSize
		size = (size + cyl - 1) / cyl * cyl
		size = (size + mib - 1) / mib * mib
	}
	return size, nil
}

// InputTime is the time for entries minidisk makes itself (directories,
// grub.conf, the superblock): SOURCE_DATE_EPOCH when set, else the newest
// modification time of the kernel and BusyBox — the same inputs give the
// same image.
func InputTime(p Payload) (time.Time, error) {
	if t, ok, err := rootfs.SourceDateEpoch(); err != nil || ok {
		return t, err
	}
	var newest time.Time
	for _, f := range []string{p.Kernel, p.BusyBox} {
		if f == "" {
			continue
		}
		fi, err := os.Stat(f)
		if err != nil {
			continue // reported with the fix when the file is read
		}
		if fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
	}
	return newest.UTC().Truncate(time.Second), nil
}
