package picture

import (
	"bytes"
	"context"
	"encoding/xml"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minidisk/minidisk/internal/testutil"
)

// svgRect is a region's <rect> as the SVG states it.
type svgRect struct {
	kind, row      string
	start, sectors uint64
	x, width       int
}

// parseSVG checks the document is well-formed XML and returns its <desc>
// and, per picture group, the region rects.
func parseSVG(t *testing.T, doc []byte) (string, [][]svgRect) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	var desc string
	var groups [][]svgRect
	var inDesc bool
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			attr := map[string]string{}
			for _, a := range e.Attr {
				attr[a.Name.Local] = a.Value
			}
			switch {
			case e.Name.Local == "desc":
				inDesc = true
			case e.Name.Local == "g" && attr["class"] == "picture":
				groups = append(groups, nil)
			case e.Name.Local == "rect" && attr["data-kind"] != "":
				num := func(k string) uint64 {
					v, err := strconv.ParseUint(attr[k], 10, 64)
					if err != nil {
						t.Fatalf("rect %s=%q: %v", k, attr[k], err)
					}
					return v
				}
				r := svgRect{kind: attr["data-kind"], row: attr["data-row"], start: num("data-start"), sectors: num("data-sectors"),
					x: int(num("x")), width: int(num("width"))}
				groups[len(groups)-1] = append(groups[len(groups)-1], r)
			}
		case xml.CharData:
			if inDesc {
				desc += string(e)
			}
		case xml.EndElement:
			inDesc = false
		}
	}
	return desc, groups
}

func allPictures(t *testing.T) []Picture {
	pic24, err := FromImage(error24Facts(t))
	if err != nil {
		t.Fatal(err)
	}
	return []Picture{FromLayout(layout2007(t), 19), Naive(layout2007(t), 19), FromLayout(layout1GiB(t), 19), pic24}
}

// TestSVGScale reads the widths back from the SVG and checks them against
// the rule its <desc> states: cut at every boundary, minimum 36 px, the
// rest proportional within a pixel. Regions of different rows that share a
// boundary share an x.
func TestSVGScale(t *testing.T) {
	var b bytes.Buffer
	pics := allPictures(t)
	if err := RenderSVG(&b, pics...); err != nil {
		t.Fatal(err)
	}
	desc, groups := parseSVG(t, b.Bytes())
	if desc != ScaleRule() || !strings.Contains(desc, strconv.Itoa(SVGMinWidth)+" px wide") {
		t.Errorf("desc %q does not state the rule", desc)
	}
	if len(groups) != len(pics) {
		t.Fatalf("%d picture groups, want %d", len(groups), len(pics))
	}
	for gi, rects := range groups {
		xAt := map[uint64]int{}
		var diskEnd uint64
		for _, r := range rects {
			for s, x := range map[uint64]int{r.start: r.x, r.start + r.sectors: r.x + r.width} {
				if old, ok := xAt[s]; ok && old != x {
					t.Errorf("picture %d: sector %d at x=%d and x=%d", gi, s, old, x)
				}
				xAt[s] = x
			}
			if r.row == "disk" && r.start+r.sectors > diskEnd {
				diskEnd = r.start + r.sectors
			}
		}
		if diskEnd != pics[gi].DiskSectors || xAt[0] != svgBarX || xAt[diskEnd] != svgBarX+SVGBarWidth {
			t.Fatalf("picture %d: the disk row spans sectors 0..%d at x %d..%d", gi, diskEnd, xAt[0], xAt[diskEnd])
		}
		var bounds []uint64
		for s := range xAt {
			bounds = append(bounds, s)
		}
		sortUint64(bounds)
		var sectors []uint64
		var widths []int
		for i := 0; i+1 < len(bounds); i++ {
			sectors = append(sectors, bounds[i+1]-bounds[i])
			widths = append(widths, xAt[bounds[i+1]]-xAt[bounds[i]])
		}
		checkScale(t, sectors, widths, SVGBarWidth, SVGMinWidth)
	}
}

