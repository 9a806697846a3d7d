package picture

import (
	"io"
	"os"
	"strconv"

	"golang.org/x/term"
)

// TerminalOptions are the text options for writing to out: the width is
// COLUMNS when set, else the terminal's width, else DefaultWidth; colour only
// when out is a terminal and NO_COLOR is unset (https://no-color.org), and
// never with ascii. getenv is os.Getenv outside tests.
func TerminalOptions(out io.Writer, ascii bool, getenv func(string) string) TextOptions {
	opt := TextOptions{Width: DefaultWidth, ASCII: ascii}
	f, isFile := out.(*os.File)
	tty := isFile && term.IsTerminal(int(f.Fd()))
	if n, err := strconv.Atoi(getenv("COLUMNS")); err == nil && n > 0 {
		opt.Width = n
	} else if tty {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			opt.Width = w
		}
	}
	_, noColor := lookup(getenv, "NO_COLOR")
	opt.Color = tty && !noColor && !ascii
	return opt
}

// lookup treats an empty NO_COLOR as unset, as the convention says
// ("when present and not an empty string").
func lookup(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}
