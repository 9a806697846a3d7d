package explain

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minidisk/minidisk/efi"
	"github.com/minidisk/minidisk/initramfs"
	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel"
)

// The UEFI chain of a UKI image (Debian's kernel, systemd's stub, the
// automatic initramfs) against sfdisk -d (GPT header and the ESP's entry),
// minfo (the ESP's boot sector), objdump -h (BOOTX64.EFI's sections, the
// file taken out with mcopy), and the bytes at the first cluster explain
// names (the file's first sector).
func TestExplainUEFIImage(t *testing.T) {
	for _, tool := range [][2]string{{"sfdisk", "fdisk"}, {"minfo", "mtools"}, {"mcopy", "mtools"}, {"objdump", "binutils"}} {
		testutil.RequireTool(t, tool[0], tool[1])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	dk, err := kernel.FetchDebian(ctx, kernel.DebianOptions{})
	if err != nil {
		testutil.Missing(t, "Debian's kernel: "+err.Error())
	}
	bb, err := initramfs.FetchStaticBusyBox(ctx)
	if err != nil {
		testutil.Missing(t, "Debian's busybox-static: "+err.Error())
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "uki.img")
	if _, err := efi.Build(ctx, efi.Options{Out: img, Epoch: time.Unix(1735689600, 0).UTC(),
		UKI: &efi.UKIOptions{Kernel: dk.Kernel, Initrd: efi.InitrdAuto, Initramfs: initramfs.Options{BusyBox: bb}}}); err != nil {
		t.Fatal(err)
	}
	before := sha(t, img)
	v := view(t, openDisk(t, img), "boot", "")
	val := func(id string) string { return fmt.Sprint(fieldOf(t, v, id).Value) }
	txt := func(id string) string { return fieldOf(t, v, id).Text }

	// sfdisk -d: label-id, first-lba, last-lba; the partition's start,
	// size, type, uuid and name.
	sf := testutil.Run(t, "sfdisk", "-d", img)
	kv := map[string]string{}
	for _, line := range strings.Split(sf, "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok && !strings.HasPrefix(line, img) {
			kv[k] = strings.TrimSpace(v)
		}
		if strings.HasPrefix(line, img+"1 ") {
			for _, f := range strings.Split(line[strings.Index(line, ":")+1:], ",") {
				k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
				kv["p1."+k] = strings.Trim(strings.TrimSpace(v), `"`)
			}
		}
	}
	for _, c := range [][2]string{
		{txt("gpt.disk_guid"), kv["label-id"]}, {val("gpt.first_usable_lba"), kv["first-lba"]}, {val("gpt.last_usable_lba"), kv["last-lba"]},
		{val("gpt.esp.first_lba"), kv["p1.start"]}, {txt("gpt.esp.type_guid"), kv["p1.type"]}, {txt("gpt.esp.unique_guid"), kv["p1.uuid"]},
		{txt("gpt.esp.name"), kv["p1.name"]}, {txt("gpt.signature"), "EFI PART"},
	} {
		if c[0] != c[1] {
			t.Errorf("explain %q, sfdisk %q\n%s", c[0], c[1], sf)
		}
	}
	start, _ := strconv.ParseUint(kv["p1.start"], 10, 64)
	size, _ := strconv.ParseUint(kv["p1.size"], 10, 64)
	if last := fieldOf(t, v, "gpt.esp.last_lba").Value; last != start+size-1 {
		t.Errorf("EndingLBA %d, sfdisk start %d size %d", last, start, size)
	}
	// minfo: the boot sector.
	esp := fmt.Sprintf("%s@@%d", img, start*512)
	mi := testutil.Run(t, "minfo", "-i", esp, "::")
	for id, re := range map[string]string{
		"esp.bytes_per_sector": `sector size: (\d+) bytes`, "esp.sectors_per_cluster": `cluster size: (\d+) sectors`,
		"esp.reserved_sectors": `reserved \(boot\) sectors: (\d+)`, "esp.num_fats": `fats: (\d+)`,
		"esp.total_sectors32": `big size: (\d+) sectors`, "esp.hidden_sectors": `hidden sectors: (\d+)`,
		"esp.fat_size32": `Big fatlen=(\d+)`, "esp.root_cluster": `rootCluster=(\d+)`,
	} {
		m := regexp.MustCompile(re).FindStringSubmatch(mi)
		if m == nil || m[1] != val(id) {
			t.Errorf("%s = %s, minfo %v", id, val(id), m)
		}
	}
	// The file's first cluster: its first sector is the file's first 512 bytes.
	efiFile := filepath.Join(dir, "BOOTX64.EFI")
	testutil.Run(t, "mcopy", "-i", esp, "::EFI/BOOT/BOOTX64.EFI", efiFile)
	content, err := os.ReadFile(efiFile)
	must(t, err)
	if got := fieldOf(t, v, "esp.bootx64.size").Value; got != uint64(len(content)) {
		t.Errorf("size %d, mcopy gives %d bytes", got, len(content))
	}
	raw, err := os.ReadFile(img)
	must(t, err)
	off := fieldOf(t, v, "esp.bootx64.cluster").Offset
	if !bytes.Equal(raw[off:off+512], content[:512]) {
		t.Errorf("byte %d (explain's first cluster) does not hold BOOTX64.EFI's first sector", off)
	}
	// objdump -h: every section's name, size and file offset.
	od, err := exec.Command("objdump", "-h", efiFile).Output()
	must(t, err)
	secs := regexp.MustCompile(`(?m)^\s+\d+ (\S+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)`).FindAllStringSubmatch(string(od), -1)
	if len(secs) == 0 {
		t.Fatalf("objdump -h:\n%s", od)
	}
	for _, m := range secs {
		f := v.Field("efi.section" + m[1])
		if f == nil {
			t.Errorf("no section %s", m[1])
			continue
		}
		sz, _ := strconv.ParseUint(m[2], 16, 64)
		fo, _ := strconv.ParseUint(m[3], 16, 64)
		if f.Value != fo || !strings.Contains(f.Text, fmt.Sprintf(", %d bytes", sz)) {
			t.Errorf("section %s: %q (offset %d), objdump size %d offset %d", m[1], f.Text, f.Value, sz, fo)
		}
	}
	if sec := v.Section("efi.init"); sec == nil || !strings.Contains(strings.Join(sec.Notes, " "), "/init") {
		t.Errorf("the last step does not name /init: %+v", sec)
	}
	if sha(t, img) != before {
		t.Fatal("explain changed the image")
	}
}

