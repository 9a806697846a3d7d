// Package qemu boots minidisk images in qemu-system-x86_64 with the serial
// console on stdio, interactively or as a scripted check (wait for text,
// type a command, wait for its output).
package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/minidisk/minidisk/internal/hostos"
)

// PromptPattern matches BusyBox ash's root prompt in / (PS1 "\w # "), where
// init=/bin/sh and the initramfs' /init leave the shell.
const PromptPattern = `/ # `

// Machine is one QEMU invocation.
type Machine struct {
	Image     string   // raw disk image
	EFI       bool     // boot with OVMF on q35 instead of SeaBIOS
	MemoryMiB int      // 0 means 256
	ExtraArgs []string // appended to the command line
	// Snapshot discards writes to Image (-drive snapshot=on). Run always
	// uses it: a check must not change the image it checks.
	Snapshot bool
	// QEMU is the emulator binary; "" finds qemu-system-x86_64 in PATH.
	QEMU string
	// Interface is the legacy machine's disk interface (-drive if=): ""
	// means ide, QEMU's PIIX disk; "virtio" gives a virtio-blk disk.
	Interface string
}

// Step is one exchange of a scripted check: wait until Expect matches the
// console output that follows the previous match (nil: do not wait), then
// type Send and a newline (empty: type nothing).
type Step struct {
	Expect *regexp.Regexp
	Send   string
}

// Script builds the steps of `minidisk boot --send/--expect`: with
// commands, wait for the shell prompt, type each after the prompt returns,
// then wait for expect (if given); with expect alone, just wait for it.
func Script(sends []string, expect string) ([]Step, error) {
	var want *regexp.Regexp
	if expect != "" {
		var err error
		if want, err = regexp.Compile(expect); err != nil {
			return nil, fmt.Errorf("--expect %q: not a regular expression: %w", expect, err)
		}
	}
	prompt := regexp.MustCompile(regexp.QuoteMeta(PromptPattern))
	var steps []Step
	for _, s := range sends {
		steps = append(steps, Step{Expect: prompt, Send: s})
	}
	if want != nil {
		steps = append(steps, Step{Expect: want})
	} else if len(steps) > 0 {
		// Without --expect, success means the last command finished and the
		// shell prompted again.
		steps = append(steps, Step{Expect: prompt})
	}
	if len(steps) == 0 {
		steps = []Step{{Expect: prompt}}
	}
	return steps, nil
}

// Binary finds qemu-system-x86_64.
func Binary() (string, error) { return Machine{}.binary() }

func (m Machine) binary() (string, error) {
	name := m.QEMU
	if name == "" {
		name = "qemu-system-x86_64"
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found (apt-get install qemu-system-x86)", name)
	}
	return p, nil
}

// FindOVMF returns a matching pair of OVMF firmware code and variable-store
// templates. The 4 MiB build comes first: Debian 12's default, and the one
// the notes measured booting.
func FindOVMF() (code, vars string, err error) {
	for _, dir := range []string{"/usr/share/OVMF", "/usr/share/ovmf", "/usr/share/qemu", "/usr/share/edk2/ovmf", "/usr/share/edk2/x64"} {
		for _, pair := range [][2]string{
			{"OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd"},
			{"OVMF_CODE.fd", "OVMF_VARS.fd"},
		} {
			c, v := filepath.Join(dir, pair[0]), filepath.Join(dir, pair[1])
			if isFile(c) && isFile(v) {
				return c, v, nil
			}
		}
	}
	return "", "", errors.New("OVMF firmware (OVMF_CODE_4M.fd and OVMF_VARS_4M.fd) not found in /usr/share/OVMF (apt-get install ovmf)")
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// args builds the command line. tmp holds the writable copy of the OVMF
// variable store (firmware writes boot entries there; the template must
// stay pristine).
func (m Machine) args(tmp string) ([]string, error) {
	if !isFile(m.Image) {
		return nil, fmt.Errorf("%s: disk image not found", m.Image)
	}
	mem := m.MemoryMiB
	if mem <= 0 {
		mem = 256
	}
	drive := "file=" + escapeOpt(m.Image) + ",format=raw"
	if m.Snapshot {
		drive += ",snapshot=on"
	}
	args := []string{"-m", fmt.Sprint(mem), "-nographic", "-no-reboot"}
	if m.EFI {
		code, varsTemplate, err := FindOVMF()
		if err != nil {
			return nil, err
		}
		vars := filepath.Join(tmp, "OVMF_VARS.fd")
		data, err := os.ReadFile(varsTemplate)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", varsTemplate, err)
		}
		if err := os.WriteFile(vars, data, 0o600); err != nil {
			return nil, err
		}
		args = append(args, "-machine", "q35",
			"-drive", "if=pflash,format=raw,readonly=on,file="+escapeOpt(code),
			"-drive", "if=pflash,format=raw,file="+escapeOpt(vars),
			"-drive", drive)
	} else {
		// if=ide: the legacy kernel has ATA_PIIX, the i440FX's IDE controller.
		iface := m.Interface
		if iface == "" {
			iface = "ide"
		}
		args = append(args, "-drive", drive+",if="+escapeOpt(iface))
	}
	return append(args, m.ExtraArgs...), nil
}

// escapeOpt doubles commas, QEMU's escape inside -drive option values.
func escapeOpt(s string) string { return strings.ReplaceAll(s, ",", ",,") }

// Interactive boots with the console on the given terminal streams until
// QEMU exits (the guest powers off, or Ctrl-A X).
func (m Machine) Interactive(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) error {
	bin, err := Binary()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "minidisk-qemu-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	args, err := m.args(tmp)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("qemu-system-x86_64 %s: %w", m.Image, err)
	}
	return nil
}

