package iso9660

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
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/minidisk/minidisk/internal/testutil"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func itPattern(n int, seed uint64) []byte {
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

// itName is a random name: mixed case, spaces, dots, non-ASCII (BMP only,
// so Joliet's UCS-2 holds it), up to maxLen runes.
func itName(rng *rand.Rand, used map[string]bool, maxLen int) string {
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_+=,!@#$%&()[]{}' ."
	for {
		n := 1 + rng.IntN(min(20, maxLen))
		if rng.IntN(8) == 0 {
			n = maxLen/2 + rng.IntN(maxLen/2)
		}
		var b []rune
		for len(b) < n {
			if rng.IntN(12) == 0 {
				b = append(b, []rune("éß€日")[rng.IntN(4)])
				continue
			}
			b = append(b, rune(chars[rng.IntN(len(chars))]))
		}
		s := strings.TrimRight(strings.TrimLeft(string(b), " ."), " .")
		if s == "" || used[strings.ToUpper(s)] {
			continue
		}
		used[strings.ToUpper(s)] = true
		return s
	}
}

// itStaging makes a random tree: files (sizes around 2 KiB blocks, up to
// 300 KiB), directories up to 12 deep, symlinks (when links), modes.
func itStaging(t *testing.T, rng *rand.Rand, dir string, n, maxName int, links bool) {
	t.Helper()
	must(t, os.MkdirAll(dir, 0o755))
	dirs := []string{dir}
	used := map[string]map[string]bool{}
	var files, all []string
	for i := 0; i < n; i++ {
		parent := dirs[rng.IntN(len(dirs))]
		if i%10 == 0 {
			parent = dirs[len(dirs)-1] // grow one deep chain
		}
		if used[parent] == nil {
			used[parent] = map[string]bool{}
		}
		p := filepath.Join(parent, itName(rng, used[parent], maxName))
		switch k := rng.IntN(10); {
		case k < 6:
			size := []int{0, rng.IntN(100), 2048*(1+rng.IntN(3)) - 1 + rng.IntN(3), rng.IntN(300 << 10)}[rng.IntN(4)]
			must(t, os.WriteFile(p, itPattern(size, uint64(i)), 0o644))
			must(t, os.Chmod(p, os.FileMode(0o400|rng.IntN(0o1000))))
			files = append(files, p)
		case k < 8 || !links:
			if strings.Count(parent, string(filepath.Separator))-strings.Count(dir, string(filepath.Separator)) > 11 {
				continue
			}
			must(t, os.Mkdir(p, 0o755))
			dirs = append(dirs, p)
		default:
			// No trailing slash: xorriso records "a/b/" as "a/b".
			target := strings.Repeat("t/", rng.IntN(100)) + "t"
			if len(files) > 0 && rng.IntN(2) == 0 {
				target, _ = filepath.Rel(parent, files[rng.IntN(len(files))])
			}
			if rng.IntN(4) == 0 {
				target = "/abs/" + target
			}
			must(t, os.Symlink(target, p))
		}
		all = append(all, p)
	}
	for _, p := range append(all, dirs...) {
		ts := time.Unix(int64(rng.IntN(1<<31)), 0)
		_ = os.Chtimes(p, ts, ts) // symlinks: no-op on the target is fine
	}
}

type itEntry struct {
	name, link string
	mode       fs.FileMode
	size       int64
	mtime      int64
}

func itWantTree(t *testing.T, staging string, withMode bool) []itEntry {
	t.Helper()
	var want []itEntry
	must(t, filepath.WalkDir(staging, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == staging {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(staging, p)
		e := itEntry{name: filepath.ToSlash(rel), mode: fi.Mode() & (fs.ModeType | fs.ModePerm)}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			e.link, _ = os.Readlink(p)
			e.size = int64(len(e.link))
		case fi.Mode().IsRegular():
			e.size = fi.Size()
			e.mtime = fi.ModTime().Unix()
		}
		if !withMode {
			e.mode &= fs.ModeType
		}
		want = append(want, e)
		return nil
	}))
	return want
}

