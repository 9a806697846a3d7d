package efi

import (
	"encoding/binary"
	"fmt"
	"os"

	"github.com/diskfs/go-diskfs/backend"
	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/filesystem/fat16"
	"github.com/diskfs/go-diskfs/filesystem/fat32"

	"github.com/minidisk/minidisk/rootfs/fat"
)

// FATType is the ESP's filesystem.
type FATType string

// The two FATs an ESP gets (FAT12 is for floppies).
const (
	FAT16 FATType = "FAT16"
	FAT32 FATType = "FAT32"
)

type fatGeometry struct {
	sectorsPerFAT uint32
	clusters      uint32
	clusterBytes  int64
}

// go-diskfs v1.9.4 layouts (filesystem/fat32 and fat16 Create).
const (
	fat32Reserved = 32 // sectors before the first FAT
	fat16Reserved = 4
	fat16RootDir  = 32 // 512 root entries of 32 bytes
)

// fat32Geometry is the FAT32 layout of a partition of sectors: go-diskfs'
// cluster size (512 bytes up to 260 MB, then 4 KiB, as mkfs.fat), and
// a FAT computed here. go-diskfs sizes the FAT as
// ceil(4·(T−R) / (512·spc + 8)), which forgets the FAT's two reserved
// entries: at 64, 129, 194 and 259 MiB its FAT maps two clusters fewer than
// the volume has (fsck.fat: "Filesystem has 129024 clusters but only space
// for 129022 FAT entries"). The smallest FAT with room for every cluster
// plus entries 0 and 1 is what the FAT spec requires.
func fat32Geometry(sectors uint64) fatGeometry {
	spc := uint64(1)
	if sectors*sectorSize > 260<<20 {
		spc = 8
	}
	if sectors <= fat32Reserved+2 {
		return fatGeometry{}
	}
	data := sectors - fat32Reserved
	// 128 four-byte entries per sector: spf·128 ≥ (data − 2·spf)/spc + 2.
	spf := (data + 2*spc + 128*spc + 2 - 1) / (128*spc + 2)
	for spf > 1 && (spf-1)*128 >= (data-2*(spf-1))/spc+2 {
		spf--
	}
	if data <= 2*spf {
		return fatGeometry{}
	}
	return fatGeometry{sectorsPerFAT: uint32(spf), clusters: uint32((data - 2*spf) / spc), clusterBytes: int64(spc * sectorSize)}
}

// fat16Geometry mirrors go-diskfs fat16.Create: sectors per cluster by
// size (2 up to 32 MiB, 4 to 128, 8 to 256, 16 to 512), 4 reserved
// sectors, 512 root entries, a FAT sized from the cluster estimate before
// the FATs are taken off (so it has room for the two reserved entries).
func fat16Geometry(sectors uint64) fatGeometry {
	size := sectors * sectorSize
	var spc uint64
	switch {
	case size <= 32<<20:
		spc = 2
	case size <= 128<<20:
		spc = 4
	case size <= 256<<20:
		spc = 8
	case size <= 512<<20:
		spc = 16
	default:
		return fatGeometry{}
	}
	if sectors <= fat16Reserved+fat16RootDir {
		return fatGeometry{}
	}
	est := (sectors - fat16Reserved - fat16RootDir) / spc
	spf := (est*2 + sectorSize - 1) / sectorSize
	if sectors <= fat16Reserved+fat16RootDir+2*spf {
		return fatGeometry{}
	}
	clusters := (sectors - fat16Reserved - fat16RootDir - 2*spf) / spc
	if spf*256 < clusters+2 || clusters >= fat.MinFAT32Clusters {
		return fatGeometry{}
	}
	return fatGeometry{sectorsPerFAT: uint32(spf), clusters: uint32(clusters), clusterBytes: int64(spc * sectorSize)}
}