// TestSVGEscapes: names from an image are text, never markup.
func TestSVGEscapes(t *testing.T) {
	f := error24Facts(t)
	f.PastEnd = []FileBlocks{{Path: "/a<b>&\"c\x00\x1b", First: 8001, Count: 2}}
	p, err := FromImage(f)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := RenderSVG(&b, p); err != nil {
		t.Fatal(err)
	}
	parseSVG(t, b.Bytes())
	if !strings.Contains(b.String(), "/a&lt;b&gt;&amp;&#34;c??") {
		t.Errorf("file name not escaped:\n%s", b.String())
	}
}

// TestSVGRendersInChromium screenshots the SVG in headless Chromium and
// checks that the picture is not blank: enough non-white pixels, the
// partition's blue and, for the naive layout, the overrun's red.
func TestSVGRendersInChromium(t *testing.T) {
	chromium := testutil.RequireTool(t, "chromium", "chromium")
	dir := t.TempDir()
	svg := filepath.Join(dir, "plan.svg")
	l := layout2007(t)
	var b bytes.Buffer
	if err := RenderSVG(&b, FromLayout(l, 19), Naive(l, 19)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(svg, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	parseSVG(t, b.Bytes())
	height := svgHeight(t, b.Bytes())
	shot := filepath.Join(dir, "shot.png")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--screenshot="+shot,
		"--window-size="+strconv.Itoa(SVGWidth)+","+strconv.Itoa(height), "file://"+svg)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	fh, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	img, err := png.Decode(fh)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	near := func(c uint32, want uint8) bool { d := int(c>>8) - int(want); return d >= -4 && d <= 4 }
	hex := func(s string) (uint8, uint8, uint8) {
		v, _ := strconv.ParseUint(s[1:], 16, 32)
		return uint8(v >> 16), uint8(v >> 8), uint8(v)
	}
	pr, pg, pb := hex(Colors[Partition])
	or, og, ob := hex(Colors[Overrun])
	var nonWhite, blue, red int
	bnd := img.Bounds()
	for y := bnd.Min.Y; y < bnd.Max.Y; y++ {
		for x := bnd.Min.X; x < bnd.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r>>8 < 250 || g>>8 < 250 || bl>>8 < 250 {
				nonWhite++
			}
			if near(r, pr) && near(g, pg) && near(bl, pb) {
				blue++
			}
			if near(r, or) && near(g, og) && near(bl, ob) {
				red++
			}
		}
	}
	total := bnd.Dx() * bnd.Dy()
	t.Logf("screenshot %dx%d: %d non-white, %d partition-blue, %d overrun-red pixels", bnd.Dx(), bnd.Dy(), nonWhite, blue, red)
	if nonWhite < total/20 {
		t.Errorf("screenshot nearly blank: %d of %d pixels non-white", nonWhite, total)
	}
	// Two partition rects of about 660×34 px each.
	if blue < 2*500*30 {
		t.Errorf("partition colour %s: %d pixels", Colors[Partition], blue)
	}
	if red < SVGMinWidth*20 {
		t.Errorf("overrun colour %s: %d pixels", Colors[Overrun], red)
	}
}

func svgHeight(t *testing.T, doc []byte) int {
	s := string(doc)
	i := strings.Index(s, `height="`)
	if i < 0 {
		t.Fatal("no height")
	}
	s = s[i+len(`height="`):]
	n, err := strconv.Atoi(s[:strings.IndexByte(s, '"')])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDocsImagesUpToDate: the SVGs the guide embeds are what `make docs`
// (mk/docs.mk, running `minidisk plan --svg`) makes from today's code.
func TestDocsImagesUpToDate(t *testing.T) {
	l2007, l1g := layout2007(t), layout1GiB(t)
	for name, pics := range map[string][]Picture{
		"plan-2007.svg": {FromLayout(l2007, DefaultStage15Sectors), Naive(l2007, DefaultStage15Sectors)},
		"plan-1mib.svg": {FromLayout(l1g, DefaultStage15Sectors)},
		"error24.svg":   {Naive(l2007, DefaultStage15Sectors)},
	} {
		var b bytes.Buffer
		if err := RenderSVG(&b, pics...); err != nil {
			t.Fatal(err)
		}
		have, err := os.ReadFile(filepath.Join("..", "..", "docs", "img", name))
		if err != nil {
			t.Fatalf("%v (run make docs)", err)
		}
		if !bytes.Equal(have, b.Bytes()) {
			t.Errorf("docs/img/%s is stale: run make docs", name)
		}
	}
}
