package qemu

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"
)

// TimelineStage is one boot stage recognised on the serial console.
type TimelineStage struct {
	Name    string
	Pattern *regexp.Regexp
	// Why says what the time up to this stage was spent on.
	Why string
}

// LegacyTimeline returns the BIOS chain of a minidisk legacy image, in order:
// SeaBIOS, GRUB Legacy's stages (they print on the serial console because
// grub.conf starts with `serial` and `terminal serial`), the kernel, init.
var LegacyTimeline = sync.OnceValue(func() []TimelineStage {
	return []TimelineStage{
		{"firmware start", regexp.MustCompile(`SeaBIOS \(version`), "QEMU starts and SeaBIOS initialises"},
		{"BIOS boots the disk", regexp.MustCompile(`Booting from Hard Disk`), "SeaBIOS probes devices (and the iPXE option ROM) before reading sector 0"},
		{"stage1 loads stage1.5", regexp.MustCompile(`GRUB Loading stage1\.5`), "the MBR's stage1 runs and reads sector 1"},
		{"stage1.5 loads stage2", regexp.MustCompile(`GRUB loading, please wait`), "e2fs_stage1_5 reads its other sectors, mounts ext2, reads /boot/grub/stage2"},
		{"GRUB menu", regexp.MustCompile(`GNU GRUB +version`), "stage2 starts, reads menu.lst and draws the menu"},
		{"kernel loaded", regexp.MustCompile(`\[Linux-bzImage`), "the menu's timeout, then GRUB reads /boot/vmlinuz block by block"},
		{"Linux version", regexp.MustCompile(`Linux version \S+`), "the bzImage decompresses itself and starts the kernel (nothing prints until the console is up)"},
		{"root mounted", regexp.MustCompile(`VFS: Mounted root`), "kernel initialisation, the ATA driver finds sda, ext2 mounts sda1"},
		{"init started", regexp.MustCompile(`Run /\S+ as init process`), "freeing init memory, exec of init"},
		{"first prompt", regexp.MustCompile(`(?m)[/~] # `), "BusyBox sh (and its dynamic loader) starts"},
	}
})

// EFITimeline returns the UEFI chain of a minidisk EFI image: OVMF, the EFI
// stub kernel as BOOTX64.EFI, its built-in initramfs' /init.
var EFITimeline = sync.OnceValue(func() []TimelineStage {
	return []TimelineStage{
		// OVMF's first serial output is its screen setup (escape sequences),
		// then BdsDxe's boot-option lines.
		{"firmware start", regexp.MustCompile(`\x1b\[|BdsDxe`), "QEMU starts and OVMF initialises (the slowest part under TCG)"},
		{"BOOTX64.EFI started", regexp.MustCompile(`BdsDxe: starting Boot|EFI stub: `), "OVMF finds the ESP and loads EFI/BOOT/BOOTX64.EFI"},
		{"Linux version", regexp.MustCompile(`Linux version \S+`), "the EFI stub decompresses and starts the kernel"},
		{"initramfs unpacked", regexp.MustCompile(`Freeing initrd memory|Trying to unpack rootfs|Unpacking initramfs|Freeing unused kernel`), "kernel initialisation and the built-in initramfs"},
		{"init started", regexp.MustCompile(`Run /\S+ as init process`), "exec of /init"},
		{"first prompt", regexp.MustCompile(`(?m)[/~] # `), "/init starts the BusyBox shell"},
	}
})

// TimelineMark is when one stage appeared.
type TimelineMark struct {
	Stage string `json:"stage"`
	// AtMS is milliseconds since QEMU was started; DurationMS the time
	// since the previous stage (since QEMU started for the first).
	AtMS       float64 `json:"at_ms"`
	DurationMS float64 `json:"duration_ms"`
	Line       string  `json:"line"`
	Why        string  `json:"why"`
}

// Timeline is the result of Machine.Timeline.
type Timeline struct {
	Image  string         `json:"image"`
	Chain  string         `json:"chain"` // "legacy" or "uefi"
	Marks  []TimelineMark `json:"stages"`
	Missed []string       `json:"missed,omitempty"` // stages never seen, in order
}

