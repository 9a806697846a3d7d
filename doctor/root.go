package doctor

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/grub"
)

// biosLoader reports whether the MBR code boots something under a BIOS, so
// that a GPT disk is judged by its BIOS path rather than as UEFI.
func (c Code) biosLoader() bool {
	switch c {
	case CodeGRUB2, CodeGRUBLegacy, CodeSyslinuxGPT, CodeSyslinuxMBR, CodeSyslinuxAlt, CodeIsohybrid:
		return true
	}
	return false
}

// partitionByFSUUID finds the partition whose filesystem has this UUID (an
// ext2-family UUID, or a FAT serial XXXX-XXXX); Index 0 is the image.
func (d *diag) partitionByFSUUID(uuid string) *PartitionInfo {
	return d.partitionByFS(func(l *loaderFS) bool { return strings.EqualFold(l.uuid, uuid) })
}

func (d *diag) partitionByFS(match func(*loaderFS) bool) *PartitionInfo {
	cands := d.parts
	if d.rep.Scheme == SchemeBareExt2 || d.rep.Scheme == SchemeSuperfloppy {
		cands = []PartitionInfo{{Index: 0, Sectors: uint64(d.size / sectorSize)}}
	}
	for i := range cands {
		p := cands[i]
		if isExtendedType(p.Type) {
			continue
		}
		l := d.fsIdentity(p)
		if l != nil && match(l) {
			return &cands[i]
		}
	}
	return nil
}

// fsIdentity reads a partition's filesystem UUID and label without opening
// the filesystem.
func (d *diag) fsIdentity(p PartitionInfo) *loaderFS {
	base := int64(p.Start) * sectorSize
	if base >= d.size {
		return nil
	}
	if sb := d.readSuperblock(base); sb != nil {
		return &loaderFS{part: p, kind: ext2Kind(sb), uuid: ext2UUID(sb.UUID), label: sb.Label()}
	}
	return d.fatIdentity(p, base)
}

// rootArg is the root= of the command line the loader passes, resolved.
type rootArg struct {
	Value string         // the root= value, "" when absent
	Part  *PartitionInfo // the partition it names on this disk, nil if none
	// Mappable is false for values doctor cannot map to this disk (another
	// disk's name, a device number, an LVM path): not an error.
	Mappable bool
}

// resolveRoot maps root= to a partition of this disk, as the kernel (or an
// initramfs, for UUID= and LABEL=) does: /dev/sdaN, /dev/vdaN, /dev/hdaN
// (the boot disk is the first one), UUID=, LABEL=, PARTUUID= (MBR:
// SSSSSSSS-NN, the disk signature and partition number in hex; GPT: the
// partition GUID).
func (d *diag) resolveRoot(cmdline string) rootArg {
	args := parseCmdline(cmdline)
	v, ok := args["root"]
	if !ok {
		return rootArg{}
	}
	ra := rootArg{Value: v, Mappable: true}
	switch {
	case strings.HasPrefix(v, "UUID="):
		ra.Part = d.partitionByFSUUID(strings.TrimPrefix(v, "UUID="))
	case strings.HasPrefix(v, "LABEL="):
		l := strings.TrimPrefix(v, "LABEL=")
		ra.Part = d.partitionByFS(func(f *loaderFS) bool { return f.label == l })
	case strings.HasPrefix(v, "PARTUUID="):
		u := strings.ToLower(strings.TrimPrefix(v, "PARTUUID="))
		if d.rep.Scheme == SchemeGPT {
			for i := range d.parts {
				if d.parts[i].GUID == u {
					ra.Part = &d.parts[i]
				}
			}
			break
		}
		sig, num, _ := strings.Cut(u, "-")
		want := fmt.Sprintf("%08x", binary.LittleEndian.Uint32(d.mbr[disk.DiskIDOffset:]))
		if n, err := strconv.ParseUint(num, 16, 16); err == nil && sig == want {
			ra.Part = d.partitionByIndex(int(n))
		}
	case strings.HasPrefix(v, "/dev/sd") || strings.HasPrefix(v, "/dev/vd") || strings.HasPrefix(v, "/dev/hd") || strings.HasPrefix(v, "/dev/xvd"):
		disk, n := splitDevName(v)
		if !strings.HasSuffix(disk, "a") {
			ra.Mappable = false
			break
		}
		if n == 0 {
			if d.rep.Scheme == SchemeBareExt2 || d.rep.Scheme == SchemeSuperfloppy {
				ra.Part = &PartitionInfo{Index: 0, Sectors: uint64(d.size / sectorSize)}
			}
			break
		}
		ra.Part = d.partitionByIndex(n)
	default:
		ra.Mappable = false
	}
	return ra
}

