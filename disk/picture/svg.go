package picture

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/minidisk/minidisk/internal/atomicfile"
)

// SVG geometry, in pixels. The bar of every row spans SVGBarWidth pixels
// from x = svgBarX; the scale (see the package comment) gives each segment
// at least SVGMinWidth pixels.
const (
	SVGWidth    = 960
	SVGBarWidth = 840
	SVGMinWidth = 36
	svgBarX     = 96
	svgRowH     = 34
	svgRowGap   = 8
	svgLineH    = 17
	svgFont     = 12
	svgCharW    = 7.3 // advance of a 12 px monospace glyph (0.6 em, a little slack)
)

// Colours of the kinds, as "#rrggbb". Tests find the partition's colour in
// a screenshot, so each kind keeps a flat fill.
var Colors = map[Kind]string{
	MBR:        "#8e44ad",
	Embed:      "#f39c12",
	Gap:        "#d5d8dc",
	Partition:  "#2e86de",
	Filesystem: "#27ae60",
	Slack:      "#aed6f1",
	Overrun:    "#e74c3c",
	Tail:       "#d5d8dc",
}

func textColor(k Kind) string {
	switch k {
	case MBR, Partition, Overrun:
		return "#ffffff"
	}
	return "#000000"
}

// ScaleRule is the scale as the SVG's <desc> states it.
func ScaleRule() string {
	return fmt.Sprintf("Scale: the bar (%d px, from x=%d) is cut at every region boundary of every row into segments. "+
		"A segment of s sectors is %d px wide if s*R/S < %d, else s*R/S px rounded by largest remainder, "+
		"where R = %d px minus %d px per minimum-width segment and S = the sectors of the other segments. "+
		"A region is as wide as its segments together. data-start and data-sectors on each region give its exact sectors.",
		SVGBarWidth, svgBarX, SVGMinWidth, SVGMinWidth, SVGBarWidth, SVGMinWidth)
}

// RenderSVG writes pics, stacked, as one standalone SVG document: a bar per
// row (each region a <rect> with data-kind, data-start, data-sectors), the
// marks, the legend and the numbers.
func RenderSVG(w io.Writer, pics ...Picture) error {
	if len(pics) == 0 {
		return fmt.Errorf("picture: nothing to draw")
	}
	var body strings.Builder
	y := 24
	var titles []string
	for i, p := range pics {
		if err := p.Validate(); err != nil {
			return err
		}
		if i > 0 {
			y += 16
			fmt.Fprintf(&body, `<line x1="16" y1="%d" x2="%d" y2="%d" stroke="#999999" stroke-width="1"/>`+"\n", y-12, SVGWidth-16, y-12)
		}
		titles = append(titles, sanitize(p.Title, false))
		var err error
		if y, err = svgPicture(&body, p, i, y); err != nil {
			return err
		}
	}
	height := y + 8
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans Mono, Liberation Mono, monospace" font-size="%d">`+"\n",
		SVGWidth, height, SVGWidth, height, svgFont)
	fmt.Fprintf(bw, "<title>%s</title>\n", esc(strings.Join(titles, "; ")))
	fmt.Fprintf(bw, "<desc>%s</desc>\n", esc(ScaleRule()))
	fmt.Fprintf(bw, `<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>`+"\n", SVGWidth, height)
	bw.WriteString(body.String())
	bw.WriteString("</svg>\n")
	return bw.Flush()
}

