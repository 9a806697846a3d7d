package explain

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/disk"
	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel/kerneltest"
	"github.com/minidisk/minidisk/legacy"
)

// Every number explain prints is checked here against a tool that read
// the image on its own: sfdisk -d and fdisk -l (partition entries and CHS),
// dumpe2fs (superblock and group descriptors), debugfs stat/blocks (inodes
// and block lists), and the GRUB shell, whose setup wrote the fields
// explain decodes. Images come from the 2007 host-tool pipeline (sfdisk,
// mke2fs -d, debugfs, dd, GRUB's setup) and from `minidisk create`.

const grubStageDir = "/usr/lib/grub/x86_64-pc"

func requireTools(t testing.TB) {
	t.Helper()
	for _, tool := range [][2]string{{"sfdisk", "fdisk"}, {"fdisk", "fdisk"}, {"mke2fs", "e2fsprogs"}, {"debugfs", "e2fsprogs"}, {"dumpe2fs", "e2fsprogs"}, {"qemu-i386", "qemu-user"}} {
		testutil.RequireTool(t, tool[0], tool[1])
	}
	testutil.RequireFile(t, "/usr/sbin/grub", "apt-get install grub-legacy")
	testutil.RequireFile(t, grubStageDir+"/e2fs_stage1_5", "apt-get install grub-legacy")
	testutil.RequireFile(t, "/bin/busybox", "apt-get install busybox")
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// hostImage is the project's 2007 reference pipeline
// (scripts/reference-pipeline.sh: truncate, sfdisk, mke2fs -d, debugfs, dd,
// the GRUB shell's setup) with kernel as /boot/vmlinuz. It returns the
// image and the transcript of the GRUB shell's setup run again on a copy
// (setup is repeatable: the copy's bytes are the pipeline's), the referee
// for GRUB's fields.
func hostImage(t testing.TB, sizeMiB int, kernel string) (img, grubImg, grubOut string) {
	t.Helper()
	requireTools(t)
	script := testutil.ReferencePipeline(t)
	dir := t.TempDir()
	img = filepath.Join(dir, "disk.img")
	cmd := exec.Command("bash", script, kernel, img, strconv.Itoa(sizeMiB))
	cmd.Env = append(os.Environ(), "BUSYBOX=/bin/busybox")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	grubImg = filepath.Join(dir, "grub.img")
	testutil.Run(t, "cp", "--sparse=always", img, grubImg)
	return img, grubImg, grubSetup(t, grubImg)
}

func grubSetup(t testing.TB, img string) string {
	t.Helper()
	dm := filepath.Join(t.TempDir(), "device.map")
	must(t, os.WriteFile(dm, []byte("(hd0) "+img+"\n"), 0o644))
	cmd := exec.Command("qemu-i386", "/usr/sbin/grub", "--batch", "--no-floppy", "--device-map="+dm)
	cmd.Stdin = strings.NewReader("root (hd0,0)\nsetup (hd0)\nquit\n")
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(string(out), "Error ") {
		t.Fatalf("GRUB shell: %v\n%s", err, out)
	}
	return string(out)
}

// sfdiskPart reads partition 1's start and size from sfdisk -d.
func sfdiskPart(t testing.TB, img string) (start, size int64) {
	t.Helper()
	d := sfdiskDump(t, img)
	start, _ = strconv.ParseInt(d["start"], 10, 64)
	size, _ = strconv.ParseInt(d["size"], 10, 64)
	return start, size
}

// sfdiskDump returns partition 1's fields and the label-id from sfdisk -d.
func sfdiskDump(t testing.TB, img string) map[string]string {
	t.Helper()
	out := testutil.Run(t, "sfdisk", "-d", img)
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "label-id: "); ok {
			m["label-id"] = strings.TrimSpace(v)
		}
		if !strings.HasPrefix(line, img+"1 ") {
			continue
		}
		for _, f := range strings.Split(line[strings.Index(line, ":")+1:], ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(f), "=")
			if !ok {
				m[strings.TrimSpace(k)] = "yes"
				continue
			}
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

func openDisk(t testing.TB, img string) *Disk {
	t.Helper()
	f, err := os.Open(img)
	must(t, err)
	t.Cleanup(func() { f.Close() })
	fi, err := f.Stat()
	must(t, err)
	d, err := Open(f, fi.Size(), img)
	must(t, err)
	return d
}

func view(t testing.TB, d *Disk, what, arg string) *View {
	t.Helper()
	v, err := d.Explain(what, arg)
	if err != nil {
		t.Fatalf("explain %s %s: %v", what, arg, err)
	}
	var b bytes.Buffer
	must(t, v.WriteText(&b, TextOptions{Width: 80}))
	must(t, v.WriteJSON(&b))
	return v
}

func fieldOf(t testing.TB, v *View, id string) *Field {
	t.Helper()
	f := v.Field(id)
	if f == nil {
		t.Fatalf("explain %s: no field %s", v.What, id)
	}
	return f
}

func extractPartition(t testing.TB, img string) string {
	t.Helper()
	start, size := sfdiskPart(t, img)
	part := filepath.Join(t.TempDir(), "part.img")
	testutil.Run(t, "dd", "if="+img, "of="+part, "bs=512", fmt.Sprintf("skip=%d", start), fmt.Sprintf("count=%d", size), "conv=sparse", "status=none")
	return part
}

// debugfsOut runs a read-only debugfs request; stdout only (its banner
// goes to stderr).
func debugfsOut(t testing.TB, part, req string) string {
	t.Helper()
	out, err := exec.Command("debugfs", "-R", req, part).Output()
	if err != nil {
		t.Fatalf("debugfs -R %q: %v", req, err)
	}
	return string(out)
}

func sha(t testing.TB, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	must(t, err)
	return sha256.Sum256(b)
}

// checkMBR: partition 1 against sfdisk -d, CHS against fdisk -l.
func checkMBR(t *testing.T, d *Disk, img string) {
	v := view(t, d, "mbr", "")
	sf := sfdiskDump(t, img)
	if got := fieldOf(t, v, "mbr.disk_id").Text; got != sf["label-id"] {
		t.Errorf("disk signature %s, sfdisk label-id %s", got, sf["label-id"])
	}
	for id, key := range map[string]string{"mbr.p1.start_lba": "start", "mbr.p1.sectors": "size"} {
		if got := fmt.Sprint(fieldOf(t, v, id).Value); got != sf[key] {
			t.Errorf("%s = %s, sfdisk %s=%s", id, got, key, sf[key])
		}
	}
	if got := fieldOf(t, v, "mbr.p1.type").Text; got != sf["type"] {
		t.Errorf("type %s, sfdisk %s", got, sf["type"])
	}
	if got := fieldOf(t, v, "mbr.p1.status").Value == 0x80; got != (sf["bootable"] == "yes") {
		t.Errorf("bootable %v, sfdisk %q", got, sf["bootable"])
	}
	out := testutil.Run(t, "fdisk", "-l", "-o", "Device,Start-C/H/S,End-C/H/S", img)
	var startCHS, endCHS string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == img+"1" {
			startCHS, endCHS = f[1], f[2]
		}
	}
	if startCHS == "" {
		t.Fatalf("fdisk printed no CHS:\n%s", out)
	}
	if got := fieldOf(t, v, "mbr.p1.start_chs").Text; got != startCHS {
		t.Errorf("start CHS %s, fdisk %s", got, startCHS)
	}
	if got := fieldOf(t, v, "mbr.p1.end_chs").Text; got != endCHS {
		t.Errorf("end CHS %s, fdisk %s", got, endCHS)
	}
	if !strings.Contains(fieldOf(t, v, "mbr.signature").Meaning, "55 AA") {
		t.Error("no 55 AA")
	}
}

