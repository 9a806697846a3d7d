package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel/kerneltest"
)

// guideStep is one command of docs/guide.md with the output lines the
// guide shows under it (its "# ..." lines).
type guideStep struct {
	line   string
	expect []string
}

// guideSteps reads the ```sh blocks of the guide in order.
func guideSteps(t *testing.T, guide string) []guideStep {
	t.Helper()
	var steps []guideStep
	in := false
	for _, line := range strings.Split(guide, "\n") {
		switch {
		case strings.HasPrefix(line, "```sh"):
			in = true
		case strings.HasPrefix(line, "```"):
			in = false
		case in && strings.HasPrefix(line, "minidisk "):
			// A trailing "  # comment" is prose, not part of the command.
			if i := strings.Index(line, "  #"); i > 0 {
				line = strings.TrimSpace(line[:i])
			}
			steps = append(steps, guideStep{line: line})
		case in && strings.HasPrefix(line, "# ") && len(steps) > 0:
			steps[len(steps)-1].expect = append(steps[len(steps)-1].expect, strings.TrimPrefix(line, "# "))
		}
	}
	return steps
}

// TestGuideRuns executes docs/guide.md: its commands run in order, by bash,
// in an empty directory, and what they print is compared with what the
// guide shows (the "# ..." lines under a command and the numbers of the
// plan table). `minidisk kernel --profile legacy` answers with a test
// bzImage instead of building one, and `minidisk boot` (QEMU) is left to
// the boot tests.
func TestGuideRuns(t *testing.T) {
	testutil.RequireTool(t, "bash", "bash")
	testutil.RequireTool(t, "busybox", "busybox")
	testutil.RequireFile(t, "/usr/lib/grub/x86_64-pc/stage2", "apt-get install grub-legacy")
	guide, err := os.ReadFile(filepath.Join("..", "..", "docs", "guide.md"))
	if err != nil {
		t.Fatal(err)
	}
	steps := guideSteps(t, string(guide))
	if len(steps) < 10 {
		t.Fatalf("only %d commands found in the guide", len(steps))
	}
	work, tools := t.TempDir(), t.TempDir()
	wrapper := "#!/bin/sh\n" +
		"if [ $# -eq 3 ] && [ \"$1 $2 $3\" = \"kernel --profile legacy\" ]; then echo \"$GUIDE_KERNEL\"; exit 0; fi\n" +
		"exec \"$GUIDE_MINIDISK\" \"$@\"\n"
	if err := os.WriteFile(filepath.Join(tools, "minidisk"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PATH="+tools+":"+os.Getenv("PATH"), "GUIDE_KERNEL="+kerneltest.FakeBzImage(t), "GUIDE_MINIDISK="+bin, "COLUMNS=400")
	ran := 0
	var planOut string
	for _, st := range steps {
		if strings.HasPrefix(st.line, "minidisk boot ") {
			continue
		}
		cmd := exec.Command("bash", "-c", st.line)
		cmd.Dir, cmd.Env = work, env
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("guide: %s: %v\n%s%s", st.line, err, out.String(), errb.String())
		}
		ran++
		for _, want := range st.expect {
			if !strings.Contains(out.String(), want) {
				t.Errorf("guide: %s prints\n%s\nnot the guide's line\n%s", st.line, out.String(), want)
			}
		}
		if st.line == "minidisk plan disk.img" {
			planOut = out.String()
		}
	}
	t.Logf("ran %d of the guide's %d commands", ran, len(steps))
	if planOut == "" {
		t.Fatal("the guide no longer runs `minidisk plan disk.img`")
	}
	// The plan table of the guide: each row's number is on plan's line of
	// the same name.
	row := regexp.MustCompile(`(?m)^\| ([a-z0-9 =.-]+) \| (\d+)( [A-Za-z]+)? \|`)
	rows := row.FindAllStringSubmatch(string(guide), -1)
	if len(rows) < 6 {
		t.Fatalf("only %d plan rows in the guide", len(rows))
	}
	for _, r := range rows {
		re := `(?m)^` + regexp.QuoteMeta(r[1]) + `\s+` + r[2] + `\b`
		if r[3] != "" {
			re += `\s+` + regexp.QuoteMeta(strings.TrimSpace(r[3]))
		}
		if !regexp.MustCompile(re).MatchString(planOut) {
			t.Errorf("guide's plan row %q %s%s is not what plan prints:\n%s", r[1], r[2], r[3], planOut)
		}
	}
}
