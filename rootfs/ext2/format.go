// Package ext2 writes classic revision-1 ext2 filesystems (the
// block-mapped layout mke2fs makes without extents, which GRUB Legacy's
// e2fs_stage1_5 can read) and reads ext2, ext3 and ext4 ones.
//
// Writing: Plan lays a rootfs.Tree out under Options and returns its Stats
// without writing anything, or an error wrapping ErrNoSpace when it does
// not fit; Write plans the same way, then writes the filesystem at an
// offset of an io.WriterAt. The bytes depend only on the tree and the
// Options: Options.Time stands in for the clock, and the UUID, unless
// given, is derived from the content.
//
// Reading: Open returns a Reader, an io/fs.FS (also fs.ReadDirFS, StatFS,
// ReadLinkFS, ReadFileFS) over the filesystem at an offset of an
// io.ReaderAt, read-only: block maps and extent trees (uninitialised
// extents read as zeros), 64bit (48-bit block numbers, 64-byte group
// descriptors), flex_bg, meta_bg, htree directories (read linearly),
// inline data, 128- to 1024-byte inodes, huge_file, dir_nlink. Journals are
// not replayed (Superblock.NeedsRecovery reports an unreplayed one) and
// metadata_csum checksums are not verified. Superblock.Kind says "ext2",
// "ext3" or "ext4" as blkid does; HasExtents, Is64Bit, FeatureNames and
// InodeSizeOrDefault let callers judge what a boot loader can read. Probe
// recognises a filesystem from one 1 KiB read (label, UUID, size).
// FileBlocks and InodeBlocks list where a file's blocks are.
// FindFilesystem finds the filesystem in a disk image (the partition
// disk.FindRoot picks, or the whole file) and OpenImage opens it by path.
// Corrupt or hostile images give errors wrapping ErrCorrupt, never a panic,
// and cost time and memory bounded by the image's size.
//
// The on-disk format the writer and the reader share: Superblock, the
// 32-byte GroupDesc, Inode (128 bytes, plus the i_extra_isize area of
// larger inodes) and DirEntry, with little-endian Marshal/Unmarshal. Offsets follow the Linux kernel's
// include/linux/ext2_fs.h / fs/ext4/ext4.h and e2fsprogs' lib/ext2fs/ext2_fs.h.
// Unmarshal functions bounds-check their input and never panic, so the reader
// can feed them untrusted bytes.
package ext2

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/minidisk/minidisk/disk"
)

// Fixed locations and sizes.
const (
	// SuperblockOffset is the byte offset of the primary superblock from the
	// start of the filesystem, whatever the block size (the first 1024 bytes
	// are left for a boot sector).
	SuperblockOffset = 1024
	// SuperblockSize is the on-disk size of the superblock.
	SuperblockSize = 1024
	// Magic is s_magic.
	Magic = 0xEF53
	// GroupDescSize is the size of one ext2 group descriptor (no 64bit feature).
	GroupDescSize = 32
	// GoodOldInodeSize is the revision-0 inode size, and the base part of
	// every larger inode; GRUB Legacy reads only this size.
	GoodOldInodeSize = 128
	// extraIsizeDefault is the i_extra_isize mke2fs sets in 256-byte inodes
	// (sizeof the ext4 extra fields up to i_projid).
	extraIsizeDefault = 32
	// goodOldFirstIno is the first non-reserved inode (s_first_ino in rev 1).
	goodOldFirstIno = 11
	// RootIno is the root directory's inode number.
	RootIno = 2
	// minBlockSize and maxBlockSize bound the block sizes handled here
	// (s_log_block_size 0..6; ext2 proper uses 1024..4096).
	minBlockSize = 1024
	maxBlockSize = 65536
)

// Revision levels (s_rev_level).
const (
	goodOldRev = 0
	dynamicRev = 1
)

// Superblock states (s_state).
const (
	StateValid = 1 // unmounted cleanly
	StateError = 2
)

// Values of other superblock fields: error behaviour, creator OS,
// directory hash, mount count (the writer sets what mke2fs does).
const (
	errorsContinue    = 1 // s_errors
	errorsReadOnly    = 2
	errorsPanic       = 3
	osLinux           = 0 // s_creator_os
	defHashHalfMD4    = 1 // s_def_hash_version (dir_index hash, set even without dir_index)
	defHashTea        = 2
	maxMountCountNone = 0xFFFF // s_max_mnt_count = -1: no mount-count fsck
)

