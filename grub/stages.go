// Package grub installs GRUB Legacy 0.97 onto a raw disk image natively,
// producing the same bytes as the GRUB shell's `root (hd0,0)` / `setup (hd0)`,
// writes its grub.conf, and builds the floppy that lets GRUB do the install
// itself. Field offsets come from GRUB 0.97's stage1/stage1.h and
// stage2/asm.S; every patch was checked against the GRUB shell's output.
package grub

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/minidisk/minidisk/disk"
)

// sectorSize is the 512-byte sector GRUB's blocklists count in.
const sectorSize = disk.SectorSize

// Stage file names as GRUB's setup command expects them in /boot/grub.
const (
	Stage1Name      = "stage1"
	Stage2Name      = "stage2"
	E2fsStage15Name = "e2fs_stage1_5"
)

// DefaultDirs are searched in order when no --grub-dir is given: Debian's
// grub-legacy uses x86_64-pc, older distributions i386-pc or /boot/grub.
var defaultDirs = []string{
	"/usr/lib/grub/x86_64-pc",
	"/usr/lib/grub/i386-pc",
	"/boot/grub",
}

// DefaultDirs returns the directories FindStages searches, in order
// (including the /usr/share/grub/*-pc glob expanded and sorted).
func DefaultDirs() []string {
	dirs := append([]string(nil), defaultDirs...)
	m, _ := filepath.Glob("/usr/share/grub/*-pc")
	sort.Strings(m)
	return append(dirs, m...)
}

// Stages holds validated GRUB Legacy stage files.
type Stages struct {
	Dir         string
	Stage1      []byte
	Stage2      []byte
	E2fsStage15 []byte
}

// Stage15Sectors is how many sectors the embedded e2fs_stage1_5 occupies.
func (s *Stages) Stage15Sectors() int { return (len(s.E2fsStage15) + sectorSize - 1) / sectorSize }

// FindStages loads stage1, stage2 and e2fs_stage1_5 from dir, or when dir is
// "" from the first usual place that has all three. The files are validated.
func FindStages(dir string) (*Stages, error) {
	if dir != "" {
		return LoadStages(dir)
	}
	return findStagesIn(DefaultDirs())
}

// findStagesIn loads the stages from the first of dirs that has a stage1.
func findStagesIn(dirs []string) (*Stages, error) {
	var tried []string
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, Stage1Name)); err != nil {
			tried = append(tried, d)
			continue
		}
		return LoadStages(d)
	}
	return nil, fmt.Errorf("GRUB Legacy stage files not found in %v (install grub-legacy, or give --grub-dir DIR holding stage1, stage2 and e2fs_stage1_5)", tried)
}

// LoadStages reads and validates the three stage files in dir.
func LoadStages(dir string) (*Stages, error) {
	st := &Stages{Dir: dir}
	for _, f := range []struct {
		name string
		dst  *[]byte
	}{{Stage1Name, &st.Stage1}, {Stage2Name, &st.Stage2}, {E2fsStage15Name, &st.E2fsStage15}} {
		b, err := os.ReadFile(filepath.Join(dir, f.name))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("%s: missing (give --grub-dir a directory holding GRUB Legacy 0.97's stage1, stage2 and e2fs_stage1_5)", filepath.Join(dir, f.name))
			}
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, f.name), err)
		}
		*f.dst = b
	}
	if err := st.Validate(); err != nil {
		return nil, err
	}
	return st, nil
}

// Validate checks each file is the stage it claims to be, at stage version
// 3.2 (GRUB 0.97's COMPAT_VERSION), and names the wrong file.
func (s *Stages) Validate() error {
	name := func(n string) string {
		if s.Dir == "" {
			return n
		}
		return filepath.Join(s.Dir, n)
	}
	if err := checkStage1(s.Stage1); err != nil {
		return fmt.Errorf("%s: %w (use GRUB Legacy 0.97's stage1)", name(Stage1Name), err)
	}
	if err := checkStage2Like(s.Stage2, stage2IDStage2, 4096, 1<<20); err != nil {
		return fmt.Errorf("%s: %w (use GRUB Legacy 0.97's stage2)", name(Stage2Name), err)
	}
	if err := checkStage2Like(s.E2fsStage15, stage2IDE2fsStage15, 1024, stage15MaxBytes); err != nil {
		return fmt.Errorf("%s: %w (use GRUB Legacy 0.97's e2fs_stage1_5)", name(E2fsStage15Name), err)
	}
	if s.Stage15Sectors() > maxBlocklistCount {
		return fmt.Errorf("%s: %d sectors is more than one blocklist entry can load", name(E2fsStage15Name), s.Stage15Sectors())
	}
	return nil
}

func checkStage1(b []byte) error {
	if len(b) != sectorSize {
		return fmt.Errorf("is %d bytes, a stage1 is exactly 512", len(b))
	}
	if b[510] != 0x55 || b[511] != 0xAA {
		return errors.New("has no 55 AA boot signature, not a stage1")
	}
	if b[stage1VersionOff] != compatMajor || b[stage1VersionOff+1] != compatMinor {
		return fmt.Errorf("stage version %d.%d, want %d.%d", b[stage1VersionOff], b[stage1VersionOff+1], compatMajor, compatMinor)
	}
	return nil
}

func checkStage2Like(b []byte, wantID byte, minLen, maxLen int) error {
	if len(b) < minLen || len(b) > maxLen {
		return fmt.Errorf("is %d bytes, expected %d..%d", len(b), minLen, maxLen)
	}
	h := b[sectorSize:]
	if h[stage2VersionOff] != compatMajor || h[stage2VersionOff+1] != compatMinor {
		return fmt.Errorf("stage version %d.%d, want %d.%d (not a GRUB 0.97 stage file?)", h[stage2VersionOff], h[stage2VersionOff+1], compatMajor, compatMinor)
	}
	if id := h[stage2IDOff]; id != wantID {
		return fmt.Errorf("stage id %d (%s), want %d (%s)", id, stageIDName(id), wantID, stageIDName(wantID))
	}
	if bytes.IndexByte(h[stage2VersionStrOff:stage2StringEnd], 0) < 0 {
		return errors.New("version string is not terminated")
	}
	return nil
}
