// Package termprogress draws one self-overwriting status line on a
// terminal: a spinner with elapsed time (kernel builds) and a byte counter
// (flash). It replaces a progress-bar library that linked net/http and
// crypto/x509 into minidisk, whose package initialisation every command,
// even --help, paid for at start-up.
package termprogress

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/minidisk/minidisk/disk"
)

// frames is the spinner: a quarter turn per redraw.
const frames = `|/-\`

// Spinner redraws "X description (elapsed)" every tick until Close.
type Spinner struct {
	mu    sync.Mutex
	w     io.Writer
	desc  string
	start time.Time
	n     int
	stop  chan struct{}
	done  sync.WaitGroup
}

// NewSpinner starts redrawing on w every 200 ms.
func NewSpinner(w io.Writer, desc string) *Spinner {
	s := &Spinner{w: w, desc: desc, start: time.Now(), stop: make(chan struct{})}
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
				s.draw()
				s.mu.Unlock()
			}
		}
	}()
	return s
}

// Describe changes the text (drawn at the next tick).
func (s *Spinner) Describe(desc string) {
	s.mu.Lock()
	s.desc = desc
	s.mu.Unlock()
}

func (s *Spinner) draw() {
	s.n++
	// \r and "erase to end of line" (ESC [ K): the line is rewritten in place.
	fmt.Fprintf(s.w, "\r%c %s (%s)\x1b[K", frames[s.n%len(frames)], s.desc, time.Since(s.start).Round(time.Second))
}

// Close stops the spinner and clears its line.
func (s *Spinner) Close() {
	close(s.stop)
	s.done.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprint(s.w, "\r\x1b[K")
}

// Bytes is an io.Writer that counts what passes through it against total
// and redraws "desc  N / TOTAL  P%" at most every 100 ms; the last write
// draws the final state and ends the line.
type Bytes struct {
	w      io.Writer
	desc   string
	total  int64
	n      int64
	last   time.Time
	closed bool
}

// NewBytes counts towards total bytes, drawing on w.
func NewBytes(w io.Writer, total int64, desc string) *Bytes {
	return &Bytes{w: w, desc: desc, total: total}
}

// Write counts len(p); it never fails.
func (b *Bytes) Write(p []byte) (int, error) {
	b.n += int64(len(p))
	if b.closed {
		return len(p), nil
	}
	if now := time.Now(); now.Sub(b.last) >= 100*time.Millisecond || b.n >= b.total {
		b.last = now
		pct := 100.0
		if b.total > 0 {
			pct = 100 * float64(b.n) / float64(b.total)
		}
		fmt.Fprintf(b.w, "\r%s  %s / %s  %3.0f%%\x1b[K", b.desc, disk.FormatSize(b.n), disk.FormatSize(b.total), pct)
		if b.n >= b.total {
			fmt.Fprintln(b.w)
			b.closed = true
		}
	}
	return len(p), nil
}
