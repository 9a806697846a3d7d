package grub

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/minidisk/minidisk/disk"
)

// Each bad input is refused with a message naming the problem, and the
// image is byte-for-byte unchanged.
func TestInstallRefusesBadImages(t *testing.T) {
	st := hostStages(t)
	cases := []struct {
		name    string
		l       layout
		prepare func(t *testing.T, b builtImage)
		opt     InstallOptions
		want    string
	}{
		{name: "partition-at-sector-1", l: layout{sizeMiB: 8, sfdisk: "start=1, type=83\n"}, want: "sectors 1..19 are not free"},
		{name: "256-byte-inodes", l: layout{sizeMiB: 8, sfdisk: "start=63, type=83\n", inodeSize: 256}, want: "256-byte inodes"},
		{name: "no-ext2", l: layout{sizeMiB: 8, sfdisk: "start=63, type=83\n"}, prepare: func(t *testing.T, b builtImage) {
			writeAt(t, b.path, make([]byte, 2048), b.start*sectorSize) // wipe the superblock
		}, want: "holds no ext2 filesystem"},
		{name: "empty-partition-slot", l: layout{sizeMiB: 8, sfdisk: "start=63, type=83\n"}, opt: InstallOptions{PartitionIndex: 2}, want: "partition 3 is empty"},
		{name: "no-partition-table", l: layout{sizeMiB: 8, sfdisk: "start=63, type=83\n"}, prepare: func(t *testing.T, b builtImage) {
			writeAt(t, b.path, []byte{0, 0}, 510)
		}, want: "no MBR partition table"},
		{name: "stage-files-missing-in-fs", l: layout{sizeMiB: 8, sfdisk: "start=63, type=83\n", noStageFS: true}, want: "/boot/grub/stage1 is not in the filesystem"},
		{name: "other-stage2-build-in-fs", l: layout{sizeMiB: 8, sfdisk: "start=63, type=83\n"},
			opt: InstallOptions{FS: fstest.MapFS{
				"boot/grub/stage1":        {Data: st.Stage1},
				"boot/grub/stage2":        {Data: append(append([]byte(nil), st.Stage2[:len(st.Stage2)-1]...), 0xEE)},
				"boot/grub/e2fs_stage1_5": {Data: st.E2fsStage15},
			}}, want: "/boot/grub/stage2 in the filesystem differs from"},
		{name: "extents", l: layout{sizeMiB: 8, sfdisk: "start=63, type=83\n"}, prepare: func(t *testing.T, b builtImage) {
			sb := readAt(t, b.path, b.start*sectorSize+1024, 1024)
			sb[0x60] |= 0x40 // s_feature_incompat: extent
			writeAt(t, b.path, sb, b.start*sectorSize+1024)
		}, want: "uses extent"},
		{name: "fs-larger-than-partition", l: layout{sizeMiB: 8, sfdisk: "start=63, type=83\n"}, prepare: func(t *testing.T, b builtImage) {
			mbr := readAt(t, b.path, 0, sectorSize)
			mbr[disk.TableOffset+12] = 0x10 // shrink partition 1 to 16 sectors
			mbr[disk.TableOffset+13], mbr[disk.TableOffset+14], mbr[disk.TableOffset+15] = 0, 0, 0
			writeAt(t, b.path, mbr, 0)
		}, want: "Error 24"},
		{name: "partition-past-image-end", l: layout{sizeMiB: 8, sfdisk: "start=63, type=83\n"}, prepare: func(t *testing.T, b builtImage) {
			mbr := readAt(t, b.path, 0, sectorSize)
			mbr[disk.TableOffset+15] = 0x01
			writeAt(t, b.path, mbr, 0)
		}, want: "runs past the end of the image"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := buildImage(t, st, c.l)
			if c.prepare != nil {
				c.prepare(t, b)
			}
			before, err := os.ReadFile(b.path)
			if err != nil {
				t.Fatal(err)
			}
			opt := c.opt
			if opt.FS == nil {
				opt.FS = os.DirFS(b.stage)
			}
			_, err = installFile(t, b.path, st, opt)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
			t.Log(err)
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			after, _ := os.ReadFile(b.path)
			if !bytes.Equal(before, after) {
				t.Fatal("image changed")
			}
		})
	}
}

