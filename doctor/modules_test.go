package doctor

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minidisk/minidisk/initramfs"
	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel"
	"github.com/minidisk/minidisk/legacy"
	"github.com/minidisk/minidisk/rootfs"
	"github.com/minidisk/minidisk/rootfs/cpio"
)

// debianKernel is Debian's cloud-amd64 kernel from `minidisk kernel
// --debian`'s cache: ata_piix and sd_mod are modules in it.
func debianKernel(t *testing.T) *kernel.DebianKernel {
	t.Helper()
	if testing.Short() {
		t.Skip("fetches Debian's kernel package (27 MB) on first use")
	}
	testutil.RequireTool(t, "apt-get", "apt")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	k, err := kernel.FetchDebian(ctx, kernel.DebianOptions{})
	if err != nil {
		testutil.Missing(t, err.Error())
	}
	return k
}

// modularImage is `minidisk create` with Debian's kernel; noInitramfs
// makes the broken dk.img.
func modularImage(t *testing.T, dk *kernel.DebianKernel, noInitramfs bool, adds ...legacy.Add) string {
	t.Helper()
	bb := testutil.RequireTool(t, "busybox", "busybox")
	requireGRUB(t)
	img := filepath.Join(t.TempDir(), "dk.img")
	if _, err := legacy.Create(img, legacy.Options{Payload: legacy.Payload{
		Kernel: dk.Kernel, BusyBox: bb, NoInitramfs: noInitramfs, Adds: adds}}); err != nil {
		t.Fatal(err)
	}
	return img
}

// TestModularKernelNoInitrd: the dk.img, Debian's kernel without
// an initramfs, "will not boot", naming ata_piix and sd_mod and the panic.
// With the kernel's config in /boot the config says so; without it the
// decompressed kernel lacks the drivers' strings.
func TestModularKernelNoInitrd(t *testing.T) {
	dk := debianKernel(t)
	for _, withConfig := range []bool{true, false} {
		name := map[bool]string{true: "config in /boot", false: "kernel image only"}[withConfig]
		t.Run(name, func(t *testing.T) {
			var adds []legacy.Add
			if withConfig {
				adds = append(adds, legacy.Add{Src: dk.Config, Dst: "/boot/config-" + dk.Release})
			} else if info, err := kernel.InspectFile(dk.Kernel); err != nil || info.Vmlinux() == nil {
				t.Skip("kernel.Inspect cannot decompress this kernel's payload yet (lz4)")
			}
			rep := diagnoseFile(t, modularImage(t, dk, true, adds...))
			f := want(t, rep, IDModuleNoInitrd, Error, "ata_piix", "sd_mod", `VFS: Cannot open root device "sda1" or unknown-block(0,0)`, dk.Release)
			if withConfig && !strings.Contains(f.Evidence, "CONFIG_ATA_PIIX=m") {
				t.Errorf("evidence does not cite the config: %s", f.Evidence)
			}
			if rep.ExitCode() != 1 {
				t.Errorf("exit code %d, want 1", rep.ExitCode())
			}
			var text strings.Builder
			if err := rep.WriteText(&text, TextOptions{}); err != nil || !strings.Contains(text.String(), "verdict: will not boot") {
				t.Errorf("verdict (%v):\n%s", err, text.String())
			}
			if !strings.Contains(f.Fix, "minidisk rootfs add") || !strings.Contains(f.Fix, "--for ide") {
				t.Errorf("fix: %s", f.Fix)
			}
		})
	}
}

