package efi

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/minidisk/minidisk/rootfs/fat"
)

// finishFAT32 corrects what go-diskfs v1.9.4 leaves behind in a FAT32 it
// created, checked against fsck.fat 4.2:
//   - every directory entry ("." and ".." and the volume label included)
//     carries the clock (or $SOURCE_DATE_EPOCH) time; it gets epoch instead,
//     so the bytes do not depend on when or how minidisk ran;
//   - the ".." entry of a directory in the root points to cluster 2; the
//     FAT spec (and fsck.fat: "Invalid '..' entry in the second slot") wants
//     0 there, meaning the root;
//   - FSInfo's free-cluster count is left "unknown" (0xFFFFFFFF), which
//     fsck.fat reports as "Free cluster summary uninitialized"; it gets the
//     real count, and the next-free hint the first free cluster.
//
// f holds the filesystem at byte offset part. It is our own freshly written
// filesystem, but the walk is bounded anyway (cluster numbers checked,
// chains and directory counts capped).
func finishFAT32(rw readerWriterAt, part int64, epoch time.Time) error {
	fsys, b, err := readBPB(rw, part, 32)
	if err != nil {
		return err
	}
	bps := int64(b.BytesPerSector)
	spc := int64(b.SectorsPerCluster)
	reserved := int64(b.ReservedSectors)
	fatSectors := int64(b.FATSize())
	rootCluster := b.RootCluster
	fsinfoSector := int64(b.FSInfoSector)
	backupBoot := int64(b.BackupBoot)
	clusters := fsys.Clusters()
	dataStart, err := fsys.ClusterOffset(2) // bytes from part
	if err != nil {
		return err
	}
	table := make([]byte, fatSectors*bps) // the first FAT
	if _, err := rw.ReadAt(table, part+reserved*bps); err != nil {
		return err
	}
	entry := func(c uint32) uint32 {
		if int64(c)*4+4 > int64(len(table)) {
			return 0x0FFFFFFF
		}
		return binary.LittleEndian.Uint32(table[c*4:]) & 0x0FFFFFFF
	}
	clusterBytes := spc * bps
	clusterOff := func(c uint32) int64 { return part + dataStart + int64(c-2)*clusterBytes }
	valid := func(c uint32) bool { return c >= 2 && c < clusters+2 }

	date, tm := fatDateTime(epoch)
	type dir struct {
		cluster uint32
		inRoot  bool // a directory directly inside the root
	}
	queue := []dir{{cluster: rootCluster}}
	for visited := 0; len(queue) > 0; visited++ {
		if visited > 1024 {
			return fmt.Errorf("FAT32: more directories than an ESP of minidisk's has")
		}
		d := queue[0]
		queue = queue[1:]
		buf := make([]byte, clusterBytes)
		end := false
		for c, hops := d.cluster, 0; valid(c) && !end; c, hops = entry(c), hops+1 {
			if hops > int(clusters) {
				return fmt.Errorf("FAT32: cluster chain loop at %d", c)
			}
			if _, err := rw.ReadAt(buf, clusterOff(c)); err != nil {
				return err
			}
			for i := 0; i+fat.DirEntrySize <= len(buf); i += fat.DirEntrySize {
				e := buf[i : i+fat.DirEntrySize]
				if e[fat.OffsetDirName] == fat.DirNameEnd {
					end = true
					break
				}
				if !stampEntry(e, date, tm) || e[fat.OffsetDirAttr]&fat.AttrDirectory == 0 {
					continue
				}
				switch dirName(e) {
				case dotDot:
					if d.inRoot {
						binary.LittleEndian.PutUint16(e[fat.OffsetDirFirstClusterHigh:], 0)
						binary.LittleEndian.PutUint16(e[fat.OffsetDirFirstClusterLow:], 0)
					}
				case dot:
				default:
					sub := uint32(binary.LittleEndian.Uint16(e[fat.OffsetDirFirstClusterHigh:]))<<16 | uint32(binary.LittleEndian.Uint16(e[fat.OffsetDirFirstClusterLow:]))
					if valid(sub) {
						queue = append(queue, dir{cluster: sub, inRoot: d.cluster == rootCluster})
					}
				}
			}
			if _, err := rw.WriteAt(buf, clusterOff(c)); err != nil {
				return err
			}
		}
	}

	var free, firstFree uint32
	for c := uint32(2); c < clusters+2; c++ {
		if entry(c) == 0 {
			if free == 0 {
				firstFree = c
			}
			free++
		}
	}
	for _, sec := range []int64{fsinfoSector, backupBoot + fsinfoSector} {
		fsi := make([]byte, 512)
		if _, err := rw.ReadAt(fsi, part+sec*bps); err != nil {
			return err
		}
		// FSInfo signatures: "RRaA" at 0, "rrAa" at 484 (FAT spec, FSInfo).
		if string(fsi[0:4]) != "RRaA" || string(fsi[484:488]) != "rrAa" {
			continue
		}
		binary.LittleEndian.PutUint32(fsi[488:], free)
		binary.LittleEndian.PutUint32(fsi[492:], firstFree)
		if _, err := rw.WriteAt(fsi, part+sec*bps); err != nil {
			return err
		}
	}
	return nil
}

