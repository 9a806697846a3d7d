package efi

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/diskfs/go-diskfs/backend/file"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/internal/atomicfile"
	"github.com/minidisk/minidisk/kernel"
	"github.com/minidisk/minidisk/rootfs/fat"
)

const (
	sectorSize = disk.SectorSize
	// alignSectors puts the ESP at 1 MiB and keeps its end on a 1 MiB
	// boundary, as parted and sfdisk do (no read-modify-write on 4K media).
	alignSectors = 2048
	// EFIPath is the removable-media boot path for x86-64 (UEFI 2.10 §3.5.1.1).
	EFIPath = "/EFI/BOOT/BOOTX64.EFI"
	// volumeLabel is the ESP's FAT label.
	volumeLabel = "MINIDISK"
)

// DefaultImageSize is 64 MiB: FAT32 (at least 65525 clusters; go-diskfs,
// like mkfs.fat, uses 512-byte clusters below 260 MB, so the ESP must be
// about 33 MiB), room for a second kernel, and a common ESP size. The image
// is sparse.
const DefaultImageSize = 64 << 20

// Layout is where the ESP goes on a disk of a given size.
type Layout struct {
	DiskSize     int64
	Start, End   uint64 // first and last sector of the ESP (inclusive)
	FAT          FATType
	Clusters     uint32 // data clusters of the ESP's FAT
	ClusterBytes int64
	// FATWhy says why FAT is what it is, for the summary.
	FATWhy string
}

// PlanImage computes the layout of a GPT disk of size bytes with one ESP
// and chooses its FAT: FAT32 when the ESP has the 65,525 clusters FAT32
// needs (below that the FAT spec's type determination makes it FAT16, and
// OVMF/EDK2 refuses it: "too few clusters"), else FAT16, as mkfs.fat
// decides by cluster count. FAT32 is preferred where it is valid: UEFI
// 2.10 §13.3.1.1 asks for FAT32 on the system partition of a fixed disk
// and allows FAT12/16 on removable media.
func PlanImage(size int64) (Layout, error) {
	if size%sectorSize != 0 {
		return Layout{}, fmt.Errorf("image size %d is not a multiple of %d-byte sectors", size, sectorSize)
	}
	// disk.WriteGPT lays the GPT out: the backup array and header take the
	// disk's last sectors, partitions end at or before lastUsable.
	_, lastUsable, ok := disk.GPTUsable(uint64(size / sectorSize))
	if !ok || lastUsable+1 < 2*alignSectors {
		return Layout{}, fmt.Errorf("image size %d is too small for a GPT disk with an ESP (minimum %s)", size, humanSize(MinImageSize()))
	}
	end := (lastUsable+1)/alignSectors*alignSectors - 1
	l := Layout{DiskSize: size, Start: alignSectors, End: end}
	sectors := end - alignSectors + 1
	if g := fat32Geometry(sectors); g.clusters >= fat.MinFAT32Clusters {
		l.FAT, l.Clusters, l.ClusterBytes = FAT32, g.clusters, g.clusterBytes
		l.FATWhy = fmt.Sprintf("%d clusters of %d bytes, at least the %d FAT32 needs", g.clusters, g.clusterBytes, fat.MinFAT32Clusters)
		return l, nil
	}
	g := fat16Geometry(sectors)
	if g.clusters < fat.MinFAT16Clusters {
		return l, fmt.Errorf("image size %s gives an ESP of %d FAT16 clusters, fewer than the %d FAT16 needs (give --size %s or more)", humanSize(size), g.clusters, fat.MinFAT16Clusters, humanSize(MinImageSize()))
	}
	l.FAT, l.Clusters, l.ClusterBytes = FAT16, g.clusters, g.clusterBytes
	l.FATWhy = fmt.Sprintf("%d clusters of %d bytes; FAT32 would have %d, fewer than the %d it needs (firmware refuses such a FAT32)",
		g.clusters, g.clusterBytes, fat32Geometry(sectors).clusters, fat.MinFAT32Clusters)
	return l, nil
}

// MinImageSize is the smallest image (in whole MiB) PlanImage accepts.
func MinImageSize() int64 {
	for mib := int64(1); ; mib++ {
		_, lastUsable, ok := disk.GPTUsable(uint64(mib << 20 / sectorSize))
		if !ok || lastUsable+1 < 2*alignSectors {
			continue
		}
		end := (lastUsable+1)/alignSectors*alignSectors - 1
		if fat16Geometry(end-alignSectors+1).clusters >= fat.MinFAT16Clusters {
			return mib << 20
		}
	}
}

// ImageInfo reports what WriteImage wrote.
type ImageInfo struct {
	Layout
	EFISize  int64
	DiskGUID string
	PartGUID string
	Serial   uint32
}

// WriteImage writes a GPT disk image of size bytes to out (atomically) with
// one EFI System Partition (FAT32 or FAT16, see PlanImage) holding efiFile as \EFI\BOOT\BOOTX64.EFI.
// The disk and partition GUIDs and the FAT volume serial are derived from
// a hash of the EFI file, and every timestamp is epoch, so the same
// kernel and epoch give the same image bytes.
func WriteImage(out string, force bool, efiFile string, size int64, epoch time.Time) (*ImageInfo, error) {
	l, err := PlanImage(size)
	if err != nil {
		return nil, err
	}
	info, err := kernel.InspectFile(efiFile)
	if err != nil {
		return nil, err
	}
	if !info.EFIStub {
		return nil, fmt.Errorf("%s: no EFI stub (PE header), so firmware cannot run it (build it with CONFIG_EFI_STUB=y, e.g. the efi profile)", efiFile)
	}
	return writeImage(out, force, efiFile, l, epoch)
}

