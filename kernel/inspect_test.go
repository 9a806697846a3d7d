package kernel

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/minidisk/minidisk/internal/testutil"
)

// fakeBzImage lays out a bzImage the way arch/x86/boot/header.S does:
// boot sector + setup sectors, then protected-mode code whose payload is
// located by payload_offset/payload_length (plus the 4-byte size trailer
// the kernel appends after the compressed stream).
func fakeBzImage(t testing.TB, payload []byte, version string) []byte {
	const setupSects = 3
	pm := (setupSects + 1) * 512
	img := make([]byte, pm+64+len(payload)+4)
	img[OffSetupSects] = setupSects
	img[OffBootFlag], img[OffBootFlag+1] = 0x55, 0xAA
	copy(img[OffHeader:], "HdrS")
	binary.LittleEndian.PutUint16(img[OffVersion:], 0x020F)
	img[OffLoadFlags] = 1
	copy(img[0x300:], version+"\x00")
	binary.LittleEndian.PutUint16(img[OffKernelVersion:], 0x300-0x200)
	binary.LittleEndian.PutUint32(img[OffPayloadOffset:], 64)
	binary.LittleEndian.PutUint32(img[OffPayloadLength:], uint32(len(payload)+4))
	copy(img[pm+64:], payload)
	return img
}

