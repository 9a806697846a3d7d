package kernel

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
)

// The commands arch/x86/boot/compressed/Makefile and scripts/Makefile.lib
// run for each CONFIG_KERNEL_* choice; each output is followed by
// $(size_append), the decompressed size as 32-bit little endian.
//
// shortArgs, used with -short, keep what the decoder must handle (the
// container, BCJ, zstd's 2^27 window of a stream of unknown size) at a
// fraction of the compression time on a busy machine.
var kernelCompressors = []struct {
	kind, tool, pkg string
	args, shortArgs []string
}{
	{"gzip", "gzip", "gzip", []string{"-n", "-9", "-c"}, nil},
	{"bzip2", "bzip2", "bzip2", []string{"-9", "-c"}, nil},
	{"lzma", "lzma", "xz-utils", []string{"-9", "-c"}, []string{"-1", "-c"}},
	{"xz", "xz", "xz-utils", []string{"--check=crc32", "--x86", "--lzma2=,dict=32MiB", "-c"}, []string{"--check=crc32", "--x86", "--lzma2=preset=1,dict=1MiB", "-c"}},
	{"lz4", "lz4", "lz4", []string{"-l", "-9", "-c"}, nil},
	{"zstd", "zstd", "zstd", []string{"-22", "--ultra", "-c"}, []string{"-3", "--zstd=wlog=27", "-c"}},
}

// standInVmlinux is real x86-64 code (so the xz BCJ filter has calls to
// convert) with a CONFIG_IKCONFIG block in the middle, as kernel/configs.c
// brackets it, and driver strings after it.
func standInVmlinux(t *testing.T, size int) []byte {
	code, err := os.ReadFile("/bin/busybox")
	if err != nil {
		if code, err = os.ReadFile("/bin/ls"); err != nil {
			t.Skip("no x86 binary to use as kernel code")
		}
	}
	cfg := gzipBytes(t, []byte("CONFIG_EXT4_FS=y\nCONFIG_ATA_PIIX=m\n# CONFIG_SATA_AHCI is not set\nCONFIG_LOCALVERSION=\"-test\"\n"))
	var b bytes.Buffer
	b.Write(code[:len(code)/2])
	b.WriteString("IKCFG_ST")
	b.Write(cfg)
	b.WriteString("IKCFG_ED")
	b.Write(code[len(code)/2:])
	b.WriteString("\x00ata_piix\x00")
	for b.Len() < size {
		b.Write(code[:min(len(code), size-b.Len())])
	}
	return b.Bytes()
}

// hostCompressed runs a host compressor and appends the kernel's size
// trailer.
func hostCompressed(t *testing.T, tool string, args []string, data []byte) []byte {
	cmd := exec.Command(tool, args...)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v", tool, args, err)
	}
	return binary.LittleEndian.AppendUint32(out, uint32(len(data)))
}

// bzImageAround wraps a payload (stream + trailer) in a boot header.
func bzImageAround(payload []byte) []byte {
	img := fakeBzImage(nil, payload[:len(payload)-4], "6.1.0-test (t@t) #1")
	copy(img[len(img)-4:], payload[len(payload)-4:])
	return img
}

// TestInspectEveryKernelCompression decodes payloads made by the host's
// compressors the way the kernel's build makes them: every byte matches,
// the embedded config is found by Inspect and by the streaming
// InspectConfig, and a cut payload is reported, not fatal.
func TestInspectEveryKernelCompression(t *testing.T) {
	for _, c := range kernelCompressors {
		t.Run(c.kind, func(t *testing.T) {
			size := 1 << 20
			if c.kind == "lz4" {
				size = 9 << 20 // past one 8 MiB legacy block: block boundaries are crossed
			}
			vmlinux := standInVmlinux(t, size)
			tool := testutil.RequireTool(t, c.tool, c.pkg)
			args := c.args
			if testing.Short() && c.shortArgs != nil {
				args = c.shortArgs
			}
			img := bzImageAround(hostCompressed(t, tool, args, vmlinux))
			info, err := Inspect(bytes.NewReader(img), int64(len(img)))
			if err != nil {
				t.Fatal(err)
			}
			if info.Compression != c.kind || info.DecompressError != "" {
				t.Fatalf("compression %s, error %q", info.Compression, info.DecompressError)
			}
			if !bytes.Equal(info.Vmlinux(), vmlinux) {
				t.Fatalf("decompressed %d bytes differ from the %d-byte original", len(info.Vmlinux()), len(vmlinux))
			}
			if info.Config.State("CONFIG_ATA_PIIX") != "m" || info.Config.State("EXT4_FS") != "y" || info.Config.State("SATA_AHCI") != "n" || info.Config.State("NVME") != "" {
				t.Errorf("config %v", info.Config)
			}
			ci, err := InspectConfig(bytes.NewReader(img), int64(len(img)))
			if err != nil || ci.DecompressError != "" || ci.Config.State("LOCALVERSION") != `"-test"` {
				t.Errorf("InspectConfig: %v %q %v", err, ci.DecompressError, ci.Config)
			}
			cut := img[:len(img)-len(img)/3]
			// The header still claims the whole payload: a truncated file.
			ti, err := Inspect(bytes.NewReader(cut), int64(len(cut)))
			if err != nil || ti.DecompressError == "" {
				t.Errorf("truncated file: %v %q", err, ti.DecompressError)
			}
		})
	}
}