// Feature flags. Compat features may be ignored by an implementation,
// ro_compat ones forbid writing when unknown, incompat ones forbid mounting.
const (
	FeatureCompatDirPrealloc  = 0x0001
	FeatureCompatImagicInodes = 0x0002
	FeatureCompatHasJournal   = 0x0004
	FeatureCompatExtAttr      = 0x0008
	FeatureCompatResizeInode  = 0x0010
	FeatureCompatDirIndex     = 0x0020
	FeatureCompatSparseSuper2 = 0x0200

	FeatureIncompatCompression = 0x0001
	FeatureIncompatFiletype    = 0x0002 // directory entries carry file_type
	FeatureIncompatRecover     = 0x0004
	FeatureIncompatJournalDev  = 0x0008
	FeatureIncompatMetaBG      = 0x0010
	FeatureIncompatExtents     = 0x0040
	FeatureIncompat64Bit       = 0x0080
	FeatureIncompatMMP         = 0x0100
	FeatureIncompatFlexBG      = 0x0200
	FeatureIncompatInlineData  = 0x8000
	FeatureIncompatEncrypt     = 0x10000
	FeatureIncompatCasefold    = 0x20000

	FeatureROCompatSparseSuper  = 0x0001 // superblock backups only in groups 0, 1 and powers of 3, 5, 7
	FeatureROCompatLargeFile    = 0x0002 // some file is >= 2 GiB (i_size_high used)
	FeatureROCompatBtreeDir     = 0x0004
	FeatureROCompatHugeFile     = 0x0008
	FeatureROCompatGdtCsum      = 0x0010
	FeatureROCompatDirNlink     = 0x0020
	FeatureROCompatExtraIsize   = 0x0040
	FeatureROCompatQuota        = 0x0100
	FeatureROCompatBigalloc     = 0x0200
	FeatureROCompatMetadataCsum = 0x0400
)

// Directory entry file types (with FeatureIncompatFiletype).
const (
	fileTypeUnknown = 0
	fileTypeReg     = 1
	fileTypeDir     = 2
	fileTypeChrdev  = 3
	fileTypeBlkdev  = 4
	fileTypeFIFO    = 5
	fileTypeSock    = 6
	fileTypeSymlink = 7
)

// Inode i_mode file-format bits (the top 4 bits; the low 12 are permissions).
const (
	ModeFmt    = 0xF000
	ModeSocket = 0xC000
	ModeLink   = 0xA000
	ModeReg    = 0x8000
	ModeBlock  = 0x6000
	ModeDir    = 0x4000
	ModeChar   = 0x2000
	ModeFIFO   = 0x1000
	ModePerm   = 0x0FFF
)

// Block map layout of i_block.
const (
	NDirBlocks = 12 // direct pointers i_block[0..11]
	IndBlock   = 12 // single-indirect pointer
	DIndBlock  = 13 // double-indirect
	TIndBlock  = 14 // triple-indirect
	NBlocks    = 15
	// fastSymlinkMax is the longest symlink target stored inside i_block
	// (60 bytes; the kernel stores a target in i_block when it is shorter
	// than sizeof(i_block), leaving room for the NUL).
	fastSymlinkMax = 59
)

// Inode flags (i_flags) this package knows of.
const (
	InodeFlagIndex   = 0x00001000 // hashed directory (dir_index)
	InodeFlagExtents = 0x00080000
	InodeFlagInline  = 0x10000000
)

// ErrShort is returned (wrapped) when a buffer is too small for a structure.
var ErrShort = errors.New("ext2: buffer too short")

var le = binary.LittleEndian

// Byte offsets of the group descriptor's fields (include/linux/ext2_fs.h
// struct ext2_group_desc), the ones Marshal and Unmarshal use.
const (
	bgBlockBitmap = 0x00 // bg_block_bitmap, 4
	bgInodeBitmap = 0x04 // bg_inode_bitmap, 4
	bgInodeTable  = 0x08 // bg_inode_table, 4
	bgFreeBlocks  = 0x0C // bg_free_blocks_count, 2
	bgFreeInodes  = 0x0E // bg_free_inodes_count, 2
	bgUsedDirs    = 0x10 // bg_used_dirs_count, 2
	bgFlags       = 0x12 // bg_flags (ext4; ext2: bg_pad), 2
	bgReserved    = 0x14 // bg_reserved (ext4: bitmap checksums, itable_unused, checksum), 12
)

// Byte offsets of the 128-byte base inode's fields (include/linux/ext2_fs.h
// struct ext2_inode, Linux's osd1/osd2), the ones Inode's Marshal and
// Unmarshal use; the ext4 extra fields follow at GoodOldInodeSize.
const (
	iMode         = 0x00 // i_mode, 2
	iUID          = 0x02 // i_uid, 2
	iSize         = 0x04 // i_size, 4
	iAtime        = 0x08 // i_atime, 4
	iCtime        = 0x0C // i_ctime, 4
	iMtime        = 0x10 // i_mtime, 4
	iDtime        = 0x14 // i_dtime, 4
	iGID          = 0x18 // i_gid, 2
	iLinksCount   = 0x1A // i_links_count, 2
	iBlocks       = 0x1C // i_blocks, 4
	iFlags        = 0x20 // i_flags, 4
	iOSD1         = 0x24 // l_i_version, 4
	iBlock        = 0x28 // i_block[NBlocks], 4 each
	iGeneration   = 0x64 // i_generation, 4
	iFileACL      = 0x68 // i_file_acl, 4
	iSizeHigh     = 0x6C // i_size_high (i_dir_acl in rev 0), 4
	iFaddr        = 0x70 // i_faddr, 4
	iBlocksHigh   = 0x74 // l_i_blocks_hi, 2
	iFileACLHigh  = 0x76 // l_i_file_acl_high, 2
	iUIDHigh      = 0x78 // l_i_uid_high, 2
	iGIDHigh      = 0x7A // l_i_gid_high, 2
	iChecksumLo   = 0x7C // l_i_checksum_lo, 2
	iOSD2Reserved = 0x7E // l_i_reserved, 2
)