// Problems lists what makes tl not a complete, ordered run of stages:
// stages never seen, a stage out of place, or a time that does not move
// forward. (A mark's console line may be empty: OVMF's first output is
// escape sequences only.) Nil for a complete one.
func (tl *Timeline) Problems(stages []TimelineStage) []string {
	var out []string
	if len(tl.Missed) > 0 {
		out = append(out, "stages not seen: "+strings.Join(tl.Missed, ", "))
	}
	if len(tl.Marks) != len(stages) {
		out = append(out, fmt.Sprintf("%d stages of %d", len(tl.Marks), len(stages)))
	}
	prev := 0.0
	for i, m := range tl.Marks {
		if i < len(stages) && m.Stage != stages[i].Name {
			out = append(out, fmt.Sprintf("stage %d is %q, want %q", i, m.Stage, stages[i].Name))
		}
		if m.DurationMS <= 0 || m.AtMS <= prev {
			out = append(out, fmt.Sprintf("%s: at %.1f ms, took %.1f ms (previous at %.1f)", m.Stage, m.AtMS, m.DurationMS, prev))
		}
		prev = m.AtMS
	}
	return out
}

// Timeline boots the machine (snapshot=on: the image is never written),
// timestamps each stage as its text arrives on the serial console, and
// stops QEMU at the last stage or when ctx ends. A stage is searched only
// after the previous one, so the marks are in boot order; stages that never
// appear are listed in Missed (the boot may still reach the prompt: a
// kernel built without a message, for example).
func (m Machine) Timeline(ctx context.Context, stages []TimelineStage, console io.Writer) (*Timeline, error) {
	m.Snapshot = true
	chain := "legacy"
	if m.EFI {
		chain = "uefi"
	}
	tl := &Timeline{Image: m.Image, Chain: chain}
	start := time.Now()
	p, err := m.start(console)
	if err != nil {
		return nil, err
	}
	defer p.stop()
	pos, next := 0, 0
	var prev time.Duration
	for next < len(stages) {
		out, changed := p.tr.snapshot()
		now := time.Since(start)
		for next < len(stages) {
			// A later stage may appear without an earlier one (a
			// message the kernel does not print): look for each of
			// the remaining stages, take the first that matches.
			found := false
			for k := next; k < len(stages); k++ {
				loc := stages[k].Pattern.FindIndex(out[pos:])
				if loc == nil {
					continue
				}
				for _, s := range stages[next:k] {
					tl.Missed = append(tl.Missed, s.Name)
				}
				tl.Marks = append(tl.Marks, TimelineMark{Stage: stages[k].Name, AtMS: ms(now), DurationMS: ms(now - prev),
					Line: lineAt(out, pos+loc[0]), Why: stages[k].Why})
				prev = now
				pos += loc[1]
				next = k + 1
				found = true
				break
			}
			if !found {
				break
			}
		}
		if next >= len(stages) {
			break
		}
		select {
		case <-changed:
		case werr := <-p.exited:
			p.exited <- werr
			return tl, fmt.Errorf("%s: QEMU exited (%v) before %q; console ends:\n%s", m.Image, exitText(werr), stages[next].Name, Tail(out, 15))
		case <-ctx.Done():
			return tl, fmt.Errorf("%s: %q did not appear within %s; console ends:\n%s", m.Image, stages[next].Name, time.Since(start).Round(100*time.Millisecond), Tail(out, 15))
		}
	}
	return tl, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// ansiEscape matches the terminal escapes SeaBIOS, GRUB and Linux print
// (CSI sequences such as ESC [ 2 J, and two-byte ones such as ESC c).
// Compiled on first use, not at start-up (every command pays for package
// initialisation).
var ansiEscape = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\x1b(\[[0-?]*[ -/]*[@-~]|[@-Z\\-_c])`) })

// lineAt returns the console line containing byte i, without control
// characters.
func lineAt(out []byte, i int) string {
	s, e := i, i
	for s > 0 && out[s-1] != '\n' && out[s-1] != '\r' {
		s--
	}
	for e < len(out) && out[e] != '\n' && out[e] != '\r' {
		e++
	}
	line := ansiEscape().ReplaceAllString(string(out[s:e]), "")
	line = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, line)
	if len(line) > 100 {
		line = line[:100]
	}
	return strings.TrimSpace(line)
}

// WriteText prints the timeline: when each stage appeared, how long it
// took since the previous one, and what that time was spent on.
func (tl *Timeline) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "%s: %s boot timeline (serial console, from QEMU start)\n", tl.Image, tl.Chain)
	fmt.Fprintf(w, "%10s %10s  %-22s %s\n", "at", "took", "stage", "console line")
	for _, m := range tl.Marks {
		fmt.Fprintf(w, "%8.0fms %+8.0fms  %-22s %s\n", m.AtMS, m.DurationMS, m.Stage, m.Line)
		fmt.Fprintf(w, "%22s %s\n", "", m.Why)
	}
	if len(tl.Missed) > 0 {
		fmt.Fprintf(w, "not seen on the console: %s\n", strings.Join(tl.Missed, ", "))
	}
	return nil
}

// WriteJSON prints the timeline for scripts.
func (tl *Timeline) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(tl)
}
