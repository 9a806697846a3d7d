package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/urfave/cli/v2"
)

// commandCase is one command of the tree, as the contract test sees it.
type commandCase struct {
	path  []string // "image", "create"
	cmd   *cli.Command
	group bool // has subcommands
}

func (c commandCase) name() string { return strings.Join(c.path, " ") }

// allCommands walks the prepared command tree: every command, including
// those added after this test was written, is covered.
func allCommands(t *testing.T) []commandCase {
	t.Helper()
	app := newApp()
	prepare(app)
	var out []commandCase
	var rec func(cmds []*cli.Command, path []string)
	rec = func(cmds []*cli.Command, path []string) {
		for _, c := range cmds {
			p := append(append([]string(nil), path...), c.Name)
			out = append(out, commandCase{path: p, cmd: c, group: len(c.Subcommands) > 0})
			rec(c.Subcommands, p)
		}
	}
	rec(app.Commands, nil)
	if len(out) < 15 {
		t.Fatalf("only %d commands found", len(out))
	}
	return out
}

// oneLine checks a usage error: exit 64, nothing on stdout, one line on
// stderr containing every want.
func oneLine(t *testing.T, wantCode int, args []string, want ...string) {
	t.Helper()
	stdout, stderr, code := run(t, args...)
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	if code != wantCode || stdout != "" || len(lines) != 1 {
		t.Fatalf("minidisk %s: exit %d (want %d), stdout %q, stderr %q: want one line", strings.Join(args, " "), code, wantCode, stdout, stderr)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Fatalf("minidisk %s: stderr %q does not contain %q", strings.Join(args, " "), stderr, w)
		}
	}
	for _, bad := range []string{"Incorrect Usage", "USAGE:", "No help topic", "flag provided but not defined"} {
		if strings.Contains(stderr, bad) {
			t.Fatalf("minidisk %s: stderr %q contains urfave/cli's %q", strings.Join(args, " "), stderr, bad)
		}
	}
}

var placeholderRE = regexp.MustCompile(`^[A-Z][A-Z0-9_.:|]*$`)

func TestContractEveryCommand(t *testing.T) {
	for _, cc := range allCommands(t) {
		t.Run(cc.name(), func(t *testing.T) {
			full := "minidisk " + cc.name()
			// CMD --help: the usage line names the whole command, every flag is listed.
			help, stderr, code := run(t, append(cc.path, "--help")...)
			if code != 0 || stderr != "" {
				t.Fatalf("%s --help: exit %d, stderr %q", full, code, stderr)
			}
			if !strings.Contains(help, "\n   "+full+" ") && !strings.HasSuffix(strings.TrimSpace(strings.SplitN(help, "\n\n", 3)[1]), full) {
				t.Fatalf("%s --help: usage line does not name %q:\n%s", full, full, help)
			}
			for _, f := range cc.cmd.VisibleFlags() {
				if !strings.Contains(help, dashed(f.Names()[0])) {
					t.Errorf("%s --help does not list %s", full, dashed(f.Names()[0]))
				}
				df := f.(cli.DocGenerationFlag)
				if ph, _ := unquoteUsage(df.GetUsage()); ph != "" && !placeholderRE.MatchString(ph) {
					t.Errorf("%s: flag %s: backticked %q became the value placeholder", full, dashed(f.Names()[0]), ph)
				}
			}
			for _, line := range strings.Split(help, "\n") {
				if strings.Count(strings.ToLower(line), "default") > 1 {
					t.Errorf("%s --help states a default twice: %q", full, line)
				}
			}
			if !cc.group && !strings.Contains(help, "EXIT STATUS:") {
				t.Errorf("%s --help has no EXIT STATUS section", full)
			}
			// help CMD and CMD ARG --help print the same help.
			if got, _, code := run(t, append([]string{"help"}, cc.path...)...); code != 0 || got != help {
				t.Errorf("help %s: exit %d, differs from --help:\n%s", cc.name(), code, got)
			}
			if got, _, code := run(t, append(append(cc.path, "some.img"), "--help")...); code != 0 || got != help {
				t.Errorf("%s some.img --help: exit %d, differs from --help:\n%s", full, code, got)
			}
			if got, _, code := run(t, append(append(cc.path, "-h"), "x", "y")...); code != 0 || got != help {
				t.Errorf("%s -h x y: exit %d, differs from --help", full, code)
			}
			// Unknown flags: one line, exit 64, a suggestion for a typo.
			oneLine(t, exitUsage, append(cc.path, "--no-such-flag-zz"), "--no-such-flag-zz", full+" --help")
			oneLine(t, exitUsage, append(cc.path, "--hepl"), "did you mean --help?")
			for _, f := range cc.cmd.VisibleFlags() {
				n := f.Names()[0]
				if len(n) < 5 || n == "help" {
					continue
				}
				typo := n[:2] + n[3:] // one letter dropped
				oneLine(t, exitUsage, append(cc.path, "--"+typo), "unknown flag --"+typo, "did you mean --")
			}
			// Bad values of numeric flags: one line naming the flag with "--".
			for _, f := range cc.cmd.VisibleFlags() {
				switch f.(type) {
				case *cli.IntFlag, *cli.Int64Flag, *cli.UintFlag, *cli.Uint64Flag, *cli.DurationFlag, *cli.Float64Flag:
					n := f.Names()[0]
					oneLine(t, exitUsage, append(cc.path, "--"+n, "12zz", "x.img"), dashed(n)+` "12zz"`)
				}
			}
			if cc.group {
				sub := cc.cmd.Subcommands[0].Name
				typo := sub[:len(sub)-1] + "x"
				oneLine(t, exitUsage, append(cc.path, typo), "unknown command", `did you mean "`+sub+`"?`)
			}
		})
	}
}