// checkGRUB compares the stage1 and stage1.5 fields with what the GRUB
// shell's setup wrote on grubImg (the same image, or a copy GRUB set up)
// and said it did: "(hd0)1+19 p (hd0,0)/boot/grub/stage2 /boot/grub/menu.lst".
func checkGRUB(t *testing.T, d *Disk, grubImg, grubOut string) {
	m := regexp.MustCompile(`(\d+) sectors are embedded`).FindStringSubmatch(grubOut)
	in := regexp.MustCompile(`install /boot/grub/stage1 \(hd0\) \(hd0\)(\d+)\+(\d+) p \(hd0,(\d)\)(\S+) ([^\s"]+)`).FindStringSubmatch(grubOut)
	if m == nil || in == nil {
		t.Fatalf("GRUB shell output not understood:\n%s", grubOut)
	}
	embedded, _ := strconv.Atoi(m[1])
	first, _ := strconv.Atoi(in[1])
	count, _ := strconv.Atoi(in[2])
	if count != embedded {
		t.Fatalf("GRUB: %d embedded, install says %d", embedded, count)
	}
	mv := view(t, d, "mbr", "")
	gv := view(t, d, "gap", "")
	if got := fieldOf(t, mv, "mbr.grub.stage2_sector").Value; got != uint64(first) {
		t.Errorf("stage2_sector %d, GRUB installed at sector %d", got, first)
	}
	// The stage1.5 occupies sectors first..first+count-1: its first sector
	// loads the other count-1 from first+1.
	if got := fieldOf(t, gv, "gap.blocklist0.start").Value; got != uint64(first+1) {
		t.Errorf("blocklist start %d, want %d", got, first+1)
	}
	if got := fieldOf(t, gv, "gap.blocklist0.count").Value; got != uint64(count-1) {
		t.Errorf("blocklist count %d, GRUB embedded %d sectors", got, count)
	}
	if gv.Field("gap.blocklist1.start") != nil {
		t.Error("a second blocklist entry for a contiguous embed")
	}
	if got, want := fieldOf(t, gv, "gap.stage2_path").Text, in[4]+" "+in[5]; got != want {
		t.Errorf("stage2 path %q, GRUB %q", got, want)
	}
	if got := (fieldOf(t, gv, "gap.stage2_device").Value >> 16) & 0xFF; got != uint64(in[3][0]-'0') {
		t.Errorf("stage2 partition %d, GRUB (hd0,%s)", got, in[3])
	}
	// Every byte setup changed in stage1 and in the stage1.5 lies in a
	// field explain marks as patched, and every field's raw bytes are the
	// bytes GRUB's setup left in its image.
	gimg, err := os.ReadFile(grubImg)
	must(t, err)
	stage1, err := os.ReadFile(filepath.Join(grubStageDir, "stage1"))
	must(t, err)
	stage15, err := os.ReadFile(filepath.Join(grubStageDir, "e2fs_stage1_5"))
	must(t, err)
	patched := append(patchedRanges(mv), patchedRanges(gv)...)
	check := func(file []byte, base int64, from, to int) {
		for i := from; i < to && i < len(file); i++ {
			off := base + int64(i)
			if gimg[off] != file[i] && !inRanges(patched, off) {
				t.Errorf("setup changed byte %d (0x%X) from %02x to %02x, but explain marks no patched field there", off, off, file[i], gimg[off])
			}
		}
	}
	check(stage1, 0, 0x3E, 0x1B8) // 0x03..0x3D is the BPB, kept from the disk
	check(stage15, int64(first)*512, 0, len(stage15))
	for _, v := range []*View{mv, gv} {
		for _, s := range v.Sections {
			for _, f := range s.Fields {
				if f.Size == 0 || f.Offset < 0 || f.Offset+int64(f.Size) > int64(len(gimg)) {
					continue
				}
				if want := hexBytes(gimg[f.Offset : f.Offset+int64(f.Size)]); f.Raw != want {
					t.Errorf("%s at %d: raw %s, GRUB's image has %s", f.ID, f.Offset, f.Raw, want)
				}
			}
		}
	}
}

