package doctor

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/internal/testutil"
)

// Hostile images: doctor must finish with findings, not hang, panic or
// allocate without bound.

// TestDirectoryLoop: debugfs links a directory into itself; with the
// filesystem also past its partition end, doctor walks the tree looking for
// files past the end and must stop at the loop.
func TestDirectoryLoop(t *testing.T) {
	img := makeLegacy(t, legacySpec{size: 8 << 20, sfdisk: "start=63, size=16002, type=83, bootable", blocks: -1, noGRUB: true,
		debugfs: []string{"mkdir /a", "link /a /a/loop"}})
	rep := diagnoseFile(t, img)
	f := want(t, rep, "fs-beyond-partition", Error)
	if !strings.Contains(f.Evidence, "loop") {
		t.Errorf("evidence does not mention the loop: %s", f.Evidence)
	}
}

// TestAbsurdSuperblockCounts: a block count of nearly 2^32 and an inode
// count to match, written over a real superblock.
func TestAbsurdSuperblockCounts(t *testing.T) {
	img := makeLegacy(t, legacySpec{noGRUB: true})
	sb := int64(63*512 + 1024)
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], 0xFFFFFFF0)
	patch(t, img, sb+4, b[:]...) // s_blocks_count
	patch(t, img, sb+0, b[:]...) // s_inodes_count
	rep := diagnoseFile(t, img)
	if rep.Has("fs-unreadable") == nil && rep.Has("fs-beyond-partition") == nil {
		t.Fatalf("no filesystem error:\n%s", dump(rep))
	}
	if rep.ExitCode() != 1 {
		t.Fatalf("exit %d", rep.ExitCode())
	}
}

// TestTruncatedImages: the good image cut at every interesting place.
func TestTruncatedImages(t *testing.T) {
	img := makeLegacy(t, legacySpec{})
	full, err := os.ReadFile(img)
	must(t, err)
	for _, n := range []int{0, 100, 512, 513, 10 * 512, 63 * 512, 63*512 + 2048, 1 << 20, len(full) / 2, len(full) - 512} {
		must(t, os.WriteFile(img, full[:n], 0o644))
		rep := diagnoseFile(t, img)
		want := 1
		if n < 512 {
			want = 2
		}
		if rep.ExitCode() != want || rep.Has("internal-error") != nil {
			t.Errorf("cut at %d bytes: exit %d, want %d:\n%s", n, rep.ExitCode(), want, dump(rep))
		}
	}
}

// FuzzPartitionTable: one sector and an image size, through the MBR checks.
func FuzzPartitionTable(f *testing.F) {
	mbr := make([]byte, 512)
	mbr[510], mbr[511] = 0x55, 0xAA
	copy(mbr[0x1BE:], []byte{0x80, 1, 1, 0, 0x83, 0xfe, 0x3f, 0, 63, 0, 0, 0, 0x82, 0x3e, 0, 0})
	copy(mbr[0x1CE:], []byte{0, 0, 0, 0, 0x05, 0, 0, 0, 0, 0x10, 0, 0, 0, 0x10, 0, 0})
	f.Add(mbr, int64(8<<20))
	f.Add(mbr, int64(512))
	f.Fuzz(func(t *testing.T, sector []byte, size int64) {
		if len(sector) > 512 {
			sector = sector[:512]
		}
		b := make([]byte, 512)
		copy(b, sector)
		if size < 512 {
			size = 512
		}
		d := &diag{r: zeroTail(b), size: size, rep: &Report{DiskSectors: uint64(size) / 512}, mbr: b}
		d.checkPartitions()
		// Every primary partition reported is one of the sector's four
		// entries, as stored (a wrong index or start would send the later
		// checks to the wrong sectors). Logical ones (5..) come from EBRs
		// inside an extended entry: numbered in order, starting at or
		// after that entry's first sector (the EBR itself may be sector 0
		// when the extended entry starts there).
		nextLogical := 5
		for _, p := range d.rep.Partitions {
			if p.Logical {
				if p.Index != nextLogical {
					t.Fatalf("logical partition numbered %d, want %d", p.Index, nextLogical)
				}
				nextLogical++
				inside := false
				for i := range 4 {
					e := b[0x1BE+16*i:]
					if disk.IsExtended(e[4]) && binary.LittleEndian.Uint32(e[12:]) != 0 && p.Start >= uint64(binary.LittleEndian.Uint32(e[8:])) {
						inside = true
					}
				}
				if !inside {
					t.Fatalf("logical partition %+v without an extended entry before it in % x", p, b[0x1BE:0x1FE])
				}
				continue
			}
			if p.Index < 1 || p.Index > 4 {
				t.Fatalf("primary partition index %d outside 1..4", p.Index)
			}
			e := b[0x1BE+16*(p.Index-1):]
			if p.Type != e[4] || p.Start != uint64(binary.LittleEndian.Uint32(e[8:])) || p.Sectors != uint64(binary.LittleEndian.Uint32(e[12:])) {
				t.Fatalf("partition %+v does not match entry %d % x", p, p.Index, e[:16])
			}
		}
	})
}

// zeroTail reads b, then zeros to any length: a sparse image behind sector 0.
type zeroTail []byte

func (z zeroTail) ReadAt(p []byte, off int64) (int, error) {
	for i := range p {
		p[i] = 0
		if o := off + int64(i); o >= 0 && o < int64(len(z)) {
			p[i] = z[o]
		}
	}
	return len(p), nil
}

