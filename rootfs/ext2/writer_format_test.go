package ext2

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
)

func TestSuperblockIs1024Bytes(t *testing.T) {
	if n := binary.Size(Superblock{}); n != SuperblockSize {
		t.Fatalf("binary.Size(Superblock) = %d, want %d", n, SuperblockSize)
	}
}

// TestFormatAgainstMke2fs decodes what mke2fs wrote and compares the
// fields with dumpe2fs's view of the same image, then re-encodes every
// structure and expects the same bytes back.
func TestFormatAgainstMke2fs(t *testing.T) {
	mke2fs := testutil.RequireTool(t, "mke2fs", "e2fsprogs")
	debugfs := testutil.RequireTool(t, "debugfs", "e2fsprogs")
	img := filepath.Join(t.TempDir(), "a.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 8<<20); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, mke2fs, "-q", "-F", "-t", "ext2", "-b", "1024", "-I", "256", "-L", "hello",
		"-O", "^resize_inode,^dir_index,^ext_attr", "-U", "01234567-89ab-cdef-0123-456789abcdef",
		"-E", "root_owner=1234:5678", img)
	raw, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	var sb Superblock
	if err := sb.Unmarshal(raw[SuperblockOffset:]); err != nil {
		t.Fatal(err)
	}
	if err := sb.Validate(); err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{
		"blocks": 8192, "first": 1, "bs": 1024, "isize": 256, "firstino": 11, "rev": 1,
		"bpg": 8192, "ipg": uint64(sb.InodesCount),
	}
	got := map[string]uint64{
		"blocks": uint64(sb.BlocksCount), "first": uint64(sb.FirstDataBlock), "bs": uint64(sb.BlockSize()),
		"isize": uint64(sb.InodeSize), "firstino": uint64(sb.FirstIno), "rev": uint64(sb.RevLevel),
		"bpg": uint64(sb.BlocksPerGroup), "ipg": uint64(sb.InodesPerGroup),
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d", k, got[k], v)
		}
	}
	if sb.Label() != "hello" || sb.UUID != [16]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef} {
		t.Errorf("label %q uuid %x", sb.Label(), sb.UUID)
	}
	if sb.FeatureIncompat&FeatureIncompatFiletype == 0 || sb.FeatureROCompat&FeatureROCompatSparseSuper == 0 {
		t.Errorf("features %#x %#x", sb.FeatureIncompat, sb.FeatureROCompat)
	}
	out := make([]byte, SuperblockSize)
	if err := sb.Marshal(out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, raw[SuperblockOffset:SuperblockOffset+SuperblockSize]) {
		t.Error("superblock does not round-trip")
	}

	// Group descriptor 0 is in block 2 (1 KiB blocks).
	var gd GroupDesc
	if err := gd.Unmarshal(raw[2048:]); err != nil {
		t.Fatal(err)
	}
	stats := testutil.Run(t, debugfs, "-R", "stats", img)
	if !bytes.Contains([]byte(stats), []byte("block bitmap at "+itoa(gd.BlockBitmap))) ||
		!bytes.Contains([]byte(stats), []byte("inode table at "+itoa(gd.InodeTable))) {
		t.Errorf("group 0 %+v does not match debugfs stats:\n%s", gd, stats)
	}
	gout := make([]byte, GroupDescSize)
	_ = gd.Marshal(gout)
	if !bytes.Equal(gout, raw[2048:2048+GroupDescSize]) {
		t.Error("group descriptor does not round-trip")
	}

	// Root inode: slot 1 of the inode table.
	off := int(gd.InodeTable)*1024 + (RootIno-1)*256
	var root Inode
	if err := root.Unmarshal(raw[off : off+256]); err != nil {
		t.Fatal(err)
	}
	if !root.IsDir() || root.UID() != 1234 || root.GID() != 5678 || root.LinksCount != 3 || root.ExtraIsize != extraIsizeDefault {
		t.Errorf("root inode %+v", root)
	}
	iout := make([]byte, 256)
	if err := root.Marshal(iout); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(iout, raw[off:off+256]) {
		t.Errorf("root inode does not round-trip:\n%x\n%x", iout, raw[off:off+256])
	}

	// Root directory block: ".", "..", "lost+found".
	blk := raw[int(root.Block[0])*1024 : int(root.Block[0]+1)*1024]
	var names []string
	for p := 0; p < len(blk); {
		d, err := UnmarshalDirEntry(blk[p:])
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, string(d.Name))
		e := make([]byte, d.RecLen)
		if err := d.Marshal(e); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(e[:DirEntryLen(len(d.Name))], blk[p:p+DirEntryLen(len(d.Name))]) {
			t.Errorf("entry %q does not round-trip", d.Name)
		}
		p += int(d.RecLen)
	}
	if len(names) != 3 || names[0] != "." || names[1] != ".." || names[2] != "lost+found" {
		t.Errorf("root entries %q", names)
	}
}

func itoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

func TestUnmarshalShortInputs(t *testing.T) {
	var sb Superblock
	if err := sb.Unmarshal(make([]byte, 100)); err == nil {
		t.Error("short superblock accepted")
	}
	var in Inode
	if err := in.Unmarshal(make([]byte, 127)); err == nil {
		t.Error("short inode accepted")
	}
	b := make([]byte, 256)
	b[128] = 200 // i_extra_isize beyond the slot
	if err := in.Unmarshal(b); err == nil {
		t.Error("oversized i_extra_isize accepted")
	}
	for _, blk := range [][]byte{{1, 0, 0, 0, 4, 0, 0, 0}, {1, 0, 0, 0, 12, 0, 9, 1, 'a', 'b', 'c', 'd'}, {1, 0, 0, 0, 16, 0, 1, 1, 'a'}} {
		if _, err := UnmarshalDirEntry(blk); err == nil {
			t.Errorf("bad entry %x accepted", blk)
		}
	}
}

func TestHasSuperblockBackup(t *testing.T) {
	var got []uint32
	for g := uint32(0); g < 130; g++ {
		if HasSuperblockBackup(g, true) {
			got = append(got, g)
		}
	}
	// Groups 0, 1 and powers of 3, 5, 7 (ext2fs_bg_has_super).
	want := []uint32{0, 1, 3, 5, 7, 9, 25, 27, 49, 81, 125}
	if len(got) != len(want) {
		t.Fatalf("got %v want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("got %v want %v", got, want)
		}
	}
}
