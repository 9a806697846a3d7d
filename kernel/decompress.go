package kernel

import (
	"bufio"
	"compress/bzip2"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz/lzma"
)

// Every compression arch/x86/boot/compressed/Makefile can wrap the kernel
// in: the stream, then $(size_append), the decompressed size as a 32-bit
// little-endian number (scripts/Makefile.lib). The commands are
// `gzip -n -f -9`, `bzip2 -9`, `lzma -9`, xz_wrap.sh (`xz --check=crc32
// --x86 --lzma2=,dict=32MiB`), `lz4 -l -9` (the legacy frame format),
// `zstd -22 --ultra`; lzo is not read.

// payloadReader returns the decompressed stream of a kernel payload and a
// function that releases the decoder.
func payloadReader(kind string, payload *io.SectionReader) (io.Reader, func(), error) {
	nop := func() {}
	switch kind {
	case "gzip":
		zr, err := gzip.NewReader(payload)
		if err != nil {
			return nil, nop, fmt.Errorf("gzip payload: %w", err)
		}
		zr.Multistream(false)
		return zr, nop, nil
	case "zstd":
		// `zstd -22 --ultra` reading a pipe (the size is unknown) uses
		// the largest window, 2^27 bytes.
		zr, err := zstd.NewReader(payload, zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxMemory(maxDecompressed), zstd.WithDecoderMaxWindow(1<<27))
		if err != nil {
			return nil, nop, fmt.Errorf("zstd payload: %w", err)
		}
		return zr, zr.Close, nil
	case "xz":
		r, err := xzReader(payload)
		return r, nop, err
	case "lz4":
		return newLZ4Legacy(payload, payload.Size()), nop, nil
	case "bzip2":
		return bzip2.NewReader(bufio.NewReaderSize(payload, 64<<10)), nop, nil
	case "lzma":
		// `lzma -9` reading a pipe writes the .lzma (LZMA-alone) header
		// with an unknown size and ends the stream with an end marker,
		// so the decoder stops before the size trailer.
		zr, err := lzma.NewReader(bufio.NewReaderSize(payload, 64<<10))
		if err != nil {
			return nil, nop, fmt.Errorf("lzma payload: %w", err)
		}
		return zr, nop, nil
	}
	return nil, nop, fmt.Errorf("%s payload: not decompressed (minidisk reads gzip, xz, zstd, lz4, bzip2 and lzma kernels)", kind)
}

// sizeTrailer returns the decompressed size the kernel appends after the
// stream, or 0 when it is not plausible (tests' stand-ins, damage).
func sizeTrailer(payload *io.SectionReader) int {
	n := payload.Size()
	if n < 8 {
		return 0
	}
	var b [4]byte
	if _, err := payload.ReadAt(b[:], n-4); err != nil {
		return 0
	}
	size := int(binary.LittleEndian.Uint32(b[:]))
	if size <= 0 || size > maxDecompressed {
		return 0
	}
	return size
}

// trailerTrust is how many times its compressed size a payload's buffer is
// allocated from the size trailer before the stream has produced the bytes:
// kernels compress 3 to 6 times (a 60 MB vmlinux in a 12 MB xz payload), so
// a real kernel still decompresses into one buffer, while a trailer on a
// few hundred damaged bytes cannot make doctor allocate 128 MiB up front.
const trailerTrust = 8