// SuperblockLayout is where the superblock fields a view shows lie, from
// the superblock's start (include/linux/ext2_fs.h struct ext2_super_block),
// named as Superblock's fields: the offsets at which Superblock's
// Unmarshal decodes them (its fields are laid out in on-disk order; a test
// checks each entry against it). For a view that shows the bytes
// (explain); read-only.
var SuperblockLayout = struct {
	InodesCount, BlocksCount, RBlocksCount, FreeBlocksCount, FreeInodesCount,
	FirstDataBlock, LogBlockSize, BlocksPerGroup, InodesPerGroup, Magic,
	RevLevel, FirstIno, InodeSize, FeatureCompat, FeatureIncompat,
	FeatureROCompat, UUID disk.Field
}{
	InodesCount:     disk.Field{Offset: 0x00, Size: 4},
	BlocksCount:     disk.Field{Offset: 0x04, Size: 4},
	RBlocksCount:    disk.Field{Offset: 0x08, Size: 4},
	FreeBlocksCount: disk.Field{Offset: 0x0C, Size: 4},
	FreeInodesCount: disk.Field{Offset: 0x10, Size: 4},
	FirstDataBlock:  disk.Field{Offset: 0x14, Size: 4},
	LogBlockSize:    disk.Field{Offset: 0x18, Size: 4},
	BlocksPerGroup:  disk.Field{Offset: 0x20, Size: 4},
	InodesPerGroup:  disk.Field{Offset: 0x28, Size: 4},
	Magic:           disk.Field{Offset: 0x38, Size: 2},
	RevLevel:        disk.Field{Offset: 0x4C, Size: 4},
	FirstIno:        disk.Field{Offset: 0x54, Size: 4},
	InodeSize:       disk.Field{Offset: 0x58, Size: 2},
	FeatureCompat:   disk.Field{Offset: 0x5C, Size: 4},
	FeatureIncompat: disk.Field{Offset: 0x60, Size: 4},
	FeatureROCompat: disk.Field{Offset: 0x64, Size: 4},
	UUID:            disk.Field{Offset: 0x68, Size: 16},
}

// GroupDescLayout is where a group descriptor's fields lie (the bg*
// offsets GroupDesc's Marshal and Unmarshal use), named as GroupDesc's
// fields. Read-only.
var GroupDescLayout = struct {
	BlockBitmap, InodeBitmap, InodeTable, FreeBlocksCount, FreeInodesCount, UsedDirsCount, Flags disk.Field
}{
	BlockBitmap:     disk.Field{Offset: bgBlockBitmap, Size: 4},
	InodeBitmap:     disk.Field{Offset: bgInodeBitmap, Size: 4},
	InodeTable:      disk.Field{Offset: bgInodeTable, Size: 4},
	FreeBlocksCount: disk.Field{Offset: bgFreeBlocks, Size: 2},
	FreeInodesCount: disk.Field{Offset: bgFreeInodes, Size: 2},
	UsedDirsCount:   disk.Field{Offset: bgUsedDirs, Size: 2},
	Flags:           disk.Field{Offset: bgFlags, Size: 2},
}

// InodeLayout is where the inode fields a view shows lie (the i* offsets
// Inode's Marshal and Unmarshal use), named as Inode's fields; Block is
// the whole i_block array. Read-only.
var InodeLayout = struct {
	Mode, SizeLo, LinksCount, BlocksLo, Flags, Block disk.Field
}{
	Mode:       disk.Field{Offset: iMode, Size: 2},
	SizeLo:     disk.Field{Offset: iSize, Size: 4},
	LinksCount: disk.Field{Offset: iLinksCount, Size: 2},
	BlocksLo:   disk.Field{Offset: iBlocks, Size: 4},
	Flags:      disk.Field{Offset: iFlags, Size: 4},
	Block:      disk.Field{Offset: iBlock, Size: 4 * NBlocks},
}

