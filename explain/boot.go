package explain

import (
	"fmt"
	"path"
	"strings"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/grub"
)

// Step is one stage of the boot chain and the bytes it reads.
type Step struct {
	Stage string `json:"stage"`
	// Reads names the bytes: sectors or a file with its inode and runs.
	Reads string `json:"reads"`
	// Offset/Size: the first byte range read (image bytes), for links.
	Offset int64  `json:"offset"`
	Size   int64  `json:"size"`
	Does   string `json:"does"`
	// Runs lists every sector run when the stage reads a file.
	Runs []Run    `json:"runs,omitempty"`
	Refs []string `json:"refs,omitempty"`
}

func (d *Disk) explainBoot() (*View, error) {
	rep := d.report()
	if rep.Scheme == "gpt" {
		return d.explainUEFIBoot()
	}
	v := &View{Image: d.name, What: "boot", Title: "the legacy BIOS boot chain, in order: what each stage reads"}
	add := func(s Step) {
		v.Chain = append(v.Chain, s)
		sec := Section{ID: fmt.Sprintf("boot.step%d", len(v.Chain)), Title: fmt.Sprintf("%d. %s", len(v.Chain), s.Stage), Offset: s.Offset, Size: s.Size,
			Notes: []string{"reads " + s.Reads, s.Does}}
		for i, r := range s.Runs {
			if i == 8 {
				sec.Notes = append(sec.Notes, fmt.Sprintf("... %d more runs", len(s.Runs)-i))
				break
			}
			sec.Notes = append(sec.Notes, fmt.Sprintf("blocks %d..%d → sectors %d..%d (%s)", r.Block, r.Block+r.Count-1, r.Sector, r.Sector+r.Sectors-1, r.DD))
		}
		for _, ref := range s.Refs {
			sec.Fields = append(sec.Fields, Field{ID: sec.ID + "." + ref, Name: "see", Text: ref, Refs: []string{ref}, Offset: -1})
		}
		v.Sections = append(v.Sections, sec)
	}
	add(Step{Stage: "BIOS", Reads: "sector 0 (bytes 0..511) into memory at 0x7C00", Offset: 0, Size: 512,
		Does: fmt.Sprintf("checks bytes 510..511 are 55 AA (here %02X %02X) and jumps to 0x7C00 with the boot drive (0x80) in DL", d.sector0[510], d.sector0[511]),
		Refs: []string{"mbr.signature"}})
	st1, err := grub.ParseStage1(d.sector0)
	if st1 == nil {
		v.Sections = append(v.Sections, Section{ID: "boot.stop", Title: "the chain stops here", Notes: []string{fmt.Sprintf("the MBR holds no GRUB Legacy stage1 (%v); see `explain %s mbr`", err, d.name)}})
		return v, nil
	}
	sec := int64(st1.Stage2Sector)
	add(Step{Stage: "GRUB stage1 (MBR code)", Reads: fmt.Sprintf("sector %d (bytes %d..%d) to 0x%04X, by LBA when the BIOS has it", sec, sec*512, sec*512+511, st1.Stage2Address),
		Offset: sec * 512, Size: 512, Does: "stage2_sector and stage2_address were patched into it by setup; it jumps to the loaded sector",
		Refs: []string{"mbr.grub.stage2_sector", "mbr.grub.stage2_address"}})
	two := make([]byte, 1024)
	if d.readFull(two, sec*512) != nil {
		return v, nil
	}
	info, _ := grub.ParseStage15(two)
	if info == nil {
		return v, nil
	}
	for i, r := range info.Blocklist {
		add(Step{Stage: fmt.Sprintf("%s's first sector (its loader), blocklist entry %d", info.Kind, i),
			Reads:  fmt.Sprintf("sectors %d..%d (bytes %d..%d) to segment 0x%04X", r.Start, uint64(r.Start)+uint64(r.Count)-1, int64(r.Start)*512, (int64(r.Start)+int64(r.Count))*512-1, r.Segment),
			Offset: int64(r.Start) * 512, Size: int64(r.Count) * 512, Does: fmt.Sprintf("the rest of the %s, then jumps into it", info.Kind),
			Refs: []string{fmt.Sprintf("gap.blocklist%d.count", i)}})
	}
	g, ferr := d.geometry()
	stage2 := info.Stage2Path
	config := info.ConfigPath
	if info.ID == 0 {
		stage2 = ""
	}
	if ferr != nil {
		v.Sections = append(v.Sections, Section{ID: "boot.stop", Title: "the filesystem cannot be read", Notes: []string{ferr.Error()}})
		return v, nil
	}
	part := (info.Stage2Device >> 16) & 0xFF
	pe := fmt.Sprintf("mbr.p%d.start_lba", part+1)
	sbOff := g.base + 1024
	if stage2 != "" {
		add(Step{Stage: info.Kind + " mounts the root partition",
			Reads:  fmt.Sprintf("partition entry %d (start LBA %d), the superblock (bytes %d..%d) and the group descriptors (from byte %d)", part+1, g.base/512, sbOff, sbOff+1023, g.descBase),
			Offset: sbOff, Size: 1024, Does: fmt.Sprintf("stage2 device %s, from the header setup wrote", grub.PartitionName(byte(info.Stage2Device>>24), info.Stage2Device)),
			Refs: []string{pe, "fs.magic", "gap.stage2_device"}})
		d.addFileStep(g, add, info.Kind+" loads stage2", stage2, "to 0x8000 and jumps to it; stage2 reads the menu (GRUB's menu.lst) named after it", "gap.stage2_path")
	}
	if config != "" {
		d.addFileStep(g, add, "stage2 reads its menu", config, "the commands of the default entry: root, kernel (and initrd)", "gap.stage2_path")
	}
	rep = d.report()
	if rep.GRUB == nil || rep.GRUB.Kernel == "" {
		v.Sections = append(v.Sections, Section{ID: "boot.stop", Title: "no kernel line", Notes: []string{"the menu's default entry has no kernel command (see `minidisk doctor`)"}})
		return v, nil
	}
	kpath := rep.GRUB.Kernel
	if i := strings.Index(kpath, ")"); strings.HasPrefix(kpath, "(") && i > 0 {
		kpath = kpath[i+1:]
	}
	d.addFileStep(g, add, "stage2 loads the kernel", kpath,
		fmt.Sprintf("the bzImage: setup code below 1 MiB, the compressed kernel at 1 MiB; command line %q", rep.GRUB.KernelArgs), "")
	if rep.GRUB.Initrd != "" {
		d.addFileStep(g, add, "stage2 loads the initrd", rep.GRUB.Initrd, "the initial ramdisk, high in memory", "")
	}
	args := map[string]string{}
	for _, a := range strings.Fields(rep.GRUB.KernelArgs) {
		k, val, _ := strings.Cut(a, "=")
		args[k] = val
	}
	if root := args["root"]; root != "" {
		n := strings.TrimLeft(strings.TrimPrefix(root, "/dev/"), "sdhabcdefg")
		add(Step{Stage: "Linux mounts root=" + root,
			Reads: fmt.Sprintf("partition %s's superblock (bytes %d..%d)", n, sbOff, sbOff+1023), Offset: sbOff, Size: 1024,
			Does: fmt.Sprintf("%s = first disk, partition %s from the MBR; the kernel's ext2 driver mounts it (its block count %d must fit the partition)", root, n, g.sb.BlocksCount),
			Refs: []string{pe, "fs.blocks_count"}})
	}
	init := args["init"]
	does := "runs it as PID 1: the shell prompt follows"
	if init == "" {
		for _, c := range []string{"/sbin/init", "/etc/init", "/bin/init", "/bin/sh"} {
			if _, err := g.r.Stat(strings.TrimPrefix(c, "/")); err == nil {
				init = c
				does = "no init= on the command line: the kernel tries /sbin/init, /etc/init, /bin/init, /bin/sh and runs the first that exists as PID 1"
				break
			}
		}
	}
	if init != "" {
		d.addFileStep(g, add, "Linux runs init="+init, init, does, "")
	}
	return v, nil
}

// addFileStep adds a step that reads a file of the root filesystem, with
// its inode and sector runs.
func (d *Disk) addFileStep(g *fsGeometry, add func(Step), stage, p, does, ref string) {
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	p = path.Clean(p)
	_, w, err := d.walkPath(p)
	if err != nil {
		add(Step{Stage: stage, Reads: p, Does: "cannot be followed: " + err.Error(), Offset: -1})
		return
	}
	s := Step{Stage: stage, Runs: w.Runs, Does: does, Offset: -1}
	via := ""
	if w.Resolved != p {
		via = " → " + w.Resolved
	}
	total := int64(0)
	for _, r := range w.Runs {
		total += r.Sectors
	}
	s.Reads = fmt.Sprintf("%s%s: inodes %v, %d bytes in %d run(s) of sectors (%d sectors)", p, via, w.Inodes, w.Size, len(w.Runs), total)
	if len(w.Runs) > 0 {
		s.Offset, s.Size = w.Runs[0].ByteOffset, w.Runs[0].Sectors*disk.SectorSize
	}
	if ref != "" {
		s.Refs = []string{ref}
	}
	add(s)
}
