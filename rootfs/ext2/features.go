package ext2

import (
	"fmt"
	"io"
)

// Feature flags the reader understands beyond the ones the writer uses
// (fs/ext4/ext4.h).
const (
	FeatureIncompatEAInode   = 0x0400 // large xattr values in their own inodes
	FeatureIncompatDirData   = 0x1000 // Lustre: data in directory entries
	FeatureIncompatCsumSeed  = 0x2000 // metadata_csum seed in the superblock
	FeatureIncompatLargeDir  = 0x4000 // directories > 2 GiB, 3-level htree
	FeatureROCompatHasSnap   = 0x0080
	FeatureROCompatReplica   = 0x0800
	FeatureROCompatReadOnly  = 0x1000
	FeatureROCompatProject   = 0x2000
	FeatureROCompatVerity    = 0x8000
	FeatureROCompatOrphan    = 0x10000
	FeatureCompatFastCommit  = 0x0400
	FeatureCompatStableInode = 0x0800
	FeatureCompatOrphanFile  = 0x1000

	// InodeFlagHugeFile: i_blocks counts filesystem blocks, not 512-byte
	// sectors (huge_file, EXT4_HUGE_FILE_FL).
	InodeFlagHugeFile = 0x00040000
	// InodeFlagEncrypt marks an fscrypt-encrypted file or directory.
	InodeFlagEncrypt = 0x00000800
	// InodeFlagEAInode marks an inode holding an xattr value.
	InodeFlagEAInode = 0x00200000
	// groupDescSize64 is the minimum descriptor size with INCOMPAT_64BIT.
	groupDescSize64 = 64
)

// ext3's feature set as libblkid (util-linux libblkid/src/superblocks/ext.c)
// tells ext2, ext3 and ext4 apart: a filesystem using any ro_compat or
// incompat feature outside these is ext4; otherwise a journal makes it ext3.
const (
	ext3ROCompatSupp = FeatureROCompatSparseSuper | FeatureROCompatLargeFile | FeatureROCompatBtreeDir
	ext3IncompatSupp = FeatureIncompatFiletype | FeatureIncompatRecover | FeatureIncompatMetaBG
)

// HasExtents reports INCOMPAT_EXTENTS: files may be mapped by extent trees
// (GRUB Legacy 0.97 cannot read them).
func (s *Superblock) HasExtents() bool { return s.FeatureIncompat&FeatureIncompatExtents != 0 }

// Is64Bit reports INCOMPAT_64BIT: 48-bit block numbers and group
// descriptors of s_desc_size (>= 64) bytes.
func (s *Superblock) Is64Bit() bool { return s.FeatureIncompat&FeatureIncompat64Bit != 0 }

// HasJournal reports COMPAT_HAS_JOURNAL.
func (s *Superblock) HasJournal() bool { return s.FeatureCompat&FeatureCompatHasJournal != 0 }

// NeedsRecovery reports INCOMPAT_RECOVER: the journal holds transactions
// not yet replayed, so metadata read without replaying it may be stale.
// The reader reads such a filesystem anyway (it never writes).
func (s *Superblock) NeedsRecovery() bool { return s.FeatureIncompat&FeatureIncompatRecover != 0 }

// HasFlexBG reports INCOMPAT_FLEX_BG: bitmaps and inode tables may lie
// outside their group.
func (s *Superblock) HasFlexBG() bool { return s.FeatureIncompat&FeatureIncompatFlexBG != 0 }

// HasMetaBG reports INCOMPAT_META_BG.
func (s *Superblock) HasMetaBG() bool { return s.FeatureIncompat&FeatureIncompatMetaBG != 0 }

// HasInlineData reports INCOMPAT_INLINE_DATA.
func (s *Superblock) HasInlineData() bool { return s.FeatureIncompat&FeatureIncompatInlineData != 0 }

// HasMetadataCsum reports RO_COMPAT_METADATA_CSUM (the reader does not
// verify checksums).
func (s *Superblock) HasMetadataCsum() bool {
	return s.FeatureROCompat&FeatureROCompatMetadataCsum != 0
}

// HasDirIndex reports COMPAT_DIR_INDEX (htree directories).
func (s *Superblock) HasDirIndex() bool { return s.FeatureCompat&FeatureCompatDirIndex != 0 }

// BlocksCount64 is the block count including s_blocks_count_hi when 64bit.
func (s *Superblock) BlocksCount64() uint64 {
	n := uint64(s.BlocksCount)
	if s.Is64Bit() {
		n |= uint64(s.BlocksCountHi) << 32
	}
	return n
}

// FreeBlocksCount64 is the free block count including the high word when
// 64bit.
func (s *Superblock) FreeBlocksCount64() uint64 {
	n := uint64(s.FreeBlocksCount)
	if s.Is64Bit() {
		n |= uint64(s.FreeBlocksCountHi) << 32
	}
	return n
}

// GroupDescBytes is the group descriptor size in bytes: s_desc_size with 64bit
// (at least 64), else 32.
func (s *Superblock) GroupDescBytes() int {
	if !s.Is64Bit() {
		return GroupDescSize
	}
	return int(s.DescSize)
}

// Kind names the filesystem the way blkid and mount do: "ext4" when it
// uses any feature ext3 lacks (extents, 64bit, flex_bg, huge_file,
// metadata_csum, 256-byte inode extra fields, ...), "ext3" when it has a
// journal, else "ext2". A journal device (INCOMPAT_JOURNAL_DEV) is "jbd".
func (s *Superblock) Kind() string {
	switch {
	case s.FeatureIncompat&FeatureIncompatJournalDev != 0:
		return "jbd"
	case s.FeatureROCompat&^ext3ROCompatSupp != 0 || s.FeatureIncompat&^ext3IncompatSupp != 0:
		return "ext4"
	case s.HasJournal():
		return "ext3"
	}
	return "ext2"
}