// readBPB reads the boot sector of the FAT at byte part of rw through
// rootfs/fat, which owns the BPB's layout, and checks it is the FAT
// (12, 16 or 32: fatType) of 512-byte sectors that formatESP asked go-diskfs for.
func readBPB(rw readerWriterAt, part int64, fatType int) (*fat.FS, *fat.BPB, error) {
	fsys, err := fat.Open(rw, part, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("FAT%d boot sector: %w", fatType, err)
	}
	b := fsys.BPB()
	if fsys.Type() != fatType || b.BytesPerSector != sectorSize {
		return nil, nil, fmt.Errorf("FAT%d boot sector: a FAT%d of %d-byte sectors, not the FAT%d of %d-byte sectors formatted", fatType, fsys.Type(), b.BytesPerSector, fatType, sectorSize)
	}
	return fsys, b, nil
}

// The "." and ".." entries' DIR_Name, space padded.
const (
	dot    = ".          "
	dotDot = "..         "
)

// dirName is DIR_Name as stored: 8 + 3 characters, space padded.
func dirName(e []byte) string { return string(e[fat.OffsetDirName : fat.OffsetDirName+11]) }

// stampEntry gives the short-name directory entry e epoch's date and tm as
// its creation, access and write times, and reports whether e is such an
// entry: deleted entries and long-name slots (whose bytes 13..25 are the
// name's checksum and characters) are left alone.
func stampEntry(e []byte, date, tm uint16) bool {
	if e[fat.OffsetDirName] == fat.DirNameDeleted || e[fat.OffsetDirAttr] == fat.AttrLongName {
		return false
	}
	e[fat.OffsetDirCreateTimeTenth] = 0
	binary.LittleEndian.PutUint16(e[fat.OffsetDirCreateTime:], tm)
	binary.LittleEndian.PutUint16(e[fat.OffsetDirCreateDate:], date)
	binary.LittleEndian.PutUint16(e[fat.OffsetDirAccessDate:], date)
	binary.LittleEndian.PutUint16(e[fat.OffsetDirWriteTime:], tm)
	binary.LittleEndian.PutUint16(e[fat.OffsetDirWriteDate:], date)
	return true
}

type readerWriterAt interface {
	io.ReaderAt
	io.WriterAt
}

