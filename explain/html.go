package explain

import "errors"

// HTMLOptions shape the --html page.
type HTMLOptions struct {
	Path  string // the file whose walk the page shows
	Large bool   // large type for a projector
}

// WriteHTMLFile writes the page atomically.
func (d *Disk) WriteHTMLFile(path string, force bool, opt HTMLOptions) error {
	return errors.New("--html: not implemented yet")
}
