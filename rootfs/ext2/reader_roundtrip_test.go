package ext2

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/rootfs"
	"golang.org/x/sys/unix"
)

// randomName is a file name of 1..maxLen bytes: printable ASCII (no '/'),
// spaces, and some UTF-8, occasionally the 255-byte maximum.
func randomName(rng *rand.Rand, used map[string]bool) string {
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.+=,~!@#$%^&()[]{}'"
	for {
		n := 1 + rng.IntN(20)
		if rng.IntN(20) == 0 {
			n = 255
		}
		var b strings.Builder
		for b.Len() < n {
			if rng.IntN(15) == 0 && b.Len()+3 <= n {
				b.WriteString("é€"[:2]) // a 2-byte UTF-8 rune
				continue
			}
			b.WriteByte(chars[rng.IntN(len(chars))])
		}
		s := b.String()
		if s == "." || s == ".." || used[s] {
			continue
		}
		used[s] = true
		return s
	}
}

// randomSize favours the sizes around block-map boundaries.
func randomSize(rng *rand.Rand) int {
	switch rng.IntN(6) {
	case 0:
		return 0
	case 1:
		return rng.IntN(100)
	case 2:
		return rng.IntN(5000)
	case 3:
		return 12*1024 - 2 + rng.IntN(4) // 1 KiB blocks: the first indirect block
	case 4:
		return 12*4096 - 2 + rng.IntN(4)
	default:
		return rng.IntN(300 * 1024)
	}
}

// randomStaging makes a random tree of about n entries under dir: files,
// directories, symlinks, hard links and FIFOs with random modes, times and
// (as root) owners.
func randomStaging(t *testing.T, rng *rand.Rand, dir string, n int) {
	t.Helper()
	must(t, os.MkdirAll(dir, 0o755))
	dirs := []string{dir}
	var files []string
	used := map[string]map[string]bool{}
	var all []string
	for i := 0; i < n; i++ {
		parent := dirs[rng.IntN(len(dirs))]
		if used[parent] == nil {
			used[parent] = map[string]bool{}
		}
		p := filepath.Join(parent, randomName(rng, used[parent]))
		switch k := rng.IntN(10); {
		case k < 5:
			must(t, os.WriteFile(p, pattern(randomSize(rng), byte(i)), 0o644))
			files = append(files, p)
		case k < 7:
			must(t, os.Mkdir(p, 0o755))
			dirs = append(dirs, p)
		case k < 9:
			target := strings.Repeat("t", 1+rng.IntN(300))
			if rng.IntN(2) == 0 && len(files) > 0 {
				rel, _ := filepath.Rel(parent, files[rng.IntN(len(files))])
				target = rel
			}
			must(t, os.Symlink(target, p))
		default:
			if len(files) > 0 && rng.IntN(2) == 0 {
				must(t, os.Link(files[rng.IntN(len(files))], p))
			} else {
				must(t, unix.Mkfifo(p, 0o644))
			}
		}
		all = append(all, p)
	}
	// Owners before modes (chown clears setuid), times last, deepest first
	// so filling a directory does not change its time afterwards.
	for _, p := range all {
		fi, err := os.Lstat(p)
		must(t, err)
		if os.Geteuid() == 0 {
			uid, gid := rng.IntN(3)*rng.IntN(100000), rng.IntN(3)*rng.IntN(100000)
			must(t, os.Lchown(p, uid, gid))
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			perm := uint32(rng.IntN(0o10000))
			if fi.IsDir() {
				perm |= 0o700 // keep the tree walkable
			}
			must(t, unix.Chmod(p, perm))
		}
	}
	all = append(all, dirs...)
	sort.Slice(all, func(i, j int) bool { return len(all[i]) > len(all[j]) })
	for _, p := range all {
		ts := unix.NsecToTimespec(int64(rng.IntN(1<<31)) * 1e9)
		must(t, unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW))
	}
}

// TestReaderRandomTreesMke2fs is the property test: random trees, made
// into ext2, ext3 and ext4 images (ext4Variants) by the real mke2fs -d,
// read back equal to the staging tree.
func TestReaderRandomTreesMke2fs(t *testing.T) {
	testutil.RequireTool(t, "mke2fs", "e2fsprogs")
	testutil.RequireTool(t, "debugfs", "e2fsprogs")
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0x5eed))
			staging := filepath.Join(t.TempDir(), "staging")
			randomStaging(t, rng, staging, 60+rng.IntN(120))
			bs := []int{1024, 4096}[rng.IntN(2)]
			isz := []int{128, 256}[rng.IntN(2)]
			img := filepath.Join(t.TempDir(), "fs.img")
			mke2fsStaging(t, staging, img, bs, isz, 64*1024)
			r := openReader(t, img)
			compareWithStaging(t, r, staging, nil)
			// The same tree as ext3 and as ext4 in each flavour.
			for _, v := range ext4Variants {
				if strings.Contains(v.features, "inline_data") {
					// mke2fs 1.47.0 -d with inline_data records some files
					// one byte short (e.g. 49,153 bytes as 49,152; debugfs
					// stat agrees): TestReaderMatchesMke2fsExt4 and the
					// kernel test cover inline data instead.
					continue
				}
				t.Run(v.name, func(t *testing.T) {
					img := filepath.Join(t.TempDir(), "fs.img")
					mke2fsStaging(t, staging, img, v.bs, v.isz, 64*1024, "-O", v.features)
					r := openReader(t, img)
					if r.Superblock().Kind() != v.kind {
						t.Fatalf("Kind %s, want %s", r.Superblock().Kind(), v.kind)
					}
					compareWithStaging(t, r, staging, nil)
				})
			}
		})
	}
}