// Superblock is the full 1024-byte ext2/ext4 superblock. Fields past the
// ext2 ones are kept so that a superblock read from a foreign image
// round-trips unchanged; the writer leaves them zero.
type Superblock struct {
	InodesCount       uint32   // 0x00 s_inodes_count
	BlocksCount       uint32   // 0x04 s_blocks_count_lo
	RBlocksCount      uint32   // 0x08 s_r_blocks_count_lo (reserved for root)
	FreeBlocksCount   uint32   // 0x0C
	FreeInodesCount   uint32   // 0x10
	FirstDataBlock    uint32   // 0x14 1 for 1 KiB blocks, else 0
	LogBlockSize      uint32   // 0x18 block size = 1024 << LogBlockSize
	LogClusterSize    uint32   // 0x1C s_log_frag_size in ext2
	BlocksPerGroup    uint32   // 0x20
	ClustersPerGroup  uint32   // 0x24 s_frags_per_group in ext2
	InodesPerGroup    uint32   // 0x28
	Mtime             uint32   // 0x2C last mount
	Wtime             uint32   // 0x30 last write
	MntCount          uint16   // 0x34
	MaxMntCount       uint16   // 0x36 (s16 on disk; 0xFFFF = -1)
	Magic             uint16   // 0x38
	State             uint16   // 0x3A
	Errors            uint16   // 0x3C
	MinorRevLevel     uint16   // 0x3E
	LastCheck         uint32   // 0x40
	CheckInterval     uint32   // 0x44
	CreatorOS         uint32   // 0x48
	RevLevel          uint32   // 0x4C
	DefResuid         uint16   // 0x50
	DefResgid         uint16   // 0x52
	FirstIno          uint32   // 0x54 (rev 1)
	InodeSize         uint16   // 0x58 (rev 1)
	BlockGroupNr      uint16   // 0x5A group holding this copy
	FeatureCompat     uint32   // 0x5C
	FeatureIncompat   uint32   // 0x60
	FeatureROCompat   uint32   // 0x64
	UUID              [16]byte // 0x68
	VolumeName        [16]byte // 0x78 NUL-padded label
	LastMounted       [64]byte // 0x88
	AlgorithmUsage    uint32   // 0xC8
	PreallocBlocks    uint8    // 0xCC
	PreallocDirBlocks uint8    // 0xCD
	ReservedGdtBlocks uint16   // 0xCE (resize_inode)
	JournalUUID       [16]byte // 0xD0
	JournalInum       uint32   // 0xE0
	JournalDev        uint32   // 0xE4
	LastOrphan        uint32   // 0xE8
	HashSeed          [4]uint32
	DefHashVersion    uint8      // 0xFC
	JnlBackupType     uint8      // 0xFD
	DescSize          uint16     // 0xFE (64bit only)
	DefaultMountOpts  uint32     // 0x100
	FirstMetaBg       uint32     // 0x104
	MkfsTime          uint32     // 0x108
	JnlBlocks         [17]uint32 // 0x10C
	BlocksCountHi     uint32     // 0x150
	RBlocksCountHi    uint32     // 0x154
	FreeBlocksCountHi uint32     // 0x158
	MinExtraIsize     uint16     // 0x15C
	WantExtraIsize    uint16     // 0x15E
	Flags             uint32     // 0x160
	RaidStride        uint16     // 0x164
	MMPInterval       uint16     // 0x166
	MMPBlock          uint64     // 0x168
	RaidStripeWidth   uint32     // 0x170
	LogGroupsPerFlex  uint8      // 0x174
	ChecksumType      uint8      // 0x175
	ReservedPad       uint16     // 0x176
	KbytesWritten     uint64     // 0x178
	SnapshotInum      uint32     // 0x180
	SnapshotID        uint32     // 0x184
	SnapshotRBlocks   uint64     // 0x188
	SnapshotList      uint32     // 0x190
	ErrorCount        uint32     // 0x194
	FirstErrorTime    uint32     // 0x198
	FirstErrorIno     uint32     // 0x19C
	FirstErrorBlock   uint64     // 0x1A0
	FirstErrorFunc    [32]byte   // 0x1A8
	FirstErrorLine    uint32     // 0x1C8
	LastErrorTime     uint32     // 0x1CC
	LastErrorIno      uint32     // 0x1D0
	LastErrorLine     uint32     // 0x1D4
	LastErrorBlock    uint64     // 0x1D8
	LastErrorFunc     [32]byte   // 0x1E0
	MountOpts         [64]byte   // 0x200
	UsrQuotaInum      uint32     // 0x240
	GrpQuotaInum      uint32     // 0x244
	OverheadBlocks    uint32     // 0x248
	BackupBgs         [2]uint32  // 0x24C (sparse_super2)
	EncryptAlgos      [4]uint8   // 0x254
	EncryptPwSalt     [16]byte   // 0x258
	LpfIno            uint32     // 0x268
	PrjQuotaInum      uint32     // 0x26C
	ChecksumSeed      uint32     // 0x270
	TimeHi            [8]uint8   // 0x274 wtime_hi, mtime_hi, mkfs_time_hi, lastcheck_hi, first/last_error_time_hi, errcodes
	Encoding          uint16     // 0x27C
	EncodingFlags     uint16     // 0x27E
	OrphanFileInum    uint32     // 0x280
	Reserved          [94]uint32 // 0x284
	Checksum          uint32     // 0x3FC
}

// BlockSize is 1024 << s_log_block_size, or 0 when the field is out of the
// range this package handles (a corrupt superblock must not cause a huge
// shift).
func (s *Superblock) BlockSize() int {
	if s.LogBlockSize > 6 {
		return 0
	}
	return minBlockSize << s.LogBlockSize
}

