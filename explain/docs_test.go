package explain

import (
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/minidisk/minidisk/internal/testutil"
)

// TestDocsScreenshot regenerates docs/img/explain-layout.png, the top of the
// --html page of a host-tool image (the clickable layout), and
// explain-partition.png, the page in projector mode after a click on the
// partition region, as headless Chromium renders them. `make docs` runs it with MINIDISK_WRITE_DOCS=DIR; a plain
// test run skips it (screenshots differ between Chromium versions, so they
// are regenerated, not compared).
func TestDocsScreenshot(t *testing.T) {
	dir := os.Getenv("MINIDISK_WRITE_DOCS")
	if dir == "" {
		t.Skip("set MINIDISK_WRITE_DOCS=DIR (make docs) to write the screenshots")
	}
	chromium := testutil.RequireTool(t, "chromium", "chromium")
	img, _, _ := hostImage(t, 12, testutil.FakeBzImage(t))
	f, err := os.Open(img)
	must(t, err)
	defer f.Close()
	fi, err := f.Stat()
	must(t, err)
	d, err := Open(f, fi.Size(), "disk.img") // the page's title: no temporary path
	must(t, err)
	tmp := t.TempDir()
	page := filepath.Join(tmp, "disk.html")
	must(t, d.WriteHTMLFile(page, false, HTMLOptions{Path: "/boot/vmlinuz"}))
	for _, shot := range []struct{ name, query string }{
		{"explain-layout.png", ""},
		{"explain-partition.png", "?click=mbr.p1&only=1"},
	} {
		out := filepath.Join(dir, shot.name)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
			"--user-data-dir="+filepath.Join(tmp, "profile"), "--virtual-time-budget=3000", "--screenshot="+out,
			"--window-size=1200,1000", "file://"+page+shot.query)
		cmd.Env = append(os.Environ(), "HOME="+tmp)
		if b, err := cmd.CombinedOutput(); err != nil {
			cancel()
			t.Fatalf("chromium: %v\n%s", err, b)
		}
		cancel()
		fh, err := os.Open(out)
		must(t, err)
		pic, err := png.Decode(fh)
		fh.Close()
		must(t, err)
		nonWhite, total := 0, 0
		b := pic.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y += 2 {
			for x := b.Min.X; x < b.Max.X; x += 2 {
				r, g, bl, _ := pic.At(x, y).RGBA()
				total++
				if r>>8 < 240 || g>>8 < 240 || bl>>8 < 240 {
					nonWhite++
				}
			}
		}
		if nonWhite < total/20 {
			t.Errorf("%s: nearly blank (%d of %d sampled pixels non-white)", shot.name, nonWhite, total)
		}
		t.Logf("%s: %d of %d sampled pixels non-white", out, nonWhite, total)
	}
}