// UUIDString is the filesystem UUID in the usual 8-4-4-4-12 form (what
// root=UUID= names).
func (s *Superblock) UUIDString() string { return formatUUID(s.UUID) }

func formatUUID(u [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// FeatureNames lists the feature flags set, in the names mke2fs -O and
// dumpe2fs use, compat then incompat then ro_compat; unknown bits appear as
// FEATURE_C12 / FEATURE_I31 / FEATURE_R20 as e2p_feature2string spells them.
func (s *Superblock) FeatureNames() []string {
	var out []string
	add := func(set uint32, names map[uint32]string, prefix string) {
		for bit := 0; bit < 32; bit++ {
			f := uint32(1) << bit
			if set&f == 0 {
				continue
			}
			if n, ok := names[f]; ok {
				out = append(out, n)
			} else {
				out = append(out, fmt.Sprintf("FEATURE_%s%d", prefix, bit))
			}
		}
	}
	add(s.FeatureCompat, compatNames, "C")
	add(s.FeatureIncompat, incompatNames, "I")
	add(s.FeatureROCompat, roCompatNames, "R")
	return out
}

var compatNames = map[uint32]string{
	FeatureCompatDirPrealloc: "dir_prealloc", FeatureCompatImagicInodes: "imagic_inodes",
	FeatureCompatHasJournal: "has_journal", FeatureCompatExtAttr: "ext_attr",
	FeatureCompatResizeInode: "resize_inode", FeatureCompatDirIndex: "dir_index",
	0x0040: "lazy_bg", 0x0100: "snapshot_bitmap", FeatureCompatSparseSuper2: "sparse_super2",
	FeatureCompatFastCommit: "fast_commit", FeatureCompatStableInode: "stable_inodes",
	FeatureCompatOrphanFile: "orphan_file",
}

var incompatNames = map[uint32]string{
	FeatureIncompatCompression: "compression", FeatureIncompatFiletype: "filetype",
	FeatureIncompatRecover: "needs_recovery", FeatureIncompatJournalDev: "journal_dev",
	FeatureIncompatMetaBG: "meta_bg", FeatureIncompatExtents: "extent", FeatureIncompat64Bit: "64bit",
	FeatureIncompatMMP: "mmp", FeatureIncompatFlexBG: "flex_bg", FeatureIncompatEAInode: "ea_inode",
	FeatureIncompatDirData: "dirdata", FeatureIncompatCsumSeed: "metadata_csum_seed",
	FeatureIncompatLargeDir: "large_dir", FeatureIncompatInlineData: "inline_data",
	FeatureIncompatEncrypt: "encrypt", FeatureIncompatCasefold: "casefold",
}

var roCompatNames = map[uint32]string{
	FeatureROCompatSparseSuper: "sparse_super", FeatureROCompatLargeFile: "large_file",
	FeatureROCompatBtreeDir: "btree_dir", FeatureROCompatHugeFile: "huge_file",
	FeatureROCompatGdtCsum: "uninit_bg", FeatureROCompatDirNlink: "dir_nlink",
	FeatureROCompatExtraIsize: "extra_isize", FeatureROCompatHasSnap: "snapshot",
	FeatureROCompatQuota: "quota", FeatureROCompatBigalloc: "bigalloc",
	FeatureROCompatMetadataCsum: "metadata_csum", FeatureROCompatReplica: "replica",
	FeatureROCompatReadOnly: "read-only", FeatureROCompatProject: "project",
	FeatureROCompatVerity: "verity", FeatureROCompatOrphan: "orphan_present",
}

// ProbeResult is what Probe learns from a superblock alone.
type ProbeResult struct {
	Kind      string // "ext2", "ext3", "ext4" (Superblock.Kind)
	Label     string // s_volume_name, "" when unset
	UUID      string // 8-4-4-4-12
	BlockSize int
	Blocks    uint64 // s_blocks_count (64-bit with INCOMPAT_64BIT)
	Bytes     int64  // Blocks × BlockSize: the size the filesystem claims
	Features  []string
}

// Probe reports whether the bytes at off of r start an ext2/3/4
// filesystem: one 1 KiB read of the superblock, whose magic and geometry
// must be sane (Superblock.Validate). It does not read group descriptors,
// so it is cheap enough to try at every partition start and at byte 0.
func Probe(r io.ReaderAt, off int64) (ProbeResult, bool) {
	var b [SuperblockSize]byte
	if off < 0 {
		return ProbeResult{}, false
	}
	if n, _ := r.ReadAt(b[:], off+SuperblockOffset); n != len(b) {
		return ProbeResult{}, false
	}
	var sb Superblock
	if sb.Unmarshal(b[:]) != nil || sb.Validate() != nil { // Unmarshal checks s_magic
		return ProbeResult{}, false
	}
	bs := sb.BlockSize()
	blocks := sb.BlocksCount64()
	return ProbeResult{
		Kind: sb.Kind(), Label: sb.Label(), UUID: sb.UUIDString(),
		BlockSize: bs, Blocks: blocks, Bytes: int64(min(blocks, 1<<62/uint64(bs))) * int64(bs),
		Features: sb.FeatureNames(),
	}, true
}