func gzipBytes(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// vmlinuxWith is a stand-in decompressed kernel: driver names as the
// kernel's .rodata holds them (NUL-terminated strings).
var vmlinuxWith = []byte("\x7fELF....\x00ata_piix\x00\x013EXT2-fs (%s): error\x00serial8250\x00more code")

func TestInspectGzipPayloadEvidence(t *testing.T) {
	img := fakeBzImage(t, gzipBytes(t, vmlinuxWith), "6.1.0-test (x@y) #1")
	info, err := Inspect(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	if info.Protocol != 0x020F || info.Version != "6.1.0-test (x@y) #1" || info.Compression != "gzip" || info.DecompressError != "" || info.EFIStub {
		t.Fatalf("info = %+v", info)
	}
	for _, f := range []string{"ext2", "ata_piix", "ata", "serial"} {
		if ok, ev := info.Builtin(f); !ok {
			t.Errorf("Builtin(%s) = false (%s), want true", f, ev)
		}
	}
	for _, f := range []string{"ahci", "vfat", "devtmpfs"} {
		if ok, ev := info.Builtin(f); ok {
			t.Errorf("Builtin(%s) = true (%s), want false", f, ev)
		}
	}
}

func TestInspectZstdPayloadWithEmbeddedConfig(t *testing.T) {
	cfg := gzipBytes(t, []byte("CONFIG_EXT2_FS=y\n# CONFIG_ATA_PIIX is not set\nCONFIG_SATA_AHCI=m\n"))
	vmlinux := append(append([]byte("code\x00ata_piix\x00AHCI %02x%02x.%02x\x00IKCFG_ST"), cfg...), "IKCFG_ED"...)
	enc, _ := zstd.NewWriter(nil)
	img := fakeBzImage(t, enc.EncodeAll(vmlinux, nil), "6.1")
	info, err := Inspect(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	if info.Compression != "zstd" || info.Config == nil {
		t.Fatalf("info = %+v", info)
	}
	if ok, ev := info.Builtin("ext2"); !ok || !strings.Contains(ev, "CONFIG_EXT2_FS=y") {
		t.Errorf("ext2: %v %s", ok, ev)
	}
	// The config wins over the stray string: ata_piix is off.
	if ok, ev := info.Builtin("ata"); ok || !strings.Contains(ev, "CONFIG_SATA_AHCI=m") {
		t.Errorf("ata: %v %s", ok, ev)
	}
}

func TestInspectRejects(t *testing.T) {
	good := fakeBzImage(t, gzipBytes(t, vmlinuxWith), "6.1")
	noHdrS := append([]byte(nil), good...)
	copy(noHdrS[OffHeader:], "XXXX")
	noFlag := append([]byte(nil), good...)
	noFlag[OffBootFlag] = 0
	elf := append([]byte("\x7fELF"), make([]byte, 1000)...)
	for name, c := range map[string]struct {
		data []byte
		want string
	}{
		"short":   {good[:100], "only 100 bytes"},
		"no HdrS": {noHdrS, `no "HdrS" header at 0x202); give --kernel the arch/x86/boot/bzImage file`},
		"no 55AA": {noFlag, "not 55AA"},
		"elf":     {elf, "ELF file"},
	} {
		_, err := Inspect(bytes.NewReader(c.data), int64(len(c.data)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", name, err, c.want)
		}
	}
	// A truncated file is still a bzImage, with the payload reported missing.
	info, err := Inspect(bytes.NewReader(good[:len(good)-10]), int64(len(good)-10))
	if err != nil || info.DecompressError == "" {
		t.Errorf("truncated: %v %+v", err, info)
	}
}

// TestDecompressXZMatchesXzTool checks the xz reader (container + LZMA2 +
// x86 BCJ) against xz(1) compressing real x86-64 code the way the kernel's
// scripts/xz_wrap.sh does.
func TestDecompressXZMatchesXzTool(t *testing.T) {
	xzTool := testutil.RequireTool(t, "xz", "xz-utils")
	orig, err := os.ReadFile("/bin/busybox")
	if err != nil {
		orig, err = os.ReadFile("/bin/ls")
		if err != nil {
			t.Skip("no x86 binary to compress")
		}
	}
	for _, args := range [][]string{
		{"--check=crc32", "--x86", "--lzma2=dict=1MiB"},
		{"--check=crc32", "--lzma2=dict=1MiB"},
		{"--check=crc32", "--x86=start=4096", "--lzma2=dict=1MiB"},
	} {
		cmd := exec.Command(xzTool, append(args, "-c")...)
		cmd.Stdin = bytes.NewReader(orig)
		comp, err := cmd.Output()
		if err != nil {
			t.Fatalf("xz %v: %v", args, err)
		}
		got, err := decompressXZ(bytes.NewReader(comp))
		if err != nil {
			t.Fatalf("xz %v: %v", args, err)
		}
		if !bytes.Equal(got, orig) {
			t.Errorf("xz %v: decompressed %d bytes differ from the %d-byte original", args, len(got), len(orig))
		}
	}
}

func FuzzInspect(f *testing.F) {
	f.Add(fakeBzImage(f, gzipBytes(f, vmlinuxWith), "6.1"))
	enc, _ := zstd.NewWriter(nil)
	f.Add(fakeBzImage(f, enc.EncodeAll(vmlinuxWith, nil), "6.1"))
	f.Add(fakeBzImage(f, []byte{0xfd, '7', 'z', 'X', 'Z', 0, 0, 4, 0xe6, 0xd6, 0xb4, 0x46, 2, 1, 4, 0, 0x21, 1, 0x16, 0, 0, 0, 0, 0}, "6.1"))
	f.Add([]byte("MZ"))
	// lz4 legacy, bzip2 and lzma stream starts (the decoders see hostile
	// sizes and tables).
	f.Add(fakeBzImage(f, []byte{0x02, 0x21, 0x4c, 0x18, 0x10, 0, 0, 0, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, "6.1"))
	f.Add(fakeBzImage(f, []byte("BZh91AY&SY\x00\x00\x00\x00"), "6.1"))
	f.Add(fakeBzImage(f, []byte{0x5d, 0, 0, 0x80, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 1, 2, 3}, "6.1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := Inspect(bytes.NewReader(data), int64(len(data)))
		if err == nil {
			for _, feat := range Features() {
				info.Builtin(feat)
			}
		}
	})
}

// TestReadConfig: the lines of a .config that carry a setting, and those
// that do not (comments, blanks, a CRLF file, no final newline).
func TestReadConfig(t *testing.T) {
	text := "#\n# Automatically generated file; DO NOT EDIT.\n#\nCONFIG_EXT2_FS=y\r\n" +
		"# CONFIG_MODULES is not set\nCONFIG_LOCALVERSION=\"-mini\"\n\n# CONFIG_ X is not set\n" +
		"CONFIG_NR_CPUS=8\nCONFIG_=y\nNOT_CONFIG=y\nCONFIG_LAST=m"
	want := map[string]string{"EXT2_FS": "y", "MODULES": "n", "LOCALVERSION": `"-mini"`, "NR_CPUS": "8", "LAST": "m"}
	got := readConfig([]byte(text))
	if len(got) != len(want) {
		t.Errorf("readConfig: %d settings %v, want %d %v", len(got), got, len(want), want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("readConfig: %s = %q, want %q", k, got[k], v)
		}
	}
}

// TestReadConfigFileSeesChanges: a second read of an unchanged file gives
// the same settings; a rewritten file (other size) is read again.
func TestReadConfigFileSeesChanges(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(p, []byte("CONFIG_EXT2_FS=y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		cfg, err := ReadConfigFile(p)
		if err != nil || cfg.State("EXT2_FS") != "y" {
			t.Fatalf("ReadConfigFile = %v, %v", cfg, err)
		}
	}
	if err := os.WriteFile(p, []byte("CONFIG_EXT2_FS=m\nCONFIG_EXT4_FS=y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := ReadConfigFile(p)
	if err != nil || cfg.State("EXT2_FS") != "m" || cfg.State("EXT4_FS") != "y" {
		t.Fatalf("after rewriting: ReadConfigFile = %v, %v", cfg, err)
	}
}

// TestInspectLyingSizeTrailer: the 4-byte decompressed-size trailer after
// the stream is the image's claim, not a fact. A 100-odd-byte gzip payload
// claiming 128 MiB must not get a 128 MiB buffer (it did: the buffer was
// allocated at the trailer's size up front); it still decompresses to
// exactly what gzip encoded. Measured in bytes allocated, not time.
func TestInspectLyingSizeTrailer(t *testing.T) {
	img := fakeBzImage(t, gzipBytes(t, vmlinuxWith), "6.1")
	binary.LittleEndian.PutUint32(img[len(img)-4:], maxDecompressed)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	info, err := Inspect(bytes.NewReader(img), int64(len(img)))
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(info.image, vmlinuxWith) {
		t.Fatalf("decompressed %d bytes, want the %d gzip encoded (error %q)", len(info.image), len(vmlinuxWith), info.DecompressError)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 4<<20 {
		t.Fatalf("Inspect allocated %d bytes for a %d-byte kernel whose trailer claims %d", got, len(img), maxDecompressed)
	}
}

// TestInspectTrailerBeyondTrust: a true trailer on a payload that expands
// more than trailerTrust times (16 MiB of zeros gzip to ~16 KiB) is
// reached by growing the buffer as the stream fills it, and the stream's
// end at exactly the trailer's size is still found.
func TestInspectTrailerBeyondTrust(t *testing.T) {
	vmlinux := make([]byte, 16<<20)
	copy(vmlinux, vmlinuxWith)
	copy(vmlinux[len(vmlinux)-len(vmlinuxWith):], vmlinuxWith)
	payload := gzipBytes(t, vmlinux)
	if int64(len(vmlinux)) <= int64(len(payload)+4)*trailerTrust {
		t.Fatalf("the payload (%d bytes) is not compressed beyond trust", len(payload))
	}
	img := fakeBzImage(t, payload, "6.1")
	binary.LittleEndian.PutUint32(img[len(img)-4:], uint32(len(vmlinux)))
	info, err := Inspect(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	if info.DecompressError != "" || !bytes.Equal(info.image, vmlinux) {
		t.Fatalf("decompressed %d bytes (error %q), want the %d gzip encoded", len(info.image), info.DecompressError, len(vmlinux))
	}
}
