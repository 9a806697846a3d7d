package fat

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/minidisk/minidisk/internal/testutil"
)

// ftPattern is deterministic content distinct per seed.
func ftPattern(n int, seed uint64) []byte {
	b := make([]byte, n)
	x := seed*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

// ftName is a random name FAT can hold: 8.3 upper case, 8.3 lower case,
// mixed case, spaces, several dots, non-ASCII (long names only), up to
// 120 characters; unique ignoring case within its directory.
func ftName(rng *rand.Rand, used map[string]bool) string {
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_+=,;!@#$%&()[]{}' "
	for {
		var s string
		switch rng.IntN(5) {
		case 0: // a plain 8.3 name in upper case: short entry only
			s = strings.ToUpper(fmt.Sprintf("F%d.%s", rng.IntN(1000000), []string{"TXT", "EFI", "C32", "BIN"}[rng.IntN(4)]))
		case 1: // 8.3 in lower case: NT lowercase bits or a long name
			s = fmt.Sprintf("f%d.cfg", rng.IntN(100000))
		default:
			n := 1 + rng.IntN(30)
			if rng.IntN(10) == 0 {
				n = 100 + rng.IntN(20)
			}
			var b strings.Builder
			for b.Len() < n {
				if rng.IntN(12) == 0 {
					b.WriteString([]string{"é", "ß", "€", "日"}[rng.IntN(4)])
					continue
				}
				b.WriteByte(chars[rng.IntN(len(chars))])
			}
			s = strings.Trim(b.String(), " .")
			if len(s) != len([]rune(s)) && len([]rune(s)) <= 12 {
				// A short-only entry holds non-ASCII in the writer's OEM
				// code page (mtools: 850), which a reader cannot know;
				// a name longer than 8.3 always gets a long (UTF-16) name.
				s += "-long-name"
			}
		}
		key := strings.ToUpper(s)
		if s == "" || used[key] {
			continue
		}
		used[key] = true
		return s
	}
}

// ftStaging makes a random tree under dir: about n entries, one directory
// of 300 entries (a directory of several clusters), file sizes around the
// cluster sizes, FAT-representable times (even seconds, 1980..2100).
func ftStaging(t *testing.T, rng *rand.Rand, dir string, n int, maxSize int) {
	t.Helper()
	must(t, os.MkdirAll(dir, 0o755))
	dirs := []string{dir}
	used := map[string]map[string]bool{}
	var all []string
	add := func(parent string, isDir bool, size int, i int) {
		if used[parent] == nil {
			used[parent] = map[string]bool{}
		}
		p := filepath.Join(parent, ftName(rng, used[parent]))
		if isDir {
			must(t, os.Mkdir(p, 0o755))
			dirs = append(dirs, p)
		} else {
			must(t, os.WriteFile(p, ftPattern(size, uint64(i)), 0o644))
		}
		all = append(all, p)
	}
	size := func() int {
		switch rng.IntN(5) {
		case 0:
			return 0
		case 1:
			return rng.IntN(600)
		case 2:
			c := []int{512, 1024, 2048, 4096}[rng.IntN(4)]
			return c*(1+rng.IntN(4)) - 1 + rng.IntN(3)
		default:
			return rng.IntN(maxSize)
		}
	}
	for i := 0; i < n; i++ {
		add(dirs[rng.IntN(len(dirs))], rng.IntN(4) == 0, size(), i)
	}
	big := filepath.Join(dir, "many entries")
	must(t, os.Mkdir(big, 0o755))
	for i := 0; i < 300; i++ {
		add(big, false, rng.IntN(100), 10000+i)
	}
	all = append(all, big)
	sort := func(s []string) { slices.SortFunc(s, func(a, b string) int { return len(b) - len(a) }) }
	sort(all)
	for _, p := range all {
		ts := time.Date(1980+rng.IntN(120), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), 2*rng.IntN(30), 0, time.UTC)
		must(t, os.Chtimes(p, ts, ts))
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// ftMkfs makes a FAT image of the staging tree with mkfs.vfat and mcopy.
func ftMkfs(t testing.TB, staging, img string, fatType, sizeKiB int, extra ...string) {
	t.Helper()
	mkfs := testutil.RequireTool(t, "mkfs.vfat", "dosfstools")
	mcopy := testutil.RequireTool(t, "mcopy", "mtools")
	args := append([]string{"-F", fmt.Sprint(fatType), "-C", "-i", "1234ABCD", "-n", "MINIDISK"}, extra...)
	args = append(args, img, fmt.Sprint(sizeKiB))
	if out, err := exec.Command(mkfs, args...).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.vfat %v: %v\n%s", args, err, out)
	}
	ents, err := os.ReadDir(staging)
	must(t, err)
	if len(ents) == 0 {
		return
	}
	margs := []string{"-s", "-m", "-i", img}
	for _, e := range ents {
		margs = append(margs, filepath.Join(staging, e.Name()))
	}
	margs = append(margs, "::/")
	cmd := exec.Command(mcopy, margs...)
	cmd.Env = append(os.Environ(), "TZ=UTC", "MTOOLS_SKIP_CHECK=1", "LC_ALL=C.UTF-8")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mcopy: %v\n%s", err, out)
	}
}

