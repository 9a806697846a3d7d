package ext2

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/rootfs"
	"github.com/minidisk/minidisk/rootfs/loopmount"
)

// ext4Features is what e2fsprogs 1.47's mke2fs.conf gives -t ext4 (on
// top of the ext2 base features mke2fsStaging gets from -t ext2).
const ext4Features = "has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize"

// ext4Variant is one filesystem flavour of the ext3/ext4 oracle tests.
type ext4Variant struct {
	name     string
	bs, isz  int
	features string // -O
	kind     string // Superblock.Kind
	is64     bool
	extents  bool
}

var ext4Variants = []ext4Variant{
	{"ext4-64bit-4k", 4096, 256, ext4Features, "ext4", true, true},
	{"ext4-no64bit-1k", 1024, 256, strings.Replace(ext4Features, ",64bit", "", 1) + ",^64bit", "ext4", false, true},
	{"ext4-64bit-1k-meta_bg", 1024, 256, ext4Features + ",meta_bg,^resize_inode", "ext4", true, true},
	{"ext4-inline_data-4k", 4096, 256, ext4Features + ",inline_data", "ext4", true, true},
	{"ext4-512-byte-inodes", 4096, 512, ext4Features, "ext4", true, true},
	{"ext3-4k", 4096, 256, "has_journal", "ext3", false, false},
	{"ext3-1k-128", 1024, 128, "has_journal", "ext3", false, false},
}

// buildExt4Staging is buildStaging plus what only extents show: a file
// of 2,000 separate runs (2,000 extents: an extent tree of depth 2 with
// 1 KiB blocks, depth 1+ with 4 KiB).
func buildExt4Staging(t testing.TB, dir string) {
	t.Helper()
	buildStaging(t, dir)
	frag := filepath.Join(dir, "big/fragmented")
	for i := 0; i < 2000; i++ {
		writeFileAt(t, frag, int64(i)*8192, pattern(4096, byte(i)))
	}
}

// extentDepth is eh_depth of the inode's root extent node.
func extentDepth(t *testing.T, r *Reader, name string) int {
	t.Helper()
	ino, err := r.Inode(name)
	must(t, err)
	in, err := r.ReadInode(ino)
	must(t, err)
	if in.Flags&InodeFlagExtents == 0 {
		return -1
	}
	return int(in.Block[1] >> 16)
}

// TestReaderMatchesMke2fsExt4 reads ext3 and ext4 filesystems made by the
// real mke2fs -d (64bit and not, 1 KiB and 4 KiB blocks, meta_bg,
// inline_data, 512-byte inodes) plus debugfs-made devices and an
// uninitialised extent, with e2fsck -D turning the large directories into
// htrees, and compares everything with the staging directory and with
// debugfs (blocks, stat, rdump).
func TestReaderMatchesMke2fsExt4(t *testing.T) {
	testutil.RequireTool(t, "mke2fs", "e2fsprogs")
	e2fsck := testutil.RequireTool(t, "e2fsck", "e2fsprogs")
	staging := filepath.Join(t.TempDir(), "staging")
	buildExt4Staging(t, staging)
	for _, v := range ext4Variants {
		t.Run(v.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "fs.img")
			mke2fsStaging(t, staging, img, v.bs, v.isz, 64*1024, "-O", v.features)
			cmds := debugfsDeviceCmds()
			if strings.Contains(v.features, "inline_data") {
				// mke2fs 1.47.0 -d with inline_data stores a file whose data
				// ends in a hole with i_size 4096 (debugfs stat agrees with
				// the reader); restore the staging size so the rest of the
				// file, a hole, is compared too.
				cmds = append(cmds, "sif /big/hole-tail size 307200")
			}
			if v.extents {
				// An uninitialised (preallocated) extent inside the file's
				// hole: it must read as zeros, like the hole it replaces.
				cmds = append(cmds, "fallocate /big/hole-tail 10 40")
			}
			runDebugfsScript(t, img, true, cmds...)
			// e2fsck -D indexes every directory of more than one block
			// (exit 1: the filesystem was changed).
			if out, err := exec.Command(e2fsck, "-fyD", img).CombinedOutput(); err != nil {
				if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() > 1 {
					t.Fatalf("e2fsck -fyD: %v\n%s", err, out)
				}
			}
			if out := runDebugfsScript(t, img, false, "htree /many"); !strings.Contains(out, "Root node dump") {
				t.Fatalf("/many is not an htree directory:\n%.500s", out)
			}
			r := openReader(t, img)
			sb := r.Superblock()
			if sb.Kind() != v.kind || sb.Is64Bit() != v.is64 || sb.HasExtents() != v.extents || sb.InodeSizeOrDefault() != v.isz {
				t.Fatalf("Kind %s 64bit %v extents %v inode size %d; want %s %v %v %d", sb.Kind(), sb.Is64Bit(), sb.HasExtents(), sb.InodeSizeOrDefault(), v.kind, v.is64, v.extents, v.isz)
			}
			if p, ok := Probe(r.r, 0); !ok || p.Kind != v.kind || p.UUID != sb.UUIDString() || p.Blocks != sb.BlocksCount64() {
				t.Errorf("Probe = %+v, %v", p, ok)
			}
			if v.extents {
				want := 1
				if v.bs == 1024 {
					want = 2 // 2,000 extents, 84 per 1 KiB node, 4 in the inode
				}
				if d := extentDepth(t, r, "/big/fragmented"); d < want {
					t.Errorf("/big/fragmented: extent tree depth %d, want >= %d (the test does not test deep trees)", d, want)
				}
			}
			compareWithStaging(t, r, staging, wantDevices)
			var files []string
			for _, h := range headersFromStaging(t, staging) {
				if h.Type == rootfs.TypeReg && !strings.HasPrefix(h.Name, "/many/") && h.Size > 60 {
					files = append(files, h.Name)
				}
			}
			files = append(files, "/many/entry-1999-"+strings.Repeat("n", 1999%37))
			compareBlocks(t, r, img, files)
			compareDebugfsStat(t, r, img)
			if strings.Contains(v.features, "inline_data") {
				// debugfs 1.47.0 rdump writes all 60 bytes of i_block for an
				// inline file whatever its size; the staging directory above
				// and the kernel (TestReaderExt4MatchesKernelMount) are the
				// oracles for inline data.
				return
			}
			compareRdump(t, r, img, "/etc", "/bin", "/many", "/links", "/d00")
		})
	}
}