// randomRoundtripTree builds a rootfs.Tree directly (what the writer consumes):
// it can hold devices and any owner without root.
func randomRoundtripTree(t *testing.T, rng *rand.Rand, n int) *rootfs.Tree {
	t.Helper()
	tree := rootfs.New(time.Unix(int64(rng.IntN(1<<31)), 0).UTC())
	dirs := []string{"/"}
	var files []string
	used := map[string]map[string]bool{}
	for i := 0; i < n; i++ {
		parent := dirs[rng.IntN(len(dirs))]
		if used[parent] == nil {
			used[parent] = map[string]bool{}
		}
		h := rootfs.Header{
			Name:    path.Join(parent, randomName(rng, used[parent])),
			Mode:    uint32(rng.IntN(0o10000)),
			Uid:     uint32(rng.IntN(3) * rng.IntN(100000)),
			Gid:     uint32(rng.IntN(3) * rng.IntN(100000)),
			ModTime: time.Unix(int64(rng.IntN(1<<31)), 0).UTC(),
		}
		var content rootfs.Content
		switch k := rng.IntN(12); {
		case k < 5:
			data := pattern(randomSize(rng), byte(i))
			h.Type, h.Size, content = rootfs.TypeReg, int64(len(data)), rootfs.Bytes(data)
			files = append(files, h.Name)
		case k < 7:
			h.Type = rootfs.TypeDir
			dirs = append(dirs, h.Name)
		case k < 9:
			h.Type, h.Linkname = rootfs.TypeSymlink, strings.Repeat("l", 1+rng.IntN(300))
		case k < 10:
			h.Type = []rootfs.Type{rootfs.TypeChar, rootfs.TypeBlock}[rng.IntN(2)]
			h.Devmajor, h.Devminor = uint32(rng.IntN(4096)), uint32(rng.IntN(1<<20))
			if rng.IntN(2) == 0 {
				h.Devmajor, h.Devminor = uint32(rng.IntN(256)), uint32(rng.IntN(256))
			}
		case k < 11:
			h.Type = rootfs.TypeFIFO
		default:
			if len(files) == 0 {
				h.Type = rootfs.TypeFIFO
				break
			}
			h.Type, h.Linkname = rootfs.TypeLink, files[rng.IntN(len(files))]
		}
		must(t, tree.Add(rootfs.Entry{Header: h, Content: content}))
	}
	return tree
}

// headersFromTree lists a tree as the reader's Walk reports it: hard
// links point at whichever path of the file comes first in walk order.
func headersFromTree(tree *rootfs.Tree) []rootfs.Header {
	canon := func(e *rootfs.Entry) string {
		if e.Type == rootfs.TypeLink {
			return e.Linkname
		}
		return e.Name
	}
	first := map[string]string{}
	var out []rootfs.Header
	for _, e := range tree.Entries() {
		h := e.Header
		if h.Type == rootfs.TypeReg || h.Type == rootfs.TypeLink {
			c := canon(e)
			target, _ := tree.Lookup(c)
			h.Type, h.Size, h.Linkname = rootfs.TypeReg, target.Size, ""
			h.Mode, h.Uid, h.Gid, h.ModTime = target.Mode, target.Uid, target.Gid, target.ModTime
			if fp, ok := first[c]; ok {
				h.Type, h.Size, h.Linkname = rootfs.TypeLink, 0, fp
			} else {
				first[c] = h.Name
			}
		}
		out = append(out, h)
	}
	return out
}

// TestReaderReadsWriter is the round trip through our own writer: random
// trees written by Write read back equal (entries, metadata, content).
func TestReaderReadsWriter(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0x3717e7))
			tree := randomRoundtripTree(t, rng, 50+rng.IntN(200))
			opt := Options{
				BlockSize: []int{1024, 4096}[rng.IntN(2)],
				InodeSize: []int{128, 256}[rng.IntN(2)],
				Time:      time.Unix(1_600_000_000, 0),
			}
			opt.Blocks = uint64(64 << 20 / opt.BlockSize)
			var buf memImage
			if _, err := Write(&buf, 0, tree, opt); err != nil {
				t.Fatalf("Write: %v", err)
			}
			r, err := Open(bytes.NewReader(buf.b), 0, int64(len(buf.b)))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			got := walkAll(t, r)
			want := headersFromTree(tree)
			var gs, ws []string
			for _, h := range got {
				if h.Name == "/lost+found" {
					if _, ok := tree.Lookup(h.Name); !ok {
						continue // the writer adds it, as mke2fs does
					}
				}
				gs = append(gs, headerString(h))
			}
			for i := range want {
				ws = append(ws, headerString(&want[i]))
			}
			if !slices.Equal(gs, ws) {
				t.Fatalf("walk differs from the tree %s", firstDiff(gs, ws))
			}
			for _, e := range tree.Entries() {
				if e.Type != rootfs.TypeReg {
					continue
				}
				rc, err := e.Content.Open()
				must(t, err)
				wantData, err := io.ReadAll(rc)
				rc.Close()
				must(t, err)
				gotData, err := r.ReadFile(e.Name[1:])
				if err != nil || !bytes.Equal(gotData, wantData) {
					t.Errorf("%s: content differs (%d vs %d bytes, %v)", e.Name, len(gotData), len(wantData), err)
				}
			}
		})
	}
}

// memImage is an in-memory io.WriterAt that grows as written.
type memImage struct{ b []byte }

func (m *memImage) WriteAt(p []byte, off int64) (int, error) {
	if end := off + int64(len(p)); end > int64(len(m.b)) {
		m.b = append(m.b, make([]byte, end-int64(len(m.b)))...)
	}
	copy(m.b[off:], p)
	return len(p), nil
}
