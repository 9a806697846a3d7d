package cpio

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
)

// Compression is how an initramfs archive is compressed.
type Compression string

const (
	// Gzip is the default: every kernel with BLK_DEV_INITRD has RD_GZIP
	// unless it was switched off, and the efi profile enables it.
	Gzip Compression = "gzip"
	// None writes the bare archive (the kernel accepts it with no decompressor).
	None Compression = "none"
)

// ParseCompression checks a --compress value.
func ParseCompression(s string) (Compression, error) {
	switch Compression(s) {
	case Gzip, None:
		return Compression(s), nil
	}
	return "", fmt.Errorf("unknown compression %q (use gzip or none; the efi kernel profile has RD_GZIP only)", s)
}

// Compress returns a writer that compresses into w; Close finishes the
// stream but does not close w. The gzip header carries no name and a zero
// mtime (RFC 1952 MTIME=0: "no time stamp is available"), so the output
// depends only on the archive bytes.
func Compress(w io.Writer, c Compression) (io.WriteCloser, error) {
	switch c {
	case Gzip, "":
		return gzip.NewWriterLevel(w, gzip.BestCompression)
	case None:
		return nopWriteCloser{w}, nil
	}
	return nil, fmt.Errorf("unknown compression %q", c)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// Decompress detects the compression of an initramfs by its magic bytes
// and returns a reader of the bare archive. Only gzip and uncompressed
// archives are recognised; other kernel formats (xz, zstd, lz4…) are named
// in the error so a caller can say what it found.
func Decompress(r io.Reader) (io.Reader, Compression, error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(6)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, "", fmt.Errorf("%w: gzip header: %v", ErrFormat, err)
		}
		// The kernel reads one gzip member per archive; so do we.
		zr.Multistream(false)
		return zr, Gzip, nil
	case bytes.HasPrefix(magic, []byte("07070")):
		return br, None, nil
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return nil, "xz", fmt.Errorf("%w: xz-compressed (minidisk reads gzip and uncompressed archives)", ErrFormat)
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return nil, "zstd", fmt.Errorf("%w: zstd-compressed (minidisk reads gzip and uncompressed archives)", ErrFormat)
	}
	return nil, "", fmt.Errorf("%w: unknown leading bytes % x", ErrFormat, magic)
}
