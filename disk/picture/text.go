package picture

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// TextOptions choose how the terminal picture looks.
type TextOptions struct {
	Width int  // columns the picture may use; 0 = 80
	Color bool // ANSI background colours (only for a terminal without NO_COLOR)
	ASCII bool // plain ASCII: no box drawing, no colour
}

// DefaultWidth is the width when COLUMNS is unset and stdout is not a terminal.
const DefaultWidth = 80

// MinColumns is the minimum visible width of a segment in the terminal: a
// separator and two cells, room for a region's one-letter key.
const MinColumns = 3

// rowNameWidth is the column of the bar's first separator ("disk   |").
const rowNameWidth = 7

type style struct {
	sep   rune
	fill  map[Kind]rune
	color bool
}

func styleFor(opt TextOptions) style {
	if opt.ASCII {
		return style{sep: '|', fill: map[Kind]rune{MBR: '#', Embed: '=', Gap: '.', Partition: ' ', Filesystem: ' ', Slack: '.', Overrun: '!', Tail: '.'}}
	}
	if opt.Color {
		// The colour tells the kinds apart; the overrun keeps its hatching
		// so it stays distinct for readers who cannot tell red.
		return style{sep: '│', color: true, fill: map[Kind]rune{Overrun: '╳'}}
	}
	return style{sep: '│', fill: map[Kind]rune{MBR: '█', Embed: '▓', Gap: '░', Partition: ' ', Filesystem: ' ', Slack: '░', Overrun: '╳', Tail: '░'}}
}

// ansi is the SGR of each kind: background, foreground.
var ansi = map[Kind]string{
	MBR:        "45;97",
	Embed:      "43;30",
	Gap:        "47;30",
	Partition:  "44;97",
	Filesystem: "42;30",
	Slack:      "46;30",
	Overrun:    "41;97;1",
	Tail:       "47;30",
}

// RenderText draws p for a terminal, in at most opt.Width columns: the
// title, a ruler of boundary sectors, one bar per row, marks, the legend
// (every region with its sectors) and p.Numbers. A terminal too narrow for
// the bar gets a one-line notice instead.
func RenderText(w io.Writer, p Picture, opt TextOptions) error {
	if err := p.Validate(); err != nil {
		return err
	}
	width := opt.Width
	if width <= 0 {
		width = DefaultWidth
	}
	st := styleFor(opt)
	clean := func(s string) string { return sanitize(s, opt.ASCII) }
	var lines []string
	add := func(s string, indent int) { lines = append(lines, wrap(s, width, indent)...) }

	add(clean(p.Title), 2)
	bounds := p.boundaries()
	total := width - rowNameWidth - 1
	pos, err := textColumns(p, bounds, total, MinColumns)
	if err != nil {
		add(fmt.Sprintf("(picture omitted: %d columns are too few for %d regions; widen the terminal or set COLUMNS)", width, len(bounds)-1), 2)
		return writeLines(w, lines)
	}
	lines = append(lines, ruler(bounds, pos, p.DiskSectors, total))
	for _, row := range p.Rows {
		lines = append(lines, barLine(row, bounds, pos, total, st, clean))
	}
	lines = append(lines, markLines(p, bounds, pos, width, clean)...)

	// The legend: every region once, in row order, with its exact sectors.
	type seen struct {
		k          Kind
		start, len uint64
	}
	done := map[seen]bool{}
	labelW := 0
	for _, row := range p.Rows {
		for _, r := range row.Regions {
			if n := utf8.RuneCountInString(clean(r.Label)); n > labelW {
				labelW = n
			}
		}
	}
	for _, row := range p.Rows {
		for _, r := range row.Regions {
			s := seen{r.Kind, r.Start, r.Sectors}
			if done[s] {
				continue
			}
			done[s] = true
			prefix := padRunes(clean(r.key()), 2) + " " + padRunes(clean(r.Label), labelW) + "  "
			rest := rangeText(r)
			if r.Note != "" {
				rest += "; " + clean(r.Note)
			}
			if utf8.RuneCountInString(prefix) > width/2 {
				// Narrow terminal: the label goes into the wrapped text.
				prefix, rest = padRunes(clean(r.key()), 3), clean(r.Label)+": "+rest
			}
			lines = append(lines, hanging(prefix, rest, width)...)
		}
	}
	for _, n := range p.Numbers {
		add(clean(n), 2)
	}
	return writeLines(w, lines)
}

