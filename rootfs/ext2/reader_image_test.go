package ext2

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReaderFindFilesystem(t *testing.T) {
	seed := seedImage(t, "reader-seed-1k.img.gz")
	dir := t.TempDir()
	bare := filepath.Join(dir, "bare:colon.img")
	must(t, os.WriteFile(bare, seed, 0o644))
	disk := filepath.Join(dir, "disk.img")
	writeMBRDiskImage(t, bare, disk)

	for _, c := range []struct {
		img  string
		want Location
	}{
		{bare, Location{Offset: 0, Size: int64(len(seed))}},
		{disk, Location{Offset: 2048 * 512, Size: int64(len(seed)), Partition: 1}},
	} {
		im, err := OpenImage(c.img)
		if err != nil {
			t.Fatalf("OpenImage(%s): %v", c.img, err)
		}
		if im.Location != c.want {
			t.Errorf("%s: location %+v, want %+v", c.img, im.Location, c.want)
		}
		var out bytes.Buffer
		must(t, im.Cat(&out, "/etc/hostname"))
		if out.String() != "minidisk\n" {
			t.Errorf("%s: cat /etc/hostname = %q", c.img, out.String())
		}
		out.Reset()
		ents, err := im.ReadDir(".")
		must(t, err)
		var got []string
		for _, e := range ents {
			got = append(got, e.Name())
		}
		if strings.Join(got, " ") != "bin dev etc hl lost+found" {
			t.Errorf("%s: ls / = %q", c.img, got)
		}
		if err := im.Cat(&out, "/bin"); err == nil || !strings.Contains(err.Error(), "/bin: not a regular file") {
			t.Errorf("cat of a directory: %v", err)
		}
		if err := im.Cat(&out, "nope/x"); err == nil || !strings.Contains(err.Error(), "/nope/x: file does not exist") {
			t.Errorf("cat of a missing file: %v", err)
		}
		im.Close()
	}

	// No Linux partition; no MBR and no ext2 magic; too short.
	noLinux, err := os.ReadFile(disk)
	must(t, err)
	noLinux[0x1BE+4] = 0x0C // FAT32 LBA
	must(t, os.WriteFile(filepath.Join(dir, "fat.img"), noLinux, 0o644))
	junk := bytes.Repeat([]byte{0x42}, 4096)
	must(t, os.WriteFile(filepath.Join(dir, "junk.img"), junk, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "short.img"), junk[:100], 0o644))
	pastEnd := bytes.Clone(noLinux[:1024])
	pastEnd[0x1BE+4] = 0x83
	binary.LittleEndian.PutUint32(pastEnd[0x1BE+8:], 4096)
	must(t, os.WriteFile(filepath.Join(dir, "cut.img"), pastEnd, 0o644))
	for name, want := range map[string]string{
		"fat.img":   "no Linux (type 0x83) partition",
		"junk.img":  "not a disk image or ext2 filesystem",
		"short.img": "too short for a disk image",
		"cut.img":   "beyond the image's end",
	} {
		_, err := OpenImage(filepath.Join(dir, name))
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v (want an error naming the file and %q)", name, err, want)
		}
	}
}

// TestReaderConcurrentUse reads one Reader from several goroutines (run
// with -race): the directory cache is the only shared mutable state.
func TestReaderConcurrentUse(t *testing.T) {
	seed := seedImage(t, "reader-seed-1k.img.gz")
	r, err := Open(bytes.NewReader(seed), 0, int64(len(seed)))
	must(t, err)
	want, err := r.ReadFile("bin/busybox")
	must(t, err)
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 50; i++ {
				got, err := r.ReadFile("bin/sh") // through the symlink and the cache
				if err == nil && !bytes.Equal(got, want) {
					err = os.ErrInvalid
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
