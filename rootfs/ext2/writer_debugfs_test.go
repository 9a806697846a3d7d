package ext2

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/rootfs"
)

// randomTree builds a tree of every entry type with random names, modes,
// owners, times, sizes and device numbers.
func randomTree(t *testing.T, r *rand.Rand, n int, bs int, ns bool) *rootfs.Tree {
	tree := newTree()
	dirs := []string{"/"}
	var files []string
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+"
	name := func() string {
		l := 1 + r.IntN(20)
		if r.IntN(20) == 0 {
			l = 200 + r.IntN(56)
		}
		b := make([]byte, l)
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		if b[0] == '.' || b[0] == '-' {
			b[0] = 'x'
		}
		return string(b)
	}
	mtime := func() time.Time {
		tm := time.Unix(946684800+r.Int64N(1<<30), 0)
		if ns {
			tm = tm.Add(time.Duration(r.IntN(1e9)))
		}
		return tm
	}
	for range n {
		parent := dirs[r.IntN(len(dirs))]
		p := path.Join(parent, name())
		if _, ok := tree.Lookup(p); ok {
			continue
		}
		h := rootfs.Header{Name: p, Mode: uint32(r.IntN(0o10000)), Uid: uint32(r.IntN(70000)), Gid: uint32(r.IntN(70000)), ModTime: mtime()}
		var err error
		switch k := r.IntN(20); {
		case k < 4:
			h.Type = rootfs.TypeDir
			h.Mode |= 0o700 // rdump must be able to enter it
			err = tree.Add(rootfs.Entry{Header: h})
			dirs = append(dirs, p)
		case k < 12:
			h.Type = rootfs.TypeReg
			h.Mode |= 0o600 // and read it
			switch r.IntN(4) {
			case 0:
				h.Size = int64(r.IntN(100))
			case 1:
				h.Size = int64(r.IntN(20 * bs))
			default:
				h.Size = int64(r.IntN(300 * bs))
			}
			err = tree.Add(rootfs.Entry{Header: h, Content: genContent{size: h.Size, seed: byte(r.IntN(256))}})
			files = append(files, p)
		case k < 15:
			h.Type = rootfs.TypeSymlink
			h.Mode = 0o777
			l := 1 + r.IntN(120)
			if r.IntN(3) == 0 {
				l = 1 + r.IntN(bs-1)
			}
			b := make([]byte, l)
			for i := range b {
				b[i] = alphabet[r.IntN(len(alphabet))]
			}
			h.Linkname = string(b)
			err = tree.Add(rootfs.Entry{Header: h})
		case k < 17:
			h.Type = rootfs.TypeChar
			if r.IntN(2) == 0 {
				h.Type = rootfs.TypeBlock
			}
			h.Devmajor, h.Devminor = uint32(r.IntN(4096)), uint32(r.IntN(1<<20))
			if r.IntN(2) == 0 {
				h.Devmajor, h.Devminor = uint32(r.IntN(256)), uint32(r.IntN(256))
			}
			err = tree.Add(rootfs.Entry{Header: h})
		case k < 18:
			h.Type = rootfs.TypeFIFO
			err = tree.Add(rootfs.Entry{Header: h})
		default:
			if len(files) == 0 {
				continue
			}
			h.Type = rootfs.TypeLink
			h.Linkname = files[r.IntN(len(files))]
			err = tree.Add(rootfs.Entry{Header: h})
		}
		must(t, err)
	}
	return tree
}

// debugfsStat is what debugfs says about one inode.
type debugfsStat struct {
	typ         string
	mode        uint32
	uid, gid    uint32
	size        int64
	links       int
	mtime       uint32
	mtimeExtra  uint32
	hasExtra    bool
	major       uint32
	minor       uint32
	fastLink    string
	hasFastLink bool
}

var (
	reStatHead = regexp.MustCompile(`Type: ([a-zA-Z ]+?)\s+Mode:\s+(\d+)`)
	reStatUser = regexp.MustCompile(`User:\s+(\d+)\s+Group:\s+(\d+).*Size: (\d+)`)
	reLinks    = regexp.MustCompile(`Links: (\d+)`)
	reMtime    = regexp.MustCompile(`(?m)^\s*mtime: 0x([0-9a-f]+)(?::([0-9a-f]+))?`)
	reDev      = regexp.MustCompile(`Device major/minor number: (\d+):(\d+)`)
	reFast     = regexp.MustCompile(`(?m)^Fast link dest: "(.*)"$`)
)

