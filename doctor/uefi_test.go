package doctor

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minidisk/minidisk/efi"
	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel"
	"github.com/minidisk/minidisk/rootfs"
	"github.com/minidisk/minidisk/rootfs/cpio"
	"github.com/minidisk/minidisk/rootfs/fat"
)

// initramfsSpec says what the test initramfs holds.
type initramfsSpec struct {
	noInit, noConsole bool
	initMode          uint32
}

func makeInitramfs(t testing.TB, s initramfsSpec) []byte {
	tr := rootfs.New(time.Unix(1, 0))
	for _, d := range []string{"/bin", "/dev"} {
		must(t, tr.Mkdir(d, 0o755))
	}
	must(t, tr.AddBytes("/bin/sh", 0o755, []byte("\x7fELF stand-in")))
	if !s.noInit {
		mode := s.initMode
		if mode == 0 {
			mode = 0o755
		}
		must(t, tr.AddBytes("/init", mode, []byte("#!/bin/sh\nexec /bin/sh\n")))
	}
	if !s.noConsole {
		must(t, tr.Mknod("/dev/console", rootfs.TypeChar, 0o600, 5, 1))
	}
	var buf bytes.Buffer
	zw, err := cpio.Compress(&buf, cpio.Gzip)
	must(t, err)
	must(t, cpio.WriteTree(cpio.NewWriter(zw), tr))
	must(t, zw.Close())
	return buf.Bytes()
}

// fakeEFIKernel is a bzImage that is also a PE32+ EFI application (the
// EFI stub's header sits in the boot sector, below the setup header at
// 0x1F1), with a gzip payload whose "vmlinux" embeds the initramfs as
// CONFIG_INITRAMFS_SOURCE does.
func fakeEFIKernel(t testing.TB, initramfs []byte, machine uint16) []byte {
	vmlinux := append([]byte("\x7fELF....\x00serial8250\x00.init.ramfs:"), initramfs...)
	vmlinux = append(vmlinux, "\x00more kernel"...)
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(vmlinux)
	zw.Close()
	payload := z.Bytes()
	const setupSects = 3
	pm := (setupSects + 1) * 512
	img := make([]byte, pm+64+len(payload)+4)
	copy(img, "MZ")
	binary.LittleEndian.PutUint32(img[0x3C:], 0x80)
	copy(img[0x80:], "PE\x00\x00")
	le := binary.LittleEndian
	le.PutUint16(img[0x84:], machine)
	le.PutUint16(img[0x86:], 0)    // sections
	le.PutUint16(img[0x94:], 0xF0) // SizeOfOptionalHeader (PE32+)
	le.PutUint16(img[0x96:], 0x0206)
	oh := 0x98
	le.PutUint16(img[oh:], 0x20B)  // PE32+
	le.PutUint16(img[oh+68:], 10)  // Subsystem: EFI application
	le.PutUint32(img[oh+108:], 16) // NumberOfRvaAndSizes
	img[kernel.OffSetupSects] = setupSects
	img[kernel.OffBootFlag], img[kernel.OffBootFlag+1] = 0x55, 0xAA
	copy(img[kernel.OffHeader:], "HdrS")
	le.PutUint16(img[kernel.OffVersion:], 0x020F)
	img[kernel.OffLoadFlags] = 1
	copy(img[0x300:], "6.1.0-fake-efi (doctor@test) #1\x00")
	le.PutUint16(img[kernel.OffKernelVersion:], 0x300-0x200)
	le.PutUint32(img[kernel.OffPayloadOffset:], 64)
	le.PutUint32(img[kernel.OffPayloadLength:], uint32(len(payload)+4))
	copy(img[pm+64:], payload)
	return img
}