// An empty BOOTX64.EFI has no first cluster (0 in its directory entry):
// the walk stops there, naming it, instead of pointing at a sector
// computed from cluster 0 − 2.
func TestExplainUEFIEmptyLoader(t *testing.T) {
	for _, tool := range [][2]string{{"sfdisk", "fdisk"}, {"mkfs.vfat", "dosfstools"}, {"mcopy", "mtools"}} {
		testutil.RequireTool(t, tool[0], tool[1])
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "empty-loader.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sfdisk", "-q", img)
	cmd.Stdin = strings.NewReader("label: gpt\nstart=2048, size=126976, type=U\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	empty := filepath.Join(dir, "BOOTX64.EFI")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "mkfs.vfat", "-F", "32", "-s", "1", "-S", "512", "--offset=2048", img, "63488")
	testutil.Run(t, "mmd", "-i", img+"@@1M", "::EFI", "::EFI/BOOT")
	testutil.Run(t, "mcopy", "-i", img+"@@1M", empty, "::EFI/BOOT/BOOTX64.EFI")
	v := view(t, openDisk(t, img), "boot", "")
	var stop *Section
	for i := range v.Sections {
		switch v.Sections[i].ID {
		case "boot.stop":
			stop = &v.Sections[i]
		case "esp.bootx64":
			t.Errorf("a section for the empty loader's data: %+v", v.Sections[i])
		}
	}
	if stop == nil || !strings.Contains(stop.Title, "has no data") || !strings.Contains(strings.Join(stop.Notes, " "), "first cluster 0") {
		t.Fatalf("no stop at the empty BOOTX64.EFI: %+v", stop)
	}
}