// decompress returns as much of the payload as it can, up to
// maxDecompressed, in one buffer of the trailer's size when the trailer is
// plausible for the payload's size; otherwise the buffer grows by doubling
// (toward the trailer's size) as the stream fills it, so what is allocated
// follows what the stream decompresses to, not what the image claims.
// Trailing data after a complete stream is not an error.
func decompress(kind string, payload *io.SectionReader) ([]byte, error) {
	r, release, err := payloadReader(kind, payload)
	if err != nil {
		return nil, err
	}
	defer release()
	want := sizeTrailer(payload)
	trusted := min(int64(want), payload.Size()*trailerTrust)
	buf := make([]byte, 0, max(int(trusted), 1<<20))
	for len(buf) < maxDecompressed {
		if len(buf) == cap(buf) && len(buf) < want {
			// Filled short of the trailer's size: the stream has earned a
			// larger buffer.
			grown := make([]byte, len(buf), min(want, 2*cap(buf)))
			copy(grown, buf)
			buf = grown
			continue
		}
		if len(buf) == cap(buf) {
			// Full at the trailer's size: the stream should end here, so
			// look for its end before doubling the buffer.
			var probe [1]byte
			n, rerr := io.ReadFull(r, probe[:])
			if n == 0 && (rerr == io.EOF || want > 0 && len(buf) == want && rerr != nil) {
				return buf, nil
			}
			if n == 0 {
				return buf, fmt.Errorf("payload decompression stopped after %d bytes: %w", len(buf), rerr)
			}
			buf = append(buf, probe[0])
			continue
		}
		n, rerr := r.Read(buf[len(buf):min(cap(buf), maxDecompressed)])
		buf = buf[:len(buf)+n]
		if rerr == io.EOF {
			return buf, nil
		}
		if rerr != nil {
			if want > 0 && len(buf) == want {
				return buf, nil // the whole kernel; the decoder tripped over the trailer
			}
			if errors.Is(rerr, io.ErrUnexpectedEOF) {
				return buf, fmt.Errorf("payload truncated after %d decompressed bytes", len(buf))
			}
			return buf, fmt.Errorf("payload decompression stopped after %d bytes: %w", len(buf), rerr)
		}
	}
	return buf, nil
}

func readCapped(src io.Reader) ([]byte, error) {
	var buf []byte
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := src.Read(buf[len(buf):min(cap(buf), maxDecompressed)])
		buf = buf[:len(buf)+n]
		switch {
		case err == io.EOF || len(buf) >= maxDecompressed:
			return buf, nil
		case errors.Is(err, io.ErrUnexpectedEOF):
			return buf, fmt.Errorf("payload truncated after %d decompressed bytes", len(buf))
		case err != nil:
			return buf, fmt.Errorf("payload decompression stopped after %d bytes: %w", len(buf), err)
		}
	}
}

// The LZ4 legacy frame (lz4 -l; lz4 Frame format, "Legacy frame"): the
// magic 0x184C2102, then blocks, each a 32-bit little-endian compressed
// size and an LZ4 block of at most 8 MiB decompressed. The kernel's
// stream is followed by its size trailer, which would read as one more
// block size: lib/decompress_unlz4.c stops at the end of its input, so
// this stops when a size field is the payload's last 4 bytes. A magic
// number where a size is expected starts a concatenated stream.
const (
	lz4LegacyMagic    = 0x184C2102
	lz4LegacyBlockMax = 8 << 20
	// LZ4_COMPRESSBOUND(isize) = isize + isize/255 + 16 (lz4.h).
	lz4BlockBound = lz4LegacyBlockMax + lz4LegacyBlockMax/255 + 16
)

type lz4Legacy struct {
	r      io.Reader
	remain int64 // payload bytes not yet read
	out    []byte
	pos    int
	in     []byte
	err    error
	magic  bool
}

func newLZ4Legacy(r io.Reader, size int64) *lz4Legacy {
	return &lz4Legacy{r: bufio.NewReaderSize(r, 64<<10), remain: size}
}

func (z *lz4Legacy) Read(p []byte) (int, error) {
	for z.pos == len(z.out) {
		if z.err != nil {
			return 0, z.err
		}
		if len(p) >= lz4LegacyBlockMax {
			// Room for a whole block: decode straight into p, saving a
			// copy of every byte of the kernel.
			n, err := z.next(p)
			z.err = err
			if n > 0 || err != nil {
				return n, nil
			}
			continue
		}
		if z.out == nil {
			z.out = make([]byte, lz4LegacyBlockMax)
		}
		n, err := z.next(z.out[:lz4LegacyBlockMax])
		z.out, z.pos, z.err = z.out[:n], 0, err
	}
	n := copy(p, z.out[z.pos:])
	z.pos += n
	return n, nil
}