// makeEFIImage makes a GPT disk by hand: sfdisk (label gpt, an ESP from
// sector 2048), mkfs.vfat -F 32 at the offset, mmd/mcopy of the loader.
// espType is sfdisk's type ("U" = EFI System); loader nil: no BOOTX64.EFI.
func makeEFIImage(t *testing.T, espType string, loader []byte) string {
	testutil.RequireTool(t, "sfdisk", "fdisk")
	testutil.RequireTool(t, "mkfs.vfat", "dosfstools")
	testutil.RequireTool(t, "mcopy", "mtools")
	dir := t.TempDir()
	img := filepath.Join(dir, "efi.img")
	must(t, os.WriteFile(img, nil, 0o644))
	must(t, os.Truncate(img, 64<<20))
	sfdisk(t, img, "label: gpt\nstart=2048, size=126976, type="+espType)
	// -s 1: one-sector clusters, so 62 MiB has the 65525 clusters FAT32 needs.
	run(t, "mkfs.vfat", "-F", "32", "-s", "1", "-S", "512", "--offset=2048", img, "63488")
	if loader != nil {
		src := filepath.Join(dir, "BOOTX64.EFI")
		must(t, os.WriteFile(src, loader, 0o644))
		at := img + "@@1M"
		run(t, "mmd", "-i", at, "::EFI", "::EFI/BOOT")
		run(t, "mcopy", "-i", at, src, "::EFI/BOOT/BOOTX64.EFI")
	}
	return img
}

func TestUEFIImages(t *testing.T) {
	good := fakeEFIKernel(t, makeInitramfs(t, initramfsSpec{}), 0x8664)
	cases := []struct {
		name    string
		espType string
		loader  []byte
		id      ID
		sev     Severity
		ev      []string
		exit    int
	}{
		{"good", "U", good, "uefi-init-ok", OK, []string{"6.1.0-fake-efi"}, 0},
		{"no ESP type", "L", good, "uefi-esp-missing", Error, []string{"C12A7328"}, 1},
		{"no BOOTX64.EFI", "U", nil, "uefi-bootx64-missing", Error, []string{"ESP at sectors 2048..129023"}, 1},
		{"loader is not PE", "U", bytes.Repeat([]byte("text "), 1000), "uefi-bootx64-not-pe", Error, []string{"74 65 78 74"}, 1},
		{"i386 loader", "U", fakeEFIKernel(t, makeInitramfs(t, initramfsSpec{}), 0x14c), "uefi-bootx64-wrong-arch", Error, []string{"0x014c"}, 1},
		{"initramfs without /dev/console", "U", fakeEFIKernel(t, makeInitramfs(t, initramfsSpec{noConsole: true}), 0x8664), "console-missing", Error, []string{"initramfs"}, 1},
		{"initramfs without /init", "U", fakeEFIKernel(t, makeInitramfs(t, initramfsSpec{noInit: true}), 0x8664), "uefi-init-missing", Error, nil, 1},
		{"/init not executable", "U", fakeEFIKernel(t, makeInitramfs(t, initramfsSpec{initMode: 0o644}), 0x8664), "uefi-init-not-executable", Error, []string{"0644"}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			img := makeEFIImage(t, c.espType, c.loader)
			rep := diagnoseFile(t, img)
			if rep.Scheme != "gpt" {
				t.Fatalf("scheme %q", rep.Scheme)
			}
			f := want(t, rep, c.id, c.sev, c.ev...)
			if f.Area != AreaUEFI {
				t.Errorf("%s in area %s", c.id, f.Area)
			}
			if rep.ExitCode() != c.exit {
				t.Errorf("exit %d, want %d:\n%s", rep.ExitCode(), c.exit, dump(rep))
			}
		})
	}
}

