package explain

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/minidisk/minidisk/kernel/kerneltest"
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
	img, _, _ := hostImage(t, 12, kerneltest.FakeBzImage(t))
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
		nonWhite, total := screenshot(t, "file://"+page+shot.query, out)
		if nonWhite < total/20 {
			t.Errorf("%s: nearly blank (%d of %d sampled pixels non-white)", shot.name, nonWhite, total)
		}
		t.Logf("%s: %d of %d sampled pixels non-white", out, nonWhite, total)
	}
}
