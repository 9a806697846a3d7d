package kmod_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel"
	"github.com/minidisk/minidisk/kmod"
)

// debianTree fetches Debian's linux-image package of flavour through the
// `minidisk kernel --debian` code (cached in ~/.cache/minidisk/debian) and
// returns it. The download is skipped with -short.
func debianTree(t testing.TB, flavour string) *kernel.DebianKernel {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no Debian kernel download")
	}
	testutil.RequireTool(t, "apt-get", "apt")
	testutil.RequireTool(t, "dpkg-deb", "dpkg")
	k, err := kernel.FetchDebian(context.Background(), kernel.DebianOptions{Flavour: flavour})
	if err != nil {
		t.Fatalf("fetching Debian's %s kernel: %v", flavour, err)
	}
	return k
}

// depmodCopy links the package's modules tree into a new root (depmod
// writes new index files and never modifies a module, so hard links keep
// the cache intact) and runs `depmod -b ROOT VERSION` there.
func depmodCopy(t *testing.T, k *kernel.DebianKernel) string {
	t.Helper()
	depmod := testutil.RequireTool(t, "depmod", "kmod")
	root := t.TempDir()
	dst := filepath.Join(root, "lib", "modules")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-al", k.ModulesDir, dst).CombinedOutput(); err != nil {
		t.Logf("cp -al failed (%v: %s); copying", err, out)
		testutil.Run(t, "cp", "-a", k.ModulesDir, dst)
	}
	testutil.Run(t, depmod, "-b", root, k.Release)
	return root
}

// showDepends runs modprobe --show-depends for one name (a second word
// would be a module parameter) with no host configuration (-C /dev/null),
// returning the insmod'ed files relative to the tree and the built-ins,
// each once (its dry run prints a module once per path that reaches it).
func showDepends(t *testing.T, modprobe, root, release, name string) (insmod []string, builtin []string, err error) {
	t.Helper()
	out, err := exec.Command(modprobe, "-C", "/dev/null", "-d", root, "-S", release, "--show-depends", name).CombinedOutput()
	if err != nil {
		return nil, nil, errors.New(strings.TrimSpace(string(out)))
	}
	prefix := filepath.Join(root, "lib", "modules", release) + "/"
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 2 && f[0] == "insmod":
			if p := strings.TrimPrefix(f[1], prefix); !seen[p] {
				seen[p] = true
				insmod = append(insmod, p)
			}
		case len(f) == 2 && f[0] == "builtin":
			builtin = append(builtin, kmod.Normalize(f[1]))
		default:
			t.Fatalf("modprobe --show-depends %s: unexpected line %q", name, sc.Text())
		}
	}
	return insmod, builtin, nil
}

// readModulesDep reads depmod's modules.dep: module path → dependency paths.
func readModulesDep(t *testing.T, dir string) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "modules.dep"))
	if err != nil {
		t.Fatal(err)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(string(data), "\n") {
		mod, rest, ok := strings.Cut(line, ":")
		if ok {
			deps[mod] = strings.Fields(rest)
		}
	}
	return deps
}

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return s
}

// oracleNames picks the names compared for a tree: every module of the
// targets it serves, the refused targets' modules (which modprobe must
// not find either), and an even sample across the sorted module names.
func oracleNames(tree *kmod.Tree, sample int) []string {
	seen := map[string]bool{}
	var out []string
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, tg := range kmod.Targets() {
		for _, n := range kmod.TargetModules(tg) {
			add(n)
		}
	}
	for _, n := range []string{"btrfs", "libcrc32c", "xfs", "ext4", "crc32c", "fs-vfat"} {
		add(n)
	}
	names := tree.Names()
	for i := 0; i < sample; i++ {
		add(names[i*len(names)/sample])
	}
	return out
}

