package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel"
)

// TestInitramfsForKernel runs `minidisk initramfs --kernel` on Debian's
// kernel as a user would: the modules tree is found beside the kernel, the
// archive holds the closure `minidisk modules` prints, and a target the
// kernel cannot serve is refused with nothing written.
func TestInitramfsForKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no Debian kernel download")
	}
	testutil.RequireTool(t, "apt-get", "apt")
	k, err := kernel.FetchDebian(context.Background(), kernel.DebianOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "initrd.img")
	stdout, stderr, code := run(t, "initramfs", "--kernel", k.Kernel, "--for", "virtio", out)
	if code != 0 {
		t.Fatalf("initramfs --kernel: %s", stderr)
	}
	if !strings.Contains(stdout, "virtio_blk is a module in this kernel: loaded from the initramfs") {
		t.Errorf("no reason printed:\n%s", stdout)
	}
	mods, _, code := run(t, "modules", "--kernel", k.Kernel, "--for", "virtio", "--json")
	if code != 0 {
		t.Fatal("modules failed")
	}
	cpioBin := testutil.RequireTool(t, "cpio", "cpio")
	listing, err := exec.Command("sh", "-c", `gzip -dc "$1" | "$2" -t --quiet`, "sh", out, cpioBin).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"virtio_ring", "virtio", "virtio_pci", "virtio_blk"} {
		if !strings.Contains(mods, `"name": "`+m+`"`) {
			t.Errorf("modules --json lacks %s", m)
		}
		if !strings.Contains(string(listing), "/"+m+".ko\n") {
			t.Errorf("the archive lacks %s.ko", m)
		}
	}
	bad := filepath.Join(dir, "ahci.img")
	mustFail(t, "Debian's cloud flavour carries only cloud hardware drivers", "initramfs", "--kernel", k.Kernel, "--for", "ahci", bad)
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Errorf("%s written on refusal", bad)
	}
	mustFail(t, "need --kernel", "initramfs", "--modules", k.ModulesDir, bad)
}
