package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
)

// planJSON is what the teaching test reads from `minidisk plan IMG --json`.
type planJSON struct {
	Start        uint64 `json:"partition_start_sector"`
	End          uint64 `json:"partition_end_sector"`
	Sectors      uint64 `json:"partition_sectors"`
	Offset       int64  `json:"offset_bytes"`
	Aligned      uint64 `json:"aligned_blocks"`
	Naive        uint64 `json:"naive_blocks"`
	OffsetNaive  uint64 `json:"offset_naive_blocks"`
	OffsetGrowth int64  `json:"offset_naive_growth_bytes"`
	FromTable    bool   `json:"from_partition_table"`
}

// blockCount reads s_blocks_count with dumpe2fs.
func blockCount(t *testing.T, img string, offset int64) uint64 {
	t.Helper()
	out := testutil.Run(t, "dumpe2fs", "-h", fmt.Sprintf("%s?offset=%d", img, offset))
	m := regexp.MustCompile(`(?m)^Block count:\s+(\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("dumpe2fs: no block count in\n%s", out)
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTeachingTextAgainstTodaysTools runs the commands plan and the guide
// cite — fdisk -l, mke2fs -E offset= without a count, and (as root) the
// 2007 route losetup -o + mke2fs — and compares what they print and make
// with the numbers minidisk says they will.
func TestTeachingTextAgainstTodaysTools(t *testing.T) {
	fdisk := testutil.RequireTool(t, "fdisk", "fdisk")
	mke2fs := testutil.RequireTool(t, "mke2fs", "e2fsprogs")
	testutil.RequireTool(t, "dumpe2fs", "e2fsprogs")
	for _, layout := range [][]string{
		{"8M", "--cylinder-align"}, // the 2007 recipe: 8161 with -E offset=, 8160 via losetup
		{"8M", "--align", "1MiB"},
		{"12M"},
		{"16383s", "--cylinder-align"},
		{"20M", "--start", "100"},
	} {
		t.Run(strings.Join(layout, " "), func(t *testing.T) {
			dir := t.TempDir()
			img := filepath.Join(dir, "disk.img")
			run(t, "image", "create", img, "--size", layout[0])
			if _, e, code := run(t, append([]string{"part", img}, layout[1:]...)...); code != 0 {
				t.Fatal(e)
			}
			js, _, _ := run(t, "plan", img, "--json")
			var p planJSON
			if err := json.Unmarshal([]byte(js), &p); err != nil || !p.FromTable {
				t.Fatalf("plan --json: %v\n%s", err, js)
			}
			text := runEnv(t, []string{"COLUMNS=400"}, "plan", img)

			// fdisk -l: the row of partition 1 and the columns plan cites.
			out := testutil.Run(t, fdisk, "-l", img)
			row := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(img) + `1\s+\*?\s+(\d+)\s+(\d+)\s+(\d+)\s+(\S+)\s+83 Linux$`).FindStringSubmatch(out)
			if row == nil {
				t.Fatalf("fdisk -l has no partition 1 row:\n%s", out)
			}
			want := fmt.Sprintf("`fdisk -l` prints Start %s, End %s, Sectors %s, Size %s", row[1], row[2], row[3], row[4])
			if !strings.Contains(text, want) {
				t.Errorf("plan does not say what fdisk -l prints (%q):\n%s", want, text)
			}
			if row[1] != fmt.Sprint(p.Start) || row[2] != fmt.Sprint(p.End) || row[3] != fmt.Sprint(p.Sectors) {
				t.Errorf("fdisk -l: %v; plan --json: %+v", row[1:4], p)
			}

			// Today's route: mke2fs -E offset= on the image file, no count.
			today := filepath.Join(dir, "today.img")
			copyFile(t, img, today)
			before, _ := os.Stat(today)
			testutil.Run(t, mke2fs, "-q", "-F", "-t", "ext2", "-E", fmt.Sprintf("offset=%d", p.Offset), today)
			after, _ := os.Stat(today)
			if got := blockCount(t, today, p.Offset); got != p.OffsetNaive {
				t.Errorf("mke2fs -E offset=%d made %d blocks; plan says %d", p.Offset, got, p.OffsetNaive)
			}
			if grew := after.Size() - before.Size(); grew != p.OffsetGrowth {
				t.Errorf("mke2fs -E offset= grew the file by %d bytes; plan says %d", grew, p.OffsetGrowth)
			}
			if !regexp.MustCompile(`(?m)^mke2fs -E offset=\s+` + fmt.Sprint(p.OffsetNaive) + ` `).MatchString(text) {
				t.Errorf("plan text does not give %d for mke2fs -E offset=:\n%s", p.OffsetNaive, text)
			}

			// With the aligned count, mke2fs stays inside the partition.
			counted := filepath.Join(dir, "counted.img")
			copyFile(t, img, counted)
			testutil.Run(t, mke2fs, "-q", "-F", "-t", "ext2", "-b", "1024", "-E", fmt.Sprintf("offset=%d", p.Offset), counted, fmt.Sprint(p.Aligned))
			if got := blockCount(t, counted, p.Offset); got != p.Aligned || got*1024 > p.Sectors*512 {
				t.Errorf("mke2fs with the count plan gives: %d blocks (partition %d sectors)", got, p.Sectors)
			}

			// The 2007 route needs a loop device: root only.
			if os.Geteuid() != 0 {
				t.Log("not root: the losetup -o route is not run")
				return
			}
			loopImg := filepath.Join(dir, "loop.img")
			copyFile(t, img, loopImg)
			dev, err := exec.Command("losetup", "-f", "--show", "-o", fmt.Sprint(p.Offset), loopImg).Output()
			if err != nil {
				t.Logf("losetup unavailable here (%v): the 2007 route is not run", err)
				return
			}
			loop := strings.TrimSpace(string(dev))
			// Detach exactly once: a second `losetup -d` of the same name
			// after the first would detach whatever another process (the
			// doctor corpus, run in parallel) has attached there since.
			attached := true
			detach := func() {
				if attached {
					attached = false
					exec.Command("losetup", "-d", loop).Run()
				}
			}
			defer detach()
			testutil.Run(t, mke2fs, "-q", "-F", "-t", "ext2", "-b", "1024", loop)
			detach()
			if got := blockCount(t, loopImg, p.Offset); got != p.Naive {
				t.Errorf("losetup -o %d + mke2fs made %d blocks; plan says %d", p.Offset, got, p.Naive)
			}
		})
	}
}
