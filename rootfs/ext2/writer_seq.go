package ext2

import (
	"bytes"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"sync"
)

// seqWriter gathers ascending, contiguous blocks into a buffer and hands
// full buffers to a background goroutine, which writes them in runs that
// skip all-zero blocks and hashes every written block with its number (for
// the content-derived UUID). Two buffers: the caller fills one while the
// other is written, so writing and hashing overlap with reading the input.
type seqWriter struct {
	w     io.WriterAt
	base  int64
	bs    int
	buf   []byte
	start uint64 // block number of buf[0]
	n     int    // blocks in buf
	free  chan []byte
	work  chan seqChunk
	done  chan struct{}
	mu    sync.Mutex
	err   error // first background write error
	ended bool
	h     hash.Hash
	sums  []byte // block numbers and CRC-32Cs of one chunk, for h
	zero  []byte
}

// castagnoli is the CRC-32C table (hardware-accelerated where the CPU has
// it), built on first use, not at every start of minidisk.
var castagnoli = sync.OnceValue(func() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) })

type seqChunk struct {
	buf   []byte
	start uint64
	n     int
}

func newSeqWriter(w io.WriterAt, base int64, bs int, h hash.Hash) *seqWriter {
	size := max(writeBufBytes, bs)
	s := &seqWriter{w: w, base: base, bs: bs, h: h, zero: make([]byte, bs),
		free: make(chan []byte, 2), work: make(chan seqChunk, 2), done: make(chan struct{})}
	s.buf = make([]byte, size)
	s.free <- make([]byte, size)
	go s.loop()
	return s
}

// next returns the buffer for block blk, which the caller fills entirely
// before the next call.
func (s *seqWriter) next(blk uint64) ([]byte, error) {
	if s.n > 0 && (blk != s.start+uint64(s.n) || (s.n+1)*s.bs > len(s.buf)) {
		if err := s.flush(); err != nil {
			return nil, err
		}
	}
	if s.n == 0 {
		s.start = blk
	}
	b := s.buf[s.n*s.bs : (s.n+1)*s.bs]
	s.n++
	return b, nil
}

// flush hands the gathered blocks to the background writer.
func (s *seqWriter) flush() error {
	if s.n > 0 {
		s.work <- seqChunk{buf: s.buf, start: s.start, n: s.n}
		s.buf = <-s.free
		s.n = 0
	}
	return s.firstErr()
}

// finish writes what is left and waits for the background writer; it may
// be called again (a deferred call after an error).
func (s *seqWriter) finish() error {
	if !s.ended {
		err := s.flush()
		s.ended = true
		close(s.work)
		<-s.done
		if err != nil {
			return err
		}
	}
	return s.firstErr()
}

func (s *seqWriter) firstErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *seqWriter) loop() {
	defer close(s.done)
	for c := range s.work {
		if s.firstErr() == nil {
			if err := s.write(c); err != nil {
				s.mu.Lock()
				s.err = err
				s.mu.Unlock()
			}
		}
		s.free <- c.buf
	}
}

func (s *seqWriter) write(c seqChunk) error {
	run := -1
	writeRun := func(from, to int) error {
		off := s.base + int64(c.start+uint64(from))*int64(s.bs)
		if _, err := s.w.WriteAt(c.buf[from*s.bs:to*s.bs], off); err != nil {
			return fmt.Errorf("ext2: writing block %d: %w", c.start+uint64(from), err)
		}
		return nil
	}
	// The identity hash takes each non-zero block as its number and its
	// CRC-32C (SSE4.2: ~20x cheaper than SHA-256 over the bytes), so the
	// UUID still follows every byte written; it names the filesystem, it
	// does not protect it.
	sums, tab := s.sums[:0], castagnoli()
	for i := 0; i < c.n; i++ {
		blk := c.buf[i*s.bs : (i+1)*s.bs]
		if bytes.Equal(blk, s.zero) {
			if run >= 0 {
				if err := writeRun(run, i); err != nil {
					return err
				}
				run = -1
			}
			continue
		}
		sums = le.AppendUint64(sums, c.start+uint64(i))
		sums = le.AppendUint32(sums, crc32.Checksum(blk, tab))
		if run < 0 {
			run = i
		}
	}
	s.h.Write(sums)
	s.sums = sums
	if run >= 0 {
		return writeRun(run, c.n)
	}
	return nil
}
