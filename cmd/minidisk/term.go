package main

import (
	"os"

	"golang.org/x/term"
)

// isTerminal reports whether f is a terminal: progress and colour go only
// there, so logs and pipes stay clean.
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }
