package grub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/minidisk/minidisk/qemu"
)

// FloppySize is a 1.44 MB floppy: 80 cylinders × 2 heads × 18 sectors.
const FloppySize = 1440 * 1024

// floppyConfigLBA is where the setup floppy keeps its config: past stage2
// (sectors 1..234 for GRUB 0.97), read by GRUB as the blocklist file
// "(fd0)300+N", so no filesystem is needed anywhere.
const floppyConfigLBA = 300

// SetupConfig is the menu the setup floppy runs: serial console, then
// GRUB's own `root (hd0,N)` / `setup (hd0)`, then power off.
func SetupConfig(partitionIndex int) []byte {
	return []byte(fmt.Sprintf("serial --unit=0 --speed=115200\nterminal --timeout=0 serial\ntimeout 0\ndefault 0\ntitle setup\nroot (hd0,%d)\nsetup (hd0)\nhalt\n", partitionIndex))
}

// WriteFloppy writes the 1.44 MB bootstrap floppy of the GRUB manual's
// "boot floppy": stage1 in sector 0, stage2 from sector 1 (stage2's own
// first sector already lists "the rest from sector 2"). With setupConfig,
// stage2's config_file points at that text, stored from sector 300; with
// nil it is the classroom floppy that drops to GRUB's prompt (its built-in
// /boot/grub/menu.lst is not on the floppy).
func WriteFloppy(w io.WriterAt, st *Stages, setupConfig []byte) error {
	if st == nil {
		return errors.New("no GRUB stage files")
	}
	if err := st.Validate(); err != nil {
		return err
	}
	img := make([]byte, FloppySize)
	copy(img, st.Stage1)
	s2 := img[sectorSize:]
	if len(st.Stage2) > floppyConfigLBA*sectorSize-sectorSize {
		return fmt.Errorf("%s/%s: %d bytes do not fit before the floppy's config at sector %d", st.Dir, Stage2Name, len(st.Stage2), floppyConfigLBA)
	}
	copy(s2, st.Stage2)
	if setupConfig != nil {
		n := (len(setupConfig) + sectorSize - 1) / sectorSize
		if n == 0 || floppyConfigLBA+n > FloppySize/sectorSize {
			return fmt.Errorf("setup config is %d bytes; 1..%d fit on the floppy", len(setupConfig), FloppySize-floppyConfigLBA*sectorSize)
		}
		hdr := s2[sectorSize : 2*sectorSize]
		loc, err := configLocation(hdr)
		if err != nil {
			return fmt.Errorf("%s/%s: %w", st.Dir, Stage2Name, err)
		}
		name := fmt.Sprintf("(fd0)%d+%d", floppyConfigLBA, n)
		copy(hdr[loc:stage2StringEnd], make([]byte, stage2StringEnd-loc))
		copy(hdr[loc:], name)
		copy(img[floppyConfigLBA*sectorSize:], setupConfig)
	}
	if _, err := w.WriteAt(img, 0); err != nil {
		return fmt.Errorf("writing the floppy: %w", err)
	}
	return nil
}

// FloppyInstallOptions tunes InstallViaFloppy.
type FloppyInstallOptions struct {
	PartitionIndex int
	QEMU           string        // "" → qemu-system-x86_64 from PATH
	Timeout        time.Duration // 0 → 60 s
	FS             fs.FS         // optional, as InstallOptions.FS
}

// discardWriter validates an install without writing: Install checks
// everything before its first WriteAt.
type discardWriter struct{ io.ReaderAt }

func (discardWriter) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }

// InstallViaFloppy lets GRUB install itself: it boots a setup floppy next
// to imgPath in QEMU, where GRUB runs `root (hd0,N)` / `setup (hd0)` and
// halts. It returns GRUB's serial transcript, and fails if QEMU is missing,
// times out, or GRUB reports an error (the transcript is in the error).
func InstallViaFloppy(ctx context.Context, imgPath string, st *Stages, opt FloppyInstallOptions) (string, error) {
	f, err := os.Open(imgPath)
	if err != nil {
		return "", err
	}
	_, err = Install(discardWriter{f}, st, InstallOptions{PartitionIndex: opt.PartitionIndex, FS: opt.FS, Name: imgPath})
	f.Close()
	if err != nil {
		return "", err
	}
	timeout := opt.Timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	dir, err := os.MkdirTemp("", "minidisk-grub-floppy-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	floppy := filepath.Join(dir, "setup-floppy.img")
	ff, err := os.Create(floppy)
	if err != nil {
		return "", err
	}
	err = WriteFloppy(ff, st, SetupConfig(opt.PartitionIndex))
	if cerr := ff.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	abs, err := filepath.Abs(imgPath)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// GRUB writes to the disk through the BIOS, so no snapshot; halt in the
	// setup config powers the machine off, and -no-reboot makes that QEMU's
	// exit. On "Error NN:" GRUB waits for a key forever: stop it at once.
	m := qemu.Machine{Image: abs, MemoryMiB: 64, QEMU: opt.QEMU, ExtraArgs: []string{"-fda", floppy, "-boot", "a"}}
	out, aborted, err := m.RunToExit(ctx, grubErrorLine(), nil)
	transcript := string(out)
	switch {
	case aborted:
		return transcript, fmt.Errorf("GRUB reported an error during setup (QEMU stopped):\n%s", transcript)
	case errors.Is(err, context.DeadlineExceeded):
		return transcript, fmt.Errorf("GRUB setup in QEMU did not finish within %v; GRUB's output:\n%s", timeout, transcript)
	case err != nil && strings.Contains(err.Error(), "not found"):
		return "", fmt.Errorf("%w: --via floppy runs GRUB in QEMU (or install natively without --via)", err)
	case err != nil:
		return transcript, err
	}
	if i := strings.Index(transcript, "Error "); i >= 0 {
		return transcript, fmt.Errorf("GRUB reported an error during setup:\n%s", transcript)
	}
	if !strings.Contains(transcript, "Done.") {
		return transcript, fmt.Errorf("GRUB's setup did not report Done.; output:\n%s", transcript)
	}
	return transcript, nil
}

// grubErrorLine matches GRUB Legacy's "Error NN: message" once the line is
// complete, so the transcript shows the whole message.
// Compiled on first use, not at start-up (every command pays for package
// initialisation).
var grubErrorLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`Error [0-9]+: [^\r\n]*[\r\n]`) })