func ftOpen(t testing.TB, img string) *FS {
	t.Helper()
	f, err := os.Open(img)
	must(t, err)
	t.Cleanup(func() { f.Close() })
	fi, err := f.Stat()
	must(t, err)
	fsys, err := Open(f, 0, fi.Size())
	if err != nil {
		t.Fatalf("Open %s: %v", img, err)
	}
	return fsys
}

type ftEntry struct {
	name  string
	dir   bool
	size  int64
	mtime int64
}

// ftCompare checks the FS against the staging tree: every name (exact,
// with case), type, size, time and content, and a case-changed lookup of
// every file.
func ftCompare(t *testing.T, fsys *FS, staging string) int {
	t.Helper()
	var want []ftEntry
	must(t, filepath.WalkDir(staging, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == staging {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(staging, p)
		e := ftEntry{name: filepath.ToSlash(rel), dir: d.IsDir(), mtime: fi.ModTime().Unix()}
		if !d.IsDir() {
			e.size = fi.Size()
		}
		want = append(want, e)
		return nil
	}))
	var got []ftEntry
	must(t, fsys.Walk(func(name string, fi *FileInfo) error {
		got = append(got, ftEntry{name: name, dir: fi.IsDir(), size: fi.Size(), mtime: fi.ModTime().Unix()})
		return nil
	}))
	// Directory times are those mcopy gave at creation; compare files' only.
	for _, l := range [][]ftEntry{want, got} {
		for i := range l {
			if l[i].dir {
				l[i].mtime = 0
			}
		}
	}
	key := func(a, b ftEntry) int { return strings.Compare(a.name, b.name) }
	slices.SortFunc(want, key)
	slices.SortFunc(got, key)
	if !slices.Equal(got, want) {
		for i := 0; i < max(len(got), len(want)); i++ {
			var g, w ftEntry
			if i < len(got) {
				g = got[i]
			}
			if i < len(want) {
				w = want[i]
			}
			if g != w {
				t.Fatalf("entry %d: got %+v, want %+v (%d vs %d entries)", i, g, w, len(got), len(want))
			}
		}
	}
	for _, e := range want {
		if e.dir {
			continue
		}
		host, err := os.ReadFile(filepath.Join(staging, filepath.FromSlash(e.name)))
		must(t, err)
		b, err := fsys.ReadFile(e.name)
		if err != nil || !bytes.Equal(b, host) {
			t.Errorf("%s: %d bytes (%v), want %d", e.name, len(b), err, len(host))
		}
		// Firmware and SYSLINUX look names up ignoring case.
		if b2, err := fsys.ReadFile(strings.ToUpper(e.name)); err != nil || !bytes.Equal(b2, host) {
			t.Errorf("%s upper-cased: %d bytes (%v)", e.name, len(b2), err)
		}
	}
	return len(want)
}

