package kernel

import (
	"bytes"
	"compress/gzip"
	"debug/pe"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/minidisk/minidisk/kmod"
)

const (
	maxDecompressed = 128 << 20 // a 6.x distribution vmlinux is ~60 MB
	maxConfig       = 4 << 20
)

// Info is what Inspect learned about a bzImage.
type Info struct {
	Size            int64
	Protocol        uint16 // boot protocol, e.g. 0x020F for 2.15
	SetupSects      int    // 512-byte sectors of real-mode setup after the boot sector
	LoadFlags       byte
	LoadedHigh      bool   // loadflags bit 0: a bzImage (protected-mode code at 1 MiB)
	Version         string // e.g. "6.1.158 (minidisk@minidisk) #1 ..."; "" if absent
	EFIStub         bool   // has a PE/COFF header for x86-64, so firmware can run it
	PEMachine       uint16 // COFF machine, 0x8664 for x86-64; 0 without a PE header
	PayloadOffset   int64  // absolute file offset of the compressed kernel
	PayloadLength   int64
	Compression     string // gzip, xz, zstd, lzma, bzip2, lz4 (all read), lzo or unknown
	DecompressError string // why the payload could not be (fully) decompressed
	// Config is the embedded .config (CONFIG_IKCONFIG), without the CONFIG_
	// prefix; nil when the kernel has none.
	Config Config

	image []byte // decompressed vmlinux (possibly truncated), for evidence strings
}

// InspectFile inspects the bzImage at path; errors name the file.
func InspectFile(path string) (*Info, error) { return inspectFile(path, Inspect) }

// InspectHeaderFile is InspectHeader on a file.
func InspectHeaderFile(path string) (*Info, error) { return inspectFile(path, InspectHeader) }

func inspectFile(path string, inspect func(io.ReaderAt, int64) (*Info, error)) (*Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	info, err := inspect(f, fi.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return info, nil
}

// Inspect reads the boot-protocol header of a bzImage and, when it can,
// decompresses the kernel payload to look for an embedded config and for
// built-in driver names. Malformed input gives an error, never a panic.
func Inspect(r io.ReaderAt, size int64) (*Info, error) {
	info, err := InspectHeader(r, size)
	if err != nil || info.DecompressError != "" {
		return info, err
	}
	payload := io.NewSectionReader(r, info.PayloadOffset, info.PayloadLength)
	img, err := decompress(info.Compression, payload)
	if err != nil {
		info.DecompressError = err.Error()
	}
	info.image = img
	info.Config = embeddedConfig(img)
	return info, nil
}

// InspectHeader reads only the boot-protocol header (version, EFI stub,
// where the payload is and how it is compressed): what a boot loader needs
// to accept the file. It reads a few KiB, where decompressing an xz kernel
// takes a third of a second, so input validation uses this.
func InspectHeader(r io.ReaderAt, size int64) (*Info, error) {
	const hint = "; give --kernel the arch/x86/boot/bzImage file"
	hdr := make([]byte, max(0, min(size, SetupHeaderEnd)))
	if n, err := r.ReadAt(hdr, 0); n < len(hdr) {
		return nil, fmt.Errorf("cannot read the boot header: %w", err)
	}
	if bytes.HasPrefix(hdr, []byte("\x7fELF")) {
		return nil, errors.New("an ELF file (vmlinux?), not a bzImage: boot loaders need the compressed arch/x86/boot/bzImage")
	}
	sh, err := ParseSetupHeader(hdr)
	if err != nil {
		return nil, fmt.Errorf("%w%s", err, hint)
	}
	info := &Info{Size: size}
	info.Protocol = sh.Protocol
	info.SetupSects = sh.SetupSects
	info.LoadFlags = sh.LoadFlags
	info.LoadedHigh = info.LoadFlags&1 != 0
	if info.Protocol < 0x0200 {
		return nil, fmt.Errorf("boot protocol %d.%02d is older than 2.00 (a 1990s zImage)%s", info.Protocol>>8, info.Protocol&0xFF, hint)
	}
	info.Version = sh.ReadVersion(r, size)
	info.PEMachine = peMachine(r, size)
	info.EFIStub = info.PEMachine == 0x8664
	if info.Protocol < 0x0208 {
		info.Compression = "unknown"
		info.DecompressError = "boot protocol before 2.08 does not locate the payload"
		return info, nil
	}
	info.PayloadOffset = sh.ProtectedModeOffset() + int64(sh.PayloadOffset)
	info.PayloadLength = int64(sh.PayloadLength)
	if info.PayloadLength == 0 || info.PayloadOffset+info.PayloadLength > size {
		info.Compression = "unknown"
		info.DecompressError = fmt.Sprintf("payload (offset %d, length %d) lies outside the %d-byte file: truncated?", info.PayloadOffset, info.PayloadLength, size)
		return info, nil
	}
	payload := io.NewSectionReader(r, info.PayloadOffset, info.PayloadLength)
	magic := make([]byte, 6)
	n, _ := payload.ReadAt(magic, 0)
	info.Compression = compressionOf(magic[:n])
	return info, nil
}

// readCString reads a NUL-terminated printable string at off.
func readCString(r io.ReaderAt, off, size int64, max int) string {
	if off < 0 || off >= size {
		return ""
	}
	if rem := size - off; rem < int64(max) {
		max = int(rem)
	}
	b := make([]byte, max)
	n, _ := r.ReadAt(b, off)
	b = b[:n]
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return ""
		}
	}
	return string(b)
}