// TestUEFIImageFromMinidiskEFI: the image `minidisk efi` writes (efi
// package) with the stand-in EFI kernel is clean.
func TestUEFIImageFromMinidiskEFI(t *testing.T) {
	if _, err := exec.LookPath("mcopy"); err != nil {
		testutil.Missing(t, "mtools not installed")
	}
	dir := t.TempDir()
	k := filepath.Join(dir, "bzImage")
	must(t, os.WriteFile(k, fakeEFIKernel(t, makeInitramfs(t, initramfsSpec{}), 0x8664), 0o644))
	img := filepath.Join(dir, "efi.img")
	if err := writeEFIImage(img, k); err != nil {
		if strings.Contains(err.Error(), "not implemented") {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	rep := diagnoseFile(t, img)
	if rep.ExitCode() != 0 || rep.Warnings() != 0 {
		t.Fatalf("exit %d:\n%s", rep.ExitCode(), dump(rep))
	}
	want(t, rep, "uefi-bootx64-ok", OK)
	want(t, rep, "uefi-init-ok", OK)
	want(t, rep, "console-ok", OK)
}

func writeEFIImage(out, kernelPath string) error {
	_, err := efi.WriteImage(out, false, kernelPath, efi.DefaultImageSize, time.Unix(1, 0))
	return err
}

// makeSmallFATESP makes a GPT disk whose ESP mkfs.vfat formats as FAT12 or
// FAT16 (firmware reads both, UEFI 2.10 §13.3.1.1), with the loader copied
// to loaderPath (mtools' name, any case) when it is not nil.
func makeSmallFATESP(t *testing.T, fatBits int, loaderPath string, loader []byte) string {
	testutil.RequireTool(t, "sfdisk", "fdisk")
	testutil.RequireTool(t, "mkfs.vfat", "dosfstools")
	testutil.RequireTool(t, "mcopy", "mtools")
	dir := t.TempDir()
	img := filepath.Join(dir, "efi.img")
	must(t, os.WriteFile(img, nil, 0o644))
	must(t, os.Truncate(img, 64<<20))
	sfdisk(t, img, "label: gpt\nstart=2048, size=126976, type=U")
	// 62 MiB: 2 KiB clusters make ~31700 (FAT16), 16 KiB ones ~3960 (FAT12,
	// below 4085).
	spc := map[int]string{16: "4", 12: "32"}[fatBits]
	run(t, "mkfs.vfat", "-F", strconv.Itoa(fatBits), "-s", spc, "-S", "512", "--offset=2048", img, "63488")
	at := img + "@@1M"
	run(t, "minfo", "-i", at, "::") // mtools reads what mkfs.vfat made
	if loader != nil {
		src := filepath.Join(dir, "loader.efi")
		must(t, os.WriteFile(src, loader, 0o644))
		run(t, "mmd", "-i", at, "::"+path.Dir(path.Dir(loaderPath)), "::"+path.Dir(loaderPath))
		run(t, "mcopy", "-i", at, src, "::"+loaderPath)
	}
	return img
}

// A FAT16 or FAT12 ESP is read like a FAT32 one: its BOOTX64.EFI is found
// (ignoring case, as firmware does) and checked, and a missing one is an
// error. QEMU with OVMF boots such an image and fails without the loader
// (the corpus has both).
func TestUEFISmallFATESP(t *testing.T) {
	good := fakeEFIKernel(t, makeInitramfs(t, initramfsSpec{}), 0x8664)
	for _, c := range []struct {
		name       string
		fatBits    int
		loaderPath string
		loader     []byte
		id         ID
		sev        Severity
		ev         []string
		exit       int
	}{
		{"FAT16 with an EFI-stub kernel", 16, "EFI/BOOT/BOOTX64.EFI", good, "uefi-init-ok", OK, []string{"6.1.0-fake-efi"}, 0},
		{"FAT16 without BOOTX64.EFI", 16, "", nil, "uefi-bootx64-missing", Error, []string{"FAT16", "does not exist"}, 1},
		{"FAT16, BOOTX64.EFI elsewhere", 16, "EFI/debian/grubx64.efi", good, "uefi-bootx64-missing", Error, []string{"FAT16"}, 1},
		{"FAT12, lower-case efi/boot/bootx64.efi", 12, "efi/boot/bootx64.efi", good, "uefi-init-ok", OK, []string{"6.1.0-fake-efi"}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			img := makeSmallFATESP(t, c.fatBits, c.loaderPath, c.loader)
			rep := diagnoseFile(t, img)
			kind := want(t, rep, IDUEFIFAT16, Info, "clusters")
			if wantTitle := fmt.Sprintf("the ESP is FAT%d", c.fatBits); kind.Title != wantTitle {
				t.Errorf("title %q, want %q (mkfs.vfat -F %d)", kind.Title, wantTitle, c.fatBits)
			}
			want(t, rep, c.id, c.sev, c.ev...)
			if c.exit == 0 {
				want(t, rep, IDUEFIBootX64OK, OK, "a Linux EFI-stub kernel")
			}
			if rep.ExitCode() != c.exit {
				t.Errorf("exit %d, want %d:\n%s", rep.ExitCode(), c.exit, dump(rep))
			}
		})
	}
}

// A broken primary GPT (header CRC32, or the entry array's) leaves the
// backup in the last sector, which firmware and Linux use: a warning, and
// the ESP is still checked. With the backup broken too nothing is left.
// sfdisk is the referee: it falls back on the backup exactly when doctor
// does.
func TestUEFIBrokenGPT(t *testing.T) {
	good := fakeEFIKernel(t, makeInitramfs(t, initramfsSpec{}), 0x8664)
	base := makeEFIImage(t, "U", good)
	orig, err := os.ReadFile(base)
	must(t, err)
	last := len(orig) - 512
	invert := func(b []byte, at int) { // invert a CRC32 field
		for i := at; i < at+4; i++ {
			b[i] ^= 0xFF
		}
	}
	for _, c := range []struct {
		name   string
		breaks func(b []byte)
		id     ID
		sev    Severity
		ev     []string
		exit   int
	}{
		{"primary header CRC32", func(b []byte) { invert(b, 512+16) }, IDUEFIGPTPrimaryBad, Warning, []string{"header CRC32 mismatch", "sector 131071 is valid"}, 0},
		{"primary entry array", func(b []byte) { b[2*512+0x38] ^= 0xFF }, IDUEFIGPTPrimaryBad, Warning, []string{"entry array CRC32 mismatch"}, 0},
		{"both header CRC32s", func(b []byte) { invert(b, 512+16); invert(b, last+16) }, IDUEFIGPTUnreadable, Error, []string{"header CRC32 mismatch", "sector 131071"}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := append([]byte(nil), orig...)
			c.breaks(b)
			img := filepath.Join(t.TempDir(), "broken.img")
			must(t, os.WriteFile(img, b, 0o644))
			out, _ := exec.Command("sfdisk", "-d", img).CombinedOutput()
			if sfdiskGPT := strings.Contains(string(out), "label: gpt"); sfdiskGPT != (c.exit == 0) {
				t.Fatalf("sfdisk reads a GPT: %v, doctor's verdict exit %d expected:\n%s", sfdiskGPT, c.exit, out)
			}
			rep := diagnoseFile(t, img)
			f := want(t, rep, c.id, c.sev, c.ev...)
			if c.exit == 0 {
				want(t, rep, IDUEFIInitOK, OK) // the ESP from the backup's entry
				if !strings.Contains(f.Fix, "sgdisk -e") {
					t.Errorf("fix %q does not say sgdisk -e", f.Fix)
				}
				// The report lists the backup's partitions, as sfdisk does.
				if len(rep.Partitions) != 1 || rep.Partitions[0].Start != 2048 || rep.Partitions[0].GPTType != "EFI System" {
					t.Errorf("partitions %+v, want the ESP at sector 2048 (sfdisk:\n%s)", rep.Partitions, out)
				}
			}
			if rep.ExitCode() != c.exit {
				t.Errorf("exit %d, want %d:\n%s", rep.ExitCode(), c.exit, dump(rep))
			}
		})
	}
}

