package cpio

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Compression is how an initramfs archive is compressed.
type Compression string

const (
	// Gzip is the default: every kernel with BLK_DEV_INITRD has RD_GZIP
	// unless it was switched off, and the efi profile enables it.
	Gzip Compression = "gzip"
	// None writes the bare archive (the kernel accepts it with no decompressor).
	None Compression = "none"
	// XZ needs CONFIG_RD_XZ. Written as the kernel's own usr/gen_initramfs.sh
	// does (xz --check=crc32 --lzma2=dict=1MiB): the kernel's XZ decoder
	// verifies CRC32 but not the xz tool's default CRC64.
	XZ Compression = "xz"
	// Zstd needs CONFIG_RD_ZSTD.
	Zstd Compression = "zstd"
)

// ParseCompression checks a --compress value.
func ParseCompression(s string) (Compression, error) {
	switch Compression(s) {
	case Gzip, None, XZ, Zstd:
		return Compression(s), nil
	}
	return "", fmt.Errorf("unknown compression %q (use gzip, xz, zstd or none; the efi kernel profile has RD_GZIP only)", s)
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
	case XZ:
		return xz.WriterConfig{CheckSum: xz.CRC32, DictCap: 1 << 20}.NewWriter(w)
	case Zstd:
		// One encoder goroutine: the output must not depend on scheduling.
		return zstd.NewWriter(w, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	}
	return nil, fmt.Errorf("unknown compression %q", c)
}

type nopWriteCloser struct{ io.Writer }

// zstdReader releases the decoder's goroutines at the end of the stream.
type zstdReader struct{ d *zstd.Decoder }

func (z zstdReader) Read(p []byte) (int, error) {
	n, err := z.d.Read(p)
	if err != nil {
		z.d.Close()
	}
	return n, err
}

func (nopWriteCloser) Close() error { return nil }

// Decompress detects the compression of an initramfs by its magic bytes
// and returns a reader of the bare archive: gzip, xz, zstd or none. Other
// kernel formats (lz4, lzo, bzip2, lzma) are named in the error so a caller
// can say what it found.
func Decompress(r io.Reader) (io.Reader, Compression, error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(6)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, "", fmt.Errorf("%w: gzip header: %w", ErrFormat, err)
		}
		// The kernel reads one gzip member per archive; so do we.
		zr.Multistream(false)
		return zr, Gzip, nil
	case bytes.HasPrefix(magic, []byte("07070")):
		return br, None, nil
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		xr, err := xz.NewReader(br)
		if err != nil {
			return nil, XZ, fmt.Errorf("%w: xz header: %w", ErrFormat, err)
		}
		xr.SingleStream = true
		return xr, XZ, nil
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		// Cap the window: the archive is untrusted, memory is not free.
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(64<<20))
		if err != nil {
			return nil, Zstd, fmt.Errorf("%w: zstd header: %w", ErrFormat, err)
		}
		return zstdReader{zr}, Zstd, nil
	case bytes.HasPrefix(magic, []byte{0x02, 0x21, 0x4c, 0x18}), bytes.HasPrefix(magic, []byte{0x04, 0x22, 0x4d, 0x18}):
		return nil, "lz4", fmt.Errorf("%w: lz4-compressed (minidisk reads gzip, xz, zstd and uncompressed archives)", ErrFormat)
	case bytes.HasPrefix(magic, []byte("BZh")):
		return nil, "bzip2", fmt.Errorf("%w: bzip2-compressed (minidisk reads gzip, xz, zstd and uncompressed archives)", ErrFormat)
	case bytes.HasPrefix(magic, []byte{0x89, 'L', 'Z', 'O'}):
		return nil, "lzo", fmt.Errorf("%w: lzo-compressed (minidisk reads gzip, xz, zstd and uncompressed archives)", ErrFormat)
	}
	return nil, "", fmt.Errorf("%w: unknown leading bytes % x", ErrFormat, magic)
}
