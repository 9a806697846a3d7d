package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel"
)

func TestModulesBadInput(t *testing.T) {
	empty := t.TempDir()
	mustFail(t, "unknown target \"floppy\"", "modules", "--modules", empty, "--for", "ide,floppy")
	mustFail(t, "give --for or a module name", "modules", "--modules", empty)
	mustFail(t, "not a modules tree", "modules", "--modules", empty, "--for", "ide")
	mustFail(t, "not a directory", "modules", "--modules", empty+"/nope", "--for", "ide")
	mustFail(t, "add --debian", "kernel", "--flavour", "amd64")
	mustFail(t, "--debian fetches Debian's", "kernel", "--debian", "--src", empty)
	mustFail(t, "not a Debian kernel flavour", "kernel", "--debian", "--flavour", "../etc")
	if _, _, code := run(t, "modules", "--modules", empty, "--for", "floppy"); code != 64 {
		t.Errorf("unknown target: exit %d, want 64 (usage error)", code)
	}
	if _, _, code := run(t, "modules", "--modules", empty, "--for", "ide"); code != 1 {
		t.Errorf("not a modules tree: exit %d, want 1", code)
	}
}

// TestModulesDebianKernel runs `minidisk kernel --debian` and `minidisk
// modules` on its output as a user would: the tree is found beside the
// kernel, the JSON is snake_case, and the cloud flavour's refusal of ahci
// names the flavour that has it.
func TestModulesDebianKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no Debian kernel download")
	}
	testutil.RequireTool(t, "apt-get", "apt")
	testutil.RequireTool(t, "dpkg-deb", "dpkg")
	// Fetch through the package first so a cold cache downloads once.
	if _, err := kernel.FetchDebian(context.Background(), kernel.DebianOptions{Flavour: "cloud-amd64"}); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := run(t, "kernel", "--debian")
	if code != 0 {
		t.Fatalf("kernel --debian: %s", stderr)
	}
	vmlinuz := strings.TrimSpace(out)
	if !strings.Contains(vmlinuz, "/debian/linux-image-") || !strings.Contains(stderr, "modules: ") {
		t.Fatalf("kernel --debian printed %q, %q", out, stderr)
	}
	out, stderr, code = run(t, "modules", "--kernel", vmlinuz, "--for", "ide,ext2", "--json")
	if code != 0 {
		t.Fatalf("modules: %s", stderr)
	}
	var c struct {
		ModulesDir string `json:"modules_dir"`
		Version    string `json:"version"`
		Modules    []struct {
			Name    string   `json:"name"`
			Path    string   `json:"path"`
			Builtin bool     `json:"builtin"`
			Why     []string `json:"why"`
		} `json:"modules"`
	}
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("modules --json: %v\n%s", err, out)
	}
	var names []string
	for _, m := range c.Modules {
		names = append(names, m.Name)
		if len(m.Why) == 0 || (m.Path == "") != m.Builtin {
			t.Errorf("entry %+v", m)
		}
	}
	// The closure the notes measured with modprobe (distro-kernels.md),
	// in a load order modprobe also uses; ext2 is the built-in ext4.
	if got := strings.Join(names, " "); got != "scsi_common scsi_mod libata ata_piix sd_mod ext4" {
		t.Errorf("closure %s", got)
	}
	out, _, code = run(t, "modules", "--kernel", vmlinuz, "--for", "ide")
	if code != 0 || !strings.Contains(out, "ata_piix") || !strings.Contains(out, "needed by ata_piix") {
		t.Errorf("text output:\n%s", out)
	}
	mustFail(t, "--flavour amd64", "modules", "--kernel", vmlinuz, "--for", "ahci")
	mustFail(t, "module nosuch not found", "modules", "--kernel", vmlinuz, "nosuch")
}
