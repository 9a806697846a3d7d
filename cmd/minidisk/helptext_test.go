package main

import (
	"bytes"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestHelpTextMatchesTemplates: for minidisk itself and every command of
// the tree (hidden ones included), printHelp writes exactly what urfave/
// cli's template printer writes for the same template: the templates are
// the oracle of the direct renderer.
func TestHelpTextMatchesTemplates(t *testing.T) {
	app := newApp()
	prepare(app)
	compare := func(name, templ string, data any) {
		t.Helper()
		var want, got bytes.Buffer
		templateHelpPrinter(&want, templ, data)
		printHelp(&got, templ, data)
		if got.String() != want.String() {
			t.Errorf("%s: help differs from the template's\n--- template:\n%s\n--- printHelp:\n%s", name, want.String(), got.String())
		}
		if want.Len() == 0 {
			t.Errorf("%s: the template printed nothing", name)
		}
	}
	compare("minidisk", cli.AppHelpTemplate, app)
	n := 0
	walk(app.Commands, "minidisk", func(c *cli.Command, full string) {
		compare(full, c.CustomHelpTemplate, c)
		n++
	})
	if n < 20 {
		t.Fatalf("only %d commands compared", n)
	}
	// A template printHelp does not render goes to the template printer.
	var got bytes.Buffer
	printHelp(&got, "custom {{.Name}}\n", app)
	if got.String() != "custom minidisk\n" {
		t.Errorf("unknown template: %q", got.String())
	}
}
