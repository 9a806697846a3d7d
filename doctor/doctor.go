// Package doctor says why a disk image will not boot. It reads an image
// made by anyone — by hand with fdisk, mke2fs and the GRUB shell, by GRUB 2,
// SYSLINUX, parted, xorriso, or by minidisk — first names the boot path the
// firmware will take (identify.go), then judges that path by its own rules
// and turns every failure it can see ("No init found", "Error 24",
// "grub rescue>", "Missing operating system", "VFS: Unable to mount root
// fs") into a finding with the evidence (numbers, sectors, paths) and a
// one-line fix. What it cannot follow is reported as unchecked, never as an
// error.
//
// Doctor only reads: metadata (partition tables, superblocks, inodes,
// directories, boot sectors, GRUB's embedded stages and core.img, ELF and
// bzImage headers) and a few whole files: configuration files, GRUB
// Legacy's stage2 (to name its build), the kernel when no config-VERSION
// file says what it has built in, and the initrd the loader names.
package doctor

import (
	"fmt"
	"github.com/minidisk/minidisk/kernel"

	"github.com/minidisk/minidisk/rootfs/ext2"
	"io"
	"runtime/debug"
	"sort"
)

// Severity ranks a finding.
type Severity int

const (
	OK Severity = iota
	Info
	Warning
	Error
)