func patchedRanges(v *View) [][2]int64 {
	var out [][2]int64
	for _, s := range v.Sections {
		for _, f := range s.Fields {
			if f.Patched {
				out = append(out, [2]int64{f.Offset, f.Offset + int64(f.Size)})
			}
		}
	}
	return out
}

func inRanges(rs [][2]int64, off int64) bool {
	for _, r := range rs {
		if off >= r[0] && off < r[1] {
			return true
		}
	}
	return false
}

// checkFS: the superblock and every group descriptor against dumpe2fs.
func checkFS(t *testing.T, d *Disk, img string) {
	v := view(t, d, "fs", "")
	part := extractPartition(t, img)
	out := testutil.Run(t, "dumpe2fs", part)
	head := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, val, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, " ") {
			head[k] = strings.TrimSpace(val)
		}
	}
	for id, key := range map[string]string{
		"fs.inodes_count": "Inode count", "fs.blocks_count": "Block count", "fs.r_blocks_count": "Reserved block count",
		"fs.free_blocks": "Free blocks", "fs.free_inodes": "Free inodes", "fs.first_data_block": "First block",
		"fs.blocks_per_group": "Blocks per group", "fs.inodes_per_group": "Inodes per group", "fs.inode_size": "Inode size",
		"fs.first_ino": "First inode",
	} {
		if got := fmt.Sprint(fieldOf(t, v, id).Value); got != head[key] {
			t.Errorf("%s = %s, dumpe2fs %q = %q", id, got, key, head[key])
		}
	}
	if got := 1024 << fieldOf(t, v, "fs.log_block_size").Value; fmt.Sprint(got) != head["Block size"] {
		t.Errorf("block size %d, dumpe2fs %s", got, head["Block size"])
	}
	if got := fieldOf(t, v, "fs.uuid").Text; got != head["Filesystem UUID"] {
		t.Errorf("UUID %s, dumpe2fs %s", got, head["Filesystem UUID"])
	}
	if got := fieldOf(t, v, "fs.magic").Text; !strings.EqualFold(got, head["Filesystem magic number"]) {
		t.Errorf("magic %s, dumpe2fs %s", got, head["Filesystem magic number"])
	}
	want := strings.Fields(head["Filesystem features"])
	sort.Strings(want)
	r, _ := d.rootFS()
	if got := Features(r.Superblock()); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("features %v, dumpe2fs %v", got, want)
	}
	// Groups: "Group 1: (Blocks 8193-12255)", "Block bitmap at 8242 (+49)",
	// "Inode bitmap at ...", "Inode table at 8244-8435 (+51)",
	// "3820 free blocks, 1536 free inodes, 0 directories".
	grp := regexp.MustCompile(`(?m)^Group (\d+): \(Blocks (\d+)-(\d+)\)`)
	bb := regexp.MustCompile(`Block bitmap at (\d+)`)
	ib := regexp.MustCompile(`Inode bitmap at (\d+)`)
	it := regexp.MustCompile(`Inode table at (\d+)-(\d+)`)
	fr := regexp.MustCompile(`(\d+) free blocks, (\d+) free inodes, (\d+) directories`)
	locs := grp.FindAllStringSubmatchIndex(out, -1)
	if len(locs) == 0 {
		t.Fatalf("dumpe2fs printed no groups:\n%s", out)
	}
	for i, loc := range locs {
		end := len(out)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		block := out[loc[0]:end]
		g := out[loc[2]:loc[3]]
		id := "fs.g" + g
		if v.Section(id) == nil {
			t.Errorf("no section %s", id)
			continue
		}
		if !strings.Contains(v.Section(id).Title, fmt.Sprintf("blocks %s..%s", out[loc[4]:loc[5]], out[loc[6]:loc[7]])) {
			t.Errorf("%s title %q, dumpe2fs blocks %s-%s", id, v.Section(id).Title, out[loc[4]:loc[5]], out[loc[6]:loc[7]])
		}
		itm := it.FindStringSubmatch(block)
		frm := fr.FindStringSubmatch(block)
		for fid, want := range map[string]string{
			".block_bitmap": bb.FindStringSubmatch(block)[1], ".inode_bitmap": ib.FindStringSubmatch(block)[1], ".inode_table": itm[1],
			".free_blocks": frm[1], ".free_inodes": frm[2], ".used_dirs": frm[3],
		} {
			if got := fmt.Sprint(fieldOf(t, v, id+fid).Value); got != want {
				t.Errorf("%s%s = %s, dumpe2fs %s", id, fid, got, want)
			}
		}
		if !strings.Contains(fieldOf(t, v, id+".inode_table").Meaning, fmt.Sprintf("blocks %s..%s", itm[1], itm[2])) {
			t.Errorf("%s.inode_table: %q, dumpe2fs %s-%s", id, fieldOf(t, v, id+".inode_table").Meaning, itm[1], itm[2])
		}
	}
}

