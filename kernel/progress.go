package kernel

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
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
	bar   *progressbar.ProgressBar
	phase string
	files int
	stop  chan struct{}
	done  sync.WaitGroup
}

func newSpinner(w io.Writer) *spinner {
	s := &spinner{stop: make(chan struct{})}
	s.bar = progressbar.NewOptions(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionSetDescription("kernel: starting"),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
	// The spinner only redraws on Add, and compiling one file can take
	// seconds: tick it so the elapsed time keeps moving.
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.mu.Lock()
				s.bar.Add(1)
				s.mu.Unlock()
			}
		}
	}()
	return s
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

func (s *spinner) Close() {
	close(s.stop)
	s.done.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bar.Finish()
}