// TestModularKernelWithInitrd: the image create makes is judged good; then
// its initrd is replaced by broken ones, one per finding.
func TestModularKernelWithInitrd(t *testing.T) {
	dk := debianKernel(t)
	adds := []legacy.Add{{Src: dk.Config, Dst: "/boot/config-" + dk.Release}}
	good := modularImage(t, dk, false, adds...)
	rep := diagnoseFile(t, good)
	want(t, rep, IDInitrdModulesOK, OK, "ata_piix", "sd_mod", "libata")
	if rep.ExitCode() != 0 {
		t.Fatalf("the image create made: exit %d\n%s", rep.ExitCode(), dump(rep))
	}

	plan, err := initramfs.CheckKernel(dk.Kernel, "", "ide")
	if err != nil {
		t.Fatal(err)
	}
	bb := testutil.RequireFile(t, initramfs.DefaultBusyBox(), "a BusyBox")
	build := func(p *initramfs.Plan, edit func(*rootfs.Tree) *rootfs.Tree) []byte {
		t.Helper()
		tree, err := p.Tree(initramfs.ModularOptions{BusyBox: bb, Epoch: time.Unix(1700000000, 0)})
		if err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			tree = edit(tree)
		}
		var buf bytes.Buffer
		if err := initramfs.Write(&buf, tree, cpio.Gzip); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	without := func(skip string) func(*rootfs.Tree) *rootfs.Tree {
		return func(src *rootfs.Tree) *rootfs.Tree {
			out := rootfs.New(time.Unix(1700000000, 0))
			for _, e := range src.Entries() {
				if e.Name == "/" || e.Name == skip {
					continue
				}
				if err := out.Add(*e); err != nil {
					t.Fatal(err)
				}
			}
			return out
		}
	}
	// A module whose vermagic names the next release.
	otherRel := strings.Replace(dk.Release, "-57-", "-58-", 1)
	piix := ""
	for _, m := range plan.Modules {
		if m.Name == "ata_piix" {
			piix = m.File
		}
	}
	data, err := os.ReadFile(piix)
	if err != nil {
		t.Fatal(err)
	}
	patched := bytes.Replace(data, []byte("vermagic="+dk.Release), []byte("vermagic="+otherRel), 1)
	if bytes.Equal(patched, data) {
		t.Fatal("no vermagic= in ata_piix.ko")
	}
	otherKo := filepath.Join(t.TempDir(), "ata_piix.ko")
	os.WriteFile(otherKo, patched, 0o644)
	otherPlan := *plan
	otherPlan.Modules = append([]initramfs.Module(nil), plan.Modules...)
	for i := range otherPlan.Modules {
		if otherPlan.Modules[i].Name == "ata_piix" {
			otherPlan.Modules[i].File = otherKo
		}
	}
	modDir := "/lib/modules/" + dk.Release + "/kernel/drivers"
	cases := []struct {
		name   string
		initrd []byte
		id     ID
		ev     []string
	}{
		{"no ata_piix", build(plan, without(modDir+"/ata/ata_piix.ko")), IDInitrdModuleMissing, []string{"ata_piix"}},
		{"no libata", build(plan, without(modDir+"/ata/libata.ko")), IDInitrdModuleMissing, []string{"libata (needed by ata_piix)"}},
		{"vermagic of another release", build(&otherPlan, nil), IDInitrdModuleVermagic, []string{"ata_piix.ko", otherRel, dk.Release}},
		{"no /init", build(plan, without("/init")), IDInitrdInitMissing, []string{"no /init"}},
		{"/init not executable", build(plan, func(tr *rootfs.Tree) *rootfs.Tree {
			e, _ := tr.Lookup("/init")
			e.Mode = 0o644
			return tr
		}), IDInitrdInitNotExecutable, []string{"0644", "error -13"}},
		{"not an archive", []byte("garbage, not a cpio archive at all\n"), IDInitrdUnreadable, []string{"/boot/initrd.img"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "dk.img")
			copyFile(t, good, img, 0o644)
			if _, err := legacy.EditImage(img, func(tr *rootfs.Tree, _ time.Time) error {
				e, ok := tr.Lookup(legacy.InitrdPath)
				if !ok {
					t.Fatal("no initrd in the image")
				}
				e.Content, e.Size = rootfs.Bytes(c.initrd), int64(len(c.initrd))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			rep := diagnoseFile(t, img)
			f := want(t, rep, c.id, Error, c.ev...)
			if rep.ExitCode() != 1 {
				t.Errorf("exit %d, want 1", rep.ExitCode())
			}
			if !strings.Contains(f.Fix, "minidisk ") {
				t.Errorf("fix names no minidisk command: %s", f.Fix)
			}
			if rep.Has(IDInitrdModulesOK) != nil {
				t.Errorf("also judged ok:\n%s", dump(rep))
			}
		})
	}
}