func TestContractTopLevel(t *testing.T) {
	oneLine(t, exitUsage, []string{"doctr"}, `unknown command "doctr"`, `did you mean "doctor"?`)
	oneLine(t, exitUsage, []string{"help", "doctr"}, `unknown command "doctr"`, `did you mean "doctor"?`)
	oneLine(t, exitUsage, []string{"--verison"}, "did you mean --version?")
	out, _, code := run(t, "--help")
	if code != 0 || !strings.Contains(out, "COMMANDS:") {
		t.Fatalf("--help: %d %s", code, out)
	}
	for _, cc := range allCommands(t) {
		if len(cc.path) == 1 && !cc.cmd.Hidden && !strings.Contains(out, "\n   "+cc.path[0]) {
			t.Errorf("minidisk --help does not list %s", cc.path[0])
		}
	}
	if got, _, _ := run(t, "help"); got != out {
		t.Errorf("`minidisk help` differs from --help")
	}
	// Combined short flags.
	dir := t.TempDir()
	oneLine(t, exitFailure, []string{"ls", "-lR", filepath.Join(dir, "none.img")}, "none.img")
}

// TestVersion checks --version against git's own answer. The Go
// toolchain records the revision only in a checkout whose .git is a
// directory (not in a git worktree, where .git is a file): there the
// version must say that no revision was recorded.
func TestVersion(t *testing.T) {
	out, _, code := run(t, "--version")
	if code != 0 || !strings.HasPrefix(out, "minidisk ") || strings.Count(out, "\n") != 1 {
		t.Fatalf("--version: %d %q", code, out)
	}
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skip("not a git checkout: no revision to compare")
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(t.TempDir(), "minidisk")
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", exe, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v %s", err, out)
	}
	got, err := exec.Command(exe, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(strings.TrimSpace(string(top)), ".git")); err == nil && !fi.IsDir() {
		if !strings.Contains(string(got), "no VCS revision recorded") {
			t.Fatalf("git worktree build: --version %q should say no revision was recorded", got)
		}
		t.Logf("git worktree: Go records no revision; --version says %q", got)
		return
	}
	if !strings.Contains(string(got), "revision "+strings.TrimSpace(string(head))) {
		t.Fatalf("--version %q does not name revision %s", got, head)
	}
}