// transcript collects console output and wakes waiters on new data.
type transcript struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
	console io.Writer
}

func (t *transcript) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(b)
	if t.console != nil {
		t.console.Write(b)
	}
	close(t.changed)
	t.changed = make(chan struct{})
	return len(b), nil
}

func (t *transcript) snapshot() ([]byte, chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.buf.Bytes()...), t.changed
}

// Run boots the machine (always with snapshot=on), performs steps and
// stops QEMU, on every path. console (may be nil) receives the serial
// output as it arrives; the full transcript is returned either way. The
// error says which step failed and ends with the console's last lines.
func (m Machine) Run(ctx context.Context, steps []Step, console io.Writer) ([]byte, error) {
	m.Snapshot = true
	p, err := m.start(console)
	if err != nil {
		return nil, err
	}
	defer p.stop()
	tr, stdin, exited := p.tr, p.stdin, p.exited

	start := time.Now()
	pos := 0 // matching resumes after the previous match
	for i, st := range steps {
		if st.Expect != nil {
			for {
				out, changed := tr.snapshot()
				if loc := st.Expect.FindIndex(out[pos:]); loc != nil {
					pos += loc[1]
					break
				}
				select {
				case <-changed:
					continue
				case err := <-exited:
					exited <- err // let the deferred cleanup see it
					out, _ := tr.snapshot()
					return out, fmt.Errorf("%s: QEMU exited (%v) after %s before /%s/ appeared (step %d); console ends:\n%s",
						m.Image, exitText(err), time.Since(start).Round(100*time.Millisecond), st.Expect, i+1, Tail(out, 15))
				case <-ctx.Done():
					out, _ := tr.snapshot()
					return out, fmt.Errorf("%s: /%s/ did not appear within %s (step %d); console ends:\n%s",
						m.Image, st.Expect, time.Since(start).Round(100*time.Millisecond), i+1, Tail(out, 15))
				}
			}
		}
		if st.Send != "" {
			if _, err := io.WriteString(stdin, st.Send+"\n"); err != nil {
				out, _ := tr.snapshot()
				return out, fmt.Errorf("%s: cannot type %q: %w; console ends:\n%s", m.Image, st.Send, err, Tail(out, 15))
			}
		}
	}
	out, _ := tr.snapshot()
	return out, nil
}

// process is a running QEMU whose console output is collected.
type process struct {
	tr     *transcript
	stdin  io.WriteCloser
	exited chan error // receives Wait's result once
	cmd    *exec.Cmd
	tmp    string
}

// start launches QEMU in its own process group, console output into a
// transcript (and console, if not nil).
func (m Machine) start(console io.Writer) (*process, error) {
	bin, err := m.binary()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "minidisk-qemu-")
	if err != nil {
		return nil, err
	}
	args, err := m.args(tmp)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	p := &process{tr: &transcript{changed: make(chan struct{}), console: console}, exited: make(chan error, 1), tmp: tmp}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.tr, p.tr
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	hostos.NewProcessGroup(p.cmd)
	if err := p.cmd.Start(); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	return p, nil
}

// stop kills QEMU's process group unless it has exited, and cleans up.
func (p *process) stop() {
	select {
	case err := <-p.exited:
		p.exited <- err
	default:
		hostos.KillProcessGroup(p.cmd)
		p.exited <- <-p.exited
	}
	os.RemoveAll(p.tmp)
}

// RunToExit boots the machine and waits until QEMU exits by itself (the
// guest halts or powers off; -no-reboot turns a reboot into an exit).
// Writes reach Image unless Snapshot is set. QEMU is stopped early when
// abort (may be nil) matches the console output — aborted is then true —
// or when ctx ends; it is killed on every path.
func (m Machine) RunToExit(ctx context.Context, abort *regexp.Regexp, console io.Writer) (out []byte, aborted bool, err error) {
	p, err := m.start(console)
	if err != nil {
		return nil, false, err
	}
	defer p.stop()
	for {
		out, changed := p.tr.snapshot()
		if abort != nil && abort.Match(out) {
			return out, true, nil
		}
		select {
		case <-changed:
		case werr := <-p.exited:
			p.exited <- werr
			out, _ := p.tr.snapshot()
			if werr != nil {
				return out, false, fmt.Errorf("%s: QEMU exited (%w); console ends:\n%s", m.Image, werr, Tail(out, 15))
			}
			return out, abort != nil && abort.Match(out), nil
		case <-ctx.Done():
			out, _ := p.tr.snapshot()
			return out, false, ctx.Err()
		}
	}
}

func exitText(err error) string {
	if err == nil {
		return "status 0"
	}
	return err.Error()
}

// Tail returns the last n lines of console output, with carriage returns
// and other control bytes made visible-safe for an error message.
func Tail(out []byte, n int) string {
	s := strings.ReplaceAll(string(out), "\r", "")
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || (r >= 0x20 && r != 0x7f) {
			return r
		}
		return -1
	}, s)
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ParseMemory reads a --memory value: a number of MiB with an optional M
// or G suffix ("256M", "1G", "512").
func ParseMemory(s string) (int, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := 1
	switch {
	case strings.HasSuffix(t, "G"):
		mult, t = 1024, strings.TrimSuffix(t, "G")
	case strings.HasSuffix(t, "M"):
		t = strings.TrimSuffix(t, "M")
	}
	var n int
	if _, err := fmt.Sscanf(t, "%d", &n); err != nil || n <= 0 || n > 1<<20 || fmt.Sprint(n) != t {
		return 0, fmt.Errorf("--memory %q: expected a size like 256M or 1G", s)
	}
	return n * mult, nil
}
