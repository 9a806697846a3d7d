package ext2

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/rootfs"
)

// seedImage loads a checked-in seed image: made by
//
//	mke2fs -t ext2 -b 1024|4096 -I 128 -N 32 -d s (64 KiB | 256 KiB)
//	debugfs -w: cd /dev; mknod console c 5 1
//
// from a staging tree with /etc/hostname, /hl (a hard link to it),
// /bin/busybox (13,893 bytes: single-indirect with 1 KiB blocks),
// /bin/sh -> busybox and /bin/long -> a 101-byte absolute target.
func seedImage(t testing.TB, name string) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// exerciseReader opens data as an image and reads everything the API offers,
// returning the first error. It must never panic and must finish quickly
// whatever data holds.
func exerciseReader(data []byte) error {
	r, err := Open(bytes.NewReader(data), 0, int64(len(data)))
	if err != nil {
		return err
	}
	var firstErr error
	keep := func(err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	entries := 0
	err = r.Walk(func(h *rootfs.Header) error {
		entries++
		if entries > 20000 {
			return errors.New("too many entries")
		}
		name := strings.TrimPrefix(h.Name, "/")
		if name == "" {
			name = "."
		}
		switch h.Type {
		case rootfs.TypeReg:
			f, err := r.Open(name)
			if err != nil {
				keep(err)
				break
			}
			_, err = io.CopyN(io.Discard, f, 1<<20)
			if err != io.EOF {
				keep(err)
			}
			f.Close()
			_, err = r.FileBlocks(name)
			keep(err)
		case rootfs.TypeSymlink:
			_, err := r.ReadLink(name)
			keep(err)
			// A dangling target is not an error of the image.
			if _, err := r.Stat(name); !errors.Is(err, fs.ErrNotExist) {
				keep(err)
			}
		case rootfs.TypeDir:
			_, err := r.ReadDir(name)
			keep(err)
		}
		_, err := r.Header(h.Name)
		keep(err)
		return nil
	})
	keep(err)
	walkErr := err
	for ino := uint32(1); ino <= min(r.Superblock().InodesCount, 64); ino++ {
		_, _, err := r.InodeBlocks(ino)
		keep(err)
	}
	if walkErr != nil {
		// Walk refuses directory loops; fs.WalkDir has no such check and
		// would descend a loop until its path is huge, so stop here.
		return firstErr
	}
	n := 0
	keep(fs.WalkDir(r, ".", func(p string, d fs.DirEntry, err error) error {
		// fs.WalkDir itself has no loop detection (a corrupt directory
		// entry naming an ancestor makes an endless path), so bound it.
		n++
		if n > 10000 {
			return fs.SkipAll
		}
		if err == nil && d.IsDir() && strings.Count(p, "/") > 32 {
			return fs.SkipDir
		}
		return err
	}))
	return firstErr
}

// ext4SeedImages are ext4 seed images (1 KiB blocks, 256-byte inodes, 320 KiB)
// made by
//
//	mke2fs -t ext2 -b 1024 -I 256 -N 96 -O extent,huge_file,flex_bg,metadata_csum,dir_nlink,extra_isize,F -d s
//	debugfs -w -R "mknod /etc/console c 5 1"; e2fsck -fyD
//
// with F = 64bit, ^64bit, or 64bit,inline_data, from a tree with
// /etc/hostname, /bin/busybox (13,893 bytes of "busybox\n"), /bin/sh ->
// busybox, /bin/long -> a 101-byte target, /bin/frag (the 5 bytes
// "data<i>" at every 2 KiB for i = 0..9: ten extents under an index node)
// and /dir with 60 entries (an htree after e2fsck -D).
var ext4SeedImages = []string{"reader-seed-ext4-64bit.img.gz", "reader-seed-ext4-no64bit.img.gz", "reader-seed-ext4-inline.img.gz"}

func FuzzReader(f *testing.F) {
	for _, name := range append([]string{"reader-seed-1k.img.gz", "reader-seed-4k.img.gz"}, ext4SeedImages...) {
		f.Add(seedImage(f, name))
	}
	for _, c := range corruptions(f) {
		f.Add(c.data)
	}
	for _, c := range ext4Corruptions(f) {
		f.Add(c.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = exerciseReader(data)
	})
}

// corruption is a damaged copy of the 1 KiB seed and what must fail.
type corruption struct {
	name string
	data []byte
	want string // substring of the error
}

// inodeOffset is the byte offset of inode ino's slot.
func inodeOffset(r *Reader, ino uint32) int64 {
	g := (ino - 1) / r.sb.InodesPerGroup
	idx := (ino - 1) % r.sb.InodesPerGroup
	return int64(r.inodeTables[g])*int64(r.bs) + int64(idx)*int64(r.isz)
}

// patchInode rewrites inode ino of data through fn.
func patchInode(t testing.TB, data []byte, ino uint32, fn func(in *Inode)) []byte {
	t.Helper()
	out := bytes.Clone(data)
	r, err := Open(bytes.NewReader(data), 0, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	in, err := r.ReadInode(ino)
	if err != nil {
		t.Fatal(err)
	}
	fn(in)
	off := inodeOffset(r, ino)
	if err := in.Marshal(out[off : off+int64(r.isz)]); err != nil {
		t.Fatal(err)
	}
	return out
}

func corruptions(t testing.TB) []corruption {
	t.Helper()
	seed := seedImage(t, "reader-seed-1k.img.gz")
	r, err := Open(bytes.NewReader(seed), 0, int64(len(seed)))
	if err != nil {
		t.Fatal(err)
	}
	ino := func(name string) uint32 {
		n, err := r.Inode(name)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	bin, busybox := ino("/bin"), ino("/bin/busybox")
	binIn, err := r.ReadInode(bin)
	if err != nil {
		t.Fatal(err)
	}
	bbIn, err := r.ReadInode(busybox)
	if err != nil {
		t.Fatal(err)
	}
	sbPatch := func(fn func(sb *Superblock)) []byte {
		out := bytes.Clone(seed)
		sb := r.sb
		fn(&sb)
		if err := sb.Marshal(out[SuperblockOffset:]); err != nil {
			t.Fatal(err)
		}
		return out
	}
	// dirBlock is /bin's only directory block; its entries are ".", "..",
	// then the names in creation order.
	dirBlock := int64(binIn.Block[0]) * 1024
	var cs []corruption
	cs = append(cs,
		corruption{"truncated-in-superblock", seed[:1500], "past the partition end"},
		corruption{"truncated-before-inodes", seed[:4096], "past the partition end"},
		corruption{"truncated-in-data", seed[:int64(bbIn.Block[3])*1024], "past the partition end"},
	)
	zeroGD := bytes.Clone(seed)
	clear(zeroGD[2*1024 : 3*1024]) // 1 KiB blocks: the table is block 2
	cs = append(cs, corruption{"zeroed-group-descriptors", zeroGD, "inode table at block 0"})

	// A directory entry naming its own directory: /bin/busybox -> /bin's inode.
	loop := bytes.Clone(seed)
	for off := dirBlock; off < dirBlock+1024; {
		d, err := UnmarshalDirEntry(loop[off : dirBlock+1024])
		if err != nil {
			t.Fatal(err)
		}
		if string(d.Name) == "busybox" {
			le.PutUint32(loop[off:], bin)
			break
		}
		off += int64(d.RecLen)
	}
	cs = append(cs, corruption{"directory-entry-to-itself", loop, "directory loop"})
	// A directory whose block map names the same block twice.
	cs = append(cs, corruption{"directory-block-twice", patchInode(t, seed, bin, func(in *Inode) {
		in.Block[1] = in.Block[0]
		in.SizeLo = 2048
	}), "used twice"})
	// An indirect block whose pointers all lead back to itself, used as
	// the double-indirect block too: a map that never ends without the
	// used-twice check.
	selfInd := patchInode(t, seed, busybox, func(in *Inode) {
		in.Block[DIndBlock] = in.Block[IndBlock]
		in.SizeLo = 300 * 1024
	})
	ind := int64(bbIn.Block[IndBlock]) * 1024
	for i := int64(0); i < 256; i++ {
		le.PutUint32(selfInd[ind+4*i:], bbIn.Block[IndBlock])
	}
	cs = append(cs, corruption{"indirect-block-twice", selfInd, "used twice"})
	cs = append(cs,
		corruption{"block-beyond-count", patchInode(t, seed, busybox, func(in *Inode) { in.Block[0] = 0xFFFFFFF0 }), "outside the filesystem"},
		corruption{"huge-dir-size", patchInode(t, seed, bin, func(in *Inode) { in.SizeLo = 0xFFFFF000 }), "limit"},
		corruption{"absurd-inode-count", sbPatch(func(sb *Superblock) { sb.InodesCount = 0xFFFFFFFF }), "inodes exceed"},
		corruption{"absurd-inodes-per-group", sbPatch(func(sb *Superblock) { sb.InodesPerGroup = 0xFFFFFFFF }), "inodes per group"},
		corruption{"absurd-block-count", sbPatch(func(sb *Superblock) { sb.BlocksCount = 0xFFFFFFFF; sb.InodesCount = 32 }), "descriptor table"},
		corruption{"block-size-shift", sbPatch(func(sb *Superblock) { sb.LogBlockSize = 40 }), "s_log_block_size"},
	)
	// rec_len 0 in /bin's first entry.
	rec0 := bytes.Clone(seed)
	le.PutUint16(rec0[dirBlock+4:], 0)
	cs = append(cs, corruption{"rec-len-zero", rec0, "rec_len 0"})
	// A fast symlink claiming more than i_block holds.
	cs = append(cs, corruption{"symlink-too-long", patchInode(t, seed, ino("/bin/sh"), func(in *Inode) { in.SizeLo = 3000 }), "symlink"})
	return cs
}

// TestReaderCorruptImages checks that damaged images give errors that say
// what is wrong, and never panics.
func TestReaderCorruptImages(t *testing.T) {
	if err := exerciseReader(seedImage(t, "reader-seed-1k.img.gz")); err != nil {
		t.Fatalf("the intact seed fails: %v", err)
	}
	if err := exerciseReader(seedImage(t, "reader-seed-4k.img.gz")); err != nil {
		t.Fatalf("the intact 4 KiB seed fails: %v", err)
	}
	for _, name := range ext4SeedImages {
		data := seedImage(t, name)
		if err := exerciseReader(data); err != nil {
			t.Fatalf("the intact seed %s fails: %v", name, err)
		}
		r, err := Open(bytes.NewReader(data), 0, int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		frag, err := r.ReadFile("bin/frag")
		if err != nil || len(frag) != 9*2048+5 {
			t.Fatalf("%s: bin/frag: %d bytes, %v", name, len(frag), err)
		}
		for i := 0; i < 10; i++ {
			want := make([]byte, 2048)
			copy(want, fmt.Sprintf("data%d", i))
			if got := frag[i*2048 : min(len(frag), (i+1)*2048)]; !bytes.Equal(got, want[:len(got)]) {
				t.Errorf("%s: bin/frag at %d: %q", name, i*2048, got[:8])
			}
		}
		ents, err := r.ReadDir("dir")
		if err != nil || len(ents) != 60 {
			t.Errorf("%s: dir: %d entries, %v", name, len(ents), err)
		}
	}
	for _, c := range append(corruptions(t), ext4Corruptions(t)...) {
		t.Run(c.name, func(t *testing.T) {
			err := exerciseReader(c.data)
			if err == nil {
				t.Fatalf("no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

// ext4Corruptions damages the 64bit and inline ext4 seeds where the
// extent tree and inline data could make a reader loop, overrun or panic.
func ext4Corruptions(t testing.TB) []corruption {
	t.Helper()
	seed := seedImage(t, "reader-seed-ext4-64bit.img.gz")
	r, err := Open(bytes.NewReader(seed), 0, int64(len(seed)))
	if err != nil {
		t.Fatal(err)
	}
	ino := func(r *Reader, name string) uint32 {
		n, err := r.Inode(name)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	frag, busybox := ino(r, "/bin/frag"), ino(r, "/bin/busybox")
	fragIn, err := r.ReadInode(frag)
	if err != nil {
		t.Fatal(err)
	}
	if fragIn.Block[1]>>16 != 1 {
		t.Fatalf("seed: /bin/frag extent depth %d, want 1", fragIn.Block[1]>>16)
	}
	// The root's one index entry: ei_block (Block[3]), ei_leaf_lo (Block[4]).
	leaf := int64(fragIn.Block[4]) * 1024
	var cs []corruption
	// The leaf claims depth 1 and its first entry points back at itself,
	// with the root claiming depth 2: a cycle through one block.
	loop := patchInode(t, seed, frag, func(in *Inode) { in.Block[1] = in.Block[1]&0xFFFF | 2<<16 })
	le.PutUint16(loop[leaf+6:], 1)
	le.PutUint32(loop[leaf+12+4:], fragIn.Block[4])
	le.PutUint16(loop[leaf+12+8:], 0)
	cs = append(cs, corruption{"extent-node-loop", loop, "used twice"})
	cs = append(cs,
		corruption{"extent-bad-magic", patchInode(t, seed, busybox, func(in *Inode) { in.Block[0] = 0x0001F30B }), "magic"},
		corruption{"extent-depth-too-deep", patchInode(t, seed, frag, func(in *Inode) { in.Block[1] = in.Block[1]&0xFFFF | 9<<16 }), "depth"},
		corruption{"extent-entries-beyond-max", patchInode(t, seed, busybox, func(in *Inode) { in.Block[0] = 0xF30A | 200<<16 }), "entries"},
		// ee_start_hi (Block[4]'s high half) puts the extent far beyond the
		// filesystem.
		corruption{"extent-beyond-filesystem", patchInode(t, seed, busybox, func(in *Inode) { in.Block[4] |= 0xFFFF << 16 }), "outside the filesystem"},
		corruption{"extent-zero-length", patchInode(t, seed, busybox, func(in *Inode) { in.Block[4] &= 0xFFFF0000 }), "zero-length"},
	)
	// Two leaf extents out of order.
	order := bytes.Clone(seed)
	le.PutUint32(order[leaf+12+12:], 0)
	cs = append(cs, corruption{"extent-overlap", order, "out of order"})
	// An extent longer than the filesystem.
	long := bytes.Clone(seed)
	le.PutUint16(long[leaf+12+4:], 32768)
	cs = append(cs, corruption{"extent-too-long", long, "extent"})

	// Inline data whose system.data value claims more bytes than the inode.
	inl := seedImage(t, "reader-seed-ext4-inline.img.gz")
	ri, err := Open(bytes.NewReader(inl), 0, int64(len(inl)))
	if err != nil {
		t.Fatal(err)
	}
	host := ino(ri, "/etc/hostname")
	hostIn, err := ri.ReadInode(host)
	if err != nil {
		t.Fatal(err)
	}
	if hostIn.Flags&InodeFlagInline == 0 {
		t.Fatalf("seed: /etc/hostname is not inline")
	}
	// The first in-inode attribute entry follows the 4-byte magic; its
	// e_value_size is at byte 8 of the entry.
	off := inodeOffset(ri, host) + GoodOldInodeSize + int64(hostIn.ExtraIsize) + 4
	big := bytes.Clone(inl)
	le.PutUint32(big[off+8:], 1<<30)
	// i_size_lo patched in place: Inode.Marshal would clear the attributes.
	le.PutUint32(big[inodeOffset(ri, host)+4:], 1000)
	cs = append(cs, corruption{"inline-value-too-big", big, "runs past"})
	return cs
}