// writeImage writes the image for any payload file (tests use a blob).
func writeImage(out string, force bool, efiFile string, l Layout, epoch time.Time) (*ImageInfo, error) {
	size := l.DiskSize
	sum, efiSize, err := hashFile(efiFile)
	if err != nil {
		return nil, err
	}
	// Directory entries, the FAT and FSInfo take a few clusters beyond the file.
	if need := efiSize + 16*l.ClusterBytes; need > int64(l.Clusters)*l.ClusterBytes {
		return nil, fmt.Errorf("%s: %s does not fit in the ESP of a %s image (give a larger --size)", efiFile, humanSize(efiSize), humanSize(size))
	}
	ii := &ImageInfo{
		Layout:   l,
		EFISize:  efiSize,
		DiskGUID: uuidFrom(sum, "disk"),
		PartGUID: uuidFrom(sum, "esp"),
		Serial:   binary.LittleEndian.Uint32(sha256Of(sum[:], "serial")),
	}

	f, err := atomicfile.Create(out, force)
	if err != nil {
		return nil, err
	}
	defer f.Abort()
	if err := f.Truncate(size); err != nil {
		return nil, fmt.Errorf("%s: %w", out, err)
	}
	if err := writeESP(f.File, ii, efiFile, epoch); err != nil {
		return nil, fmt.Errorf("%s: %w", out, err)
	}
	if err := f.Commit(); err != nil {
		return nil, err
	}
	return ii, nil
}

func writeESP(f *os.File, ii *ImageInfo, efiFile string, epoch time.Time) error {
	// The GPT is disk.WriteGPT's (go-diskfs' partition/gpt imports
	// github.com/google/uuid and with it net); go-diskfs' filesystem/fat32
	// is called directly: its root diskfs and disk packages would link
	// every filesystem and compressor it knows into minidisk.
	if err := writeGPT(f, ii); err != nil {
		return fmt.Errorf("writing the GPT: %w", err)
	}
	st := file.New(f, false)
	part := int64(ii.Start) * sectorSize
	partBytes := int64(ii.End-ii.Start+1) * sectorSize
	fs, err := formatESP(st, f, ii.Layout, part, partBytes)
	if err != nil {
		return err
	}
	if err := fs.Mkdir("/EFI/BOOT"); err != nil {
		return fmt.Errorf("ESP: mkdir /EFI/BOOT: %w", err)
	}
	src, err := os.Open(efiFile)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := fs.OpenFile(EFIPath, os.O_CREATE|os.O_RDWR)
	if err != nil {
		return fmt.Errorf("ESP: create %s: %w", EFIPath, err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		return fmt.Errorf("ESP: write %s: %w", EFIPath, err)
	}
	if err := dst.Close(); err != nil {
		return fmt.Errorf("ESP: close %s: %w", EFIPath, err)
	}
	var serial [4]byte
	binary.LittleEndian.PutUint32(serial[:], ii.Serial)
	for _, off := range volumeIDOffsets(ii.FAT) {
		if _, err := f.WriteAt(serial[:], part+off); err != nil {
			return err
		}
	}
	finish := finishFAT32
	if ii.FAT == FAT16 {
		finish = finishFAT16
	}
	if err := finish(f, part, epoch); err != nil {
		return fmt.Errorf("ESP: %w", err)
	}
	return nil
}

// espName is the ESP's GPT partition name (72 bytes of UTF-16 in its entry).
const espName = "EFI System Partition"

// writeGPT writes the protective MBR and a GPT whose one entry is the ESP.
func writeGPT(f io.WriterAt, ii *ImageInfo) error {
	diskGUID, err := disk.ParseGUID(ii.DiskGUID)
	if err != nil {
		return err
	}
	partGUID, err := disk.ParseGUID(ii.PartGUID)
	if err != nil {
		return err
	}
	return disk.WriteGPT(f, ii.DiskSize, disk.GPT{
		DiskGUID: diskGUID,
		Entries:  []disk.GPTEntry{{Type: disk.GUIDEFISystem, GUID: partGUID, First: ii.Start, Last: ii.End, Name: espName}},
	})
}

func hashFile(p string) ([32]byte, int64, error) {
	var sum [32]byte
	f, err := os.Open(p)
	if err != nil {
		return sum, 0, fmt.Errorf("%s: %w", p, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return sum, 0, fmt.Errorf("%s: %w", p, err)
	}
	copy(sum[:], h.Sum(nil))
	return sum, n, nil
}

func sha256Of(seed []byte, label string) []byte {
	h := sha256.Sum256(append(append([]byte(nil), seed...), label...))
	return h[:]
}

// uuidFrom makes a name-based UUID (RFC 9562 version 8, custom) from the
// content hash, so equal inputs give equal GUIDs and different ones differ.
func uuidFrom(sum [32]byte, label string) string {
	b := sha256Of(sum[:], label)[:16]
	b[6] = b[6]&0x0f | 0x80 // version 8
	b[8] = b[8]&0x3f | 0x80 // RFC 4122/9562 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fKiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}
