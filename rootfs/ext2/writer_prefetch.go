package ext2

import (
	"fmt"
	"sync"
	"syscall"

	"github.com/minidisk/minidisk/rootfs"
)

// Small host files are read ahead by a few goroutines: for a tree of
// thousands of small files the time goes into open/read/close system calls,
// which then overlap with each other and with the writing. Order, and so the
// output, stays the same; memory stays bounded by prefetchBudget.
const (
	prefetchMaxFile = 64 << 10 // larger files are streamed by the writer itself, through one reused buffer
	prefetchBudget  = 8 << 20  // bytes read ahead at most
	prefetchMaxJobs = 1024     // files read ahead at most
	prefetchWorkers = 4
)

type prefetchJob struct {
	n    *plannedInode
	path string
	data []byte
	err  error
	done chan struct{}
}

type prefetcher struct {
	jobs     []*prefetchJob // small host files, in write order
	next     int            // next job to hand to the workers
	consumed int            // jobs taken by the writer
	inflight int64          // bytes of jobs handed out and not yet taken
	ch       chan *prefetchJob
	wg       sync.WaitGroup
}

func newPrefetcher(nodes []*plannedInode) *prefetcher {
	pf := &prefetcher{}
	for _, n := range nodes {
		if n.ftype != fileTypeReg || n.data == 0 || n.size > prefetchMaxFile {
			continue
		}
		if hf, ok := n.e.Content.(rootfs.HostFile); ok {
			pf.jobs = append(pf.jobs, &prefetchJob{n: n, path: string(hf), done: make(chan struct{})})
		}
	}
	if len(pf.jobs) == 0 {
		return pf
	}
	pf.ch = make(chan *prefetchJob, prefetchMaxJobs)
	for range prefetchWorkers {
		pf.wg.Add(1)
		go func() {
			defer pf.wg.Done()
			for j := range pf.ch {
				j.data, j.err = readHostFile(j.path, j.n.size)
				close(j.done)
			}
		}()
	}
	pf.refill()
	return pf
}

func (pf *prefetcher) refill() {
	for pf.next < len(pf.jobs) && pf.next-pf.consumed < prefetchMaxJobs && pf.inflight < prefetchBudget {
		j := pf.jobs[pf.next]
		pf.inflight += int64(j.n.size)
		pf.ch <- j
		pf.next++
	}
}

// take returns n's read-ahead content, or nil when n is not read ahead.
func (pf *prefetcher) take(n *plannedInode) *prefetchJob {
	if pf.consumed >= len(pf.jobs) || pf.jobs[pf.consumed].n != n {
		return nil
	}
	j := pf.jobs[pf.consumed]
	<-j.done
	pf.consumed++
	pf.inflight -= int64(n.size)
	pf.jobs[pf.consumed-1] = nil // let the data go
	pf.refill()
	return j
}

// close stops the workers (after the jobs already handed out).
func (pf *prefetcher) close() {
	if pf.ch != nil {
		close(pf.ch)
		pf.wg.Wait()
		pf.ch = nil
	}
}

// readHostFile reads a file of the expected size with plain system calls
// (os.Open would also try to register each file with the poller), and
// checks that the size has not changed since the tree was built.
func readHostFile(path string, size uint64) ([]byte, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	for err == syscall.EINTR {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer syscall.Close(fd)
	buf := make([]byte, size+1) // one more byte to see a file that grew
	got := 0
	for got < len(buf) {
		m, err := syscall.Read(fd, buf[got:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if m == 0 {
			break
		}
		got += m
	}
	switch {
	case uint64(got) < size:
		return nil, fmt.Errorf("content ends after %d of %d bytes (%s changed while writing?)", got, size, path)
	case uint64(got) > size:
		return nil, fmt.Errorf("content is longer than its size %d (%s changed while writing?)", size, path)
	}
	return buf[:size], nil
}