// checkPath: a file's inode, block list and indirect blocks against
// debugfs stat and blocks, and its bytes at the offsets explain prints
// against the file's content (the dd a student would type).
func checkPath(t *testing.T, d *Disk, img, p, content string) {
	v := view(t, d, "path", p)
	w := v.Walk
	part := extractPartition(t, img)
	stat := debugfsOut(t, part, "stat "+w.Resolved)
	m := regexp.MustCompile(`Inode: (\d+)`).FindStringSubmatch(stat)
	if m == nil || m[1] != fmt.Sprint(w.Inode) {
		t.Fatalf("%s: inode %d, debugfs stat:\n%s", p, w.Inode, stat)
	}
	if lst := debugfsOut(t, part, "stat "+p); !strings.Contains(lst, fmt.Sprintf("Inode: %d ", w.Inodes[len(w.Inodes)-1])) && w.Resolved == p {
		t.Errorf("%s: last inode %d not what debugfs stat says", p, w.Inodes[len(w.Inodes)-1])
	}
	var ours []string
	for _, r := range w.Runs {
		for b := r.Block; b < r.Block+r.Count; b++ {
			ours = append(ours, fmt.Sprint(b))
		}
	}
	theirs := strings.Fields(debugfsOut(t, part, "blocks "+w.Resolved))
	// debugfs blocks lists data and indirect blocks in map order; the data
	// blocks alone are what explain's runs hold.
	ind := map[string]bool{}
	for _, b := range w.Indirect {
		ind[fmt.Sprint(b)] = true
	}
	var theirData []string
	var theirInd []string
	for _, b := range theirs {
		if ind[b] {
			theirInd = append(theirInd, b)
		} else {
			theirData = append(theirData, b)
		}
	}
	if strings.Join(ours, " ") != strings.Join(theirData, " ") {
		t.Errorf("%s: data blocks\n %v\ndebugfs blocks (without indirect)\n %v", p, ours, theirData)
	}
	// The indirect blocks: debugfs stat names them "(IND):N", "(DIND):N".
	var statInd []string
	for _, mm := range regexp.MustCompile(`\((?:IND|DIND|TIND)\):(\d+)`).FindAllStringSubmatch(stat, -1) {
		statInd = append(statInd, mm[1])
	}
	sort.Strings(statInd)
	sort.Strings(theirInd)
	if strings.Join(statInd, " ") != strings.Join(theirInd, " ") || len(statInd) != len(w.Indirect) {
		t.Errorf("%s: indirect blocks %v, debugfs stat %v", p, w.Indirect, statInd)
	}
	// dd skip=SECTOR count=N at every run gives the file's bytes.
	f, err := os.Open(img)
	must(t, err)
	defer f.Close()
	bs := int64(1024)
	for _, r := range w.Runs {
		buf := make([]byte, r.Sectors*512)
		_, err := f.ReadAt(buf, r.Sector*512)
		must(t, err)
		lo := int64(r.Logical) * bs
		hi := min(lo+int64(len(buf)), int64(len(content)))
		if lo < hi && !bytes.Equal(buf[:hi-lo], []byte(content[lo:hi])) {
			t.Errorf("%s: %s does not give file bytes %d..%d", p, r.DD, lo, hi-1)
		}
	}
}