func writeLines(w io.Writer, lines []string) error {
	for _, l := range lines {
		if _, err := io.WriteString(w, l+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// rangeText is "sector 0 (1)" or "sectors 63..16064 (16002)".
func rangeText(r Region) string {
	if r.Sectors == 1 {
		return fmt.Sprintf("sector %d (1)", r.Start)
	}
	return fmt.Sprintf("sectors %d..%d (%d)", r.Start, r.Last(), r.Sectors)
}

// ruler prints each segment's first sector above its left separator where
// it fits, and the disk's last sector at the right end.
func ruler(bounds []uint64, pos []int, diskSectors uint64, total int) string {
	cells := []rune(strings.Repeat(" ", rowNameWidth+total+1))
	copy(cells, []rune("sector"))
	next := rowNameWidth // first free cell
	last := strconv.FormatUint(diskSectors-1, 10)
	lastAt := rowNameWidth + total + 1 - len(last)
	for i := 0; i < len(bounds)-1; i++ {
		s := strconv.FormatUint(bounds[i], 10)
		at := rowNameWidth + pos[i]
		if at < next || at+len(s) > lastAt-1 {
			continue
		}
		copy(cells[at:], []rune(s))
		next = at + len(s) + 1
	}
	if lastAt >= next {
		copy(cells[lastAt:], []rune(last))
	}
	return strings.TrimRight(string(cells), " ")
}

// barLine draws one row: separators at region edges, each region's text
// (label and range, or label, or key — the longest that fits) then its fill.
func barLine(row Row, bounds []uint64, pos []int, total int, st style, clean func(string) string) string {
	n := total + 1
	cells := make([]rune, n)
	kinds := make([]Kind, n)
	for i := range cells {
		cells[i] = ' '
	}
	for _, r := range row.Regions {
		a, b := posOf(bounds, pos, r.Start), posOf(bounds, pos, r.End())
		cells[a], cells[b] = st.sep, st.sep
		inner := b - a - 1
		text := ""
		// The legend's letter leads the label, so every letter the legend
		// lists appears in the bar.
		k := clean(r.key())
		for _, cand := range []string{k + " " + clean(r.Label) + " " + shortRange(r), k + " " + clean(r.Label), k + " " + clean(shortLabel(r.Label)), k} {
			if utf8.RuneCountInString(cand) <= inner {
				text = cand
				break
			}
		}
		fill, ok := st.fill[r.Kind]
		if !ok {
			fill = ' '
		}
		tr := []rune(text)
		for i := 0; i < inner; i++ {
			c := fill
			if i < len(tr) {
				c = tr[i]
			}
			cells[a+1+i] = c
			kinds[a+1+i] = r.Kind
		}
	}
	var b strings.Builder
	name := row.Name
	if utf8.RuneCountInString(name) > rowNameWidth-1 {
		name = string([]rune(name)[:rowNameWidth-1])
	}
	b.WriteString(padRunes(clean(name), rowNameWidth))
	cur := Kind(0)
	for i, c := range cells {
		if st.color && kinds[i] != cur {
			if cur != 0 {
				b.WriteString("\x1b[0m")
			}
			if kinds[i] != 0 {
				b.WriteString("\x1b[" + ansi[kinds[i]] + "m")
			}
			cur = kinds[i]
		}
		b.WriteRune(c)
	}
	if st.color && cur != 0 {
		b.WriteString("\x1b[0m")
	}
	return strings.TrimRight(b.String(), " ")
}

// shortLabel is the label up to its first comma: "ext2" of "ext2, 8000 blocks".
func shortLabel(label string) string {
	if i := strings.IndexByte(label, ','); i > 0 {
		return label[:i]
	}
	return label
}

// shortRange is the range as it fits inside a bar: "63..16064" or "0".
func shortRange(r Region) string {
	if r.Range != "" {
		return r.Range
	}
	if r.Sectors == 1 {
		return strconv.FormatUint(r.Start, 10)
	}
	return fmt.Sprintf("%d..%d", r.Start, r.Last())
}

// hanging writes prefix then text wrapped beside it, continuation lines
// indented under the text; when the prefix takes more than half the width it
// is wrapped with the text instead.
func hanging(prefix, text string, width int) []string {
	n := utf8.RuneCountInString(prefix)
	if n > width/2 {
		return wrap(prefix+text, width, 3)
	}
	out := wrap(text, width-n, 0)
	for i := range out {
		if i == 0 {
			out[i] = prefix + out[i]
		} else {
			out[i] = strings.Repeat(" ", n) + out[i]
		}
	}
	return out
}

// markLines puts a caret under each mark's sector with its label beside it.
func markLines(p Picture, bounds []uint64, pos []int, width int, clean func(string) string) []string {
	var out []string
	for _, m := range p.Marks {
		col := rowNameWidth + posOf(bounds, pos, m.Sector)
		if isBoundary(bounds, m.Sector) {
			col++ // point inside the region that starts here, not at its separator
		}
		if col >= width {
			col = width - 1
		}
		label := clean(m.Label)
		n := utf8.RuneCountInString(label)
		switch {
		case col+2+n <= width:
			out = append(out, strings.Repeat(" ", col)+"^ "+label)
		case n+2 <= col:
			out = append(out, strings.Repeat(" ", col-n-1)+label+" ^")
		default:
			out = append(out, strings.Repeat(" ", col)+"^")
			out = append(out, wrap(label, width, 2)...)
		}
	}
	return out
}

func padRunes(s string, n int) string {
	if k := utf8.RuneCountInString(s); k < n {
		return s + strings.Repeat(" ", n-k)
	}
	return s
}

// wrap breaks s at spaces into lines of at most width runes; continuation
// lines start with indent spaces (less when the width is too small).
func wrap(s string, width, indent int) []string {
	if width < 1 {
		width = 1
	}
	if indent > width/2 {
		indent = width / 2
	}
	var out []string
	var line []rune
	hasWord := false
	flush := func() {
		out = append(out, string(line))
		line = []rune(strings.Repeat(" ", indent))
		hasWord = false
	}
	for _, word := range strings.Fields(s) {
		wr := []rune(word)
		for len(wr) > 0 {
			need := len(wr)
			if hasWord {
				need++
			}
			if len(line)+need <= width {
				if hasWord {
					line = append(line, ' ')
				}
				line = append(line, wr...)
				hasWord = true
				break
			}
			if hasWord {
				flush()
				continue
			}
			// A word longer than the line: cut it.
			room := width - len(line)
			line = append(line, wr[:room]...)
			wr = wr[room:]
			hasWord = true
			flush()
		}
	}
	if hasWord {
		out = append(out, string(line))
	}
	return out
}

// sanitize makes text from an image safe to print: control characters
// (terminal escapes in a crafted file name) and invalid UTF-8 become '?';
// in ASCII mode the few typographic signs minidisk uses are spelled in
// ASCII and anything else non-ASCII becomes '?'.
func sanitize(s string, ascii bool) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size <= 1:
			b.WriteByte('?')
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
			b.WriteByte('?')
		case ascii && r >= 0x80:
			switch r {
			case '×':
				b.WriteByte('x')
			case '→':
				b.WriteString("->")
			case '—', '–', '−':
				b.WriteByte('-')
			case '…':
				b.WriteString("...")
			case '≈':
				b.WriteByte('~')
			default:
				b.WriteByte('?')
			}
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
