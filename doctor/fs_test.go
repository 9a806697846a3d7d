package doctor

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/disk/picture"
)

// blockOwners asks debugfs (icheck, then ncheck) which paths own blocks
// from..to-1 of the filesystem: the oracle for the files past the end, with
// each file's first such block and count.
func blockOwners(t *testing.T, fsImg string, from, to int64) []FileBlocksPastEnd {
	t.Helper()
	var req strings.Builder
	req.WriteString("icheck")
	for b := from; b < to; b++ {
		fmt.Fprintf(&req, " %d", b)
	}
	type acc struct{ first, count uint64 }
	byIno := map[string]*acc{}
	for _, line := range strings.Split(debugfsRead(t, fsImg, req.String()), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		blk, _ := strconv.ParseUint(f[0], 10, 64)
		a := byIno[f[1]]
		if a == nil {
			a = &acc{first: blk}
			byIno[f[1]] = a
		}
		a.first = min(a.first, blk)
		a.count++
	}
	if len(byIno) == 0 {
		return nil
	}
	var list []string
	for ino := range byIno {
		list = append(list, ino)
	}
	sort.Strings(list)
	var out []FileBlocksPastEnd
	for _, line := range strings.Split(debugfsRead(t, fsImg, "ncheck "+strings.Join(list, " ")), "\n")[1:] {
		if f := strings.Fields(line); len(f) == 2 {
			a := byIno[f[0]]
			out = append(out, FileBlocksPastEnd{Path: path.Clean(f[1]), First: a.first, Count: a.count})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// TestError24Recipe2007 makes the image exactly as the 2007 recipe warns:
// an 8 MiB image, a cylinder-aligned partition (start 63, 16002 sectors)
// that ends before the file does, mke2fs on everything from the offset to
// the end of the file with no block count, then files written until some
// land past the partition end.
func TestError24Recipe2007(t *testing.T) {
	requireHostTools(t)
	host := t.TempDir()
	var writes []string
	for i := 1; i <= 6; i++ {
		p := filepath.Join(host, fmt.Sprintf("big%d", i))
		// Non-zero bytes: debugfs write leaves zero blocks as holes.
		must(t, os.WriteFile(p, bytes.Repeat([]byte{byte(i)}, 1<<20), 0o644))
		writes = append(writes, fmt.Sprintf("write %s big%d", p, i))
	}
	img := makeLegacy(t, legacySpec{
		size:    8 << 20,
		sfdisk:  "start=63, size=16002, type=83, bootable",
		blocks:  -1,
		noGRUB:  true,
		debugfs: writes,
	})
	// Oracles: sfdisk for the partition, dumpe2fs for the block count,
	// debugfs for the owners of the blocks past the end.
	start, sectors := partitionOf(t, img, 1)
	part := filepath.Join(t.TempDir(), "fs.img")
	run(t, "dd", "if="+img, "of="+part, "bs=512", fmt.Sprintf("skip=%d", start), "status=none")
	var blocks int64
	for _, line := range strings.Split(run(t, "dumpe2fs", "-h", part), "\n") {
		if v, ok := strings.CutPrefix(line, "Block count:"); ok {
			blocks, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	room := sectors / 2
	if blocks <= room {
		t.Fatalf("fixture: mke2fs made %d blocks for a %d-block partition; the trap needs more", blocks, room)
	}
	owners := blockOwners(t, part, room, blocks)
	if len(owners) == 0 {
		t.Fatalf("fixture: no file landed past block %d", room)
	}
	t.Logf("partition %d sectors, filesystem %d blocks, overrun %d, files past the end: %v", sectors, blocks, blocks-room, owners)

	rep := diagnoseFile(t, img)
	f := want(t, rep, "fs-beyond-partition", Error,
		fmt.Sprintf("%d blocks", blocks-room), strconv.FormatInt(blocks, 10), strconv.FormatInt(room, 10))
	var names []string
	for _, o := range owners {
		names = append(names, o.Path)
	}
	if !reflect.DeepEqual(f.Files, names) {
		t.Errorf("files past the end: doctor %v, debugfs %v", f.Files, names)
	}
	if !reflect.DeepEqual(rep.FS.PastEnd, owners) {
		t.Errorf("first block and count past the end: doctor %+v, debugfs %+v", rep.FS.PastEnd, owners)
	}
	// The numbers are enough to draw the layout.
	facts, ok := rep.PictureFacts()
	if !ok {
		t.Fatal("no picture facts")
	}
	if _, err := picture.FromImage(facts); err != nil {
		t.Errorf("picture.FromImage(%+v): %v", facts, err)
	}
	if rep.FS == nil || rep.FS.OverrunBlocks != uint64(blocks-room) || rep.FS.PartitionBlocks != uint64(room) || rep.FS.Blocks != uint64(blocks) {
		t.Errorf("report numbers %+v, want blocks %d, room %d", rep.FS, blocks, room)
	}
	if rep.ExitCode() != 1 {
		t.Errorf("exit code %d, want 1", rep.ExitCode())
	}
}

// TestFSBeyondPartitionNoFilesYet: the same trap on a nearly empty
// filesystem: nothing is past the end yet, and doctor says so.
func TestFSBeyondPartitionNoFilesYet(t *testing.T) {
	img := makeLegacy(t, legacySpec{size: 8 << 20, sfdisk: "start=63, size=16002, type=83, bootable", blocks: -1, noGRUB: true})
	rep := diagnoseFile(t, img)
	f := want(t, rep, "fs-beyond-partition", Error, "no file has blocks there yet")
	if len(f.Files) != 0 {
		t.Errorf("files %v, want none", f.Files)
	}
}

// TestFSBlocksNotPageMultiple: a block count that is not a multiple of 4
// (1 KiB blocks) is a warning, not an error.
func TestFSBlocksNotPageMultiple(t *testing.T) {
	img := makeLegacy(t, legacySpec{blocks: 12001, noGRUB: true})
	rep := diagnoseFile(t, img)
	want(t, rep, "fs-blocks-not-page-multiple", Warning, "12001 blocks")
	if rep.Has("fs-beyond-partition") != nil {
		t.Errorf("12001 blocks fit the partition:\n%s", dump(rep))
	}
}