func svgPicture(b *strings.Builder, p Picture, index, y int) (int, error) {
	bounds := p.boundaries()
	pos, err := columns(bounds, SVGBarWidth, SVGMinWidth)
	if err != nil {
		return y, fmt.Errorf("picture: %w", err)
	}
	fmt.Fprintf(b, `<g class="picture" id="picture-%d">`+"\n", index+1)
	fmt.Fprintf(b, `<text x="16" y="%d" font-size="14" font-weight="bold">%s</text>`+"\n", y, esc(sanitize(p.Title, false)))
	y += 20
	// Ruler: each segment's first sector over its left edge, where it fits.
	next := 0.0
	lastS := fmt.Sprint(p.DiskSectors - 1)
	lastX := float64(svgBarX+SVGBarWidth) - float64(len(lastS))*svgCharW*0.85
	for i := 0; i < len(bounds)-1; i++ {
		s := fmt.Sprint(bounds[i])
		x := float64(svgBarX + pos[i])
		if x < next || x+float64(len(s))*svgCharW*0.85 > lastX-4 {
			continue
		}
		fmt.Fprintf(b, `<text class="ruler" x="%d" y="%d" font-size="10" fill="#555555">%s</text>`+"\n", svgBarX+pos[i], y, s)
		next = x + float64(len(s)+1)*svgCharW*0.85
	}
	fmt.Fprintf(b, `<text class="ruler" x="%d" y="%d" font-size="10" fill="#555555" text-anchor="end">%s</text>`+"\n", svgBarX+SVGBarWidth, y, lastS)
	y += 6
	rowTop := make([]int, len(p.Rows))
	for ri, row := range p.Rows {
		rowTop[ri] = y
		fmt.Fprintf(b, `<text x="16" y="%d" font-weight="bold">%s</text>`+"\n", y+svgRowH/2+4, esc(sanitize(row.Name, false)))
		for _, r := range row.Regions {
			x0, x1 := posOf(bounds, pos, r.Start), posOf(bounds, pos, r.End())
			wpx := x1 - x0
			stroke := `stroke="#333333" stroke-width="1"`
			if r.Kind == Overrun {
				stroke = `stroke="#7b241c" stroke-width="2" stroke-dasharray="4 3"`
			}
			fmt.Fprintf(b, `<rect class="region %s" data-kind="%s" data-row="%s" data-start="%d" data-sectors="%d" x="%d" y="%d" width="%d" height="%d" fill="%s" %s><title>%s</title></rect>`+"\n",
				r.Kind, r.Kind, esc(sanitize(row.Name, false)), r.Start, r.Sectors, svgBarX+x0, y, wpx, svgRowH, colorOf(r.Kind), stroke,
				esc(sanitize(r.Label+": "+rangeText(r), false)))
			label := ""
			for _, cand := range []string{r.Label + " " + shortRange(r), r.Label, shortLabel(r.Label), r.key()} {
				cand = sanitize(cand, false)
				if float64(utf8.RuneCountInString(cand))*svgCharW <= float64(wpx-8) {
					label = cand
					break
				}
			}
			if label != "" {
				fmt.Fprintf(b, `<text x="%d" y="%d" fill="%s">%s</text>`+"\n", svgBarX+x0+4, y+svgRowH/2+4, textColor(r.Kind), esc(label))
			}
		}
		y += svgRowH + svgRowGap
	}
	// The partition's end, drawn through every row where a filesystem
	// runs past it: the picture's point.
	for _, row := range p.Rows {
		for _, r := range row.Regions {
			if r.Kind == Overrun {
				x := svgBarX + posOf(bounds, pos, r.Start)
				fmt.Fprintf(b, `<line class="partition-end" x1="%d" y1="%d" x2="%d" y2="%d" stroke="#7b241c" stroke-width="2"/>`+"\n", x, rowTop[0]-4, x, y-svgRowGap+4)
			}
		}
	}
	// Marks: a triangle under the sector, pointing up at the last row.
	for _, m := range p.Marks {
		x := svgBarX + posOf(bounds, pos, m.Sector)
		if isBoundary(bounds, m.Sector) {
			x += 4
		}
		fmt.Fprintf(b, `<polygon class="mark" points="%d,%d %d,%d %d,%d" fill="#7b241c"/>`+"\n", x, y-svgRowGap+2, x-6, y+8, x+6, y+8)
		label := esc(sanitize(m.Label, false))
		if float64(x)+10+float64(utf8.RuneCountInString(m.Label))*svgCharW <= SVGWidth {
			fmt.Fprintf(b, `<text x="%d" y="%d" fill="#7b241c">%s</text>`+"\n", x+10, y+10, label)
		} else {
			fmt.Fprintf(b, `<text x="%d" y="%d" fill="#7b241c" text-anchor="end">%s</text>`+"\n", x-10, y+10, label)
		}
		y += svgLineH
	}
	y += 12
	// Legend: a swatch, the key, the label, the exact sectors and the note.
	type seen struct {
		k          Kind
		start, len uint64
	}
	done := map[seen]bool{}
	for _, row := range p.Rows {
		for _, r := range row.Regions {
			s := seen{r.Kind, r.Start, r.Sectors}
			if done[s] {
				continue
			}
			done[s] = true
			fmt.Fprintf(b, `<rect class="swatch" x="16" y="%d" width="12" height="12" fill="%s" stroke="#333333"/>`+"\n", y-10, colorOf(r.Kind))
			text := r.key() + "  " + r.Label + ": " + rangeText(r)
			if r.Note != "" {
				text += "; " + r.Note
			}
			y = svgText(b, sanitize(text, false), 36, y)
		}
	}
	for _, n := range p.Numbers {
		y = svgText(b, sanitize(n, false), 16, y)
	}
	b.WriteString("</g>\n")
	return y, nil
}

// svgText writes s from x, wrapped to the picture's width.
func svgText(b *strings.Builder, s string, x, y int) int {
	cols := int(float64(SVGWidth-x-16) / svgCharW)
	for i, line := range wrap(s, cols, 2) {
		if i > 0 {
			line = strings.TrimLeft(line, " ")
			fmt.Fprintf(b, `<text x="%d" y="%d">%s</text>`+"\n", x+16, y, esc(line))
		} else {
			fmt.Fprintf(b, `<text x="%d" y="%d">%s</text>`+"\n", x, y, esc(line))
		}
		y += svgLineH
	}
	return y
}

func colorOf(k Kind) string {
	if c, ok := Colors[k]; ok {
		return c
	}
	return "#ffffff"
}

// esc escapes s for SVG text and attribute values exactly as
// encoding/xml's EscapeText does (the five markup characters, tab, newline
// and carriage return as character references, a character XML cannot
// hold as U+FFFD), without linking encoding/xml: its initialisation is
// work every run of minidisk would pay for.
func esc(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString("&#34;")
		case '\'':
			b.WriteString("&#39;")
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '\t':
			b.WriteString("&#x9;")
		case '\n':
			b.WriteString("&#xA;")
		case '\r':
			b.WriteString("&#xD;")
		default:
			if !xmlChar(r) {
				r = '\uFFFD'
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// xmlChar: the Char production of XML 1.0 §2.2.
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// WriteSVGFile writes pics as an SVG file through atomicfile: complete or
// absent, and an existing file is replaced only with force.
func WriteSVGFile(path string, force bool, pics ...Picture) error {
	f, err := atomicfile.Create(path, force)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := RenderSVG(f, pics...); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Commit()
}