// peMachine returns the COFF machine of an "MZ" file with a PE header (the
// EFI stub puts both in front of the boot sector's fields), or 0. debug/pe
// reads the MZ header's pointer to the PE header: efi/uki owns this
// project's PE parser, but it imports kernel for the setup header, so
// kernel cannot import it.
func peMachine(r io.ReaderAt, size int64) uint16 {
	mz := make([]byte, 2)
	if _, err := r.ReadAt(mz, 0); err != nil || string(mz) != "MZ" {
		return 0
	}
	f, err := pe.NewFile(io.NewSectionReader(r, 0, size))
	if err != nil {
		return 0
	}
	return f.Machine
}

func compressionOf(m []byte) string {
	switch {
	case bytes.HasPrefix(m, []byte{0x1f, 0x8b}):
		return "gzip"
	case bytes.HasPrefix(m, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return "xz"
	case bytes.HasPrefix(m, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return "zstd"
	case bytes.HasPrefix(m, []byte{0x5d, 0, 0}):
		return "lzma"
	case bytes.HasPrefix(m, []byte("BZh")):
		return "bzip2"
	case bytes.HasPrefix(m, []byte{0x02, 0x21, 0x4c, 0x18}):
		return "lz4"
	case bytes.HasPrefix(m, []byte{0x89, 'L', 'Z', 'O'}):
		return "lzo"
	}
	return "unknown"
}

// embeddedConfig finds CONFIG_IKCONFIG's gzip'd .config, which
// kernel/configs.c brackets with "IKCFG_ST" and "IKCFG_ED".
func embeddedConfig(img []byte) Config {
	i := bytes.Index(img, []byte("IKCFG_ST"))
	if i < 0 {
		return nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(img[i+8:]))
	if err != nil {
		return nil
	}
	zr.Multistream(false)
	cfg, _ := io.ReadAll(io.LimitReader(zr, maxConfig))
	if len(cfg) == 0 {
		return nil
	}
	return Config(readConfig(cfg))
}

// feature says how to recognise one built-in capability: the config
// symbols that provide it, and byte strings from its code (message formats,
// driver names) that are in the kernel image only when it is built in (a
// module's strings live in its .ko). Bare names like "ext2" do not work:
// the linker merges string tails, so the filesystem name "ext2" is stored
// as the end of "...filesystem as ext2" and "devtmpfs" as the end of
// "kdevtmpfs" (seen in the 6.1 legacy build).
type feature struct {
	symbols []string
	markers []string
}

var features = map[string]feature{
	// fs/ext2/super.c ext2_msg(): "%sEXT2-fs (%s): %pV\n"
	"ext2": {symbols: []string{"EXT2_FS", "EXT4_USE_FOR_EXT2"}, markers: []string{"EXT2-fs (", "EXT4-fs ("}},
	"ext4": {symbols: []string{"EXT4_FS"}, markers: []string{"EXT4-fs ("}},
	// drivers/ata/ata_piix.c DRV_NAME, the pci_driver name.
	"ata_piix": {symbols: []string{"ATA_PIIX"}, markers: []string{"ata_piix\x00"}},
	// drivers/ata/libahci.c ahci_print_info(): "AHCI %02x%02x.%02x%02x ..."
	"ahci": {symbols: []string{"SATA_AHCI"}, markers: []string{"AHCI %02x%02x."}},
	"ata":  {symbols: []string{"ATA_PIIX", "SATA_AHCI"}, markers: []string{"ata_piix\x00", "AHCI %02x%02x."}},
	// drivers/base/devtmpfs.c devtmpfs_init(): "devtmpfs: initialized\n"
	"devtmpfs": {symbols: []string{"DEVTMPFS"}, markers: []string{"devtmpfs: initialized"}},
	// drivers/tty/serial/8250: the platform driver name.
	"serial": {symbols: []string{"SERIAL_8250_CONSOLE"}, markers: []string{"serial8250\x00"}},
	// fs/fat/misc.c fat_msg(): "%sFAT-fs (%s): %pV\n" (the FAT core under vfat)
	"vfat": {symbols: []string{"VFAT_FS"}, markers: []string{"FAT-fs ("}},
}

// Vmlinux returns the decompressed kernel (the payload, up to 128 MiB; it
// may be truncated when DecompressError is set), or nil when the payload's
// format is not one Inspect reads. Callers must not modify it. doctor looks
// in it for an EFI kernel's built-in initramfs.
func (i *Info) Vmlinux() []byte { return i.image }

// Release is the kernel release, what uname -r prints: the first word of
// Version, by kmod.KernelRelease's rule (it names /lib/modules/RELEASE and
// /boot/config-RELEASE). "" without a version string.
func (i *Info) Release() string { return kmod.KernelRelease(i.Version) }

// Features lists the names Builtin understands.
func Features() []string {
	var out []string
	for k := range features {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Builtin reports whether the kernel has feature built in (see Features)
// and the evidence: the embedded config when there is one, else the
// driver's registered name found in the decompressed image.
func (i *Info) Builtin(name string) (bool, string) {
	f, ok := features[name]
	if !ok {
		return false, fmt.Sprintf("unknown feature %q (known: %s)", name, strings.Join(Features(), ", "))
	}
	if i.Config != nil {
		for _, s := range f.symbols {
			if i.Config[s] == "y" {
				return true, fmt.Sprintf("CONFIG_%s=y in the embedded config", s)
			}
		}
		var states []string
		for _, s := range f.symbols {
			v := i.Config[s]
			if v == "" {
				v = "unset"
			}
			states = append(states, fmt.Sprintf("CONFIG_%s=%s", s, v))
		}
		return false, strings.Join(states, ", ") + " in the embedded config (m means a module, which this image cannot load before its root is mounted)"
	}
	if i.image == nil {
		return false, "unknown: kernel payload not decompressed (" + i.DecompressError + ")"
	}
	for _, m := range f.markers {
		if off := bytes.Index(i.image, []byte(m)); off >= 0 {
			return true, fmt.Sprintf("string %q at offset 0x%x of the decompressed kernel", strings.TrimSuffix(m, "\x00"), off)
		}
	}
	var quoted []string
	for _, m := range f.markers {
		quoted = append(quoted, fmt.Sprintf("%q", strings.TrimSuffix(m, "\x00")))
	}
	ev := fmt.Sprintf("none of %s in the %d-byte decompressed kernel", strings.Join(quoted, ", "), len(i.image))
	if i.DecompressError != "" {
		ev += " (" + i.DecompressError + ")"
	}
	return false, ev
}
