package kmod

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
)

const testRelease = "6.1.0-test-amd64"

// ideTree is QEMU's IDE chain as Debian builds it, in every compression
// a module may have, plus damaged files.
func ideTree(t testing.TB) string {
	vm := vermagic(testRelease)
	mod := func(kind string, fields ...string) []byte {
		return compress(t, kind, makeModule(append(fields, vm)...))
	}
	full := mod("xz", "name=scsi_mod", "depends=scsi_common")
	return fakeTree(t, testRelease, map[string][]byte{
		"kernel/drivers/scsi/scsi_common.ko":  mod("", "name=scsi_common", "depends=", "license=GPL"),
		"kernel/drivers/scsi/scsi_mod.ko.xz":  full,
		"kernel/drivers/ata/libata.ko.zst":    mod("zst", "name=libata", "depends=scsi_mod,scsi_common"),
		"kernel/drivers/ata/ata_piix.ko.gz":   mod("gz", "name=ata_piix", "alias=pci:v00008086d00007010sv*sd*bc*sc*i*", "depends=libata"),
		"kernel/drivers/scsi/sd_mod.ko":       mod("", "name=sd_mod", "softdep=pre: crct10dif", "softdep=pre: ignored-second-entry", "depends=scsi_mod,scsi_common"),
		"kernel/arch/x86/crct10dif-pclmul.ko": mod("", "name=crct10dif_pclmul", "alias=crct10dif", "alias=crypto-crct10dif", "depends="),
		"kernel/drivers/block/virtio_blk.ko":  mod("", "name=virtio_blk", "depends="),
		"kernel/misc/notelf.ko":               []byte("this is not an ELF file\n"),
		"kernel/misc/cut.ko.xz":               mod("xz", "name=cut", "depends=")[:40],
		"kernel/misc/old.ko":                  compress(t, "", makeModule("name=old", "depends=", vermagic("5.10.0-9-amd64"))),
		"kernel/misc/needs_ghost.ko":          mod("", "name=needs_ghost", "depends=ghost"),
		"modules.builtin":                     []byte("kernel/fs/ext4/ext4.ko\nkernel/fs/mbcache.ko\n"),
		"modules.builtin.modinfo":             builtinModinfo("ext4.license=GPL", "ext4.alias=fs-ext4", "ext4.alias=ext2", "ext4.alias=fs-ext2", "mbcache.license=GPL"),
		"updates/dkms/scsi_common.ko":         mod("", "name=scsi_common", "depends="),
	})
}

func names(ms []Module) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

