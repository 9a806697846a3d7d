package doctor

import (
	"errors"
	"fmt"
	"io"
)

// An archive doctor unpacks (an initrd, a UKI's .initrd, a kernel's
// built-in initramfs) is read through its decompressor, and reading an
// entry means decompressing the entry before it: a few KiB of gzip
// (1032:1) or zstd RLE blocks (32768:1) could make doctor inflate
// gigabytes. Real initramfs archives expand 2 to 5 times (a 70 MB
// distribution initrd is ~250 MB unpacked), so the work is bounded by the
// image: at most archiveExpansion times the compressed bytes, or
// archiveFloor for small archives.
const (
	archiveExpansion = 16
	archiveFloor     = 64 << 20
)

// errArchiveBomb is returned once an archive has decompressed past its
// budget.
var errArchiveBomb = errors.New("decompression bomb")

// archiveBudget is how many decompressed bytes are still allowed; one
// budget may be shared by several tries (the built-in initramfs search).
type archiveBudget struct{ left, total int64 }

func newArchiveBudget(compressed int) *archiveBudget {
	n := max(int64(compressed)*archiveExpansion, archiveFloor)
	return &archiveBudget{left: n, total: n}
}

func (b *archiveBudget) exhausted() bool { return b.left <= 0 }

// reader returns r, failing with errArchiveBomb when the budget runs out.
func (b *archiveBudget) reader(r io.Reader) io.Reader { return &budgetReader{r: r, b: b} }

type budgetReader struct {
	r io.Reader
	b *archiveBudget
}

func (br *budgetReader) Read(p []byte) (int, error) {
	if br.b.left <= 0 {
		return 0, fmt.Errorf("it decompresses to more than %d bytes, %d times its compressed size: %w, not an initramfs", br.b.total, archiveExpansion, errArchiveBomb)
	}
	if int64(len(p)) > br.b.left {
		p = p[:br.b.left]
	}
	n, err := br.r.Read(p)
	br.b.left -= int64(n)
	return n, err
}