// checkGRUBFloppy reports a GRUB Legacy boot floppy: stage2 in the raw
// sectors after stage1, and the config file stage2 reads.
func (d *diag) checkGRUBFloppy() {
	b := make([]byte, 2*sectorSize)
	if readFull(d.r, b, sectorSize) != nil {
		return
	}
	st, err := grub.ParseStage15(b)
	if err != nil {
		return
	}
	total := uint64(1)
	for _, r := range st.Blocklist {
		total += uint64(r.Count)
	}
	ev := fmt.Sprintf("stage1 in sector 0 loads stage2 (%s) from sector 1, %d sectors in all; stage2 reads its menu from %s", st.VersionString, total, st.ConfigPath)
	if total+1 > d.rep.DiskSectors {
		d.add(Finding{ID: IDGRUBStage2SectorOutside, Area: AreaGRUB, Severity: Error,
			Title:    "the floppy is shorter than stage2",
			Evidence: fmt.Sprintf("%s, but the image has %d sectors", ev, d.rep.DiskSectors),
			Fix:      "make the floppy again: `minidisk grub floppy OUT.img`"})
		return
	}
	d.add(Finding{ID: IDGRUBFloppyOK, Area: AreaGRUB, Severity: OK,
		Title: "a GRUB Legacy boot floppy: boots to GRUB's menu or prompt", Evidence: ev})
}

// rootFromTarget picks the root partition the loader's command line names.
// decided is false when there is no loader target or its root= cannot be
// mapped to this disk: then the disk's own rule (findRoot) applies.
func (d *diag) rootFromTarget() (p PartitionInfo, ok, decided bool) {
	if d.target == nil {
		return p, false, false
	}
	ra := d.resolveRoot(d.target.Cmdline)
	if ra.Value == "" || !ra.Mappable {
		return p, false, false
	}
	if ra.Part == nil {
		msg := "the kernel panics \"VFS: Cannot open root device\""
		if len(d.target.Initrds) > 0 {
			msg = "the initramfs waits and gives up (\"Gave up waiting for root file system device\")"
		}
		var have []string
		for _, q := range d.parts {
			if !isExtendedType(q.Type) {
				s := fmt.Sprintf("%d", q.Index)
				if l := d.fsIdentity(q); l != nil {
					s += fmt.Sprintf(" (%s, UUID %s)", l.kind, l.uuid)
				}
				have = append(have, s)
			}
		}
		d.add(Finding{ID: IDKernelRootNotFound, Area: AreaFS, Severity: Error,
			Title:    fmt.Sprintf("root=%s names no partition of this disk", ra.Value),
			Evidence: fmt.Sprintf("%s: root=%s; the partitions are %s: %s", d.target.Where, ra.Value, strings.Join(have, ", "), msg),
			Fix:      "point root= at the partition that holds the root filesystem (root=/dev/sdaN, or its UUID= with an initramfs)"})
		return p, false, true
	}
	p = *ra.Part
	return p, p.Start*sectorSize < uint64(d.size) && d.sniff(int64(p.Start)*sectorSize) == contentExt2, true
}