func TestResolveIDEAndExt2(t *testing.T) {
	root := ideTree(t)
	tree, err := Open(root, testRelease+" (builder@host) #1 SMP")
	if err != nil {
		t.Fatal(err)
	}
	c, err := tree.Resolve([]string{"ide", "ext2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Hand-derived: depends first, in the order each module lists them;
	// sd_mod's first softdep (pre: crct10dif, an alias) before sd_mod; the
	// second softdep= entry ignored, as modprobe ignores it; ext2 served
	// by the built-in ext4 through its alias.
	want := []string{"scsi_common", "scsi_mod", "libata", "ata_piix", "crct10dif_pclmul", "sd_mod", "ext4"}
	if got := names(c.Modules); !reflect.DeepEqual(got, want) {
		t.Fatalf("closure %v, want %v", got, want)
	}
	if got := names(c.Load()); !reflect.DeepEqual(got, want[:6]) {
		t.Errorf("Load %v, want %v", got, want[:6])
	}
	ext4 := c.Find("ext4")
	if !ext4.Builtin || ext4.Path != "" || !strings.Contains(ext4.Why[0], "target ext2") {
		t.Errorf("ext4 entry %+v", *ext4)
	}
	if p := c.Find("scsi_common").Path; p != "updates/dkms/scsi_common.ko" {
		t.Errorf("scsi_common from %s, want updates/ to win as in depmod's search order", p)
	}
	if w := c.Find("libata").Why; len(w) != 1 || w[0] != "needed by ata_piix" {
		t.Errorf("libata why %q", w)
	}
	if w := c.Find("crct10dif_pclmul").Why[0]; !strings.Contains(w, "soft dependency (pre) of sd_mod via alias crct10dif") {
		t.Errorf("crct10dif why %q", w)
	}
	// '-' and '_' are one character in module names.
	c2, err := tree.Resolve(nil, []string{"crct10dif-pclmul", "ata-piix"})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(c2.Modules); !reflect.DeepEqual(got, []string{"crct10dif_pclmul", "scsi_common", "scsi_mod", "libata", "ata_piix"}) {
		t.Errorf("by name: %v", got)
	}
	// An alias glob matches as modprobe's fnmatch does.
	ms, err := tree.Lookup("pci:v00008086d00007010sv00001AF4sd00001100bc01sc01i80")
	if err != nil || len(ms) != 1 || ms[0].Name != "ata_piix" {
		t.Errorf("modalias lookup: %v %v", ms, err)
	}
}

func TestTreeLocations(t *testing.T) {
	root := ideTree(t)
	dir := filepath.Join(root, "lib", "modules", testRelease)
	for _, p := range []string{root, dir} {
		tree, err := Open(p, "")
		if err != nil {
			t.Fatal(err)
		}
		if tree.Dir != dir || tree.Version != testRelease {
			t.Errorf("Open(%s) = %s %s", p, tree.Dir, tree.Version)
		}
	}
	kernel := filepath.Join(root, "boot", "vmlinuz-"+testRelease)
	os.MkdirAll(filepath.Dir(kernel), 0o755)
	os.WriteFile(kernel, []byte("x"), 0o644)
	got, err := FindTree(kernel, testRelease+" (x) #1")
	if err != nil || got != dir {
		t.Errorf("FindTree = %q, %v; want %s", got, err, dir)
	}
	_, err = FindTree(kernel, "9.9.9-none")
	var tnf *TreeNotFoundError
	if !errors.As(err, &tnf) || len(tnf.Searched) < 2 {
		t.Errorf("FindTree for a missing release: %v", err)
	}
}

func TestErrors(t *testing.T) {
	root := ideTree(t)
	tree, err := Open(root, testRelease)
	if err != nil {
		t.Fatal(err)
	}
	oneLine := func(err error) {
		t.Helper()
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("want a one-line error, got %v", err)
		}
	}
	_, err = tree.Resolve(nil, []string{"notelf"})
	var ne *NotELFError
	if !errors.As(err, &ne) || !strings.HasSuffix(ne.File, "kernel/misc/notelf.ko") {
		t.Errorf("not ELF: %v", err)
	}
	oneLine(err)
	_, err = tree.Resolve(nil, []string{"cut"})
	var te *TruncatedError
	if !errors.As(err, &te) || te.Format != "xz" || !strings.HasSuffix(te.File, "cut.ko.xz") {
		t.Errorf("truncated: %v", err)
	}
	oneLine(err)
	_, err = tree.Resolve(nil, []string{"old"})
	var vm *VersionMismatchError
	if !errors.As(err, &vm) || vm.Found != "5.10.0-9-amd64" || vm.Kernel != testRelease {
		t.Errorf("vermagic: %v", err)
	}
	oneLine(err)
	_, err = tree.Resolve(nil, []string{"nosuchmodule"})
	var nf *NotFoundError
	if !errors.As(err, &nf) || nf.Name != "nosuchmodule" || len(nf.Searched) == 0 {
		t.Errorf("not found: %v", err)
	}
	oneLine(err)
	_, err = tree.Resolve(nil, []string{"needs_ghost"})
	if !errors.As(err, &nf) || nf.Name != "ghost" || nf.NeededBy != "needs_ghost" {
		t.Errorf("missing dependency: %v", err)
	}
	_, err = tree.Resolve([]string{"virtio"}, nil)
	var tg *TargetError
	if !errors.As(err, &tg) || !strings.Contains(err.Error(), "virtio_pci (CONFIG_VIRTIO_PCI)") || strings.Contains(err.Error(), "virtio_blk") {
		t.Errorf("target refusal: %v", err)
	}
	if !strings.Contains(err.Error(), "--for ide") {
		t.Errorf("refusal does not name the target this kernel serves: %v", err)
	}
	oneLine(err)
	if ok, missing := tree.Serves("ide"); !ok || len(missing) != 0 {
		t.Errorf("Serves(ide) = %v %v", ok, missing)
	}
	// A tree of another release.
	_, err = Open(root, "6.1.0-other-amd64")
	if !errors.As(err, &vm) || vm.Found != testRelease {
		t.Errorf("tree of another release: %v", err)
	}
	oneLine(err)
	_, err = Open(t.TempDir(), "")
	if !errors.Is(err, ErrNotModulesTree) {
		t.Errorf("empty dir: %v", err)
	}
	if _, err := ParseTargets("ide,floppy"); err == nil {
		t.Error("unknown target accepted")
	}
}

// TestParserAgainstModinfo checks the .modinfo reader (synthetic modules
// in every compression) against the host's modinfo(8) from kmod.
func TestParserAgainstModinfo(t *testing.T) {
	modinfo := testutil.RequireTool(t, "modinfo", "kmod")
	root := ideTree(t)
	dir := filepath.Join(root, "lib", "modules", testRelease)
	for _, rel := range []string{"kernel/drivers/scsi/scsi_mod.ko.xz", "kernel/drivers/ata/libata.ko.zst", "kernel/drivers/scsi/sd_mod.ko", "kernel/arch/x86/crct10dif-pclmul.ko"} {
		if strings.HasSuffix(rel, ".zst") && !hostModinfoHas(modinfo, "+ZSTD") {
			continue
		}
		p := filepath.Join(dir, rel)
		mi, err := ReadModInfoFS(os.DirFS(dir), rel)
		if err != nil {
			t.Fatal(err)
		}
		for field, got := range map[string]string{
			"depends":  strings.Join(mi.Depends, ","),
			"vermagic": mi.Vermagic,
			"name":     mi.Name,
			"alias":    strings.Join(mi.Aliases, "\n"),
			"softdep":  strings.Join(mi.Softdeps, "\n"),
		} {
			out, err := exec.Command(modinfo, "-F", field, p).Output()
			if err != nil {
				t.Fatalf("modinfo -F %s %s: %v", field, p, err)
			}
			if want := strings.TrimRight(string(out), "\n"); strings.TrimSpace(want) != strings.TrimSpace(got) {
				t.Errorf("%s %s: got %q, modinfo says %q", rel, field, got, want)
			}
		}
	}
}

func hostModinfoHas(modinfo, feature string) bool {
	out, _ := exec.Command(modinfo, "--version").Output()
	return strings.Contains(string(out), feature)
}

func FuzzParseModInfo(f *testing.F) {
	f.Add(makeModule("name=x", "depends=a,b", "softdep=pre: c post: d", "alias=e*", vermagic("6.1")))
	f.Add(makeModule())
	f.Add([]byte("\x7fELF"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		mi, err := ParseModInfo(data)
		if err == nil && mi == nil {
			t.Fatal("nil ModInfo without an error")
		}
		// Compressed inputs too: the decompressors must not panic either.
		for _, name := range []string{"m.ko.xz", "m.ko.zst", "m.ko.gz"} {
			decompressModule(name, strings.NewReader(string(data)))
		}
	})
}

func TestModuleDataAndOpenFS(t *testing.T) {
	root := ideTree(t)
	tree, err := OpenFS(os.DirFS(root), "lib/modules/"+testRelease, testRelease)
	if err != nil {
		t.Fatal(err)
	}
	want := makeModule("name=libata", "depends=scsi_mod,scsi_common", vermagic(testRelease))
	got, err := tree.ModuleData("libata") // stored as .ko.zst
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("ModuleData(libata): %v, %d bytes, want the %d-byte ELF", err, len(got), len(want))
	}
	var ne *NotELFError
	if _, err := tree.ModuleData("notelf"); !errors.As(err, &ne) {
		t.Errorf("notelf: %v", err)
	}
	var te *TruncatedError
	if _, err := tree.ModuleData("cut"); !errors.As(err, &te) {
		t.Errorf("cut: %v", err)
	}
	if _, err := OpenFS(os.DirFS(root), "lib/modules/"+testRelease, "5.10.0-9-amd64"); err == nil {
		t.Error("OpenFS accepted another release")
	}
}

// TestKernelRelease: the release is the version string's first word, as
// uname -r prints it and /lib/modules names it; a bare release is kept.
func TestKernelRelease(t *testing.T) {
	for _, c := range [][2]string{
		{"6.1.0-57-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.158-1 (2025-11-09)", "6.1.0-57-cloud-amd64"},
		{"6.1.158 (minidisk@minidisk) #1 Thu Jan  1 00:00:00 UTC 1970", "6.1.158"},
		{"6.1.0-57-generic", "6.1.0-57-generic"},
		{" \t6.8.0\tx", "6.8.0"},
		{"", ""},
		{"   ", ""},
	} {
		if got := KernelRelease(c[0]); got != c[1] {
			t.Errorf("KernelRelease(%q) = %q, want %q", c[0], got, c[1])
		}
	}
}
