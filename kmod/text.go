package kmod

import (
	"fmt"
	"io"
	"strings"
)

// WriteText writes a closure for people: one line per module in load
// order, its path relative to the tree (or "built in") and why it is
// there.
func WriteText(w io.Writer, c *Closure) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (kernel %s): %d to load, %d built in\n", c.Dir, c.Version, len(c.Load()), len(c.Modules)-len(c.Load()))
	width := 0
	for _, m := range c.Modules {
		width = max(width, len(m.Name))
	}
	for _, m := range c.Modules {
		where := m.Path
		if m.Builtin {
			where = "built in"
		}
		fmt.Fprintf(&b, "  %-*s  %s  (%s)\n", width, m.Name, where, strings.Join(m.Why, "; "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