func (s Severity) String() string {
	switch s {
	case OK:
		return "ok"
	case Info:
		return "info"
	case Warning:
		return "warning"
	case Error:
		return "error"
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// MarshalText makes JSON output say "error" rather than 3.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Area groups findings in the output, in boot order.
type Area string

const (
	AreaImage     Area = "image"
	AreaPartition Area = "partition table"
	AreaBoot      Area = "boot code"
	AreaFS        Area = "filesystem"
	AreaGRUB      Area = "GRUB Legacy"
	AreaGRUB2     Area = "GRUB 2"
	AreaSyslinux  Area = "SYSLINUX"
	AreaKernel    Area = "kernel"
	AreaUserland  Area = "userland"
	AreaUEFI      Area = "UEFI"
)

var areaOrder = map[Area]int{AreaImage: 0, AreaPartition: 1, AreaBoot: 2, AreaFS: 3, AreaGRUB: 4, AreaGRUB2: 5, AreaSyslinux: 6, AreaKernel: 7, AreaUserland: 8, AreaUEFI: 9}

// Scheme is how the image is laid out, as doctor identified it.
type Scheme string

const (
	SchemeNone        Scheme = "none"
	SchemeMBR         Scheme = "mbr"
	SchemeGPT         Scheme = "gpt"
	SchemeBareExt2    Scheme = "bare ext2"   // an ext2/3/4 filesystem from byte 0
	SchemeSuperfloppy Scheme = "superfloppy" // a FAT filesystem from sector 0
	SchemeGRUBFloppy  Scheme = "grub floppy" // stage1 + stage2 in raw sectors
	SchemeISO         Scheme = "iso9660"
	SchemeISOHybrid   Scheme = "iso9660 hybrid"
)

// Finding is one diagnosis.
type Finding struct {
	// ID is stable (tests and scripts match on it), e.g. "fs-beyond-partition".
	ID       ID       `json:"id"`
	Area     Area     `json:"area"`
	Severity Severity `json:"severity"`
	Title    string   `json:"title"`
	// Evidence is what was read from the image: numbers, sectors, paths.
	Evidence string `json:"evidence,omitempty"`
	// Fix is one line saying what to do.
	Fix string `json:"fix,omitempty"`
	// Files lists paths inside the image the finding is about.
	Files []string `json:"files,omitempty"`
}

// Options tune Diagnose.
type Options struct {
	// Name is the image's name for messages ("disk.img").
	Name string
	// MaxFiles caps the inodes walked when looking for files past the
	// partition end (0: 200000), so a hostile image cannot cost unbounded
	// time.
	MaxFiles int
	// HostKernels are host files the caller copied into the image as its
	// kernel (create and rootfs add name their --kernel). When the image's
	// kernel is byte-identical to one of them, the config file beside that
	// host file answers what is built in, so the check of a freshly built
	// image does not decompress the kernel again.
	HostKernels []string
}

// PartitionInfo is one used MBR entry as the report keeps it.
type PartitionInfo struct {
	Index    int    `json:"index"` // as Linux numbers it: 1..4 primary, 5.. logical; GPT slot
	Type     byte   `json:"type"`  // MBR type; 0 for GPT
	Bootable bool   `json:"bootable"`
	Start    uint64 `json:"start"`   // first sector
	Sectors  uint64 `json:"sectors"` // length
	Logical  bool   `json:"logical,omitempty"`
	// GPT: the type (as a name when doctor knows it, else the GUID) and
	// the partition's own GUID (PARTUUID=).
	GPTType string `json:"gpt_type,omitempty"`
	GUID    string `json:"guid,omitempty"`
}

// End is the last sector (inclusive).
func (p PartitionInfo) End() uint64 {
	if p.Sectors == 0 {
		return p.Start
	}
	return p.Start + p.Sectors - 1
}

// FSInfo is what the filesystem check measured, kept as numbers so that a
// picture of the layout can be drawn from the report.
type FSInfo struct {
	Partition       int    `json:"partition"`        // 1..4, 0 for a bare filesystem
	OffsetBytes     int64  `json:"offset_bytes"`     // where the filesystem starts in the image
	PartitionBytes  int64  `json:"partition_bytes"`  // room the partition gives it
	BlockSize       int    `json:"block_size"`       // bytes
	Blocks          uint64 `json:"blocks"`           // s_blocks_count
	PartitionBlocks uint64 `json:"partition_blocks"` // whole blocks that fit in the partition
	// OverrunBlocks is Blocks - PartitionBlocks when the filesystem claims
	// more than its partition holds (the "Error 24" trap), else 0.
	OverrunBlocks uint64 `json:"overrun_blocks"`
	// FilesPastEnd are the files owning blocks past the partition end: the
	// ones that fail to read. Empty with an overrun means none yet: the
	// failure comes as the disk fills.
	FilesPastEnd []string `json:"files_past_end,omitempty"`
	// PastEnd has, for each of those files (same order), its first block
	// past the end and how many of its blocks lie there.
	PastEnd   []FileBlocksPastEnd `json:"past_end,omitempty"`
	InodeSize int                 `json:"inode_size"`
}

// FileBlocksPastEnd is one file owning blocks past the partition end.
type FileBlocksPastEnd struct {
	Path  string `json:"path"`
	First uint64 `json:"first_block"` // filesystem block number
	Count uint64 `json:"blocks"`
}

// GRUBInfo is where GRUB Legacy's pieces are.
type GRUBInfo struct {
	Stage1         bool     `json:"stage1"`
	Stage2Sector   uint32   `json:"stage2_sector"`  // what stage1 loads first
	Stage2Address  uint16   `json:"stage2_address"` // 0x2000: a stage1.5; 0x8000: stage2
	Stage15Kind    string   `json:"stage15_kind,omitempty"`
	Stage15Sectors []uint64 `json:"stage15_sectors,omitempty"` // first and last sector of the embedded stage, when embedded
	ConfigPath     string   `json:"config_path,omitempty"`
	Kernel         string   `json:"kernel,omitempty"`
	KernelArgs     string   `json:"kernel_args,omitempty"`
	Initrd         string   `json:"initrd,omitempty"`
}

// Report is the diagnosis of one image.
type Report struct {
	Image       string          `json:"image"`
	SizeBytes   int64           `json:"size_bytes"`
	DiskSectors uint64          `json:"disk_sectors"`
	Scheme      Scheme          `json:"scheme"`
	Boot        *BootInfo       `json:"boot,omitempty"`
	Partitions  []PartitionInfo `json:"partitions,omitempty"`
	FS          *FSInfo         `json:"filesystem,omitempty"`
	GRUB        *GRUBInfo       `json:"grub,omitempty"`
	GRUB2       *GRUB2Info      `json:"grub2,omitempty"`
	Syslinux    *SyslinuxInfo   `json:"syslinux,omitempty"`
	Findings    []Finding       `json:"findings"`
	// Unreadable is set when the image could not be read at all (exit 2).
	Unreadable bool `json:"unreadable,omitempty"`
}

// Errors counts the error findings.
func (r *Report) Errors() int { return r.count(Error) }

// Warnings counts the warning findings.
func (r *Report) Warnings() int { return r.count(Warning) }

func (r *Report) count(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == s {
			n++
		}
	}
	return n
}

// ExitCode is 0 when the image is bootable as far as doctor can tell, 1
// when there are errors, 2 when it could not be read.
func (r *Report) ExitCode() int {
	switch {
	case r.Unreadable:
		return 2
	case r.Errors() > 0:
		return 1
	}
	return 0
}

// Has returns the first finding with the given ID, or nil.
func (r *Report) Has(id ID) *Finding {
	for i := range r.Findings {
		if r.Findings[i].ID == id {
			return &r.Findings[i]
		}
	}
	return nil
}

// diag carries what the checks learned so far from one area to the next.
type diag struct {
	r    io.ReaderAt
	size int64
	opt  Options
	rep  *Report

	mbr     []byte // sector 0
	fs      *fsView
	menu    *menu
	initrd  bool // the boot entry has an initrd: root= and init are its business
	cmdline map[string]string
	// target is what the loader boots, as far as doctor followed it: the
	// kernel, initrd and command line. nil when the chain stopped earlier.
	target *bootTarget
	// parts are all partitions, logical and GPT ones included.
	parts []PartitionInfo
	// kernelInfo is the inspected kernel the entry boots (its config when
	// one was found), kernelPath its path; checkModules reads them.
	kernelInfo *kernel.Info
	kernelPath string
	// rootSB is the root filesystem's superblock when the filesystem
	// itself could not be opened (features the reader does not follow).
	rootSB *ext2.Superblock
}

// bootTarget is what a boot loader hands over: the kernel and initrds (and
// the filesystem they are read from) and the kernel command line. The
// loader checks fill it; the root filesystem, kernel, initrd and userland
// checks read it, whichever loader it came from.
type bootTarget struct {
	Loader   Loader
	Where    string    // the config file and line, for evidence
	loaderFS *loaderFS // the filesystem the loader reads the kernel from
	Kernel   string    // path in loaderFS
	Initrds  []string
	Cmdline  string
}

func (d *diag) add(f Finding) { d.rep.Findings = append(d.rep.Findings, f) }

// Diagnose reads the image (size bytes of r) and reports what would stop it
// from booting. It never writes to r and never panics: a panic in a check is
// recovered and reported as an "internal-error" finding.
func Diagnose(r io.ReaderAt, size int64, opt Options) *Report {
	if opt.Name == "" {
		opt.Name = "image"
	}
	if opt.MaxFiles <= 0 {
		opt.MaxFiles = 200000
	}
	rep := &Report{Image: opt.Name, SizeBytes: size, DiskSectors: uint64(max(size, 0)) / sectorSize, Scheme: SchemeNone}
	d := &diag{r: r, size: size, opt: opt, rep: rep}
	// The boot in order: identify the path first (sector 0 and what it
	// points to), then judge the partition table, the loader by its own
	// rules, and what the loader boots. A check for a new loader goes into
	// checkBootLoader; a check of what a loader boots (kernel, initrd,
	// modules, UKI) reads d.target and goes after checkKernel.
	steps := []struct {
		area Area
		run  func()
	}{
		{AreaImage, d.checkImage},
		{AreaBoot, d.identify},
		{AreaPartition, d.checkPartitions},
		{AreaUEFI, d.checkUEFI},
		{AreaBoot, d.checkBootLoader},
		{AreaFS, d.checkFS},
		{AreaGRUB, d.checkGRUB},
		{AreaKernel, d.checkKernel},
		{AreaKernel, d.checkModules},
		{AreaUserland, d.checkUserland},
	}
	for _, s := range steps {
		if rep.Unreadable {
			break
		}
		d.guard(s.area, s.run)
	}
	sort.SliceStable(rep.Findings, func(i, j int) bool {
		return areaOrder[rep.Findings[i].Area] < areaOrder[rep.Findings[j].Area]
	})
	return rep
}

// guard runs one area's checks, turning a panic into a finding so the other
// areas are still reported.
func (d *diag) guard(area Area, run func()) {
	defer func() {
		if p := recover(); p != nil {
			d.add(Finding{ID: IDInternalError, Area: area, Severity: Error,
				Title:    "doctor crashed while checking the " + string(area),
				Evidence: fmt.Sprintf("panic: %v\n%s", p, debug.Stack()),
				Fix:      "report this as a minidisk bug with the image (or `minidisk doctor --json` output)"})
		}
	}()
	run()
}

// readFull reads len(b) bytes at off, failing on a short read.
func readFull(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// checkImage reads sector 0; an image shorter than that cannot be diagnosed.
func (d *diag) checkImage() {
	if d.size < sectorSize {
		d.rep.Unreadable = true
		d.add(Finding{ID: IDImageTooSmall, Area: AreaImage, Severity: Error,
			Title:    "the image is smaller than one sector",
			Evidence: fmt.Sprintf("%d bytes; a disk needs at least the 512-byte MBR", d.size),
			Fix:      "give doctor the whole disk image (not a partition or a truncated copy)"})
		return
	}
	b := make([]byte, sectorSize)
	if err := readFull(d.r, b, 0); err != nil {
		d.rep.Unreadable = true
		d.add(Finding{ID: IDImageUnreadable, Area: AreaImage, Severity: Error,
			Title: "sector 0 cannot be read", Evidence: err.Error(),
			Fix: "check that the file is readable and not truncated"})
		return
	}
	d.mbr = b
	if d.size%sectorSize != 0 {
		d.add(Finding{ID: IDImageOddSize, Area: AreaImage, Severity: Warning,
			Title:    "the image size is not a whole number of 512-byte sectors",
			Evidence: fmt.Sprintf("%d bytes = %d sectors + %d bytes; the trailing bytes are invisible to the BIOS and to Linux", d.size, d.size/sectorSize, d.size%sectorSize),
			Fix:      fmt.Sprintf("truncate -s %d %s (round up to whole sectors)", (d.size/sectorSize+1)*sectorSize, d.opt.Name)})
	}
}
