package doctor

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkDiagnose4GiB diagnoses a sparse 4 GiB image whose partition is
// filled by an ext2 of the full block count (mke2fs directly on the image
// at the partition offset), with GRUB installed: doctor reads metadata only,
// so this should take well under a second.
func BenchmarkDiagnose4GiB(b *testing.B) {
	requireHostTools(b)
	requireGRUB(b)
	dir := b.TempDir()
	st := filepath.Join(dir, "st")
	stageRoot(b, st, legacySpec{})
	img := filepath.Join(dir, "4g.img")
	must(b, os.WriteFile(img, nil, 0o644))
	must(b, os.Truncate(img, 4<<30))
	sfdisk(b, img, "start=2048, type=83, bootable")
	start, sectors := partitionOf(b, img, 1)
	blocks := sectors / 2 / 4 * 4
	run(b, "mke2fs", "-q", "-F", "-t", "ext2", "-b", "1024", "-I", "128", "-E", "offset="+strconv.FormatInt(start*512, 10)+",root_owner=0:0", "-d", st, img, strconv.FormatInt(blocks, 10))
	grubSetup(b, img, "root (hd0,0)", "setup (hd0)")
	f, err := os.Open(img)
	must(b, err)
	defer f.Close()
	rep := Diagnose(f, 4<<30, Options{Name: "4g.img"})
	if rep.FS == nil || rep.FS.Blocks != uint64(blocks) || rep.Has("grub-ok") == nil || rep.Has("init-ok") == nil {
		b.Fatalf("unexpected report:\n%s", dump(rep))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Diagnose(f, 4<<30, Options{Name: "4g.img"})
	}
}

// corpusDir keeps the corpus images TestCorpusBootsAsDoctorSays built, for
// BenchmarkDiagnoseCorpus.
func corpusDir() string {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "minidisk", "doctor-corpus")
}

// BenchmarkDiagnoseCorpus diagnoses each image of the boot corpus (made and
// kept by TestCorpusBootsAsDoctorSays): milliseconds each, and no kernel
// decompression where a config-VERSION file answers.
func BenchmarkDiagnoseCorpus(b *testing.B) {
	imgs, _ := filepath.Glob(filepath.Join(corpusDir(), "*.img"))
	if len(imgs) == 0 {
		b.Skip("no corpus images: run TestCorpusBootsAsDoctorSays first")
	}
	for _, img := range imgs {
		b.Run(filepath.Base(img), func(b *testing.B) {
			f, err := os.Open(img)
			must(b, err)
			defer f.Close()
			fi, err := f.Stat()
			must(b, err)
			for i := 0; i < b.N; i++ {
				Diagnose(f, fi.Size(), Options{Name: filepath.Base(img)})
			}
		})
	}
}
