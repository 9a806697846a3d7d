package kernel

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/ulikunitz/xz/lzma"
)

// The kernel compresses with `xz --check=crc32 --x86 --lzma2=...`
// (scripts/xz_wrap.sh): an .xz stream whose block runs the x86 BCJ filter
// before LZMA2. github.com/ulikunitz/xz only reads LZMA2-only blocks, so
// this reads the container (tukaani xz-file-format 1.0.4, sections 2.1 and
// 3.1), hands the LZMA2 data to its lzma package and undoes BCJ here.

const (
	xzFilterX86   = 0x04
	xzFilterLZMA2 = 0x21
	maxXZDict     = 64 << 20 // clamp hostile dictionary sizes; the kernel uses 32 MiB
)

func decompressXZ(payload io.Reader) ([]byte, error) {
	r, err := xzReader(payload)
	if err != nil {
		return nil, err
	}
	return readCapped(r)
}

// xzReader returns the decompressed stream of a kernel's xz payload, the
// x86 BCJ filter undone as the data streams.
func xzReader(payload io.Reader) (io.Reader, error) {
	br := bufio.NewReader(payload)
	sh := make([]byte, 12)
	if _, err := io.ReadFull(br, sh); err != nil {
		return nil, fmt.Errorf("xz payload: stream header: %w", err)
	}
	if crc32.ChecksumIEEE(sh[6:8]) != binary.LittleEndian.Uint32(sh[8:]) {
		return nil, errors.New("xz payload: stream header CRC mismatch")
	}
	sizeByte, err := br.ReadByte()
	if err != nil {
		return nil, fmt.Errorf("xz payload: block header: %w", err)
	}
	if sizeByte == 0 {
		return nil, errors.New("xz payload: stream has no blocks")
	}
	bh := make([]byte, (int(sizeByte)+1)*4)
	bh[0] = sizeByte
	if _, err := io.ReadFull(br, bh[1:]); err != nil {
		return nil, fmt.Errorf("xz payload: block header: %w", err)
	}
	if crc32.ChecksumIEEE(bh[:len(bh)-4]) != binary.LittleEndian.Uint32(bh[len(bh)-4:]) {
		return nil, errors.New("xz payload: block header CRC mismatch")
	}
	flags := bh[1]
	pos := 2
	body := bh[:len(bh)-4]
	varint := func() (uint64, error) {
		v, n := binary.Uvarint(body[min(pos, len(body)):])
		if n <= 0 {
			return 0, errors.New("xz payload: bad number in block header")
		}
		pos += n
		return v, nil
	}
	for _, bit := range []byte{0x40, 0x80} { // compressed, uncompressed size
		if flags&bit != 0 {
			if _, err := varint(); err != nil {
				return nil, err
			}
		}
	}
	var bcj, haveBCJ = uint32(0), false
	dict := -1
	for f := 0; f < int(flags&3)+1; f++ {
		id, err := varint()
		if err != nil {
			return nil, err
		}
		psize, err := varint()
		if err != nil {
			return nil, err
		}
		if psize > uint64(len(body)-pos) {
			return nil, errors.New("xz payload: filter properties overrun the block header")
		}
		props := body[pos : pos+int(psize)]
		pos += int(psize)
		switch {
		case id == xzFilterX86 && (psize == 0 || psize == 4) && dict < 0:
			haveBCJ = true
			if psize == 4 {
				bcj = binary.LittleEndian.Uint32(props)
			}
		case id == xzFilterLZMA2 && psize == 1 && f == int(flags&3):
			d, err := lzma2Dict(props[0])
			if err != nil {
				return nil, err
			}
			dict = d
		default:
			return nil, fmt.Errorf("xz payload: filter 0x%x not supported (minidisk reads x86 BCJ + LZMA2, as the kernel writes)", id)
		}
	}
	if dict < 0 {
		return nil, errors.New("xz payload: block has no LZMA2 filter")
	}
	zr, err := lzma.Reader2Config{DictCap: dict}.NewReader2(br)
	if err != nil {
		return nil, fmt.Errorf("xz payload: %w", err)
	}
	if !haveBCJ {
		return zr, nil
	}
	return &bcjReader{src: zr, bcj: newBCJx86(bcj)}, nil
}

// bcjReader undoes BCJ on a stream: a converted instruction may straddle
// two reads, so the last (up to 4) bytes the filter could not decide yet
// wait for the next read, as liblzma's simple coder keeps them.
type bcjReader struct {
	src   io.Reader
	bcj   *bcjX86
	buf   []byte // buf[start:done] converted, not yet returned; buf[done:] not yet converted
	start int
	done  int
	err   error // from src; returned once everything before it is
}