func parseStat(t *testing.T, name, s string) debugfsStat {
	t.Helper()
	var st debugfsStat
	m := reStatHead.FindStringSubmatch(s)
	u := reStatUser.FindStringSubmatch(s)
	l := reLinks.FindStringSubmatch(s)
	mt := reMtime.FindStringSubmatch(s)
	if m == nil || u == nil || l == nil || mt == nil {
		t.Fatalf("%s: cannot parse debugfs stat:\n%s", name, s)
	}
	st.typ = m[1]
	mode, _ := strconv.ParseUint(m[2], 8, 32)
	st.mode = uint32(mode)
	uid, _ := strconv.ParseUint(u[1], 10, 32)
	gid, _ := strconv.ParseUint(u[2], 10, 32)
	st.uid, st.gid = uint32(uid), uint32(gid)
	st.size, _ = strconv.ParseInt(u[3], 10, 64)
	st.links, _ = strconv.Atoi(l[1])
	sec, _ := strconv.ParseUint(mt[1], 16, 32)
	st.mtime = uint32(sec)
	if mt[2] != "" {
		x, _ := strconv.ParseUint(mt[2], 16, 32)
		st.mtimeExtra, st.hasExtra = uint32(x), true
	}
	if d := reDev.FindStringSubmatch(s); d != nil {
		ma, _ := strconv.ParseUint(d[1], 10, 32)
		mi, _ := strconv.ParseUint(d[2], 10, 32)
		st.major, st.minor = uint32(ma), uint32(mi)
	}
	if f := reFast.FindStringSubmatch(s); f != nil {
		st.fastLink, st.hasFastLink = f[1], true
	}
	return st
}

// debugfsRun runs debugfs commands (one per line) on img and returns each
// command's output.
func debugfsRun(t *testing.T, img string, cmds []string) []string {
	t.Helper()
	debugfs := testutil.RequireTool(t, "debugfs", "e2fsprogs")
	cf := filepath.Join(t.TempDir(), "cmds")
	must(t, os.WriteFile(cf, []byte(strings.Join(cmds, "\n")+"\n"), 0o644))
	out, err := toolCommand(t, debugfs, "-f", cf, img).CombinedOutput()
	if err != nil {
		t.Fatalf("debugfs: %v\n%s", err, out)
	}
	// debugfs echoes each command as "debugfs: CMD".
	parts := strings.Split(string(out), "debugfs: ")
	if len(parts) != len(cmds)+1 {
		t.Fatalf("debugfs: %d outputs for %d commands", len(parts)-1, len(cmds))
	}
	return parts[1:]
}

var typeNames = map[rootfs.Type]string{
	rootfs.TypeDir: "directory", rootfs.TypeReg: "regular", rootfs.TypeSymlink: "symlink",
	rootfs.TypeChar: "character special", rootfs.TypeBlock: "block special", rootfs.TypeFIFO: "FIFO",
}

