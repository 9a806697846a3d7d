package grub

import (
	"fmt"
	"io"
	"os"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/internal/atomicfile"
	"github.com/minidisk/minidisk/rootfs/ext2"
)

// PartitionExtent returns the byte offset and size of the partition GRUB
// calls (hd0,index) in an MBR disk image: 0..3 primary, 4.. logical.
func PartitionExtent(img io.ReaderAt, index int) (offset, size int64, err error) {
	t, err := readPartitions(img)
	if err != nil {
		return 0, 0, err
	}
	p, ok := partitionByIndex(t, index)
	if !ok || disk.IsExtended(p.Type) {
		return 0, 0, fmt.Errorf("partition %d is empty", index+1)
	}
	return int64(p.Start) * sectorSize, int64(p.Sectors) * sectorSize, nil
}

// RootPartitionIndex is GRUB's number N in (hd0,N) of the partition
// disk.FindRoot picks in the image: what `grub install` and the setup floppy
// use when no --partition is given.
func RootPartitionIndex(img io.ReaderAt, size int64) (int, error) {
	p, err := disk.FindRoot(img, size, ext2.HoldsFilesystem(img))
	if err != nil {
		return 0, err
	}
	return p.Index - 1, nil
}

// InstallImage installs GRUB into the image file at path. It reads the
// partition's ext2 with minidisk's own reader, so Install can check that
// the stage files are in the filesystem and can use stage2's block map
// (the blocklist path, a custom config path). opt.FS and opt.Blocks, when
// set, take precedence.
func InstallImage(path string, st *Stages, opt InstallOptions) (*InstallReport, error) {
	// Through a copy renamed into place (internal/atomicfile.Edit): a
	// failed install leaves the image as it was.
	f, err := atomicfile.Edit(path)
	if err != nil {
		return nil, err
	}
	defer f.Abort()
	if opt.Name == "" {
		opt.Name = path
	}
	rep, err := InstallFile(f.File, st, opt)
	if err != nil {
		return nil, err
	}
	return rep, f.Commit()
}

// InstallFile installs GRUB into an open image, reading the partition's
// ext2 with minidisk's own reader when opt.FS or opt.Blocks are not set.
func InstallFile(f ReadWriterAt, st *Stages, opt InstallOptions) (*InstallReport, error) {
	if opt.FS == nil || opt.Blocks == nil {
		if off, size, err := PartitionExtent(f, opt.PartitionIndex); err == nil {
			// A filesystem the reader refuses is diagnosed by Install's
			// own superblock checks, which name what GRUB cannot read.
			if r, err := ext2.Open(f, off, size); err == nil {
				if opt.FS == nil {
					opt.FS = r
				}
				if opt.Blocks == nil {
					opt.Blocks = r
				}
			}
		}
	}
	return Install(f, st, opt)
}

// GrubConfPath is the 2007 recipe's config file; GRUB reads it through the
// menu.lst symlink.
const GrubConfPath = "/boot/grub/grub.conf"

// Stage2LoadAddress is where stage1 loads a stage2 it reads by blocklist
// (a stage1.5 loads at 0x2000).
const Stage2LoadAddress = stage2LoadAddress

// Stage15LoadAddress is where stage1 loads an embedded stage1.5.
const Stage15LoadAddress = stage15LoadAddress

// InspectImage reads the GRUB stage1 in an image's MBR; it fails when
// there is none.
func InspectImage(path string) (*Stage1Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	mbr := make([]byte, sectorSize)
	if _, err := f.ReadAt(mbr, 0); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ParseStage1(mbr)
}