// TestOracleModprobe: for Debian's cloud and generic trees, each name's
// closure matches `modprobe --show-depends` after `depmod -b` (same
// modules loaded, same built-ins), in an order where every module comes
// after its modules.dep dependencies; names modprobe cannot find are ones
// Resolve refuses, and each target Resolve refuses is one whose driver
// modprobe cannot find either.
func TestOracleModprobe(t *testing.T) {
	modprobe := testutil.RequireTool(t, "modprobe", "kmod")
	for _, flavour := range []string{"cloud-amd64", "amd64"} {
		t.Run(flavour, func(t *testing.T) {
			k := debianTree(t, flavour)
			root := depmodCopy(t, k)
			tree, err := kmod.Open(k.ModulesDir, k.Release)
			if err != nil {
				t.Fatal(err)
			}
			files, builtins := tree.Counts()
			moddep := readModulesDep(t, filepath.Join(root, "lib", "modules", k.Release))
			compared, refused, maxClosure := 0, 0, 0
			for _, name := range oracleNames(tree, 30) {
				wantLoad, wantBuiltin, merr := showDepends(t, modprobe, root, k.Release, name)
				c, err := tree.Resolve(nil, []string{name})
				if merr != nil {
					var nf *kmod.NotFoundError
					if !errors.As(err, &nf) {
						t.Errorf("%s: modprobe fails (%v) but Resolve gives %v", name, merr, err)
					}
					refused++
					continue
				}
				if err != nil {
					t.Errorf("%s: %v (modprobe loads %v)", name, err, wantLoad)
					continue
				}
				var gotLoad, gotBuiltin []string
				pos := map[string]int{}
				for i, m := range c.Load() {
					gotLoad = append(gotLoad, m.Path)
					pos[m.Path] = i
				}
				for _, m := range c.Modules {
					if m.Builtin {
						gotBuiltin = append(gotBuiltin, m.Name)
					}
				}
				if strings.Join(sorted(gotLoad), " ") != strings.Join(sorted(wantLoad), " ") {
					t.Errorf("%s: we load %v, modprobe %v", name, gotLoad, wantLoad)
				}
				if strings.Join(sorted(gotBuiltin), " ") != strings.Join(sorted(wantBuiltin), " ") {
					t.Errorf("%s: we say built in %v, modprobe %v", name, gotBuiltin, wantBuiltin)
				}
				for i, p := range gotLoad {
					for _, d := range moddep[p] {
						if j, ok := pos[d]; ok && j > i {
							t.Errorf("%s: %s loaded before its dependency %s", name, p, d)
						} else if !ok {
							t.Errorf("%s: dependency %s of %s missing from the closure", name, d, p)
						}
					}
				}
				compared++
				maxClosure = max(maxClosure, len(gotLoad))
			}
			if compared < 20 {
				t.Errorf("only %d names compared with modprobe, want at least 20", compared)
			}
			for _, tg := range kmod.Targets() {
				c, err := tree.Resolve([]string{tg}, nil)
				var te *kmod.TargetError
				switch {
				case errors.As(err, &te):
					for _, n := range kmod.TargetModules(tg) {
						if _, _, merr := showDepends(t, modprobe, root, k.Release, n); merr == nil && strings.Contains(err.Error(), n+" (") {
							t.Errorf("target %s refused for %s, which modprobe finds", tg, n)
						}
					}
					if flavour == "cloud-amd64" && !strings.Contains(err.Error(), "--flavour amd64") {
						t.Errorf("refusal of %s does not name the generic flavour: %v", tg, err)
					}
					t.Logf("target %s refused: %v", tg, err)
				case err != nil:
					t.Errorf("target %s: %v", tg, err)
				default:
					t.Logf("target %s: %d to load, %d built in", tg, len(c.Load()), len(c.Modules)-len(c.Load()))
				}
			}
			t.Logf("%s: %d module files, %d built in; %d names compared with modprobe --show-depends (largest closure %d), %d not found by either",
				k.Release, files, builtins, compared, maxClosure, refused)
		})
	}
	// Debian's cloud kernel lacks what the generic one has.
	cloud, generic := debianTree(t, "cloud-amd64"), debianTree(t, "amd64")
	ct, _ := kmod.Open(cloud.ModulesDir, cloud.Release)
	gt, _ := kmod.Open(generic.ModulesDir, generic.Release)
	for _, tg := range []string{"ahci", "usb"} {
		if ok, _ := ct.Serves(tg); ok {
			t.Errorf("cloud kernel serves %s", tg)
		}
		if ok, missing := gt.Serves(tg); !ok {
			t.Errorf("generic kernel does not serve %s: %v", tg, missing)
		}
	}
}

// TestOracleModinfo compares the .modinfo reader with modinfo(8) on real
// Debian modules.
func TestOracleModinfo(t *testing.T) {
	modinfo := testutil.RequireTool(t, "modinfo", "kmod")
	k := debianTree(t, "cloud-amd64")
	tree, err := kmod.Open(k.ModulesDir, k.Release)
	if err != nil {
		t.Fatal(err)
	}
	names := tree.Names()
	for i := 0; i < 25; i++ {
		name := names[i*len(names)/25]
		mi, err := tree.ModInfo(name)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(tree.Dir, tree.Path(name))
		for field, got := range map[string]string{
			"depends": strings.Join(mi.Depends, ","), "vermagic": mi.Vermagic, "name": mi.Name,
			"alias": strings.Join(mi.Aliases, "\n"), "softdep": strings.Join(mi.Softdeps, "\n"),
		} {
			out, err := exec.Command(modinfo, "-F", field, p).Output()
			if err != nil {
				t.Fatalf("modinfo -F %s %s: %v", field, p, err)
			}
			want := strings.TrimSpace(string(out))
			if field == "depends" {
				want = kmod.Normalize(want)
			}
			if want != strings.TrimSpace(got) {
				t.Errorf("%s %s: got %q, modinfo says %q", name, field, got, want)
			}
		}
	}
}