// TestUEFIFATFirmwareRefuses: FATs that Linux reads but EDK2's FAT driver
// does not mount (FatOpenDevice's rules): each starts as a clean image made
// by mkfs.vfat and mtools, with one BPB field changed, or is what mkfs.vfat
// -F 32 makes on a small ESP. The corpus boots the FAT32 ones in OVMF,
// which finds no loader on them. The cluster count is checked at both
// sides of 65,525.
func TestUEFIFATFirmwareRefuses(t *testing.T) {
	good := fakeEFIKernel(t, makeInitramfs(t, initramfsSpec{}), 0x8664)
	const bpb = 2048 * 512 // the ESP's boot sector
	put16 := func(img []byte, off int, v uint16) { binary.LittleEndian.PutUint16(img[bpb+off:], v) }
	// clusters sets a FAT32's total sectors so it has n data clusters
	// (one sector each: makeEFIImage's mkfs.vfat -s 1).
	clusters := func(n uint32) func([]byte) {
		return func(img []byte) {
			b := img[bpb:]
			meta := uint32(binary.LittleEndian.Uint16(b[fat.OffsetReservedSectors:])) + uint32(b[fat.OffsetNumFATs])*binary.LittleEndian.Uint32(b[fat.OffsetFATSize32:])
			binary.LittleEndian.PutUint32(b[fat.OffsetTotalSectors32:], meta+n)
		}
	}
	for _, c := range []struct {
		name    string
		fat16   bool
		patch   func([]byte)
		refused bool
		ev      []string
	}{
		{"FAT32 as made", false, func([]byte) {}, false, nil},
		{"FAT32 of 65,525 clusters", false, clusters(fat.MinFAT32Clusters), false, nil},
		{"FAT32 of 65,524 clusters", false, clusters(fat.MinFAT32Clusters - 1), true, []string{"65524 clusters of 512 bytes", "FAT16 by definition"}},
		{"FAT32 mirroring off", false, func(img []byte) { put16(img, fat.OffsetExtFlags, 0x81) }, true, []string{"BPB_ExtFlags 0x0081", "only FAT 1 is active"}},
		{"FAT32 version 1.0", false, func(img []byte) { put16(img, fat.OffsetFSVersion, 0x0100) }, true, []string{"version is 1.0"}},
		{"FAT16 as made", true, func([]byte) {}, false, nil},
		// One sector per cluster instead of mkfs.vfat's four: about
		// 126,000 clusters, more than FAT16 can count.
		{"FAT16 of 126,000 clusters", true, func(img []byte) { img[bpb+fat.OffsetSectorsPerCluster] = 1 }, true, []string{"it is FAT16", "FAT32 by definition"}},
		{"FAT16 without root entries", true, func(img []byte) { put16(img, fat.OffsetRootEntries, 0) }, true, []string{"BPB_RootEntCnt 0"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			img := makeEFIImage(t, "U", good)
			if c.fat16 {
				img = makeSmallFATESP(t, 16, "EFI/BOOT/BOOTX64.EFI", good)
			}
			b, err := os.ReadFile(img)
			must(t, err)
			c.patch(b)
			must(t, os.WriteFile(img, b, 0o644))
			rep := diagnoseFile(t, img)
			if !c.refused {
				if f := rep.Has(IDUEFIFATFirmwareRefuses); f != nil || rep.ExitCode() != 0 {
					t.Fatalf("a FAT firmware mounts is refused (exit %d):\n%s", rep.ExitCode(), dump(rep))
				}
				return
			}
			want(t, rep, IDUEFIFATFirmwareRefuses, Error, c.ev...)
			if rep.ExitCode() != 1 {
				t.Errorf("exit %d, want 1:\n%s", rep.ExitCode(), dump(rep))
			}
		})
	}
	// What users run: mkfs.vfat -F 32 on a 32 MiB ESP warns ("less than
	// suggested minimum") and succeeds.
	t.Run("mkfs.vfat -F 32 on 32 MiB", func(t *testing.T) {
		t.Parallel()
		testutil.RequireTool(t, "mkfs.vfat", "dosfstools")
		testutil.RequireTool(t, "sfdisk", "fdisk")
		img := filepath.Join(t.TempDir(), "small.img")
		must(t, os.WriteFile(img, nil, 0o644))
		must(t, os.Truncate(img, 34<<20))
		sfdisk(t, img, "label: gpt\nstart=2048, size=65536, type=U")
		run(t, "mkfs.vfat", "-F", "32", "-S", "512", "--offset=2048", img, "32768")
		rep := diagnoseFile(t, img)
		want(t, rep, IDUEFIFATFirmwareRefuses, Error, "it is FAT32", "clusters of 512 bytes")
	})
}