// Label is the volume name without its NUL padding.
func (s *Superblock) Label() string {
	n := 0
	for n < len(s.VolumeName) && s.VolumeName[n] != 0 {
		n++
	}
	return string(s.VolumeName[:n])
}

// InodeSizeOrDefault is s_inode_size for revision 1, 128 for revision 0.
func (s *Superblock) InodeSizeOrDefault() int {
	if s.RevLevel == goodOldRev {
		return GoodOldInodeSize
	}
	return int(s.InodeSize)
}

// FirstInoOrDefault is s_first_ino for revision 1, 11 for revision 0.
func (s *Superblock) FirstInoOrDefault() uint32 {
	if s.RevLevel == goodOldRev {
		return goodOldFirstIno
	}
	return s.FirstIno
}

// Marshal encodes the superblock into b[0:1024].
func (s *Superblock) Marshal(b []byte) error {
	if len(b) < SuperblockSize {
		return fmt.Errorf("superblock: %w (%d < %d)", ErrShort, len(b), SuperblockSize)
	}
	_, err := binary.Encode(b[:SuperblockSize], le, s)
	return err
}

// Unmarshal decodes b[0:1024] and checks the magic number. Field values are
// otherwise not validated: see Validate.
func (s *Superblock) Unmarshal(b []byte) error {
	if len(b) < SuperblockSize {
		return fmt.Errorf("superblock: %w (%d < %d)", ErrShort, len(b), SuperblockSize)
	}
	if _, err := binary.Decode(b[:SuperblockSize], le, s); err != nil {
		return fmt.Errorf("superblock: %w", err)
	}
	if s.Magic != Magic {
		return fmt.Errorf("superblock: bad magic %#04x (want %#04x): not an ext2/3/4 filesystem", s.Magic, Magic)
	}
	return nil
}

// Validate checks the geometry fields a reader relies on, so that later
// arithmetic on them cannot divide by zero, overflow or index out of range.
func (s *Superblock) Validate() error {
	bs := s.BlockSize()
	if bs == 0 {
		return fmt.Errorf("superblock: s_log_block_size %d out of range", s.LogBlockSize)
	}
	if s.RevLevel > dynamicRev {
		return fmt.Errorf("superblock: revision %d unknown", s.RevLevel)
	}
	isz := s.InodeSizeOrDefault()
	if isz < GoodOldInodeSize || isz > bs || isz&(isz-1) != 0 {
		return fmt.Errorf("superblock: inode size %d invalid for %d-byte blocks", isz, bs)
	}
	if s.BlocksPerGroup == 0 || s.BlocksPerGroup > uint32(8*bs) {
		return fmt.Errorf("superblock: %d blocks per group invalid (1..%d)", s.BlocksPerGroup, 8*bs)
	}
	if s.InodesPerGroup == 0 || s.InodesPerGroup > uint32(8*bs) {
		return fmt.Errorf("superblock: %d inodes per group invalid (1..%d)", s.InodesPerGroup, 8*bs)
	}
	blocks := s.BlocksCount64()
	if blocks <= uint64(s.FirstDataBlock) {
		return fmt.Errorf("superblock: block count %d not beyond first data block %d", blocks, s.FirstDataBlock)
	}
	if s.FirstDataBlock > 1 {
		return fmt.Errorf("superblock: first data block %d invalid", s.FirstDataBlock)
	}
	if s.Is64Bit() {
		// ext4's 64bit descriptors: s_desc_size is a power of two from 64
		// (EXT4_MIN_DESC_SIZE_64BIT) up to EXT4_MAX_DESC_SIZE (1024).
		if d := int(s.DescSize); d < groupDescSize64 || d > 1024 || d&(d-1) != 0 || d > bs {
			return fmt.Errorf("superblock: 64bit group descriptor size %d invalid (64..1024, a power of two)", s.DescSize)
		}
		if blocks >= 1<<48 {
			return fmt.Errorf("superblock: block count %d beyond ext4's 48-bit block numbers", blocks)
		}
	}
	groups := (blocks - uint64(s.FirstDataBlock) + uint64(s.BlocksPerGroup) - 1) / uint64(s.BlocksPerGroup)
	if uint64(s.InodesCount) > groups*uint64(s.InodesPerGroup) {
		return fmt.Errorf("superblock: %d inodes exceed %d groups of %d", s.InodesCount, groups, s.InodesPerGroup)
	}
	if s.FirstInoOrDefault() < goodOldFirstIno && s.RevLevel == dynamicRev {
		return fmt.Errorf("superblock: first inode %d below %d", s.FirstIno, goodOldFirstIno)
	}
	return nil
}