// TestFATMatchesMtools is the oracle test: random trees copied by mcopy
// into FAT12, FAT16 and FAT32 filesystems made by mkfs.vfat (512-byte and
// 4 KiB sectors, several cluster sizes) read back equal to the staging
// tree, fsck.fat agreeing the images are clean; and testing/fstest's
// checks of the io/fs contract.
func TestFATMatchesMtools(t *testing.T) {
	fsck := testutil.RequireTool(t, "fsck.fat", "dosfstools")
	cases := []struct {
		fat, kib, entries, maxSize int
		extra                      []string
	}{
		{12, 1440, 40, 20000, nil},
		{12, 4096, 80, 30000, []string{"-s", "4"}},
		{16, 32 * 1024, 150, 300000, nil},
		{16, 20 * 1024, 100, 100000, []string{"-S", "4096", "-s", "1"}},
		{32, 64 * 1024, 150, 300000, nil},
		{32, 40 * 1024, 100, 100000, []string{"-s", "1", "-f", "1"}},
	}
	total := 0
	for i, c := range cases {
		t.Run(fmt.Sprintf("FAT%d-%dk-%d", c.fat, c.kib, i), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i+1), 0xFA7))
			staging := filepath.Join(t.TempDir(), "staging")
			ftStaging(t, rng, staging, c.entries, c.maxSize)
			img := filepath.Join(t.TempDir(), "fat.img")
			ftMkfs(t, staging, img, c.fat, c.kib, c.extra...)
			if out, err := exec.Command(fsck, "-n", img).CombinedOutput(); err != nil {
				t.Fatalf("fsck.fat -n: %v\n%s", err, out)
			}
			fsys := ftOpen(t, img)
			if fsys.Type() != c.fat {
				t.Fatalf("type FAT%d, want FAT%d", fsys.Type(), c.fat)
			}
			if l := fsys.Label(); l != "MINIDISK" {
				t.Errorf("Label %q", l)
			}
			f, _ := os.Open(img)
			defer f.Close()
			p, ok := Probe(f, 0)
			if !ok || p.Type != c.fat || p.Serial != "1234-ABCD" || p.Label != "MINIDISK" {
				t.Errorf("Probe = %+v, %v", p, ok)
			}
			total += ftCompare(t, fsys, staging)
			if c.fat != 12 {
				return // fstest.TestFS re-reads every file many times: the FAT12 trees suffice
			}
			var names []string
			ents, err := fsys.ReadDir(".")
			must(t, err)
			for _, e := range ents[:min(5, len(ents))] {
				names = append(names, e.Name())
			}
			if err := fstest.TestFS(fsys, names...); err != nil {
				t.Errorf("fstest: %v", err)
			}
		})
	}
	t.Logf("%d entries compared", total)
}

// TestFATProbeRejects checks Probe on what is not FAT: zeros, an MBR, an
// ext2 superblock area.
func TestFATProbeRejects(t *testing.T) {
	zero := make([]byte, 4096)
	if _, ok := Probe(bytes.NewReader(zero), 0); ok {
		t.Errorf("zeros probed as FAT")
	}
	mbr := make([]byte, 512)
	mbr[0x1BE+4] = 0x83
	mbr[510], mbr[511] = 0x55, 0xAA
	if _, ok := Probe(bytes.NewReader(mbr), 0); ok {
		t.Errorf("an MBR with one partition probed as FAT")
	}
	if _, ok := Probe(bytes.NewReader(zero), 4000); ok {
		t.Errorf("a short read probed as FAT")
	}
}

func ftSeed(t testing.TB, name string) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	must(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	must(t, err)
	b, err := io.ReadAll(zr)
	must(t, err)
	return b
}

// ftSeeds were made by
//
//	mkfs.vfat -F 12|16|32 [-s 1] -C -i 1234ABCD -n MINIDISK IMG 200|2400|34000
//	mcopy -s -m -i IMG s/* ::/
//
// from a tree with EFI/BOOT/BOOTX64.EFI (9,000 bytes), syslinux.cfg,
// "A long name.txt" (700 bytes) and a directory "dir" of 40 files. The
// FAT16 and FAT32 ones use 512-byte clusters (-s 1); the FAT32 one is cut
// to its first 768 KiB (FATs, root and every file lie there), since mtools
// will not write a FAT32 of fewer than 65,525 clusters and a 33 MB seed
// would make fuzzing slow.
var ftSeeds = []string{"seed-fat12.img.gz", "seed-fat16.img.gz", "seed-fat32.img.gz"}

// ftExercise reads everything; it must never panic or hang.
func ftExercise(data []byte) error {
	fsys, err := Open(bytes.NewReader(data), 0, int64(len(data)))
	if err != nil {
		return err
	}
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	n := 0
	keep(fsys.Walk(func(name string, fi *FileInfo) error {
		n++
		if n > 5000 {
			return errors.New("too many entries")
		}
		if !fi.IsDir() {
			_, err := fsys.ReadFile(name)
			keep(err)
		}
		_, err := fsys.Stat(strings.ToLower(name))
		keep(err)
		return nil
	}))
	_ = fsys.Label()
	return first
}