// Wrong stage files are named, with what is wrong about them.
func TestLoadStagesRejectsWrongFiles(t *testing.T) {
	st := hostStages(t)
	fat, err := os.ReadFile(filepath.Join(hostGrubDir, "fat_stage1_5"))
	if err != nil {
		t.Skip("no fat_stage1_5 to use as a wrong stage1.5")
	}
	oldVersion := append([]byte(nil), st.Stage2...)
	oldVersion[sectorSize+stage2VersionOff+1] = 1 // "3.1"
	badStage1 := append([]byte(nil), st.Stage1...)
	badStage1[stage1VersionOff] = 2
	for _, c := range []struct {
		name          string
		s1, s2, s15   []byte
		file, message string
	}{
		{"stage1.5 of another filesystem", st.Stage1, st.Stage2, fat, E2fsStage15Name, "stage id 3 (fat_stage1_5), want 2 (e2fs_stage1_5)"},
		{"stage2 version 3.1", st.Stage1, oldVersion, st.E2fsStage15, Stage2Name, "stage version 3.1, want 3.2"},
		{"stage1.5 given as stage2", st.Stage1, st.E2fsStage15, st.E2fsStage15, Stage2Name, "stage id 2 (e2fs_stage1_5), want 0 (stage2)"},
		{"stage1 version", badStage1, st.Stage2, st.E2fsStage15, Stage1Name, "stage version 2.2"},
		{"stage2 as stage1", st.Stage2, st.Stage2, st.E2fsStage15, Stage1Name, "exactly 512"},
		{"text file", []byte("hello"), st.Stage2, st.E2fsStage15, Stage1Name, "exactly 512"},
		{"truncated stage2", st.Stage1, st.Stage2[:600], st.E2fsStage15, Stage2Name, "is 600 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for n, b := range map[string][]byte{Stage1Name: c.s1, Stage2Name: c.s2, E2fsStage15Name: c.s15} {
				if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := FindStages(dir)
			if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, c.file)+": ") || !strings.Contains(err.Error(), c.message) {
				t.Fatalf("err = %v, want %s named with %q", err, c.file, c.message)
			}
		})
	}
	if _, err := FindStages(t.TempDir()); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("empty dir: %v", err)
	}
}

// A different config path is written into stage2 inside the filesystem,
// as GRUB's `install ... p (hd0,0)/boot/grub/stage2 /boot/grub/grub.conf`.
func TestInstallCustomConfigMatchesGrubInstall(t *testing.T) {
	st := hostStages(t)
	b := buildImage(t, st, layout{sizeMiB: 8, sfdisk: "start=63, type=83, bootable\n", fillerKiB: 64, partFile: true})
	ours := filepath.Join(t.TempDir(), "ours.img")
	theirs := filepath.Join(t.TempDir(), "grub.img")
	copyFile(t, b.path, ours)
	copyFile(t, b.path, theirs)
	n := st.Stage15Sectors()
	grubShell(t, theirs, "root (hd0,0)", "embed /boot/grub/e2fs_stage1_5 (hd0)",
		"install /boot/grub/stage1 (hd0) (hd0)1+"+itoa(n)+" p (hd0,0)/boot/grub/stage2 /boot/grub/grub.conf")
	opt := InstallOptions{ConfigPath: "/boot/grub/grub.conf", FS: os.DirFS(b.stage), Name: ours}
	if _, err := installFile(t, ours, st, opt); err == nil || !strings.Contains(err.Error(), "block map") {
		t.Fatalf("without a block map: %v", err)
	}
	opt.Blocks = debugfsBlocks{t, b.part}
	rep, err := installFile(t, ours, st, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep)
	if d := diffSectors(t, ours, theirs); len(d) != 0 {
		t.Fatalf("differs from GRUB's install in sectors %v:\n%s", d, byteDiffs(t, ours, theirs, d))
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