// GroupDesc is one 32-byte ext2 block group descriptor.
type GroupDesc struct {
	BlockBitmap     uint32 // bg_block_bitmap
	InodeBitmap     uint32 // bg_inode_bitmap
	InodeTable      uint32 // bg_inode_table: first block
	FreeBlocksCount uint16
	FreeInodesCount uint16
	UsedDirsCount   uint16
	Flags           uint16   // bg_flags (ext4 uninit flags; ext2: pad)
	Reserved        [12]byte // ext4: exclude bitmap, bitmap checksums, itable_unused, checksum
}

// Marshal encodes the descriptor into b[0:32].
func (g *GroupDesc) Marshal(b []byte) error {
	if len(b) < GroupDescSize {
		return fmt.Errorf("group descriptor: %w", ErrShort)
	}
	le.PutUint32(b[bgBlockBitmap:], g.BlockBitmap)
	le.PutUint32(b[bgInodeBitmap:], g.InodeBitmap)
	le.PutUint32(b[bgInodeTable:], g.InodeTable)
	le.PutUint16(b[bgFreeBlocks:], g.FreeBlocksCount)
	le.PutUint16(b[bgFreeInodes:], g.FreeInodesCount)
	le.PutUint16(b[bgUsedDirs:], g.UsedDirsCount)
	le.PutUint16(b[bgFlags:], g.Flags)
	copy(b[bgReserved:GroupDescSize], g.Reserved[:])
	return nil
}

// Unmarshal decodes b[0:32].
func (g *GroupDesc) Unmarshal(b []byte) error {
	if len(b) < GroupDescSize {
		return fmt.Errorf("group descriptor: %w", ErrShort)
	}
	g.BlockBitmap = le.Uint32(b[bgBlockBitmap:])
	g.InodeBitmap = le.Uint32(b[bgInodeBitmap:])
	g.InodeTable = le.Uint32(b[bgInodeTable:])
	g.FreeBlocksCount = le.Uint16(b[bgFreeBlocks:])
	g.FreeInodesCount = le.Uint16(b[bgFreeInodes:])
	g.UsedDirsCount = le.Uint16(b[bgUsedDirs:])
	g.Flags = le.Uint16(b[bgFlags:])
	copy(g.Reserved[:], b[bgReserved:GroupDescSize])
	return nil
}

// Inode is an ext2 inode: the 128-byte base plus, for larger inodes, the
// ext4 extra fields counted by ExtraIsize (the rest of a large inode is
// in-inode extended-attribute space, not modelled here).
type Inode struct {
	Mode       uint16 // i_mode: format (ModeFmt) | permissions
	Uid        uint16 // low 16 bits; UidHigh holds the rest
	SizeLo     uint32 // i_size
	Atime      uint32
	Ctime      uint32
	Mtime      uint32
	Dtime      uint32
	Gid        uint16
	LinksCount uint16
	BlocksLo   uint32 // i_blocks: 512-byte sectors (not fs blocks) incl. indirect blocks
	Flags      uint32
	Version    uint32 // osd1 (Linux: l_i_version)
	Block      [NBlocks]uint32
	Generation uint32
	FileACL    uint32 // i_file_acl (xattr block)
	SizeHigh   uint32 // i_size_high (i_dir_acl in rev 0): upper 32 bits of the size
	Faddr      uint32
	BlocksHigh uint16 // osd2 (Linux)
	FileACLHi  uint16
	UidHigh    uint16
	GidHigh    uint16
	ChecksumLo uint16
	Reserved2  uint16
	// Extra fields (only when the inode is larger than 128 bytes).
	ExtraIsize  uint16
	ChecksumHi  uint16
	CtimeExtra  uint32
	MtimeExtra  uint32
	AtimeExtra  uint32
	Crtime      uint32
	CrtimeExtra uint32
	VersionHi   uint32
	Projid      uint32
}

// extraFieldsSize is the size of the extra fields modelled above.
const extraFieldsSize = 32

// FileFormat is Mode & ModeFmt.
func (in *Inode) FileFormat() uint16 { return in.Mode & ModeFmt }

// IsDir reports a directory inode.
func (in *Inode) IsDir() bool { return in.FileFormat() == ModeDir }

// Size is the 64-bit size. i_size_high is the upper half for regular files
// (large_file) and, in revision 1, for other types too except directories
// in ext2, where it was i_dir_acl: callers that care check the type.
func (in *Inode) Size() uint64 { return uint64(in.SizeHigh)<<32 | uint64(in.SizeLo) }

// SetSize sets SizeLo and SizeHigh.
func (in *Inode) SetSize(n uint64) { in.SizeLo = uint32(n); in.SizeHigh = uint32(n >> 32) }

// UID is the full 32-bit owner.
func (in *Inode) UID() uint32 { return uint32(in.UidHigh)<<16 | uint32(in.Uid) }

// GID is the full 32-bit group.
func (in *Inode) GID() uint32 { return uint32(in.GidHigh)<<16 | uint32(in.Gid) }

// SetOwner splits 32-bit uid/gid into the low and high halves.
func (in *Inode) SetOwner(uid, gid uint32) {
	in.Uid, in.UidHigh = uint16(uid), uint16(uid>>16)
	in.Gid, in.GidHigh = uint16(gid), uint16(gid>>16)
}

