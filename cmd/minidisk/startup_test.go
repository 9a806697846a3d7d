package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// maxInitBytes is what one of minidisk's packages may allocate while the
// program starts (package-level variables, init functions). Every command,
// --help included, pays for every package's initialisation before main
// runs, so tables and compiled regular expressions are built on first use
// (sync.OnceValue) instead; a few small maps stay.
const maxInitBytes = 4096

// TestStartupInitsAreSmall reads the runtime's own account of package
// initialisation (GODEBUG=inittrace=1: "init PKG @T ms, C ms clock, B
// bytes, A allocs") for `minidisk --version` and fails when one of our
// packages allocates more than maxInitBytes. Bytes are counted, not time:
// the count does not depend on the machine's load.
func TestStartupInitsAreSmall(t *testing.T) {
	cmd := exec.Command(bin, "--version")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("minidisk --version: %v\n%s", err, stderr.String())
	}
	seen := 0
	sc := bufio.NewScanner(&stderr)
	for sc.Scan() {
		// init github.com/minidisk/minidisk/qemu @8.8 ms, 0.023 ms clock, 248 bytes, 6 allocs
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[0] != "init" || f[8] != "bytes," {
			continue
		}
		pkg := f[1]
		if pkg != "main" && !strings.HasPrefix(pkg, "github.com/minidisk/minidisk/") {
			continue
		}
		seen++
		n, err := strconv.Atoi(f[7])
		if err != nil {
			t.Fatalf("inittrace line %q: %v", sc.Text(), err)
		}
		if n > maxInitBytes {
			t.Errorf("package %s allocates %d bytes at start-up (limit %d): build its tables on first use (sync.OnceValue)", pkg, n, maxInitBytes)
		}
	}
	if seen < 5 {
		t.Fatalf("inittrace listed %d of minidisk's packages; the runtime's format changed?\n%s", seen, stderr.String())
	}
}