// BenchmarkResolve measures opening Debian's cloud tree and resolving the
// ide, virtio, ext2 and vfat targets from scratch (a new Tree each time,
// so the alias index is rebuilt: the cost `create` pays once).
func BenchmarkResolve(b *testing.B) {
	for _, flavour := range []string{"cloud-amd64", "amd64"} {
		b.Run(flavour, func(b *testing.B) {
			k := debianTree(b, flavour)
			for b.Loop() {
				tree, err := kmod.Open(k.ModulesDir, k.Release)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := tree.Resolve([]string{"ide", "virtio", "ext2", "vfat"}, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkResolveWarm resolves on an open tree whose .modinfo reads are
// cached (a second image from the same kernel in one process).
func BenchmarkResolveWarm(b *testing.B) {
	k := debianTree(b, "cloud-amd64")
	tree, err := kmod.Open(k.ModulesDir, k.Release)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := tree.Resolve([]string{"ide"}, nil); err != nil { // reads every .modinfo once
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := tree.Resolve([]string{"ide", "virtio", "ext2", "vfat"}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// TestOracleCompressedModules recompresses the modules of the cloud
// tree's targets as `make modules_install` does (CONFIG_MODULE_COMPRESS_XZ:
// xz --check=crc32 --lzma2=dict=1MiB; _ZSTD: zstd), alternating, and
// compares the closures with modprobe's on the same files.
func TestOracleCompressedModules(t *testing.T) {
	modprobe := testutil.RequireTool(t, "modprobe", "kmod")
	xzTool := testutil.RequireTool(t, "xz", "xz-utils")
	zstdTool := testutil.RequireTool(t, "zstd", "zstd")
	k := debianTree(t, "cloud-amd64")
	orig, err := kmod.Open(k.ModulesDir, k.Release)
	if err != nil {
		t.Fatal(err)
	}
	c, err := orig.Resolve([]string{"ide", "virtio", "vfat"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	depmod := testutil.RequireTool(t, "depmod", "kmod")
	root := t.TempDir()
	dst := filepath.Join(root, "lib", "modules")
	os.MkdirAll(dst, 0o755)
	if out, err := exec.Command("cp", "-al", k.ModulesDir, dst).CombinedOutput(); err != nil {
		t.Logf("cp -al failed (%v: %s); copying", err, out)
		testutil.Run(t, "cp", "-a", k.ModulesDir, dst)
	}
	dir := filepath.Join(dst, k.Release)
	for i, m := range c.Load() {
		p := filepath.Join(dir, m.Path)
		if i%2 == 0 {
			testutil.Run(t, xzTool, "--check=crc32", "--lzma2=dict=1MiB", "-f", p) // replaces the link with p.xz
		} else {
			testutil.Run(t, zstdTool, "-q", "--rm", "-f", p)
		}
	}
	testutil.Run(t, depmod, "-b", root, k.Release)
	tree, err := kmod.Open(dir, k.Release)
	if err != nil {
		t.Fatal(err)
	}
	compared := 0
	for _, tg := range []string{"ide", "virtio", "vfat"} {
		for _, name := range kmod.TargetModules(tg) {
			want, _, merr := showDepends(t, modprobe, root, k.Release, name)
			if merr != nil {
				t.Fatalf("modprobe %s: %v", name, merr)
			}
			got, err := tree.Resolve(nil, []string{name})
			if err != nil {
				t.Fatal(err)
			}
			var paths []string
			for _, m := range got.Load() {
				paths = append(paths, m.Path)
				if kmod.Compression(m.Path) == "" {
					t.Errorf("%s: %s not the recompressed file", name, m.Path)
				}
			}
			if strings.Join(sorted(paths), " ") != strings.Join(sorted(want), " ") {
				t.Errorf("%s: we load %v, modprobe %v", name, paths, want)
			}
			compared++
		}
	}
	t.Logf("%d compressed modules (.ko.xz/.ko.zst); %d names compared with modprobe", len(c.Load()), compared)
}
