package kernel

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/minidisk/minidisk/internal/termprogress"
)

// Progress receives what a build is doing.
type Progress interface {
	Phase(name string) // a new phase begins
	Line(line string)  // one line of make output
	Close()            // the build ended
}

type nopProgress struct{}

func (nopProgress) Phase(string) {}
func (nopProgress) Line(string)  {}
func (nopProgress) Close()       {}

// NewProgress reports to f: a spinner with the phase and elapsed time when f
// is a terminal, else one quiet line per phase (logs stay readable).
func NewProgress(f *os.File) Progress {
	if term.IsTerminal(int(f.Fd())) {
		return newSpinner(f)
	}
	return &lineProgress{w: f, start: time.Now()}
}

type lineProgress struct {
	w     io.Writer
	start time.Time
}

func (p *lineProgress) Phase(name string) {
	fmt.Fprintf(p.w, "kernel: [%s] %s\n", time.Since(p.start).Round(time.Second), name)
}
func (p *lineProgress) Line(string) {}
func (p *lineProgress) Close()      {}

type spinner struct {
	mu    sync.Mutex
	bar   *termprogress.Spinner
	phase string
	files int
}

// newSpinner redraws the phase, the objects compiled and the elapsed time
// on a ticker: compiling one file can take seconds.
func newSpinner(w io.Writer) *spinner {
	return &spinner{bar: termprogress.NewSpinner(w, "kernel: starting")}
}

func (s *spinner) Phase(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.phase, s.files = name, 0
	s.bar.Describe("kernel: " + name)
}

func (s *spinner) Line(line string) {
	// kbuild prints "  CC      path/file.o" per compiled object.
	f := strings.Fields(line)
	if len(f) < 2 || (f[0] != "CC" && f[0] != "AS" && f[0] != "LD" && f[0] != "AR") {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files++
	s.bar.Describe(fmt.Sprintf("kernel: %s: %d objects", s.phase, s.files))
}

func (s *spinner) Close() { s.bar.Close() }