// Blocks512 is i_blocks (512-byte units) with the high half.
func (in *Inode) Blocks512() uint64 { return uint64(in.BlocksHigh)<<32 | uint64(in.BlocksLo) }

// Marshal encodes the inode into b, which is one inode-table slot of the
// filesystem's inode size (>= 128). Bytes of b beyond what is encoded are
// zeroed. ExtraIsize is written only when len(b) > 128, and the extra
// fields only up to ExtraIsize.
func (in *Inode) Marshal(b []byte) error {
	if len(b) < GoodOldInodeSize {
		return fmt.Errorf("inode: %w (%d < %d)", ErrShort, len(b), GoodOldInodeSize)
	}
	le.PutUint16(b[iMode:], in.Mode)
	le.PutUint16(b[iUID:], in.Uid)
	le.PutUint32(b[iSize:], in.SizeLo)
	le.PutUint32(b[iAtime:], in.Atime)
	le.PutUint32(b[iCtime:], in.Ctime)
	le.PutUint32(b[iMtime:], in.Mtime)
	le.PutUint32(b[iDtime:], in.Dtime)
	le.PutUint16(b[iGID:], in.Gid)
	le.PutUint16(b[iLinksCount:], in.LinksCount)
	le.PutUint32(b[iBlocks:], in.BlocksLo)
	le.PutUint32(b[iFlags:], in.Flags)
	le.PutUint32(b[iOSD1:], in.Version)
	for i, v := range in.Block {
		le.PutUint32(b[iBlock+4*i:], v)
	}
	le.PutUint32(b[iGeneration:], in.Generation)
	le.PutUint32(b[iFileACL:], in.FileACL)
	le.PutUint32(b[iSizeHigh:], in.SizeHigh)
	le.PutUint32(b[iFaddr:], in.Faddr)
	le.PutUint16(b[iBlocksHigh:], in.BlocksHigh)
	le.PutUint16(b[iFileACLHigh:], in.FileACLHi)
	le.PutUint16(b[iUIDHigh:], in.UidHigh)
	le.PutUint16(b[iGIDHigh:], in.GidHigh)
	le.PutUint16(b[iChecksumLo:], in.ChecksumLo)
	le.PutUint16(b[iOSD2Reserved:], in.Reserved2)
	rest := b[GoodOldInodeSize:]
	clear(rest)
	if len(rest) < 2 {
		return nil
	}
	extra := int(in.ExtraIsize)
	if extra > len(rest) {
		return fmt.Errorf("inode: i_extra_isize %d exceeds the %d-byte inode", extra, len(b))
	}
	var x [extraFieldsSize]byte
	le.PutUint16(x[0:], in.ExtraIsize)
	le.PutUint16(x[2:], in.ChecksumHi)
	le.PutUint32(x[4:], in.CtimeExtra)
	le.PutUint32(x[8:], in.MtimeExtra)
	le.PutUint32(x[12:], in.AtimeExtra)
	le.PutUint32(x[16:], in.Crtime)
	le.PutUint32(x[20:], in.CrtimeExtra)
	le.PutUint32(x[24:], in.VersionHi)
	le.PutUint32(x[28:], in.Projid)
	n := max(2, min(extra, extraFieldsSize))
	copy(rest, x[:n])
	return nil
}

// Unmarshal decodes one inode-table slot b (len >= 128). The extra fields
// are read only as far as both i_extra_isize and len(b) allow; an
// i_extra_isize that does not fit is an error.
func (in *Inode) Unmarshal(b []byte) error {
	if len(b) < GoodOldInodeSize {
		return fmt.Errorf("inode: %w (%d < %d)", ErrShort, len(b), GoodOldInodeSize)
	}
	*in = Inode{}
	in.Mode = le.Uint16(b[iMode:])
	in.Uid = le.Uint16(b[iUID:])
	in.SizeLo = le.Uint32(b[iSize:])
	in.Atime = le.Uint32(b[iAtime:])
	in.Ctime = le.Uint32(b[iCtime:])
	in.Mtime = le.Uint32(b[iMtime:])
	in.Dtime = le.Uint32(b[iDtime:])
	in.Gid = le.Uint16(b[iGID:])
	in.LinksCount = le.Uint16(b[iLinksCount:])
	in.BlocksLo = le.Uint32(b[iBlocks:])
	in.Flags = le.Uint32(b[iFlags:])
	in.Version = le.Uint32(b[iOSD1:])
	for i := range in.Block {
		in.Block[i] = le.Uint32(b[iBlock+4*i:])
	}
	in.Generation = le.Uint32(b[iGeneration:])
	in.FileACL = le.Uint32(b[iFileACL:])
	in.SizeHigh = le.Uint32(b[iSizeHigh:])
	in.Faddr = le.Uint32(b[iFaddr:])
	in.BlocksHigh = le.Uint16(b[iBlocksHigh:])
	in.FileACLHi = le.Uint16(b[iFileACLHigh:])
	in.UidHigh = le.Uint16(b[iUIDHigh:])
	in.GidHigh = le.Uint16(b[iGIDHigh:])
	in.ChecksumLo = le.Uint16(b[iChecksumLo:])
	in.Reserved2 = le.Uint16(b[iOSD2Reserved:])
	rest := b[GoodOldInodeSize:]
	if len(rest) < 2 {
		return nil
	}
	in.ExtraIsize = le.Uint16(rest[0:])
	extra := int(in.ExtraIsize)
	if extra > len(rest) {
		return fmt.Errorf("inode: i_extra_isize %d exceeds the %d-byte inode", extra, len(b))
	}
	var x [extraFieldsSize]byte
	copy(x[:], rest[:min(extra, extraFieldsSize)])
	in.ChecksumHi = le.Uint16(x[2:])
	in.CtimeExtra = le.Uint32(x[4:])
	in.MtimeExtra = le.Uint32(x[8:])
	in.AtimeExtra = le.Uint32(x[12:])
	in.Crtime = le.Uint32(x[16:])
	in.CrtimeExtra = le.Uint32(x[20:])
	in.VersionHi = le.Uint32(x[24:])
	in.Projid = le.Uint32(x[28:])
	return nil
}