func (r *bcjReader) Read(p []byte) (int, error) {
	for r.start == r.done {
		rest := copy(r.buf, r.buf[r.done:])
		r.buf, r.start, r.done = r.buf[:rest], 0, 0
		if r.err != nil {
			if rest > 0 { // the tail is never an instruction: as is
				r.done = rest
				break
			}
			return 0, r.err
		}
		if r.buf == nil {
			r.buf = make([]byte, 0, 256<<10)
		}
		n, err := r.src.Read(r.buf[rest:cap(r.buf)])
		r.buf = r.buf[:rest+n]
		r.err = err
		r.done = r.bcj.convert(r.buf)
	}
	n := copy(p, r.buf[r.start:r.done])
	r.start += n
	return n, nil
}

// unBCJx86 undoes the x86 branch-converter filter in place on a whole
// buffer (startPos is the filter's start offset property).
func unBCJx86(buf []byte, startPos uint32) {
	newBCJx86(startPos).convert(buf)
}

// bcjX86 is liblzma's simple/x86.c decoder: the encoder turned the
// relative targets of CALL (E8) and JMP (E9) into absolute ones so that
// repeated calls compress. It keeps its state between buffers, so a
// stream is converted piece by piece.
type bcjX86 struct {
	pos      uint32 // stream position of the next unconverted byte
	prevMask uint32
	prevPos  uint32
}

func newBCJx86(startPos uint32) *bcjX86 {
	return &bcjX86{pos: startPos, prevPos: startPos - 5}
}

// convert decodes buf in place and returns how many leading bytes are
// final; the rest (at most 4 bytes, an instruction that may continue in
// the next buffer) must be passed again at the front of the next call.
func (s *bcjX86) convert(buf []byte) int {
	maskToAllowed := [8]bool{true, true, true, false, true, false, false, false}
	maskToBit := [8]uint32{0, 1, 2, 2, 3, 3, 3, 3}
	msByte := func(b byte) bool { return b == 0 || b == 0xFF }
	if len(buf) < 5 {
		return 0
	}
	startPos := s.pos
	prevMask, prevPos := s.prevMask, s.prevPos
	if startPos-prevPos > 5 {
		prevPos = startPos - 5
	}
	limit := len(buf) - 5
	i := 0
	for i <= limit {
		b := buf[i]
		if b != 0xE8 && b != 0xE9 {
			i++
			continue
		}
		now := startPos + uint32(i)
		offset := now - prevPos
		prevPos = now
		if offset > 5 {
			prevMask = 0
		} else {
			for k := uint32(0); k < offset; k++ {
				prevMask &= 0x77
				prevMask <<= 1
			}
		}
		b = buf[i+4]
		if msByte(b) && maskToAllowed[(prevMask>>1)&7] && (prevMask>>1) < 0x10 {
			src := uint32(b)<<24 | uint32(buf[i+3])<<16 | uint32(buf[i+2])<<8 | uint32(buf[i+1])
			var dest uint32
			for {
				dest = src - (now + 5)
				if prevMask == 0 {
					break
				}
				j := maskToBit[(prevMask>>1)&7] // always < 8 here; masked so Go cannot panic
				b = byte(dest >> (24 - j*8))
				if !msByte(b) {
					break
				}
				src = dest ^ (1<<(32-j*8) - 1)
			}
			buf[i+4] = ^byte((dest>>24)&1 - 1)
			buf[i+3] = byte(dest >> 16)
			buf[i+2] = byte(dest >> 8)
			buf[i+1] = byte(dest)
			i += 5
			prevMask = 0
		} else {
			i++
			prevMask |= 1
			if msByte(b) {
				prevMask |= 0x10
			}
		}
	}
	s.prevMask, s.prevPos = prevMask, prevPos
	s.pos = startPos + uint32(i)
	return i
}

// lzma2Dict decodes the LZMA2 dictionary-size byte (xz format 5.3.1).
func lzma2Dict(p byte) (int, error) {
	bits := int(p & 0x3F)
	if bits > 40 {
		return 0, errors.New("xz payload: bad LZMA2 dictionary size")
	}
	size := uint64(0xFFFFFFFF)
	if bits < 40 {
		size = uint64(2|(bits&1)) << (bits/2 + 11)
	}
	size = max(size, lzma.MinDictCap)
	return int(min(size, maxXZDict)), nil
}