// next decodes one block into dst (at least lz4LegacyBlockMax long).
func (z *lz4Legacy) next(dst []byte) (int, error) {
	for {
		if z.remain < 4 {
			return 0, io.EOF
		}
		var hdr [4]byte
		if _, err := io.ReadFull(z.r, hdr[:]); err != nil {
			return 0, io.ErrUnexpectedEOF
		}
		z.remain -= 4
		size := binary.LittleEndian.Uint32(hdr[:])
		if !z.magic {
			if size != lz4LegacyMagic {
				return 0, errors.New("lz4 payload: no legacy frame magic 0x184C2102 (minidisk reads lz4 -l, as the kernel writes)")
			}
			z.magic = true
			continue
		}
		if size == lz4LegacyMagic {
			continue
		}
		if z.remain == 0 {
			return 0, io.EOF // the size trailer
		}
		if int64(size) > z.remain {
			return 0, io.ErrUnexpectedEOF
		}
		if size > lz4BlockBound {
			return 0, fmt.Errorf("lz4 payload: block of %d bytes is larger than a legacy block can be", size)
		}
		if cap(z.in) < int(size) {
			z.in = make([]byte, size)
		}
		z.in = z.in[:size]
		if _, err := io.ReadFull(z.r, z.in); err != nil {
			return 0, io.ErrUnexpectedEOF
		}
		z.remain -= int64(size)
		n, err := decodeLZ4Block(z.in, dst[:lz4LegacyBlockMax])
		if err != nil {
			return 0, fmt.Errorf("lz4 payload: %w", err)
		}
		return n, nil
	}
}

// decodeLZ4Block decodes one LZ4 block (lz4 Block format description)
// into dst and returns the decoded length. A block is a run of sequences:
// a token (literal length in the high nibble, match length - 4 in the
// low), the literal length's extension bytes when the nibble is 15, the
// literals, then — except in the last sequence — a 2-byte little-endian
// offset back into the output and the match length's extension bytes.
// Every length and offset is checked against src and dst.
func decodeLZ4Block(src, dst []byte) (int, error) {
	corrupt := errors.New("corrupt lz4 block")
	s, d := 0, 0
	extend := func(n int) (int, bool) {
		for {
			if s >= len(src) {
				return 0, false
			}
			b := src[s]
			s++
			n += int(b)
			if n > len(dst) {
				return 0, false
			}
			if b != 255 {
				return n, true
			}
		}
	}
	for s < len(src) {
		token := src[s]
		s++
		lit := int(token >> 4)
		if lit == 15 {
			var ok bool
			if lit, ok = extend(lit); !ok {
				return d, corrupt
			}
		}
		if lit > len(src)-s || lit > len(dst)-d {
			return d, corrupt
		}
		d += copy(dst[d:], src[s:s+lit])
		s += lit
		if s == len(src) {
			return d, nil // the last sequence has literals only
		}
		if len(src)-s < 2 {
			return d, corrupt
		}
		offset := int(src[s]) | int(src[s+1])<<8
		s += 2
		if offset == 0 || offset > d {
			return d, corrupt
		}
		match := int(token & 15)
		if match == 15 {
			var ok bool
			if match, ok = extend(match); !ok {
				return d, corrupt
			}
		}
		match += 4
		if match > len(dst)-d {
			return d, corrupt
		}
		from := d - offset
		if offset >= match {
			d += copy(dst[d:d+match], dst[from:from+match])
			continue
		}
		// Overlapping: the match repeats the last offset bytes. Copy them
		// once, then double what is copied; while the copied length is
		// a multiple of offset the pattern lines up.
		copied := copy(dst[d:d+offset], dst[from:d])
		for copied < match {
			copied += copy(dst[d+copied:d+match], dst[d:d+copied])
		}
		d += match
	}
	return d, nil
}