// TestLyingKernelSizeTrailer: BOOTX64.EFI's gzip payload is a few hundred
// bytes, but the 4-byte decompressed-size trailer the kernel build appends
// after the stream claims 128 MiB (the most kernel.Inspect accepts). doctor
// used to allocate the claimed size up front, 128 MiB for a 1 MiB image;
// what it allocates must follow the image, not the claim. Measured as bytes
// allocated (runtime.MemStats), not time: deterministic on any machine.
func TestLyingKernelSizeTrailer(t *testing.T) {
	loader := fakeEFIKernel(t, makeInitramfs(t, initramfsSpec{}), 0x8664)
	binary.LittleEndian.PutUint32(loader[len(loader)-4:], 128<<20)
	img := smallEFIImageWith(t, loader)
	if img == nil {
		testutil.Missing(t, "sfdisk, mkfs.vfat or mcopy not installed (apt-get install fdisk dosfstools mtools)")
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	rep := Diagnose(bytes.NewReader(img), int64(len(img)), Options{Name: "lying-trailer.img"})
	runtime.ReadMemStats(&after)
	// The kernel was still decompressed and read (the initramfs inside it
	// found): the bound below is met by allocating less, not by skipping it.
	if rep.Has(IDInternalError) != nil || rep.Has(IDUEFIInitOK) == nil {
		t.Fatalf("the kernel's initramfs was not read:\n%s", dump(rep))
	}
	// A normal run on this image allocates about 1.3 MiB; four times the
	// image's size leaves room for that and none for the 128 MiB claim.
	if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(4*len(img)); got > limit {
		t.Fatalf("Diagnose allocated %d bytes on a %d-byte image (limit %d): the size trailer's claim was trusted", got, len(img), limit)
	}
}

// newcHeader is a newc (070701) header and NUL-terminated name, padded to 4.
func newcHeader(name string, mode uint32, size int64) []byte {
	h := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", 1, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, len(name)+1, 0) + name + "\x00"
	for len(h)%4 != 0 {
		h += "\x00"
	}
	return []byte(h)
}

// gzipZerosBomb is a gzip'd newc archive whose first entry is size bytes
// of zeros, then an executable /init. Deflate's blocks for a further MiB of
// zeros are the same bytes each time (the window is all zeros), so a GiB
// costs one MiB's compression and ~1 MiB of stream.
func gzipZerosBomb(t *testing.T, size int64) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	mib := make([]byte, 1<<20)
	zw.Write(newcHeader("zeros", 0o100644, size))
	zw.Write(mib)
	zw.Flush()
	var chunk []byte
	for i := 0; i < 2; i++ { // the second MiB's blocks repeat from then on
		mark := buf.Len()
		zw.Write(mib)
		zw.Flush()
		if i == 1 && !bytes.Equal(buf.Bytes()[mark:], chunk) {
			t.Fatal("deflate's blocks for a MiB of zeros differ between MiBs")
		}
		chunk = append([]byte(nil), buf.Bytes()[mark:]...)
	}
	for i := int64(3); i < size>>20; i++ {
		buf.Write(chunk)
	}
	zw.Write(newcHeader("init", 0o100755, 10))
	zw.Write([]byte("#!/bin/sh\n\x00\x00"))
	zw.Write(newcHeader("TRAILER!!!", 0, 0))
	zw.Close()
	return buf.Bytes()
}

// TestBuiltinInitramfsBomb: the EFI-stub kernel's built-in initramfs is a
// gzip'd archive whose first entry is 1 GiB of zeros, about 1 MiB of
// stream (and a few KiB once the kernel payload compresses it again).
// Reading /init behind it meant inflating the whole GiB; doctor now stops
// at 16 times the kernel file's size (64 MiB at least) and says why. The
// assertion is on what doctor reports, not on time: before the bound it
// found /init, after it it reports the bomb.
func TestBuiltinInitramfsBomb(t *testing.T) {
	initramfs := gzipZerosBomb(t, 1<<30)
	loader := fakeEFIKernel(t, initramfs, 0x8664)
	img := smallEFIImageWith(t, loader)
	if img == nil {
		testutil.Missing(t, "sfdisk, mkfs.vfat or mcopy not installed (apt-get install fdisk dosfstools mtools)")
	}
	rep := Diagnose(bytes.NewReader(img), int64(len(img)), Options{Name: "bomb.img"})
	f := rep.Has(IDUEFIInitramfsMissing)
	if f == nil || !strings.Contains(f.Evidence, "decompression bomb") || rep.Has(IDUEFIInitOK) != nil {
		t.Fatalf("the %d-byte kernel's 1 GiB initramfs entry was not stopped:\n%s", len(loader), dump(rep))
	}
}

// TestAbsurdBlockCountAllocation: s_blocks_count 2^32-1 on a 32 MiB
// partition of 1 KiB blocks: 524288 block groups, whose 16 MiB descriptor
// table still fits the partition, so it is read (doctor reports the
// filesystem running past its partition). The table is read through one
// reused 64 KiB piece: doctor allocates less than the image has bytes (it
// allocated 1.7 times as much before).
func TestAbsurdBlockCountAllocation(t *testing.T) {
	path := makeLegacy(t, legacySpec{noGRUB: true, size: 32 << 20})
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], 0xFFFFFFFF)
	patch(t, path, 63*512+1024+4, b[:]...) // s_blocks_count
	img, err := os.ReadFile(path)
	must(t, err)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	rep := Diagnose(bytes.NewReader(img), int64(len(img)), Options{Name: "blocks.img"})
	runtime.ReadMemStats(&after)
	if rep.Has("fs-unreadable") == nil && rep.Has("fs-beyond-partition") == nil {
		t.Fatalf("no filesystem error:\n%s", dump(rep))
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > uint64(len(img)) {
		t.Fatalf("Diagnose allocated %d bytes on a %d-byte image", got, len(img))
	}
}