// TestCompletionBash sources the generated script in a real bash and asks
// it to complete, as the shell does on Tab.
func TestCompletionBash(t *testing.T) {
	testutil.RequireTool(t, "bash", "bash")
	script, _, code := run(t, "completion", "bash")
	if code != 0 {
		t.Fatal("completion bash failed")
	}
	f := filepath.Join(t.TempDir(), "c.bash")
	os.WriteFile(f, []byte(script), 0o644)
	complete := func(words ...string) string {
		t.Helper()
		line := "source " + f + "; COMP_WORDS=(minidisk"
		for _, w := range words {
			line += " '" + w + "'"
		}
		line += "); COMP_CWORD=" + strconv.Itoa(len(words)) + "; _minidisk; echo \"${COMPREPLY[*]}\""
		out, err := exec.Command("bash", "-c", line).CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v %s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := complete("do"); got != "doctor" {
		t.Errorf("minidisk do<Tab> = %q, want doctor", got)
	}
	if got := complete("image", "cr"); got != "create" {
		t.Errorf("minidisk image cr<Tab> = %q, want create", got)
	}
	if got := complete("image", "create", "--fo"); got != "--force" {
		t.Errorf("minidisk image create --fo<Tab> = %q, want --force", got)
	}
	if got := complete("grub", "install", "--for"); got != "--force-blocklist" && !strings.Contains(got, "--force-blocklist") {
		t.Errorf("minidisk grub install --for<Tab> = %q", got)
	}
	for _, cc := range allCommands(t) {
		if cc.cmd.Hidden {
			continue
		}
		for _, sh := range []string{"zsh", "fish"} {
			s, _, code := run(t, "completion", sh)
			if code != 0 || !strings.Contains(s, cc.path[len(cc.path)-1]) {
				t.Errorf("completion %s does not mention %s", sh, cc.name())
			}
		}
	}
	oneLine(t, exitUsage, []string{"completion", "tcsh"}, "bash, zsh or fish")
}

// TestManPage renders the generated page with groff, which warns about
// malformed roff (-ww), and checks every command has its section.
func TestManPage(t *testing.T) {
	testutil.RequireTool(t, "groff", "groff")
	page, _, code := run(t, "man")
	if code != 0 {
		t.Fatal("man failed")
	}
	cmd := exec.Command("groff", "-man", "-ww", "-Tutf8")
	cmd.Stdin = strings.NewReader(page)
	_, err := cmd.Output()
	var stderr string
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = string(ee.Stderr)
	}
	if err != nil || stderr != "" {
		t.Fatalf("groff: %v %s", err, stderr)
	}
	for _, cc := range allCommands(t) {
		heading := ".SS \"" + roff("minidisk "+strings.Join(cc.path, " "))
		if !cc.cmd.Hidden && !strings.Contains(page, heading) {
			t.Errorf("man page has no section for %s", cc.name())
		}
		for _, f := range cc.cmd.Flags {
			if d, ok := describeFlag(f); ok && !cc.cmd.Hidden && !strings.Contains(page, ".TP\n\\fB"+roff(strings.Join(d.names, ", "))+"\\fR") {
				t.Errorf("man page does not list %s of %s", d.names[0], cc.name())
			}
		}
	}
}

// TestFixLinesNameCommandsThatExist: every `minidisk CMD ...` that the
// code tells a user to run (fix lines, hints, help) names a command of the
// tree, and a subcommand where CMD has them.
func TestFixLinesNameCommandsThatExist(t *testing.T) {
	app := newApp()
	prepare(app)
	cite := regexp.MustCompile("`minidisk ([a-z][a-z0-9-]*)(?: ([a-z][a-z0-9-]*))?")
	checked := 0
	err := filepath.WalkDir(filepath.Join("..", ".."), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && p != filepath.Join("..", "..") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range cite.FindAllStringSubmatch(string(b), -1) {
			checked++
			cmd := findCommand(app.Commands, m[1])
			if cmd == nil {
				t.Errorf("%s: `minidisk %s`: no such command", p, m[1])
				continue
			}
			if len(cmd.Subcommands) > 0 && m[2] != "" && findCommand(cmd.Subcommands, m[2]) == nil {
				t.Errorf("%s: `minidisk %s %s`: %s has no command %s", p, m[1], m[2], m[1], m[2])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 20 {
		t.Fatalf("only %d cited commands found", checked)
	}
}

// TestCLIDocExamples: the error examples of docs/cli.md are what minidisk
// prints.
func TestCLIDocExamples(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "cli.md"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(doc), "\n")
	n := 0
	for i, line := range lines {
		if !strings.HasPrefix(line, "$ minidisk ") || i+1 >= len(lines) {
			continue
		}
		args := strings.Fields(strings.TrimPrefix(line, "$ minidisk "))
		_, stderr, code := run(t, args...)
		if code != exitUsage || strings.TrimSpace(stderr) != lines[i+1] {
			t.Errorf("docs/cli.md: %s\nshows   %s\nprints  %s(exit %d)", line, lines[i+1], stderr, code)
		}
		n++
	}
	if n < 3 {
		t.Fatalf("only %d examples in docs/cli.md", n)
	}
}
