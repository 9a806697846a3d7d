package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/disk/picture"
	"github.com/urfave/cli/v2"
)

// asciiFallback spells the non-ASCII characters of minidisk's text output
// in ASCII, for --ascii (terminals and logs without UTF-8).
var asciiFallback = strings.NewReplacer(
	"×", "x", "→", "->", "←", "<-", "…", "...", "≥", ">=", "≤", "<=", "−", "-", "—", "--", "–", "-",
	"“", `"`, "”", `"`, "‘", "'", "’", "'", "✓", "ok", "✗", "x", "•", "*", "·", ".",
)

// asciiWriter passes text on with every non-ASCII character replaced:
// first by asciiFallback, then anything left by "?". A UTF-8 sequence split
// across two writes is held back until it is complete.
type asciiWriter struct {
	w    io.Writer
	rest []byte
}

func (a *asciiWriter) Write(p []byte) (int, error) {
	buf := append(a.rest, p...)
	a.rest = nil
	// Hold back an incomplete sequence at the end.
	for i := len(buf) - 1; i >= 0 && i >= len(buf)-utf8.UTFMax; i-- {
		if utf8.RuneStart(buf[i]) {
			if !utf8.FullRune(buf[i:]) {
				a.rest = append([]byte(nil), buf[i:]...)
				buf = buf[:i]
			}
			break
		}
	}
	s := asciiFallback.Replace(string(buf))
	s = strings.Map(func(r rune) rune {
		if r >= utf8.RuneSelf {
			return '?'
		}
		return r
	}, s)
	if _, err := io.WriteString(a.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}

// textOutput is where a command prints its text report, and how wide it
// may be: with --ascii, only ASCII reaches the output; the width is
// COLUMNS, else the terminal's, else 80 (picture.TerminalOptions). When the
// width is known (COLUMNS or a terminal), lines longer than it are wrapped
// at spaces with a hanging indent; a pipe without COLUMNS gets whole lines,
// for grep. Call done when the report is complete.
func textOutput(c *cli.Context) (out io.Writer, opt picture.TextOptions, done func()) {
	ascii := c.Bool("ascii")
	opt = picture.TerminalOptions(c.App.Writer, ascii, os.Getenv)
	out, done = c.App.Writer, func() {}
	f, isFile := c.App.Writer.(*os.File)
	if os.Getenv("COLUMNS") != "" || isFile && isTerminal(f) {
		lw := &lineWrapper{w: c.App.Writer, width: opt.Width}
		out, done = lw, lw.flush
	}
	if ascii {
		out = &asciiWriter{w: out}
	}
	return out, opt, done
}

// lineWrapper passes text on line by line, breaking a line longer than
// width at spaces; the continuation is indented 4 more than the line.
type lineWrapper struct {
	w     io.Writer
	width int
	part  []byte
}

func (l *lineWrapper) Write(p []byte) (int, error) {
	l.part = append(l.part, p...)
	for {
		i := bytes.IndexByte(l.part, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(l.part[:i])
		l.part = l.part[i+1:]
		if err := l.writeLine(line); err != nil {
			return 0, err
		}
	}
}

func (l *lineWrapper) writeLine(line string) error {
	if utf8.RuneCountInString(line) <= l.width {
		_, err := io.WriteString(l.w, line+"\n")
		return err
	}
	indent := len(line) - len(strings.TrimLeft(line, " "))
	hang := strings.Repeat(" ", min(indent+4, l.width/2))
	first := true
	for _, part := range disk.WrapWords(strings.TrimLeft(line, " "), max(l.width-len(hang), 8)) {
		prefix := hang
		if first {
			prefix = strings.Repeat(" ", indent)
			first = false
		}
		if _, err := io.WriteString(l.w, prefix+part+"\n"); err != nil {
			return err
		}
	}
	return nil
}

func (l *lineWrapper) flush() {
	if len(l.part) > 0 {
		io.WriteString(l.w, string(l.part))
		l.part = nil
	}
}

// plural writes a count with its noun: "1 group", "2 groups".
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// formatUUID writes a 16-byte UUID as its canonical string.
func formatUUID(u [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[:4], u[4:6], u[6:8], u[8:10], u[10:])
}
