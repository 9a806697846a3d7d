package grub

import (
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/internal/testutil"
)

const (
	hostGrubDir   = "/usr/lib/grub/x86_64-pc"
	testMenuTitle = "minidisk grub test entry"
)

// hostStages loads the host's GRUB Legacy files, skipping (failing under
// CI) when grub-legacy is not installed.
func hostStages(t testing.TB) *Stages {
	t.Helper()
	testutil.RequireFile(t, filepath.Join(hostGrubDir, Stage1Name), "apt-get install grub-legacy")
	st, err := LoadStages(hostGrubDir)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// layout describes one test image, built with host tools.
type layout struct {
	name       string
	sizeMiB    int
	sfdisk     string // sfdisk script
	part       int    // partition index holding the ext2
	blockSize  int
	inodeSize  int
	fillerKiB  int  // a file written before the GRUB files, moving stage2
	junkMBR    bool // random bytes in sectors 0..start-1 before partitioning
	noStageFS  bool // leave /boot/grub out of the filesystem
	partFile   bool // also keep the filesystem as a file, for debugfs
	configPath string
}

// staging makes the directory fed to mke2fs -d: the 2007 recipe's
// /boot/grub with the stage files, grub.conf and menu.lst -> grub.conf.
func staging(t testing.TB, st *Stages, l layout) string {
	dir := t.TempDir()
	g := filepath.Join(dir, "boot", "grub")
	if err := os.MkdirAll(g, 0o755); err != nil {
		t.Fatal(err)
	}
	if l.fillerKiB > 0 {
		if err := os.WriteFile(filepath.Join(dir, "boot", "aaa-filler"), bytes.Repeat([]byte{0x5A}, l.fillerKiB<<10), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if l.noStageFS {
		return dir
	}
	for n, b := range map[string][]byte{Stage1Name: st.Stage1, Stage2Name: st.Stage2, E2fsStage15Name: st.E2fsStage15, "grub.conf": Config{Title: testMenuTitle, Timeout: 5, Kernel: "vmlinuz", Serial: true}.Render()} {
		if err := os.WriteFile(filepath.Join(g, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("grub.conf", filepath.Join(g, "menu.lst")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// builtImage is a test image plus what the tests need to know about it.
type builtImage struct {
	path    string
	stage   string // staging directory (os.DirFS of it = the filesystem's files)
	part    string // the partition's filesystem as a separate file (for debugfs)
	start   int64
	sectors int64
}

func buildImage(t testing.TB, st *Stages, l layout) builtImage {
	t.Helper()
	testutil.RequireTool(t, "sfdisk", "fdisk")
	testutil.RequireTool(t, "mke2fs", "e2fsprogs")
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	testutil.Run(t, "truncate", "-s", fmt.Sprintf("%dM", l.sizeMiB), img)
	if l.junkMBR {
		junk := make([]byte, 2048*sectorSize)
		rand.New(rand.NewSource(7)).Read(junk)
		writeAt(t, img, junk, 0)
	}
	cmd := exec.Command("sfdisk", "-q", "--no-reread", "--no-tell-kernel", img)
	cmd.Stdin = strings.NewReader(l.sfdisk)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	mbr := readAt(t, img, 0, sectorSize)
	table, err := disk.ReadPartitions(bytes.NewReader(mbr), sectorSize)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := partitionByIndex(table, l.part)
	b := builtImage{path: img, start: int64(p.Start), sectors: int64(p.Sectors), part: filepath.Join(dir, "part.img")}
	b.stage = staging(t, st, l)
	bs := l.blockSize
	if bs == 0 {
		bs = 1024
	}
	is := l.inodeSize
	if is == 0 {
		is = 128
	}
	blocks := int64(p.Sectors) * sectorSize / int64(bs)
	mkfs := []string{"-q", "-F", "-t", "ext2", "-b", strconv.Itoa(bs), "-I", strconv.Itoa(is), "-E", "root_owner=0:0", "-d", b.stage}
	if !l.partFile {
		// Straight into the image at the partition's offset: nothing to
		// copy, so the 1 GiB layout stays sparse and quick.
		mkfs[len(mkfs)-3] = "root_owner=0:0,offset=" + strconv.FormatInt(b.start*sectorSize, 10)
		testutil.Run(t, "mke2fs", append(mkfs, img, strconv.FormatInt(blocks, 10))...)
		b.part = ""
		return b
	}
	// A separate filesystem file, so debugfs (which has no offset option)
	// can give stage2's block map.
	testutil.Run(t, "mke2fs", append(mkfs, b.part, strconv.FormatInt(blocks, 10))...)
	testutil.Run(t, "dd", "if="+b.part, "of="+img, "bs=512", "seek="+strconv.FormatInt(b.start, 10), "conv=notrunc,sparse", "status=none")
	return b
}

func readAt(t testing.TB, path string, off, n int64) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return b
}

func writeAt(t testing.TB, path string, b []byte, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	testutil.Run(t, "cp", "--sparse=always", src, dst)
}

// grubShell runs the real GRUB shell (32-bit, under qemu-i386) on img with
// the given commands and returns its transcript; it fails on any GRUB error.
func grubShell(t testing.TB, img string, commands ...string) string {
	t.Helper()
	qemu := testutil.RequireTool(t, "qemu-i386", "qemu-user")
	grub := testutil.RequireFile(t, "/usr/sbin/grub", "apt-get install grub-legacy")
	dm := filepath.Join(t.TempDir(), "device.map")
	if err := os.WriteFile(dm, []byte("(hd0) "+img+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(qemu, grub, "--batch", "--no-floppy", "--device-map="+dm)
	cmd.Stdin = strings.NewReader(strings.Join(append(commands, "quit"), "\n") + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(string(out), "Error ") {
		t.Fatalf("GRUB shell: %v\n%s", err, out)
	}
	return string(out)
}

// diffSectors lists the sectors where two images differ. Only the data
// regions of either file are read (SEEK_DATA/SEEK_HOLE): holes read as
// zeros, and the 1 GiB images are mostly hole.
func diffSectors(t testing.TB, a, b string) []int64 {
	t.Helper()
	fa, err := os.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	sa, _ := fa.Stat()
	sb, _ := fb.Stat()
	if sa.Size() != sb.Size() {
		t.Fatalf("%s is %d bytes, %s %d", a, sa.Size(), b, sb.Size())
	}
	var diff []int64
	const chunk = 1 << 20
	ba, bb := make([]byte, chunk), make([]byte, chunk)
	size := sa.Size()
	for off := int64(0); off < size; {
		start := min(nextData(fa, off, size), nextData(fb, off, size))
		if start >= size {
			break
		}
		start &^= chunk - 1
		end := min(start+chunk, size)
		na, _ := fa.ReadAt(ba[:end-start], start)
		nb, _ := fb.ReadAt(bb[:end-start], start)
		if int64(na) != end-start || int64(nb) != end-start {
			t.Fatalf("short read at %d", start)
		}
		if !bytes.Equal(ba[:na], bb[:nb]) {
			for s := 0; s < na; s += sectorSize {
				if !bytes.Equal(ba[s:s+sectorSize], bb[s:s+sectorSize]) {
					diff = append(diff, (start+int64(s))/sectorSize)
				}
			}
		}
		off = end
	}
	return diff
}

// nextData is the offset of the next data byte at or after off, or size.
func nextData(f *os.File, off, size int64) int64 {
	const seekData = 3 // SEEK_DATA (Linux)
	n, err := f.Seek(off, seekData)
	if err != nil {
		return size // ENXIO: no data after off
	}
	return n
}

func installFile(t testing.TB, img string, st *Stages, opt InstallOptions) (*InstallReport, error) {
	t.Helper()
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return Install(f, st, opt)
}

// debugfsBlocks is the BlockMapper oracle: e2fsprogs' own block list.
type debugfsBlocks struct {
	t    testing.TB
	part string
}

// FileBlocks parses debugfs's "stat" extents, e.g. "(0-11):175-186,
// (IND):187, (12-116):188-292", keeping data blocks only ("blocks" would
// also list the indirect blocks).
func (d debugfsBlocks) FileBlocks(name string) ([]uint32, error) {
	out, err := exec.Command("debugfs", "-R", "stat "+name, d.part).Output()
	if err != nil {
		return nil, err
	}
	s := string(out)
	i := strings.Index(s, "BLOCKS:")
	if i < 0 {
		return nil, fmt.Errorf("debugfs stat %s: no BLOCKS", name)
	}
	s = s[i+len("BLOCKS:"):]
	if j := strings.Index(s, "TOTAL:"); j >= 0 {
		s = s[:j]
	}
	var bl []uint32
	for _, ext := range strings.Split(s, ",") {
		ext = strings.TrimSpace(ext)
		if ext == "" {
			continue
		}
		lr := strings.SplitN(ext, ":", 2)
		if len(lr) != 2 {
			return nil, fmt.Errorf("debugfs extent %q", ext)
		}
		if strings.Contains(lr[0], "IND") {
			continue
		}
		var lo, hi uint32
		if _, err := fmt.Sscanf(lr[1], "%d-%d", &lo, &hi); err != nil {
			if _, err := fmt.Sscanf(lr[1], "%d", &lo); err != nil {
				return nil, fmt.Errorf("debugfs extent %q", ext)
			}
			hi = lo
		}
		for b := lo; b <= hi; b++ {
			bl = append(bl, b)
		}
	}
	return bl, nil
}

func TestInstallMatchesGrubShell(t *testing.T) {
	st := hostStages(t)
	testutil.RequireTool(t, "debugfs", "e2fsprogs")
	cases := []layout{
		{name: "8MiB-start63", sizeMiB: 8, sfdisk: "start=63, type=83, bootable\n"},
		{name: "12MiB-start2048-filler", sizeMiB: 12, sfdisk: "start=2048, type=83, bootable\n", fillerKiB: 300},
		{name: "64MiB-start63-4KiB-blocks", sizeMiB: 64, sfdisk: "start=63, type=83, bootable\n", blockSize: 4096, fillerKiB: 1000},
		{name: "1GiB-start2048", sizeMiB: 1024, sfdisk: "start=2048, type=83, bootable\n", fillerKiB: 50},
		{name: "8MiB-junk-before-partition", sizeMiB: 8, sfdisk: "start=63, type=83, bootable\n", junkMBR: true},
		{name: "16MiB-second-partition", sizeMiB: 16, sfdisk: "start=2048, size=4096, type=83\nstart=6144, type=83, bootable\n", part: 1},
	}
	for _, l := range cases {
		t.Run(l.name, func(t *testing.T) {
			b := buildImage(t, st, l)
			if bl, err := openExt2ForLog(b.path, l.part); err == nil && len(bl) > 0 {
				t.Logf("stage2: %d blocks from block %d", len(bl), bl[0])
			}
			ours := filepath.Join(t.TempDir(), "ours.img")
			theirs := filepath.Join(t.TempDir(), "grub.img")
			copyFile(t, b.path, ours)
			copyFile(t, b.path, theirs)
			out := grubShell(t, theirs, fmt.Sprintf("root (hd0,%d)", l.part), "setup (hd0)")
			if !strings.Contains(out, "sectors are embedded") {
				t.Fatalf("GRUB shell did not embed:\n%s", out)
			}
			rep, err := installFile(t, ours, st, InstallOptions{PartitionIndex: l.part, FS: os.DirFS(b.stage), Name: ours})
			if err != nil {
				t.Fatal(err)
			}
			t.Log(rep)
			if d := diffSectors(t, ours, theirs); len(d) != 0 {
				t.Fatalf("our install differs from GRUB's setup in sectors %v:\n%s", d, byteDiffs(t, ours, theirs, d))
			}
			changed := diffSectors(t, b.path, ours)
			n := int64(st.Stage15Sectors())
			for _, s := range changed {
				if s > n {
					t.Fatalf("sector %d changed; setup only writes 0..%d", s, n)
				}
			}
			if len(changed) == 0 {
				t.Fatal("install changed nothing")
			}
		})
	}
}

// With no room for the stage1.5 (partition at sector 16), setup falls back
// to stage1 → stage2 by blocklist, patching stage2 inside the filesystem.
func TestInstallBlocklistMatchesGrubShell(t *testing.T) {
	st := hostStages(t)
	testutil.RequireTool(t, "debugfs", "e2fsprogs")
	for _, l := range []layout{
		{name: "start16", sizeMiB: 8, sfdisk: "start=16, type=83, bootable\n", partFile: true},
		{name: "start16-4KiB-filler", sizeMiB: 12, sfdisk: "start=16, type=83, bootable\n", blockSize: 4096, fillerKiB: 700, partFile: true},
	} {
		t.Run(l.name, func(t *testing.T) {
			b := buildImage(t, st, l)
			ours := filepath.Join(t.TempDir(), "ours.img")
			theirs := filepath.Join(t.TempDir(), "grub.img")
			copyFile(t, b.path, ours)
			copyFile(t, b.path, theirs)
			out := grubShell(t, theirs, "root (hd0,0)", "setup (hd0)")
			if !strings.Contains(out, "install /boot/grub/stage1 (hd0) /boot/grub/stage2 p") {
				t.Fatalf("GRUB shell did not take the blocklist path:\n%s", out)
			}
			if _, err := installFile(t, ours, st, InstallOptions{Name: ours}); err == nil || !strings.Contains(err.Error(), "sectors 1..19 are not free") {
				t.Fatalf("without a block map: err = %v, want the no-room error", err)
			}
			rep, err := installFile(t, ours, st, InstallOptions{Blocks: debugfsBlocks{t, b.part}, Name: ours})
			if err != nil {
				t.Fatal(err)
			}
			t.Log(rep)
			if rep.Mode != ModeBlocklist {
				t.Fatalf("mode %q", rep.Mode)
			}
			// Read back what GRUB wrote: stage1 → stage2's first sector,
			// whose blocklist covers the rest of the file.
			s1, err := ParseStage1(readAt(t, theirs, 0, sectorSize))
			if err != nil || uint64(s1.Stage2Sector) != rep.Stage2Sector || s1.Stage2Address != stage2LoadAddress {
				t.Fatalf("GRUB's stage1: %+v, %v", s1, err)
			}
			s2, err := ParseStage15(readAt(t, theirs, int64(s1.Stage2Sector)*sectorSize, 2*sectorSize))
			if err != nil || s2.ConfigPath != DefaultConfigPath || PartitionName(0xFF, s2.InstallPartition) != "(hd0,0)" {
				t.Fatalf("GRUB's stage2 header: %+v, %v", s2, err)
			}
			total := 0
			for _, r := range s2.Blocklist {
				total += int(r.Count)
			}
			if want := (len(st.Stage2)+sectorSize-1)/sectorSize - 1; total != want {
				t.Fatalf("blocklist covers %d sectors, want %d: %v", total, want, s2.Blocklist)
			}
			if d := diffSectors(t, ours, theirs); len(d) != 0 {
				t.Fatalf("our install differs from GRUB's setup in sectors %v:\n%s", d, byteDiffs(t, ours, theirs, d))
			}
		})
	}
}

// byteDiffs describes the first differing bytes of the given sectors.
func byteDiffs(t testing.TB, ours, theirs string, sectors []int64) string {
	var b strings.Builder
	shown := 0
	for _, s := range sectors {
		x := readAt(t, ours, s*sectorSize, sectorSize)
		y := readAt(t, theirs, s*sectorSize, sectorSize)
		for i := range x {
			if x[i] != y[i] && shown < 40 {
				fmt.Fprintf(&b, "  sector %d +0x%03X: ours %02X, GRUB %02X\n", s, i, x[i], y[i])
				shown++
			}
		}
	}
	return b.String()
}