// TestInspectDebianLZ4Kernel reads Debian's cloud kernel (lz4) whole and
// its config both ways: from the file beside it and by asking for it.
func TestInspectDebianLZ4Kernel(t *testing.T) {
	path := debianKernelFile(t, "cloud-amd64")
	info, err := InspectFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Compression != "lz4" || info.DecompressError != "" {
		t.Fatalf("%s: compression %s, error %q", path, info.Compression, info.DecompressError)
	}
	rel := strings.Fields(info.Version)[0]
	// init/version.c's linux_banner is in every vmlinux.
	if !bytes.Contains(info.Vmlinux(), []byte("Linux version "+rel+" ")) {
		t.Errorf("no linux_banner for %s in the %d decompressed bytes", rel, len(info.Vmlinux()))
	}
	cfg, src, err := ConfigFor(path)
	if err != nil || src != filepath.Join(filepath.Dir(path), "config-"+rel) {
		t.Fatalf("ConfigFor: %v from %q", err, src)
	}
	// Debian's cloud config (checked by hand in its boot/config file).
	for sym, want := range map[string]string{"ATA_PIIX": "m", "EXT4_USE_FOR_EXT2": "y", "SATA_AHCI": "n", "KERNEL_LZ4": "y", "IKCONFIG": "n"} {
		if got := cfg.State(sym); got != want {
			t.Errorf("CONFIG_%s = %q, want %q", sym, got, want)
		}
	}
	// Without CONFIG_IKCONFIG there is nothing embedded: the stream is
	// read to its end and no config invented.
	f, _ := os.Open(path)
	defer f.Close()
	ci, err := InspectConfig(f, info.Size)
	if err != nil || ci.Config != nil || ci.DecompressError != "" {
		t.Errorf("InspectConfig on a kernel without IKCONFIG: %v %v %q", err, ci.Config != nil, ci.DecompressError)
	}
}

// TestLZ4BlockAgainstHostTool checks the block decoder on what lz4(1)
// writes for data with long runs (overlapping matches of every offset up
// to 7) and incompressible stretches (literal runs over 15 bytes).
func TestLZ4BlockAgainstHostTool(t *testing.T) {
	tool := testutil.RequireTool(t, "lz4", "lz4")
	var b bytes.Buffer
	for period := 1; period <= 7; period++ {
		for i := 0; i < 5000; i++ {
			b.WriteByte(byte('a' + i%period))
		}
		for i := 0; i < 300; i++ {
			b.WriteByte(byte(i*i*7 + period)) // little repetition
		}
	}
	data := b.Bytes()
	for _, level := range []string{"-1", "-9"} {
		payload := hostCompressed(t, tool, []string{"-l", level, "-c"}, data)
		got, err := decompress("lz4", io.NewSectionReader(bytes.NewReader(payload), 0, int64(len(payload))))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("lz4 -l %s: %v, %d bytes (want %d)", level, err, len(got), len(data))
		}
	}
	for _, bad := range [][]byte{{0xf0}, {0x1f, 'a', 5, 0}, {0x00, 0, 0}, {0x10, 'a', 2, 0}} {
		dst := make([]byte, 64)
		if _, err := decodeLZ4Block(bad, dst); err == nil {
			t.Errorf("block %x accepted", bad)
		}
	}
}
