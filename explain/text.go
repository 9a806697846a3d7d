package explain

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/minidisk/minidisk/disk/picture"
)

// TextOptions shape the terminal view.
type TextOptions struct {
	Width int  // columns (COLUMNS or the terminal's); 0 = 100
	Color bool // ANSI colour: only on a terminal, never with NO_COLOR
	ASCII bool // the layout picture in plain ASCII
}

const (
	ansiBold   = "\x1b[1m"
	ansiDim    = "\x1b[2m"
	ansiCyan   = "\x1b[36m"
	ansiYellow = "\x1b[33m"
	ansiReset  = "\x1b[0m"
	minWidth   = 40
)

type painter struct{ on bool }

func (p painter) paint(code, s string) string {
	if !p.on || s == "" {
		return s
	}
	return code + s + ansiReset
}

// WriteText prints the view for a terminal: each section's title, its
// notes, an annotated hex dump where the structure is small, and its fields
// as offset, bytes, name, value and meaning, wrapped to the width.
func (v *View) WriteText(w io.Writer, opt TextOptions) error {
	width := opt.Width
	if width <= 0 {
		width = 100
	}
	width = max(width, minWidth)
	p := painter{opt.Color}
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, p.paint(ansiBold, clip(v.Image+": "+v.Title, width)))
	for _, s := range v.Sections {
		fmt.Fprintln(bw)
		for _, l := range wrap("== "+s.Title, width, 3) {
			fmt.Fprintln(bw, p.paint(ansiBold, l))
		}
		for _, n := range s.Notes {
			for _, l := range wrap(n, width-2, 2) {
				fmt.Fprintln(bw, "  "+l)
			}
		}
		if s.Dump && len(s.bytes) > 0 {
			writeDump(bw, s.Offset, s.bytes, v.fieldsIn(s.Offset, int64(len(s.bytes))), width, p)
		}
		writeFields(bw, s.Fields, width, p)
	}
	if v.Picture != nil {
		fmt.Fprintln(bw)
		if err := picture.RenderText(bw, *v.Picture, picture.TextOptions{Width: width, Color: opt.Color, ASCII: opt.ASCII}); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// WriteJSON prints the view for scripts.
func (v *View) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// fieldsIn lists the fields of every section that start in [off, off+n),
// by offset: the labels of a hex dump.
func (v *View) fieldsIn(off, n int64) []Field {
	var out []Field
	for _, s := range v.Sections {
		for _, f := range s.Fields {
			if f.Size > 0 && f.Offset >= off && f.Offset < off+n {
				out = append(out, f)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Offset < out[j].Offset })
	return out
}

// writeDump prints 16 bytes a line like xxd (image byte offsets in hex),
// followed by the names of the fields that start on the line; a run of
// identical lines without fields collapses to "*" as in hexdump.
func writeDump(w io.Writer, base int64, b []byte, fields []Field, width int, p painter) {
	ascii := width >= 90
	prev := ""
	starred := false
	for o := 0; o < len(b); o += 16 {
		line := b[o:min(o+16, len(b))]
		var names []string
		for _, f := range fields {
			if f.Offset >= base+int64(o) && f.Offset < base+int64(o)+16 {
				n := f.Name
				if f.Patched {
					n += "*"
				}
				names = append(names, n)
			}
		}
		hx := hexLine(line)
		if hx == prev && len(names) == 0 && o+16 < len(b) {
			if !starred {
				fmt.Fprintln(w, "  *")
				starred = true
			}
			continue
		}
		prev, starred = hx, false
		s := fmt.Sprintf("  %08x  %-48s", base+int64(o), hx)
		if ascii {
			s += " " + asciiOf(line)
		}
		if len(names) > 0 {
			room := width - utf8.RuneCountInString(s) - 2
			if room >= 8 {
				s += "  " + p.paint(ansiCyan, clip(strings.Join(names, ", "), room))
			}
		}
		fmt.Fprintln(w, s)
	}
}

func hexLine(b []byte) string {
	var sb strings.Builder
	for i, c := range b {
		if i == 8 {
			sb.WriteByte(' ')
		}
		if i > 0 {
			sb.WriteByte(' ')
		}
		fmt.Fprintf(&sb, "%02x", c)
	}
	return sb.String()
}

func asciiOf(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c >= 0x20 && c < 0x7f {
			out[i] = c
		} else {
			out[i] = '.'
		}
	}
	return string(out)
}

// writeFields prints one field a line: "offset bytes name = value", then
// the meaning, wrapped beside it when there is room, else beneath.
func writeFields(w io.Writer, fs []Field, width int, p painter) {
	if len(fs) == 0 {
		return
	}
	nameW := 0
	for _, f := range fs {
		nameW = max(nameW, utf8.RuneCountInString(f.Name))
	}
	nameW = min(nameW, 22)
	for _, f := range fs {
		if f.Offset < 0 {
			fmt.Fprintln(w, "  → see "+p.paint(ansiCyan, f.Text))
			continue
		}
		mark := " "
		if f.Patched {
			mark = p.paint(ansiYellow, "*")
		}
		raw := f.Raw
		if len(raw) > 11 {
			raw = raw[:8] + "…"
		}
		prefix := fmt.Sprintf("  %10d%s %-11s ", f.Offset, mark, raw)
		plain := utf8.RuneCountInString(fmt.Sprintf("  %10d  %-11s %s = ", f.Offset, raw, padRight(f.Name, nameW)))
		if plain+utf8.RuneCountInString(f.Text) <= width {
			fmt.Fprintln(w, prefix+p.paint(ansiCyan, padRight(f.Name, nameW))+" = "+f.Text)
		} else {
			// The value does not fit beside the name: it goes beneath.
			fmt.Fprintln(w, prefix+p.paint(ansiCyan, f.Name)+" =")
			for _, l := range wrap(f.Text, width-8, 8) {
				fmt.Fprintln(w, "        "+l)
			}
		}
		if f.Meaning == "" {
			continue
		}
		for _, l := range wrap(f.Meaning, width-8, 8) {
			fmt.Fprintln(w, "        "+p.paint(ansiDim, l))
		}
	}
}

func padRight(s string, n int) string {
	if c := utf8.RuneCountInString(s); c < n {
		return s + strings.Repeat(" ", n-c)
	}
	return s
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:max(n-1, 0)]) + "…"
}

// wrap breaks s into lines of at most width runes; indent is the width of
// what precedes continuation lines (used only to keep width sane).
func wrap(s string, width, indent int) []string {
	width = max(width, 20)
	var lines []string
	var cur strings.Builder
	n := 0
	for _, word := range strings.Fields(s) {
		wl := utf8.RuneCountInString(word)
		if n > 0 && n+1+wl > width {
			lines = append(lines, cur.String())
			cur.Reset()
			n = 0
		}
		for wl > width { // a word longer than a line: cut it
			r := []rune(word)
			if n > 0 {
				lines = append(lines, cur.String())
				cur.Reset()
				n = 0
			}
			lines = append(lines, string(r[:width]))
			word = string(r[width:])
			wl = len(r) - width
		}
		if n > 0 {
			cur.WriteByte(' ')
			n++
		}
		cur.WriteString(word)
		n += wl
	}
	if n > 0 {
		lines = append(lines, cur.String())
	}
	_ = indent
	return lines
}
