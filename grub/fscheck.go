package grub

import (
	"errors"
	"fmt"
	"strings"

	"github.com/minidisk/minidisk/rootfs/ext2"
)

// Why CheckFilesystem refuses a filesystem; test with errors.Is.
var (
	// ErrBlockSize: blocks larger than 4 KiB.
	ErrBlockSize = errors.New("block size beyond what GRUB Legacy reads")
	// ErrInodeSize: inodes other than 128 bytes.
	ErrInodeSize = errors.New("inode size stock GRUB Legacy 0.97 cannot read")
	// ErrFeatures: incompatible features GRUB 0.97's ext2 reader was not
	// written for.
	ErrFeatures = errors.New("filesystem features GRUB Legacy 0.97 cannot read")
)

// FilesystemError says what in a superblock stock GRUB 0.97 cannot read.
// It wraps ErrBlockSize, ErrInodeSize or ErrFeatures.
type FilesystemError struct {
	Err       error
	BlockSize int      // with ErrBlockSize
	InodeSize int      // with ErrInodeSize
	Features  []string // with ErrFeatures: the incompatible features' names, as mke2fs spells them
}

func (e *FilesystemError) Error() string {
	switch {
	case errors.Is(e.Err, ErrBlockSize):
		return fmt.Sprintf("ext2 block size %d is beyond what GRUB Legacy reads (use -b 1024, 2048 or 4096)", e.BlockSize)
	case errors.Is(e.Err, ErrInodeSize):
		return fmt.Sprintf("ext2 has %d-byte inodes; stock GRUB Legacy 0.97 reads only 128-byte inodes (make the filesystem with mke2fs -I 128)", e.InodeSize)
	}
	return fmt.Sprintf("filesystem uses %s, which GRUB Legacy 0.97 cannot read (make a plain ext2: mke2fs -t ext2 -I 128)", strings.Join(e.Features, ", "))
}

func (e *FilesystemError) Unwrap() error { return e.Err }

// Incompatible features GRUB 0.97's stage2/fsys_ext2fs.c handles: it reads
// directory entries with a file type byte, ignores the journal (a
// needs-recovery flag only means the journal is not replayed), and reads
// the group descriptors wherever they point (flex_bg). Any other
// incompatible feature changes how files are found.
const grubReadableIncompat = ext2.FeatureIncompatFiletype | ext2.FeatureIncompatRecover | ext2.FeatureIncompatFlexBG

// incompatNames are mke2fs's names for the s_feature_incompat bits.
var incompatNames = map[uint32]string{
	0x0001: "compression", 0x0008: "journal_dev", 0x0010: "meta_bg", 0x0040: "extent",
	0x0080: "64bit", 0x0100: "mmp", 0x0400: "ea_inode", 0x1000: "dirdata",
	0x2000: "metadata_csum_seed", 0x4000: "large_dir", 0x8000: "inline_data", 0x10000: "encrypt", 0x20000: "casefold",
}

// UnreadableFeatures names the incompatible features in incompat (the
// superblock's s_feature_incompat) that stock GRUB 0.97 cannot read.
func UnreadableFeatures(incompat uint32) []string {
	var names []string
	bad := incompat &^ grubReadableIncompat
	for bit := uint32(1); bit != 0; bit <<= 1 {
		if bad&bit != 0 {
			n := incompatNames[bit]
			if n == "" {
				n = fmt.Sprintf("0x%x", bit)
			}
			names = append(names, n)
		}
	}
	return names
}

// CheckFilesystem says whether stock GRUB Legacy 0.97's e2fs_stage1_5 and
// stage2 can read the filesystem: blocks of 1, 2 or 4 KiB, 128-byte inodes,
// and no incompatible feature beyond filetype, needs_recovery and flex_bg.
// The error is a *FilesystemError (the first problem found). Whether the
// filesystem fits its partition is the caller's check.
func CheckFilesystem(sb *ext2.Superblock) error {
	if sb.LogBlockSize > 2 {
		return &FilesystemError{Err: ErrBlockSize, BlockSize: sb.BlockSize()}
	}
	if sz := sb.InodeSizeOrDefault(); sz != 128 {
		return &FilesystemError{Err: ErrInodeSize, InodeSize: sz}
	}
	if sb.RevLevel >= 1 {
		if bad := UnreadableFeatures(sb.FeatureIncompat); len(bad) > 0 {
			return &FilesystemError{Err: ErrFeatures, Features: bad}
		}
	}
	return nil
}
