package libs

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// Listing is the outcome of resolving one binary, for printing: the
// (possibly partial) closure, the names not found, or the error that
// stopped resolution.
type Listing struct {
	Binary  string           `json:"binary"`
	Closure *Closure         `json:"closure,omitempty"`
	Missing []MissingLibrary `json:"missing,omitempty"`
	Error   string           `json:"error,omitempty"`
	Static  bool             `json:"static,omitempty"`
}

// List resolves each binary and returns one Listing per binary, and the
// errors of those that failed (missing libraries, unreadable binaries),
// joined, one line each.
func (r *Resolver) List(binaries []string) ([]Listing, error) {
	out := make([]Listing, 0, len(binaries))
	var errs []error
	for _, b := range binaries {
		c, err := r.Resolve(b)
		l := Listing{Binary: b, Closure: c}
		var nf *NotFoundError
		switch {
		case errors.As(err, &nf):
			l.Missing = nf.Missing
		case err != nil:
			l.Error = err.Error()
		}
		if err != nil {
			errs = append(errs, err)
		}
		if c != nil && c.Interpreter == nil && len(c.Libraries) == 0 && len(l.Missing) == 0 {
			l.Static = true
		}
		out = append(out, l)
	}
	return out, errors.Join(errs...)
}

// WriteText writes listings like ldd: a "BINARY:" header, then one line
// per object, "NAME => PATH" for libraries and the bare path for the
// interpreter, each followed by the real file and the links to copy.
func WriteText(w io.Writer, listings []Listing) error {
	var b strings.Builder
	for _, l := range listings {
		fmt.Fprintf(&b, "%s:\n", l.Binary)
		if l.Error != "" {
			fmt.Fprintf(&b, "\terror: %s\n", l.Error)
			continue
		}
		if l.Static {
			b.WriteString("\tstatically linked (no interpreter, no libraries)\n")
			continue
		}
		c := l.Closure
		for _, lib := range c.Libraries {
			fmt.Fprintf(&b, "\t%s => %s%s\n", lib.Name, lib.Path, describe(lib))
		}
		for _, m := range l.Missing {
			if m.Interpreter {
				fmt.Fprintf(&b, "\t%s (interpreter) => not found\n", m.Name)
			} else {
				fmt.Fprintf(&b, "\t%s => not found (needed by %s)\n", m.Name, m.NeededBy)
			}
		}
		if c.Interpreter != nil && c.Interpreter.Real != "" {
			fmt.Fprintf(&b, "\t%s%s\n", c.Interpreter.Path, describe(*c.Interpreter))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func describe(l Library) string {
	if len(l.Links) == 0 {
		return ""
	}
	hops := make([]string, len(l.Links))
	for i, h := range l.Links {
		hops[i] = h.Path + " -> " + h.Target
	}
	return fmt.Sprintf(" (real %s; links: %s)", l.Real, strings.Join(hops, ", "))
}