// TestReaderExt4MatchesKernelMount compares the reader with the kernel's
// ext4 driver on default ext4 (64bit, extents, htree, metadata_csum) in an
// MBR partition.
func TestReaderExt4MatchesKernelMount(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireTool(t, "mke2fs", "e2fsprogs")
	e2fsck := testutil.RequireTool(t, "e2fsck", "e2fsprogs")
	staging := filepath.Join(t.TempDir(), "staging")
	buildExt4Staging(t, staging)
	for _, v := range []ext4Variant{ext4Variants[0], ext4Variants[1], ext4Variants[3]} {
		t.Run(v.name, func(t *testing.T) {
			tmp := t.TempDir()
			fsImg := filepath.Join(tmp, "fs.img")
			mke2fsStaging(t, staging, fsImg, v.bs, v.isz, 64*1024, "-O", v.features)
			runDebugfsScript(t, fsImg, true, append(debugfsDeviceCmds(), "fallocate /big/hole-tail 10 40")...)
			if out, err := exec.Command(e2fsck, "-fyD", fsImg).CombinedOutput(); err != nil {
				if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() > 1 {
					t.Fatalf("e2fsck -fyD: %v\n%s", err, out)
				}
			}
			disk := filepath.Join(tmp, "disk.img")
			writeMBRDiskImage(t, fsImg, disk)
			f, err := os.Open(disk)
			must(t, err)
			defer f.Close()
			fi, err := f.Stat()
			must(t, err)
			loc, err := FindFilesystem(f, fi.Size(), disk)
			must(t, err)
			r, err := Open(f, loc.Offset, loc.Size)
			must(t, err)
			mnt := filepath.Join(tmp, "mnt")
			must(t, os.Mkdir(mnt, 0o755))
			if _, err := loopmount.Mount(loopmount.Options{Image: disk, Offset: loc.Offset, Size: loc.Size, Dir: mnt, FSType: "ext4"}); err != nil {
				t.Fatalf("Mount: %v", err)
			}
			defer func() {
				if _, err := loopmount.Unmount(mnt); err != nil {
					t.Errorf("Unmount: %v", err)
				}
			}()
			compareWithStaging(t, r, mnt, nil)
		})
	}
}

// TestReaderExt4Features checks Kind and the feature names against
// dumpe2fs for the variants, and that needs_recovery is read, not refused.
func TestReaderExt4Features(t *testing.T) {
	dumpe2fs := testutil.RequireTool(t, "dumpe2fs", "e2fsprogs")
	staging := filepath.Join(t.TempDir(), "staging")
	must(t, os.MkdirAll(filepath.Join(staging, "etc"), 0o755))
	must(t, os.WriteFile(filepath.Join(staging, "etc/hostname"), []byte("x\n"), 0o644))
	for _, v := range append(ext4Variants, ext4Variant{"ext2", 1024, 128, "^has_journal", "ext2", false, false}) {
		t.Run(v.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "fs.img")
			mke2fsStaging(t, staging, img, v.bs, v.isz, 8*1024, "-O", v.features, "-L", "lbl-"+v.kind, "-U", "0123abcd-4567-89ab-cdef-0123456789ab")
			out := testutil.Run(t, dumpe2fs, "-h", img)
			var want string
			for _, line := range strings.Split(out, "\n") {
				if f, ok := strings.CutPrefix(line, "Filesystem features:"); ok {
					want = strings.Join(strings.Fields(f), " ")
				}
			}
			r := openReader(t, img)
			sb := r.Superblock()
			got := strings.Join(sb.FeatureNames(), " ")
			if sortedFields(got) != sortedFields(want) {
				t.Errorf("FeatureNames %q, dumpe2fs %q", got, want)
			}
			p, ok := Probe(r.r, 0)
			if !ok || p.Kind != v.kind || p.Label != "lbl-"+v.kind || p.UUID != "0123abcd-4567-89ab-cdef-0123456789ab" || p.BlockSize != v.bs {
				t.Errorf("Probe = %+v, %v", p, ok)
			}
			if _, ok := Probe(r.r, 512); ok {
				t.Errorf("Probe at byte 512 found a filesystem")
			}
			if v.kind == "ext2" {
				return
			}
			// needs_recovery: a filesystem whose journal was not replayed
			// still reads (as it is on disk) and says so.
			runDebugfsScript(t, img, true, "feature needs_recovery")
			r = openReader(t, img)
			if !r.Superblock().NeedsRecovery() {
				t.Fatalf("needs_recovery not reported")
			}
			if b, err := r.ReadFile("etc/hostname"); err != nil || string(b) != "x\n" {
				t.Errorf("ReadFile with needs_recovery: %q, %v", b, err)
			}
		})
	}
}

func sortedFields(s string) string {
	f := strings.Fields(s)
	slices.Sort(f)
	return fmt.Sprint(f)
}