// fatDateTime encodes t (UTC) as FAT date and time; FAT dates start in 1980.
func fatDateTime(t time.Time) (date, tm uint16) {
	t = t.UTC()
	if t.Year() < 1980 {
		t = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if t.Year() > 2107 {
		t = time.Date(2107, 12, 31, 23, 59, 58, 0, time.UTC)
	}
	date = uint16(t.Year()-1980)<<9 | uint16(t.Month())<<5 | uint16(t.Day())
	tm = uint16(t.Hour())<<11 | uint16(t.Minute())<<5 | uint16(t.Second()/2)
	return date, tm
}

// finishFAT16 corrects what go-diskfs v1.9.4 leaves behind in a FAT16 it
// created, checked against fsck.fat 4.2:
//   - fat16.Create marks cluster 2 end-of-chain as if it held the root
//     directory, which on FAT16 has its own fixed region; no file uses it
//     (fsck.fat: "Reclaimed 1 unused cluster"). Every cluster that no
//     directory entry's chain reaches is freed in both FATs.
//   - every directory entry gets epoch as its times, as in finishFAT32.
func finishFAT16(rw readerWriterAt, part int64, epoch time.Time) error {
	fsys, b, err := readBPB(rw, part, 16)
	if err != nil {
		return err
	}
	bps := int64(b.BytesPerSector)
	spc := int64(b.SectorsPerCluster)
	reserved := int64(b.ReservedSectors)
	nfats := int64(b.NumFATs)
	rootEntries := int64(b.RootEntries)
	fatSectors := int64(b.FATSize())
	if rootEntries == 0 {
		return fmt.Errorf("FAT16 boot sector: no root directory entries")
	}
	// The fixed root directory follows the FATs (fatgen103).
	rootStart := reserved + nfats*fatSectors
	rootSectors := (rootEntries*fat.DirEntrySize + bps - 1) / bps
	clusters := fsys.Clusters()
	dataStart, err := fsys.ClusterOffset(2) // bytes from part
	if err != nil {
		return err
	}
	table := make([]byte, fatSectors*bps) // the first FAT
	if _, err := rw.ReadAt(table, part+reserved*bps); err != nil {
		return err
	}
	entry := func(c uint32) uint32 {
		if int64(c)*2+2 > int64(len(table)) {
			return 0xFFFF
		}
		return uint32(binary.LittleEndian.Uint16(table[c*2:]))
	}
	valid := func(c uint32) bool { return c >= 2 && c < clusters+2 }
	clusterOff := func(c uint32) int64 { return part + dataStart + int64(c-2)*spc*bps }
	reached := make([]bool, clusters+2)
	mark := func(first uint32) {
		for c, hops := first, 0; valid(c) && !reached[c] && hops <= int(clusters); c, hops = entry(c), hops+1 {
			reached[c] = true
		}
	}
	date, tm := fatDateTime(epoch)
	// fixEntries stamps the entries of one directory block and returns the
	// subdirectories in it and whether the block ended the directory.
	fixEntries := func(buf []byte) (subdirs []uint32, end bool) {
		for i := 0; i+fat.DirEntrySize <= len(buf); i += fat.DirEntrySize {
			e := buf[i : i+fat.DirEntrySize]
			if e[fat.OffsetDirName] == fat.DirNameEnd {
				return subdirs, true
			}
			if !stampEntry(e, date, tm) {
				continue
			}
			first := uint32(binary.LittleEndian.Uint16(e[fat.OffsetDirFirstClusterLow:]))
			if name := dirName(e); name == dot || name == dotDot {
				continue
			}
			mark(first)
			if e[fat.OffsetDirAttr]&fat.AttrDirectory != 0 && valid(first) {
				subdirs = append(subdirs, first)
			}
		}
		return subdirs, false
	}
	root := make([]byte, rootSectors*bps)
	if _, err := rw.ReadAt(root, part+rootStart*bps); err != nil {
		return err
	}
	queue, _ := fixEntries(root)
	if _, err := rw.WriteAt(root, part+rootStart*bps); err != nil {
		return err
	}
	buf := make([]byte, spc*bps)
	for visited := 0; len(queue) > 0; visited++ {
		if visited > 1024 {
			return fmt.Errorf("FAT16: more directories than an ESP of minidisk's has")
		}
		d := queue[0]
		queue = queue[1:]
		end := false
		for c, hops := d, 0; valid(c) && !end; c, hops = entry(c), hops+1 {
			if hops > int(clusters) {
				return fmt.Errorf("FAT16: cluster chain loop at %d", c)
			}
			if _, err := rw.ReadAt(buf, clusterOff(c)); err != nil {
				return err
			}
			var sub []uint32
			sub, end = fixEntries(buf)
			queue = append(queue, sub...)
			if _, err := rw.WriteAt(buf, clusterOff(c)); err != nil {
				return err
			}
		}
	}
	changed := false
	for c := uint32(2); c < clusters+2; c++ {
		if entry(c) != 0 && !reached[c] {
			binary.LittleEndian.PutUint16(table[c*2:], 0)
			changed = true
		}
	}
	if changed {
		for i := int64(0); i < nfats; i++ {
			if _, err := rw.WriteAt(table, part+(reserved+i*fatSectors)*bps); err != nil {
				return err
			}
		}
	}
	return nil
}
