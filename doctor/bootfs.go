package doctor

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/rootfs/ext2"
	"github.com/minidisk/minidisk/rootfs/fat"
)

// loaderFS is a filesystem a boot loader reads its files from: its
// configuration, the kernel and the initrd. It may be the root filesystem
// or another one (a FAT boot partition, the ESP).
type loaderFS struct {
	part  PartitionInfo // Index 0: the whole image
	kind  string        // "ext2", "ext4", "FAT12", ...
	fsys  fs.StatFS
	uuid  string // as blkid prints it, for root=UUID= and GRUB's search
	label string
}

// name says which filesystem this is, for evidence.
func (l *loaderFS) name() string {
	return fmt.Sprintf("the %s filesystem in %s", l.kind, partName(l.part))
}

// ext2Kind names an ext2-family filesystem by its features, as blkid does.
func ext2Kind(sb *ext2.Superblock) string {
	switch {
	case sb.FeatureIncompat&(ext2.FeatureIncompatExtents|ext2.FeatureIncompat64Bit) != 0:
		return "ext4"
	case sb.FeatureCompat&ext2.FeatureCompatHasJournal != 0:
		return "ext3"
	}
	return "ext2"
}

func ext2UUID(u [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// readSuperblock reads an ext2-family superblock at base, or nil.
func (d *diag) readSuperblock(base int64) *ext2.Superblock {
	b := make([]byte, ext2.SuperblockSize)
	if readFull(d.r, b, base+ext2.SuperblockOffset) != nil {
		return nil
	}
	sb := &ext2.Superblock{}
	if sb.Unmarshal(b) != nil { // also checks s_magic
		return nil
	}
	return sb
}

// errFSUnsupported: the filesystem is there but doctor cannot read it
// (features the reader does not follow); what is in it is unchecked.
var errFSUnsupported = errors.New("doctor cannot read this filesystem")

// openLoaderFS opens the filesystem in partition p (Index 0: the image).
func (d *diag) openLoaderFS(p PartitionInfo) (*loaderFS, error) {
	base, size := int64(p.Start)*sectorSize, int64(p.Sectors)*sectorSize
	if p.Index == 0 {
		base, size = 0, d.size
	}
	if base < 0 || base >= d.size {
		return nil, fmt.Errorf("%s starts past the end of the image", partName(p))
	}
	size = min(size, d.size-base)
	if sb := d.readSuperblock(base); sb != nil {
		l := &loaderFS{part: p, kind: ext2Kind(sb), uuid: ext2UUID(sb.UUID), label: sb.Label()}
		r, err := ext2.Open(d.r, base, size)
		if err != nil {
			return l, fmt.Errorf("%w: %s: %w", errFSUnsupported, l.kind, err)
		}
		l.fsys = r
		return l, nil
	}
	l := d.fatIdentity(p, base)
	if l == nil {
		return nil, fmt.Errorf("%s holds no filesystem doctor knows (no ext2 magic, no FAT boot sector)", partName(p))
	}
	f, err := fat.Open(d.r, base, size)
	if err != nil {
		return l, fmt.Errorf("%w: %s: %w", errFSUnsupported, l.kind, err)
	}
	l.fsys = f
	return l, nil
}

// fatIdentity names the FAT filesystem whose boot sector is at base
// (rootfs/fat's Probe: a consistent BPB), or nil: its kind by cluster
// count, as the kernel's fs/fat decides it, and the volume serial number
// and BPB label blkid reports as its UUID and LABEL.
func (d *diag) fatIdentity(p PartitionInfo, base int64) *loaderFS {
	probe, ok := fat.Probe(d.r, base)
	if !ok {
		return nil
	}
	return &loaderFS{part: p, kind: fmt.Sprintf("FAT%d", probe.Type), uuid: probe.Serial, label: probe.Label}
}

// fsPath turns a loader's absolute path into an io/fs name.
func fsPath(p string) string {
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	if p == "" {
		return "."
	}
	return p
}

// statCaseless finds p in fsys. On FAT, names are case-insensitive, as
// SYSLINUX, GRUB and firmware read them there: rootfs/fat looks them up
// that way itself.
func statCaseless(l *loaderFS, p string) (fs.FileInfo, string, error) {
	name := fsPath(p)
	fi, err := l.fsys.Stat(name)
	return fi, name, err
}

// readLoaderFile reads at most limit bytes of p.
func readLoaderFile(l *loaderFS, p string, limit int64) ([]byte, error) {
	_, name, err := statCaseless(l, p)
	if err != nil {
		return nil, err
	}
	f, err := l.fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}

// listPartitions fills d.parts from disk.ReadPartitions (the one
// partition-table reader): every partition, logical and GPT ones included,
// numbered as Linux numbers them. GPT partitions also get their own GUID
// (PARTUUID=), which the disk package does not keep.
func (d *diag) listPartitions() {
	defer func() {
		if len(d.parts) > 0 {
			// The report lists every partition (logical and GPT ones
			// too), once the primary-entry checks are done.
			d.rep.Partitions = d.parts
		}
	}()
	t, err := disk.ReadPartitions(d.r, d.size)
	if t == nil || err != nil && len(t.Partitions) == 0 {
		d.parts = append([]PartitionInfo(nil), d.rep.Partitions...)
		return
	}
	d.parts = partitionInfos(t.Partitions, t.Scheme == disk.SchemeGPT)
	if t.Scheme != disk.SchemeGPT {
		return
	}
	guids, err := disk.GPTPartitionGUIDs(d.r, d.size)
	if err != nil {
		return
	}
	for i := range d.parts {
		if g, ok := guids[d.parts[i].Index]; ok {
			d.parts[i].GUID = strings.ToLower(disk.GUIDString(g))
		}
	}
}

// partitionInfos turns the disk package's partitions into the report's.
func partitionInfos(ps []disk.Partition, gpt bool) []PartitionInfo {
	var out []PartitionInfo
	for _, p := range ps {
		pi := PartitionInfo{Index: p.Index, Type: p.Type, Bootable: p.Bootable, Start: p.Start, Sectors: p.Sectors, Logical: p.Logical}
		if gpt {
			pi.GPTType = gptTypeName(p.TypeGUID)
		}
		out = append(out, pi)
	}
	return out
}

// gptTypeName names the GPT partition types doctor knows (the disk
// package's GUIDs), else gives the GUID as sfdisk prints it.
func gptTypeName(g [16]byte) string {
	switch g {
	case disk.GUIDEFISystem:
		return "EFI System"
	case disk.GUIDBIOSBoot:
		return "BIOS boot"
	case disk.GUIDLinuxFilesystem:
		return "Linux filesystem"
	}
	return disk.GUIDString(g)
}

// partitionByIndex finds a partition by its Linux number.
func (d *diag) partitionByIndex(n int) *PartitionInfo {
	for i := range d.parts {
		if d.parts[i].Index == n {
			return &d.parts[i]
		}
	}
	return nil
}