// dirEntryHeaderSize is the fixed part of a directory entry (inode, rec_len,
// name_len, file_type).
const dirEntryHeaderSize = 8

// maxNameLen is the longest file name (name_len is one byte).
const maxNameLen = 255

// DirEntry is one ext2 directory entry (ext2_dir_entry_2, filetype feature).
// An entry with Inode 0 is unused space (the first entry of a block, or
// padding).
type DirEntry struct {
	Inode    uint32
	RecLen   uint16 // bytes to the next entry: 4-aligned, >= DirEntryLen(len(Name))
	FileType uint8  // FileType*; 0 without the filetype feature
	Name     []byte // name_len bytes, no NUL
}

// DirEntryLen is the minimum rec_len of an entry with a name of n bytes:
// 8 header bytes plus the name, rounded up to 4.
func DirEntryLen(n int) int { return (dirEntryHeaderSize + n + 3) &^ 3 }

// Marshal encodes the entry at b[0:RecLen]; bytes after the name up to
// RecLen are zeroed.
func (d *DirEntry) Marshal(b []byte) error {
	n := len(d.Name)
	if n > maxNameLen {
		return fmt.Errorf("directory entry %q: name longer than %d bytes", d.Name, maxNameLen)
	}
	rl := int(d.RecLen)
	if rl < DirEntryLen(n) || rl%4 != 0 {
		return fmt.Errorf("directory entry %q: rec_len %d invalid (min %d, multiple of 4)", d.Name, rl, DirEntryLen(n))
	}
	if len(b) < rl {
		return fmt.Errorf("directory entry %q: %w", d.Name, ErrShort)
	}
	le.PutUint32(b[0:], d.Inode)
	le.PutUint16(b[4:], d.RecLen)
	b[6] = uint8(n)
	b[7] = d.FileType
	copy(b[8:], d.Name)
	clear(b[8+n : rl])
	return nil
}

// UnmarshalDirEntry decodes the entry at the start of b, which is the rest
// of a directory block. It checks that rec_len is 4-aligned, holds the
// header and name, and stays inside b. Name aliases b.
func UnmarshalDirEntry(b []byte) (DirEntry, error) {
	if len(b) < dirEntryHeaderSize {
		return DirEntry{}, fmt.Errorf("directory entry: %w (%d bytes left in block)", ErrShort, len(b))
	}
	d := DirEntry{
		Inode:    le.Uint32(b[0:]),
		RecLen:   le.Uint16(b[4:]),
		FileType: b[7],
	}
	n := int(b[6])
	rl := int(d.RecLen)
	if rl < dirEntryHeaderSize || rl%4 != 0 {
		return d, fmt.Errorf("directory entry: rec_len %d invalid", rl)
	}
	if rl > len(b) {
		return d, fmt.Errorf("directory entry: rec_len %d runs past the block (%d bytes left)", rl, len(b))
	}
	if dirEntryHeaderSize+n > rl {
		return d, fmt.Errorf("directory entry: name_len %d does not fit rec_len %d", n, rl)
	}
	d.Name = b[dirEntryHeaderSize : dirEntryHeaderSize+n]
	return d, nil
}

// HasSuperblockBackup reports whether block group g holds a superblock and
// group-descriptor copy under sparse_super: groups 0 and 1 and the powers
// of 3, 5 and 7 (e2fsprogs ext2fs_bg_has_super).
func HasSuperblockBackup(g uint32, sparse bool) bool {
	if !sparse || g <= 1 {
		return true
	}
	if g%2 == 0 {
		return false
	}
	return isPowerOf(g, 3) || isPowerOf(g, 5) || isPowerOf(g, 7)
}

func isPowerOf(g, base uint32) bool {
	for g > 1 && g%base == 0 {
		g /= base
	}
	return g == 1
}