func itGotTree(t *testing.T, fsys *FS, withMode bool) []itEntry {
	t.Helper()
	var got []itEntry
	must(t, fsys.Walk(func(name string, fi *FileInfo) error {
		e := itEntry{name: name, link: fi.Linkname, mode: fi.Mode() & (fs.ModeType | fs.ModePerm), size: fi.Size()}
		if fi.Mode().IsRegular() {
			e.mtime = fi.ModTime().Unix()
		}
		if fi.IsDir() {
			e.size = 0
		}
		if !withMode {
			e.mode &= fs.ModeType
		}
		got = append(got, e)
		return nil
	}))
	return got
}

func itCompare(t *testing.T, got, want []itEntry) {
	t.Helper()
	key := func(a, b itEntry) int { return strings.Compare(a.name, b.name) }
	slices.SortFunc(got, key)
	slices.SortFunc(want, key)
	if slices.Equal(got, want) {
		return
	}
	for i := 0; i < max(len(got), len(want)); i++ {
		var g, w itEntry
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Fatalf("entry %d:\n got  %+v\n want %+v\n(%d vs %d entries)", i, g, w, len(got), len(want))
		}
	}
}

func itMkisofs(t testing.TB, out string, args ...string) {
	t.Helper()
	xorriso := testutil.RequireTool(t, "xorriso", "xorriso")
	all := append([]string{"-as", "mkisofs", "-quiet", "-o", out}, args...)
	if b, err := exec.Command(xorriso, all...).CombinedOutput(); err != nil {
		t.Fatalf("xorriso %v: %v\n%s", all, err, b)
	}
}

func itOpen(t testing.TB, img string) *FS {
	t.Helper()
	f, err := os.Open(img)
	must(t, err)
	t.Cleanup(func() { f.Close() })
	fi, err := f.Stat()
	must(t, err)
	fsys, err := Open(f, 0, fi.Size())
	must(t, err)
	return fsys
}

var itLBALine = regexp.MustCompile(`^File data lba:\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*'(.*)'$`)

// itCompareLBA checks every file's first block and size against
// `xorriso -find / -exec report_lba` reading the same tree.
func itCompareLBA(t *testing.T, fsys *FS, img, readFS string) int {
	t.Helper()
	xorriso := testutil.RequireTool(t, "xorriso", "xorriso")
	out, err := exec.Command(xorriso, "-read_fs", readFS, "-indev", img, "-find", "/", "-type", "f", "-exec", "report_lba").CombinedOutput()
	if err != nil {
		t.Fatalf("xorriso report_lba: %v\n%s", err, out)
	}
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		m := itLBALine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		name := strings.TrimPrefix(strings.ReplaceAll(m[5], `'"'"'`, `'`), "/")
		lba, _ := strconv.ParseUint(m[2], 10, 32)
		size, _ := strconv.ParseInt(m[4], 10, 64)
		fi, err := fsys.Lstat(name)
		if err != nil {
			t.Errorf("%s (xorriso: LBA %d): %v", name, lba, err)
			continue
		}
		got := fi.(*FileInfo)
		if size > 0 && got.LBA != uint32(lba) || got.Size() != size {
			t.Errorf("%s: LBA %d size %d, xorriso says %d, %d", name, got.LBA, got.Size(), lba, size)
		}
		n++
	}
	if n == 0 {
		t.Fatalf("no report_lba lines:\n%s", out)
	}
	return n
}