// checkWithDebugfs compares every entry of tree with what debugfs reads
// from img: type, mode, owner, mtime, size, links, device numbers, symlink
// targets, directory listings, and (through rdump) file contents.
func checkWithDebugfs(t *testing.T, img string, tree *rootfs.Tree, inodeSize int) {
	t.Helper()
	entries := tree.Entries()
	var cmds []string
	for _, e := range entries {
		cmds = append(cmds, "stat "+e.Name)
	}
	dirCmd := len(cmds)
	var dirs []*rootfs.Entry
	for _, e := range entries {
		if e.Type == rootfs.TypeDir {
			dirs = append(dirs, e)
			cmds = append(cmds, "ls -p "+e.Name)
		}
	}
	out := debugfsRun(t, img, cmds)
	// Link counts the tree implies.
	links := map[string]int{}
	subdirs := map[string]int{}
	for _, e := range entries {
		switch e.Type {
		case rootfs.TypeLink:
			links[e.Linkname]++
		case rootfs.TypeDir:
			if e.Name != "/" {
				subdirs[path.Dir(e.Name)]++
			}
		}
	}
	if _, ok := tree.Lookup("/lost+found"); !ok {
		subdirs["/"]++
	}
	for i, e := range entries {
		st := parseStat(t, e.Name, out[i])
		want := e
		if e.Type == rootfs.TypeLink {
			want, _ = tree.Lookup(e.Linkname)
		}
		if st.typ != typeNames[want.Type] {
			t.Errorf("%s: type %q, want %q", e.Name, st.typ, typeNames[want.Type])
			continue
		}
		if st.mode != want.Mode || st.uid != want.Uid || st.gid != want.Gid {
			t.Errorf("%s: mode %o uid %d gid %d, want %o %d %d", e.Name, st.mode, st.uid, st.gid, want.Mode, want.Uid, want.Gid)
		}
		if st.mtime != uint32(want.ModTime.Unix()) {
			t.Errorf("%s: mtime %d, want %d", e.Name, st.mtime, want.ModTime.Unix())
		}
		if inodeSize > 128 && st.mtimeExtra>>2 != uint32(want.ModTime.Nanosecond()) {
			t.Errorf("%s: mtime nanoseconds %d, want %d", e.Name, st.mtimeExtra>>2, want.ModTime.Nanosecond())
		}
		wantLinks := 1 + links[want.Name]
		switch want.Type {
		case rootfs.TypeDir:
			wantLinks = 2 + subdirs[want.Name]
		case rootfs.TypeReg:
			if st.size != want.Size {
				t.Errorf("%s: size %d, want %d", e.Name, st.size, want.Size)
			}
		case rootfs.TypeSymlink:
			if st.size != int64(len(want.Linkname)) {
				t.Errorf("%s: size %d, want %d", e.Name, st.size, len(want.Linkname))
			}
			if len(want.Linkname) <= fastSymlinkMax {
				if !st.hasFastLink || st.fastLink != want.Linkname {
					t.Errorf("%s: fast link %q (%v), want %q", e.Name, st.fastLink, st.hasFastLink, want.Linkname)
				}
			} else if st.hasFastLink {
				t.Errorf("%s: %d-byte target stored as a fast link", e.Name, len(want.Linkname))
			}
		case rootfs.TypeChar, rootfs.TypeBlock:
			if st.major != want.Devmajor || st.minor != want.Devminor {
				t.Errorf("%s: device %d:%d, want %d:%d", e.Name, st.major, st.minor, want.Devmajor, want.Devminor)
			}
		}
		if st.links != wantLinks {
			t.Errorf("%s: %d links, want %d", e.Name, st.links, wantLinks)
		}
	}
	// Directory listings: exactly the tree's children (plus . .. and
	// lost+found in the root), each with the right type.
	for i, d := range dirs {
		var got []string
		lines := strings.Split(out[dirCmd+i], "\n")
		for _, line := range lines[1:] { // lines[0] echoes the command
			f := strings.Split(line, "/")
			if len(f) < 7 {
				continue
			}
			if f[5] == "." || f[5] == ".." || (d.Name == "/" && f[5] == "lost+found") {
				continue
			}
			got = append(got, f[5])
		}
		var want []string
		for _, c := range tree.Children(d.Name) {
			want = append(want, path.Base(c.Name))
		}
		if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
			t.Errorf("%s: debugfs lists %q, want %q", d.Name, got, want)
		}
	}
	// Contents and block-symlink targets through rdump.
	dump := t.TempDir()
	debugfsRun(t, img, []string{"rdump / " + dump})
	for _, e := range entries {
		want := e
		if e.Type == rootfs.TypeLink {
			want, _ = tree.Lookup(e.Linkname)
		}
		p := filepath.Join(dump, e.Name)
		switch want.Type {
		case rootfs.TypeReg:
			got, err := os.ReadFile(p)
			if err != nil {
				t.Errorf("%s: %v", e.Name, err)
				continue
			}
			rc, _ := want.Content.Open()
			var wb bytes.Buffer
			_, _ = wb.ReadFrom(rc)
			rc.Close()
			if !bytes.Equal(got, wb.Bytes()) {
				t.Errorf("%s: content differs (%d bytes, want %d)", e.Name, len(got), wb.Len())
			}
		case rootfs.TypeSymlink:
			got, err := os.Readlink(p)
			if err != nil || got != want.Linkname {
				t.Errorf("%s: rdump link %q (%v), want %q", e.Name, got, err, want.Linkname)
			}
		}
	}
}

func TestWriteRandomTreesMatchDebugfs(t *testing.T) {
	testutil.RequireTool(t, "debugfs", "e2fsprogs")
	cases := []struct {
		bs, isz int
		seed    uint64
	}{
		{1024, 128, 1}, {1024, 256, 2}, {2048, 128, 3}, {4096, 128, 4}, {4096, 256, 5},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("bs%d-inode%d-seed%d", c.bs, c.isz, c.seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(c.seed, 0x6d696e69))
			tree := randomTree(t, r, 300, c.bs, c.isz > 128)
			st, err := Plan(tree, Options{BlockSize: c.bs, InodeSize: c.isz, Blocks: 1 << 30 / uint64(c.bs)})
			must(t, err)
			blocks := (st.NeededBlocks*uint64(c.bs)+(8<<20))/uint64(c.bs) + uint64(st.Groups)*0
			img, _ := writeImage(t, tree, Options{BlockSize: c.bs, InodeSize: c.isz, Blocks: blocks * 2}, 0)
			fsck(t, img, 0)
			checkWithDebugfs(t, img, tree, c.isz)
		})
	}
}
