package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

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
// COLUMNS, else the terminal's, else 80 (picture.TerminalOptions).
func textOutput(c *cli.Context) (io.Writer, picture.TextOptions) {
	ascii := c.Bool("ascii")
	opt := picture.TerminalOptions(c.App.Writer, ascii, os.Getenv)
	if ascii {
		return &asciiWriter{w: c.App.Writer}, opt
	}
	return c.App.Writer, opt
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