// TestISOMatchesXorriso is the oracle test: random trees made into ISO
// images by xorriso -as mkisofs with Rock Ridge (+ Joliet), Joliet only,
// and plain ISO 9660 (level 1 and 3), read back equal to the staging tree
// (Rock Ridge: names, modes, symlinks, times, content) or to xorriso's own
// reading of the image (Joliet names; plain ISO names), every file's LBA
// and size equal to xorriso's report_lba.
func TestISOMatchesXorriso(t *testing.T) {
	testutil.RequireTool(t, "xorriso", "xorriso")
	files := 0
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint("rock-ridge-", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0x150))
			staging := filepath.Join(t.TempDir(), "s")
			itStaging(t, rng, staging, 150, 200, true)
			img := filepath.Join(t.TempDir(), "rr.iso")
			itMkisofs(t, img, "-R", "-J", "-joliet-long", "-V", "RANDOM_"+fmt.Sprint(seed), staging)
			fsys := itOpen(t, img)
			if !fsys.RockRidge() {
				t.Fatal("Rock Ridge not detected")
			}
			itCompare(t, itGotTree(t, fsys, true), itWantTree(t, staging, true))
			for _, e := range itWantTree(t, staging, false) {
				if e.mode.IsRegular() {
					want, err := os.ReadFile(filepath.Join(staging, e.name))
					must(t, err)
					got, err := fsys.ReadFile(e.name)
					if err != nil || !bytes.Equal(got, want) {
						t.Errorf("%s: %d bytes, %v; want %d", e.name, len(got), err, len(want))
					}
				}
			}
			files += itCompareLBA(t, fsys, img, "any")
			if p, ok := Probe(fsys.r, 0); !ok || p.Label != "RANDOM_"+fmt.Sprint(seed) || !p.Joliet || p.ElTorito {
				t.Errorf("Probe = %+v, %v", p, ok)
			}
		})
	}
	t.Run("joliet", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(7, 0x150))
		staging := filepath.Join(t.TempDir(), "s")
		itStaging(t, rng, staging, 150, 64, false)
		img := filepath.Join(t.TempDir(), "j.iso")
		itMkisofs(t, img, "--norock", "-J", staging)
		fsys := itOpen(t, img)
		if fsys.RockRidge() || !fsys.Joliet() {
			t.Fatalf("RockRidge %v Joliet %v", fsys.RockRidge(), fsys.Joliet())
		}
		// Names as xorriso reads the Joliet tree (it drops what lies
		// deeper than ISO 9660's 8 levels), types and content from the
		// staging directory.
		itCompareNames(t, fsys, img, "norock", false)
		want := map[string]itEntry{}
		for _, e := range itWantTree(t, staging, false) {
			e.mtime = 0
			want[e.name] = e
		}
		for _, g := range itGotTree(t, fsys, false) {
			g.mtime = 0
			if w, ok := want[g.name]; !ok || g != w {
				t.Errorf("%+v; staging has %+v", g, w)
			}
			if g.mode.IsRegular() {
				host, err := os.ReadFile(filepath.Join(staging, g.name))
				must(t, err)
				if b, err := fsys.ReadFile(g.name); err != nil || !bytes.Equal(b, host) {
					t.Errorf("%s: %d bytes, %v", g.name, len(b), err)
				}
			}
		}
		files += itCompareLBA(t, fsys, img, "norock")
	})
	for _, level := range []string{"1", "3"} {
		t.Run("plain-level-"+level, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(11, 0x150))
			staging := filepath.Join(t.TempDir(), "s")
			itStaging(t, rng, staging, 80, 30, false)
			img := filepath.Join(t.TempDir(), "p.iso")
			itMkisofs(t, img, "--norock", "-iso-level", level, staging)
			fsys := itOpen(t, img)
			if fsys.RockRidge() || fsys.Joliet() {
				t.Fatalf("RockRidge %v Joliet %v", fsys.RockRidge(), fsys.Joliet())
			}
			files += itCompareLBA(t, fsys, img, "ecma119")
			itCompareNames(t, fsys, img, "ecma119", true)
		})
	}
	t.Logf("%d files' LBA and size compared with xorriso", files)
}

// itCompareNames compares Walk's paths with `xorriso -read_fs X -find /`;
// lower, when set, also looks each name up in lower case.
func itCompareNames(t *testing.T, fsys *FS, img, readFS string, lower bool) {
	t.Helper()
	xorriso := testutil.RequireTool(t, "xorriso", "xorriso")
	out, err := exec.Command(xorriso, "-read_fs", readFS, "-indev", img, "-find", "/").Output()
	must(t, err)
	var want []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "'/") && line != "'/'" {
			want = append(want, strings.ReplaceAll(line[1:len(line)-1], `'"'"'`, `'`)[1:])
		}
	}
	var got []string
	must(t, fsys.Walk(func(name string, fi *FileInfo) error {
		got = append(got, name)
		if lower {
			if _, err := fsys.Lstat(strings.ToLower(name)); err != nil {
				t.Errorf("lower-case lookup of %s: %v", name, err)
			}
		}
		return nil
	}))
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("names differ from xorriso's (%d vs %d):\n got  %q\n want %q", len(got), len(want), got[:min(10, len(got))], want[:min(10, len(want))])
	}
}

