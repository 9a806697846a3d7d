package ext2

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/rootfs"
)

// grubShell runs GRUB Legacy's own shell (32-bit, under qemu-i386) on img
// with the given commands and returns what it printed.
func grubShell(t *testing.T, img string, cmds ...string) string {
	t.Helper()
	qemu := testutil.RequireTool(t, "qemu-i386", "qemu-user")
	grub := testutil.RequireFile(t, "/usr/sbin/grub", "apt-get install grub-legacy")
	dm := filepath.Join(t.TempDir(), "device.map")
	must(t, os.WriteFile(dm, []byte("(hd0) "+img+"\n"), 0o644))
	cmd := toolCommand(t, qemu, grub, "--batch", "--no-floppy", "--device-map="+dm)
	cmd.Stdin = strings.NewReader(strings.Join(append(cmds, "quit"), "\n") + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("grub: %v\n%s", err, out)
	}
	return string(out)
}

// mbrImage writes tree into a partition at sector 63 of a new image with
// an MBR holding that one Linux partition (status, type and LBA fields are
// all GRUB Legacy reads), and returns the image path.
func mbrImage(t *testing.T, tree *rootfs.Tree, opt Options) string {
	t.Helper()
	const start = 63
	img, st := writeImage(t, tree, opt, start*512)
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	must(t, err)
	defer f.Close()
	mbr := make([]byte, 512)
	e := mbr[0x1BE:]
	e[0], e[4] = 0x80, 0x83
	binary.LittleEndian.PutUint32(e[8:], start)
	binary.LittleEndian.PutUint32(e[12:], uint32(st.Blocks*uint64(st.BlockSize)/512))
	mbr[510], mbr[511] = 0x55, 0xAA
	_, err = f.WriteAt(mbr, 0)
	must(t, err)
	return img
}

// TestGrubLegacyReadsOurExt2 is the reason this writer exists: GRUB
// Legacy's ext2 code must find and read our files, through a symlink and
// through single- and double-indirect blocks. `blocklist` makes GRUB walk a
// file's whole block map; its answer must match debugfs's.
func TestGrubLegacyReadsOurExt2(t *testing.T) {
	for _, bs := range []int{1024, 4096} {
		t.Run(strconv.Itoa(bs), func(t *testing.T) {
			tree := newTree()
			must(t, tree.AddBytes("/etc/hostname", 0o644, []byte("minidisk-grub-check\n")))
			must(t, tree.AddBytes("/boot/grub/grub.conf", 0o644, []byte("timeout 0\ntitle linux-from-our-ext2\n")))
			must(t, tree.Symlink("/boot/grub/menu.lst", "grub.conf"))
			var lines strings.Builder
			for i := 0; lines.Len() < 14*bs; i++ {
				fmt.Fprintf(&lines, "line %06d\n", i)
			}
			must(t, tree.AddBytes("/indirect.txt", 0o644, []byte(lines.String())))
			// GRUB 0.97 walks double-indirect blocks only with 1 KiB
			// blocks: with 4 KiB blocks it fails past block 12+1024 with
			// "Error 16" on images from mke2fs -d too (measured), so the
			// 4 KiB case stays within the single-indirect block.
			dsize := int64(12+bs/4+40) * int64(bs)
			if bs == 4096 {
				dsize = int64(12+300) * int64(bs)
			}
			must(t, tree.Add(rootfs.Entry{Header: rootfs.Header{Name: "/boot/double", Type: rootfs.TypeReg, Mode: 0o644, ModTime: testEpoch, Size: dsize}, Content: genContent{size: dsize, seed: 1}}))
			blocks := uint64(8<<20) / uint64(bs)
			img := mbrImage(t, tree, Options{BlockSize: bs, Blocks: blocks})
			out := grubShell(t, img, "root (hd0,0)", "cat /etc/hostname", "cat /boot/grub/menu.lst", "cat /indirect.txt", "blocklist /boot/double")
			for _, want := range []string{"Filesystem type is ext2fs", "minidisk-grub-check", "title linux-from-our-ext2"} {
				if !strings.Contains(out, want) {
					t.Errorf("GRUB output lacks %q:\n%.3000s", want, out)
				}
			}
			last := fmt.Sprintf("line %06d", strings.Count(lines.String(), "\n")-1)
			if !strings.Contains(out, "line 000000") || !strings.Contains(out, last) {
				t.Errorf("GRUB did not print /indirect.txt through its indirect block (want %q)", last)
			}
			if strings.Contains(out, "Error") {
				t.Errorf("GRUB reported an error:\n%.3000s", out[max(0, strings.Index(out, "Error")-500):])
			}
			// GRUB's blocklist: partition-relative sector ranges.
			i := strings.Index(out, "blocklist /boot/double")
			got := strings.Fields(out[i+len("blocklist /boot/double"):])
			if len(got) == 0 {
				t.Fatalf("no blocklist output")
			}
			want := debugfsSectorList(t, img, 63*512, "/boot/double", bs)
			if got[0] != want {
				t.Errorf("GRUB blocklist %s\ndebugfs says       %s", got[0], want)
			}
		})
	}
}

// debugfsSectorList formats the data blocks debugfs's stat lists for a
// file (pointer blocks left out) as GRUB's blocklist does:
// "(hd0,0)START+COUNT,START+COUNT" in partition-relative 512-byte sectors.
func debugfsSectorList(t *testing.T, img string, offset int64, name string, bs int) string {
	t.Helper()
	debugfs := testutil.RequireTool(t, "debugfs", "e2fsprogs")
	out, err := toolCommand(t, debugfs, "-R", "stat "+name, fmt.Sprintf("%s?offset=%d", img, offset)).CombinedOutput()
	if err != nil {
		t.Fatalf("debugfs stat: %v\n%s", err, out)
	}
	s := string(out)
	i := strings.Index(s, "BLOCKS:")
	j := strings.Index(s, "TOTAL:")
	if i < 0 || j < i {
		t.Fatalf("debugfs stat: no block list\n%s", out)
	}
	spb := uint64(bs / 512)
	var runs []string
	var start, count uint64
	for _, item := range strings.Split(strings.TrimSpace(s[i+len("BLOCKS:"):j]), ", ") {
		logical, phys, ok := strings.Cut(item, ":")
		if !ok {
			t.Fatalf("debugfs block list item %q", item)
		}
		if strings.Contains(logical, "IND") {
			continue
		}
		lo, hi, _ := strings.Cut(phys, "-")
		a, _ := strconv.ParseUint(lo, 10, 64)
		b := a
		if hi != "" {
			b, _ = strconv.ParseUint(hi, 10, 64)
		}
		if count > 0 && a*spb == start+count {
			count += (b - a + 1) * spb
			continue
		}
		if count > 0 {
			runs = append(runs, fmt.Sprintf("%d+%d", start, count))
		}
		start, count = a*spb, (b-a+1)*spb
	}
	runs = append(runs, fmt.Sprintf("%d+%d", start, count))
	return "(hd0,0)" + strings.Join(runs, ",")
}