func checkAll(t *testing.T, img, grubImg, grubOut string) {
	before := sha(t, img)
	d := openDisk(t, img)
	checkMBR(t, d, img)
	checkGRUB(t, d, grubImg, grubOut)
	checkFS(t, d, img)
	k, err := os.ReadFile(kerneltest.FakeBzImage(t))
	must(t, err)
	checkPath(t, d, img, "/boot/vmlinuz", string(k))
	bb, err := os.ReadFile("/bin/busybox")
	must(t, err)
	checkPath(t, d, img, "/bin/sh", string(bb))
	conf := debugfsOut(t, extractPartition(t, img), "cat /boot/grub/grub.conf")
	checkPath(t, d, img, "/boot/grub/menu.lst", conf)
	bv := view(t, d, "boot", "")
	if len(bv.Chain) < 8 {
		t.Errorf("boot chain has %d steps:\n%+v", len(bv.Chain), bv.Chain)
	}
	if sha(t, img) != before {
		t.Fatal("explain changed the image")
	}
}

func TestExplainHostPipelineImage(t *testing.T) {
	img, ref, out := hostImage(t, 12, kerneltest.FakeBzImage(t))
	checkAll(t, img, ref, out)
}

func TestExplainCreatedImage(t *testing.T) {
	requireTools(t)
	for _, lo := range []disk.LayoutOptions{{}, {Align1MiB: true}} {
		t.Run(fmt.Sprintf("align1MiB=%v", lo.Align1MiB), func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "disk.img")
			if _, err := legacy.Create(img, legacy.Options{Payload: legacy.Payload{Kernel: kerneltest.FakeBzImage(t), BusyBox: "/bin/busybox"}, Layout: lo}); err != nil {
				t.Fatal(err)
			}
			// The referee for GRUB's fields: the GRUB shell's own setup on a copy.
			ref := filepath.Join(t.TempDir(), "grub.img")
			testutil.Run(t, "cp", "--sparse=always", img, ref)
			out := grubSetup(t, ref)
			checkAll(t, img, ref, out)
		})
	}
}

// Another loader in the MBR: SYSLINUX's mbr.bin (written over the boot
// code as its manual says, dd bs=440 count=1) is named, not decoded.
func TestExplainOtherLoader(t *testing.T) {
	mbrBin := testutil.RequireFile(t, "/usr/lib/syslinux/mbr/mbr.bin", "apt-get install syslinux-common")
	img, _, _ := hostImage(t, 12, kerneltest.FakeBzImage(t))
	testutil.Run(t, "dd", "if="+mbrBin, "of="+img, "bs=440", "count=1", "conv=notrunc", "status=none")
	v := view(t, openDisk(t, img), "mbr", "")
	if s := v.Section("mbr.boot_code"); s == nil || !strings.Contains(s.Title, "syslinux-mbr.bin") {
		t.Errorf("boot code section: %+v", s)
	}
	if v.Field("mbr.grub.stage2_sector") != nil {
		t.Error("GRUB fields decoded from SYSLINUX's code")
	}
	if _, err := openDisk(t, img).Explain("gap", ""); err == nil {
		t.Error("explain gap on a SYSLINUX MBR: no error")
	}
}