var itBootLine = regexp.MustCompile(`^El Torito boot img :\s+(\d+)\s+(\S+)\s+([yn])\s+(\S+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(\d+)\s+(\d+)$`)
var itPathLine = regexp.MustCompile(`^El Torito img path :\s+(\d+)\s+(/.*)$`)

// TestISOElToritoMatchesXorriso checks BootCatalog on an isohybrid
// ISOLINUX image with a second, EFI boot image (the layout of distribution
// install media) against xorriso -report_el_torito.
func TestISOElToritoMatchesXorriso(t *testing.T) {
	xorriso := testutil.RequireTool(t, "xorriso", "xorriso")
	isolinux := testutil.RequireFile(t, "/usr/lib/ISOLINUX/isolinux.bin", "install isolinux")
	isohdpfx := testutil.RequireFile(t, "/usr/lib/ISOLINUX/isohdpfx.bin", "install isolinux")
	mkfs := testutil.RequireTool(t, "mkfs.vfat", "dosfstools")
	staging := filepath.Join(t.TempDir(), "s")
	must(t, os.MkdirAll(filepath.Join(staging, "isolinux"), 0o755))
	must(t, os.MkdirAll(filepath.Join(staging, "EFI/boot"), 0o755))
	b, err := os.ReadFile(isolinux)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(staging, "isolinux/isolinux.bin"), b, 0o644))
	must(t, os.WriteFile(filepath.Join(staging, "isolinux/isolinux.cfg"), []byte("DEFAULT linux\n"), 0o644))
	if out, err := exec.Command(mkfs, "-C", filepath.Join(staging, "EFI/boot/efiboot.img"), "1440").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.vfat: %v\n%s", err, out)
	}
	img := filepath.Join(t.TempDir(), "hybrid.iso")
	itMkisofs(t, img, "-R", "-J", "-V", "HYBRID", "-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat",
		"-no-emul-boot", "-boot-load-size", "4", "-boot-info-table",
		"-eltorito-alt-boot", "-e", "EFI/boot/efiboot.img", "-no-emul-boot",
		"-isohybrid-mbr", isohdpfx, staging)
	fsys := itOpen(t, img)
	cat, err := fsys.BootCatalog()
	if err != nil || cat == nil {
		t.Fatalf("BootCatalog: %v, %v", cat, err)
	}
	out, err := exec.Command(xorriso, "-indev", img, "-report_el_torito", "plain").CombinedOutput()
	must(t, err)
	var want []BootEntry
	paths := map[int]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if m := itBootLine.FindStringSubmatch(line); m != nil {
			e := BootEntry{Bootable: m[3] == "y"}
			switch m[2] {
			case "BIOS":
				e.Platform = PlatformBIOS
			case "UEFI":
				e.Platform = PlatformEFI
			default:
				t.Fatalf("platform %q", m[2])
			}
			if m[4] != "none" {
				t.Fatalf("emulation %q", m[4])
			}
			seg, _ := strconv.ParseUint(m[5][2:], 16, 16)
			e.LoadSegment = uint16(seg)
			n, _ := strconv.Atoi(m[7])
			e.SectorCount = uint16(n)
			lba, _ := strconv.Atoi(m[8])
			e.LBA = uint32(lba)
			want = append(want, e)
		}
		if m := itPathLine.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			paths[n-1] = m[2]
		}
	}
	if len(want) != 2 || !slices.Equal(cat.Entries, want) {
		t.Fatalf("catalog entries:\n got  %+v\n want %+v (xorriso)\n%s", cat.Entries, want, out)
	}
	for i, e := range cat.Entries {
		p, err := fsys.PathAtLBA(e.LBA)
		if err != nil || "/"+p != paths[i] {
			t.Errorf("entry %d at LBA %d: path %q, %v; xorriso says %q", i, e.LBA, p, err, paths[i])
		}
	}
	// isohybrid: an MBR at byte 0, the volume at byte 32768 as always.
	p, ok := Probe(fsys.r, 0)
	if !ok || !p.ElTorito || p.Label != "HYBRID" {
		t.Errorf("Probe = %+v, %v", p, ok)
	}
	head := make([]byte, 512)
	_, _ = fsys.r.ReadAt(head, 0)
	if head[510] != 0x55 || head[511] != 0xAA {
		t.Errorf("no isohybrid MBR signature")
	}
	if err := fstest.TestFS(fsys, "isolinux/isolinux.cfg", "EFI/boot/efiboot.img"); err != nil {
		t.Errorf("fstest: %v", err)
	}
}