func FuzzFAT(f *testing.F) {
	for _, s := range ftSeeds {
		f.Add(ftSeed(f, s))
	}
	for _, c := range ftCorruptions(f) {
		f.Add(c.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = ftExercise(data)
		_, _ = Probe(bytes.NewReader(data), 0)
	})
}

type ftCorruption struct {
	name, want string
	data       []byte
}

// ftCorruptions damages the FAT16 seed where a reader could loop or
// overrun.
func ftCorruptions(t testing.TB) []ftCorruption {
	t.Helper()
	seed := ftSeed(t, "seed-fat16.img.gz")
	fsys, err := Open(bytes.NewReader(seed), 0, int64(len(seed)))
	must(t, err)
	fi, err := fsys.Stat("A long name.txt")
	must(t, err)
	c := fi.(*FileInfo).Cluster
	di, err := fsys.Stat("dir")
	must(t, err)
	dc := di.(*FileInfo).Cluster
	setFAT := func(data []byte, cl uint32, v uint16) []byte {
		out := bytes.Clone(data)
		le.PutUint16(out[fsys.g.fatStart+2*int64(cl):], v)
		return out
	}
	var cs []ftCorruption
	cs = append(cs,
		ftCorruption{"chain-loop", "loops", setFAT(seed, c, uint16(c))},
		ftCorruption{"chain-out-of-range", "outside the data area", setFAT(seed, c, 0xFFF0)},
		ftCorruption{"chain-free", "outside the data area", setFAT(seed, c, 0)},
		ftCorruption{"dir-chain-loop", "loops", setFAT(seed, dc, uint16(dc))},
		ftCorruption{"truncated", "past the partition end", seed[:fsys.g.dataStart+512]},
	)
	bad := bytes.Clone(seed)
	bad[0x0D] = 3 // sectors per cluster not a power of two
	cs = append(cs, ftCorruption{"bad-cluster-size", "sectors per cluster", bad})
	// A subdirectory entry pointing at its own parent's cluster.
	loop := bytes.Clone(seed)
	raw, err := fsys.readDirBytes(dirRef{cluster: dc, path: "/dir"})
	must(t, err)
	off := fsys.clusterOffset(dc)
	for i := 0; i+32 <= len(raw); i += 32 {
		e := raw[i:]
		if e[0] != 0 && e[0] != 0xE5 && e[0] != '.' && e[11] != AttrLongName {
			loop[off+int64(i)+11] = AttrDirectory
			le.PutUint16(loop[off+int64(i)+26:], uint16(dc))
			break
		}
	}
	cs = append(cs, ftCorruption{"dir-loop", "reached twice", loop})
	return cs
}

func TestFATCorrupt(t *testing.T) {
	for _, s := range ftSeeds {
		if err := ftExercise(ftSeed(t, s)); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		fsys, err := Open(bytes.NewReader(ftSeed(t, s)), 0, 0)
		must(t, err)
		b, err := fsys.ReadFile("efi/boot/bootx64.efi")
		if err != nil || len(b) != 9000 {
			t.Errorf("%s: efi/boot/bootx64.efi: %d bytes, %v", s, len(b), err)
		}
		// The file's bytes lie where its clusters say.
		fl, err := fsys.Open("EFI/BOOT/BOOTX64.EFI")
		must(t, err)
		raw := ftSeed(t, s)
		for i, c := range fl.(*File).Clusters() {
			off, err := fsys.ClusterOffset(c)
			must(t, err)
			cs := int64(fsys.ClusterSize())
			n := min(cs, 9000-int64(i)*cs)
			if !bytes.Equal(raw[off:off+n], bytes.Repeat([]byte("E"), int(n))) {
				t.Errorf("%s: cluster %d of BOOTX64.EFI at byte %d does not hold its data", s, c, off)
			}
		}
		ents, err := fsys.ReadDir("DIR")
		if err != nil || len(ents) != 40 {
			t.Errorf("%s: DIR: %d entries, %v", s, len(ents), err)
		}
		if fi, err := fsys.Stat("a LONG name.TXT"); err != nil || fi.Name() != "A long name.txt" || fi.Size() != 700 {
			t.Errorf("%s: case-insensitive stat: %v, %v", s, fi, err)
		}
		if _, err := fsys.Stat("nope/x"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: missing path: %v", s, err)
		}
	}
	for _, c := range ftCorruptions(t) {
		t.Run(c.name, func(t *testing.T) {
			err := ftExercise(c.data)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
}