// volumeIDOffsets are where the volume serial (BS_VolID) lies from the
// start of a FAT of type t as go-diskfs writes it: in the extended boot
// record, which follows the FAT32 BPB in the boot sector and in its backup
// (sector 6), and the shorter FAT16 BPB in the one boot sector.
func volumeIDOffsets(t FATType) []int64 {
	if t == FAT16 {
		return []int64{fat.OffsetExtBoot16 + fat.ExtVolumeID}
	}
	const backupBoot = 6 * sectorSize
	return []int64{fat.OffsetExtBoot32 + fat.ExtVolumeID, backupBoot + fat.OffsetExtBoot32 + fat.ExtVolumeID}
}

// formatESP makes the ESP's filesystem and returns it open for writing.
// A FAT32 whose FAT go-diskfs sized too small is relaid before anything
// is written to it (fixFAT32Size) and opened again.
func formatESP(st backend.Storage, f *os.File, l Layout, part, partBytes int64) (filesystem.FileSystem, error) {
	// go-diskfs' fat16/fat32 Create are called directly, not through its
	// disk package, which links every filesystem it knows. reproducible:
	// volume serial 0 instead of the clock; ours is set later.
	const reproducible = true
	if l.FAT == FAT16 {
		fs, err := fat16.Create(st, partBytes, part, sectorSize, volumeLabel, reproducible)
		if err != nil {
			return nil, fmt.Errorf("formatting the ESP as FAT16: %w", err)
		}
		return fs, nil
	}
	if _, err := fat32.Create(st, partBytes, part, sectorSize, volumeLabel, reproducible); err != nil {
		return nil, fmt.Errorf("formatting the ESP as FAT32: %w", err)
	}
	want := fat32Geometry(uint64(partBytes / sectorSize))
	if err := fixFAT32Size(f, part, want.sectorsPerFAT); err != nil {
		return nil, fmt.Errorf("ESP: %w", err)
	}
	fs, err := fat32.Read(file.New(f, false), partBytes, part, sectorSize)
	if err != nil {
		return nil, fmt.Errorf("ESP: reading the FAT32 back: %w", err)
	}
	return fs, nil
}

// fixFAT32Size gives a freshly created, empty FAT32 spf sectors per FAT
// when go-diskfs chose fewer. Such a volume holds only the FATs' first
// entries (media, end-of-chain marks, the root directory's chain) and the
// root directory cluster with the volume label: both are moved to where
// the larger FATs put them, the old places zeroed, and BPB_FATSz32 changed
// in the boot sector and its backup (sector 6).
func fixFAT32Size(rw readerWriterAt, part int64, spf uint32) error {
	_, b, err := readBPB(rw, part, 32)
	if err != nil {
		return err
	}
	reserved := int64(b.ReservedSectors)
	nfats := int64(b.NumFATs)
	spc := int64(b.SectorsPerCluster)
	old := int64(b.FATSize32)
	backup := int64(b.BackupBoot)
	if int64(spf) <= old {
		return nil
	}
	if b.RootCluster != 2 {
		return fmt.Errorf("FAT32 from go-diskfs: root cluster %d, not 2; cannot relay it", b.RootCluster)
	}
	at := func(sector int64) int64 { return part + sector*sectorSize }
	fat0 := make([]byte, sectorSize)
	if _, err := rw.ReadAt(fat0, at(reserved)); err != nil {
		return err
	}
	rootDir := make([]byte, spc*sectorSize)
	if _, err := rw.ReadAt(rootDir, at(reserved+nfats*old)); err != nil {
		return err
	}
	newData := reserved + nfats*int64(spf)
	zero := make([]byte, 64<<10)
	for off, end := at(reserved), at(newData+spc); off < end; {
		n := min(int64(len(zero)), end-off)
		if _, err := rw.WriteAt(zero[:n], off); err != nil {
			return err
		}
		off += n
	}
	for i := int64(0); i < nfats; i++ {
		if _, err := rw.WriteAt(fat0, at(reserved+i*int64(spf))); err != nil {
			return err
		}
	}
	if _, err := rw.WriteAt(rootDir, at(newData)); err != nil {
		return err
	}
	var size [4]byte
	binary.LittleEndian.PutUint32(size[:], spf)
	for _, sec := range []int64{0, backup} {
		if _, err := rw.WriteAt(size[:], at(sec)+fat.OffsetFATSize32); err != nil {
			return err
		}
	}
	return nil
}