func itSeed(t testing.TB, name string) []byte {
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

// itSeeds were made by xorriso -as mkisofs from a tree with
// boot/isolinux/isolinux.bin (2,048 bytes of "B"), isolinux.cfg,
// "boot/Kernel Image" (3,000 bytes of "K"), boot/vmlinuz -> "Kernel Image"
// and EFI/BOOT/efi.img (a 64 KiB FAT):
//
//	-R -J -V SEEDISO -b boot/isolinux/isolinux.bin -c boot/boot.cat -no-emul-boot
//	  -boot-load-size 4 -eltorito-alt-boot -e EFI/BOOT/efi.img -no-emul-boot
//	  -isohybrid-mbr isohdpfx.bin
//
// and, plain, with --norock... -V PLAIN only; both cut to their first 80
// blocks (every structure and file lies there; the rest is xorriso's
// padding, which only slows fuzzing).
var itSeeds = []string{"seed-rr-joliet-eltorito.iso.gz", "seed-plain.iso.gz"}

func itExercise(data []byte) error {
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
		if fi.Mode().IsRegular() {
			_, err := fsys.ReadFile(name)
			keep(err)
		}
		if _, err := fsys.Stat(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			keep(err)
		}
		return nil
	}))
	_, err = fsys.BootCatalog()
	keep(err)
	return first
}

func FuzzISO(f *testing.F) {
	for _, s := range itSeeds {
		f.Add(itSeed(f, s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = itExercise(data)
		_, _ = Probe(bytes.NewReader(data), 0)
	})
}

func TestISOSeeds(t *testing.T) {
	for _, s := range itSeeds {
		data := itSeed(t, s)
		if err := itExercise(data); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		fsys, err := Open(bytes.NewReader(data), 0, 0)
		must(t, err)
		name := "boot/Kernel Image"
		if !fsys.RockRidge() {
			name = "BOOT/KERNEL_I"
		}
		b, err := fsys.ReadFile(name)
		if err != nil || !bytes.Equal(b, bytes.Repeat([]byte("K"), 3000)) {
			t.Errorf("%s: %s: %d bytes, %v", s, name, len(b), err)
		}
		if fsys.RockRidge() {
			if b, err := fsys.ReadFile("boot/vmlinuz"); err != nil || len(b) != 3000 {
				t.Errorf("%s: through the symlink: %d bytes, %v", s, len(b), err)
			}
		}
		if _, err := fsys.Stat("boot/isolinux/ISOLINUX.CFG"); err != nil {
			t.Errorf("%s: case-insensitive lookup: %v", s, err)
		}
	}
	// Damage: a directory record whose length runs past its sector, a
	// catalog with a bad checksum, a truncated image.
	data := itSeed(t, itSeeds[0])
	fsys, err := Open(bytes.NewReader(data), 0, 0)
	must(t, err)
	cat, err := fsys.BootCatalog()
	must(t, err)
	bad := bytes.Clone(data)
	bad[int64(cat.LBA)*SectorSize+28]++
	if _, err := mustOpen(t, bad).BootCatalog(); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("bad catalog checksum: %v", err)
	}
	rootOff := int64(fsys.root.extent) * SectorSize
	loop := bytes.Clone(data)
	loop[rootOff+34] = 255 // the ".." record claims 255 bytes
	loop[rootOff+34+255-1] = 0
	if err := itExercise(loop); err == nil {
		t.Logf("a long '..' record is tolerated")
	}
	if err := itExercise(data[:40000]); err == nil {
		t.Errorf("truncated image: no error")
	}
}

func mustOpen(t *testing.T, data []byte) *FS {
	t.Helper()
	fsys, err := Open(bytes.NewReader(data), 0, int64(len(data)))
	must(t, err)
	return fsys
}
