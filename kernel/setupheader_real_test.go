package kernel_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/minidisk/minidisk/internal/testutil"
	"github.com/minidisk/minidisk/kernel"
	"github.com/minidisk/minidisk/kernel/kerneltest"
)

// TestSetupHeaderOfRealKernels ties ParseSetupHeader's offsets to real
// bzImages, each field checked against a tool that reads it its own way:
//   - file(1)'s magic prints the version string kernel_version points to;
//   - objdump -h reads the EFI stub's PE section table, whose .text starts
//     at the protected-mode code: arch/x86/boot/tools/build.c writes
//     setup_sects and .text's PointerToRawData from the same setup size;
//   - file(1) names the compressed data at payload_offset, and for xz the
//     stream xz decompresses from [payload_offset, +payload_length) is the
//     ELF vmlinux.bin whose size the payload's last 4 bytes give
//     (scripts/Makefile.lib size_append), so both ends are exact.
//
// Kernels: Debian 6.1 cloud-amd64 (lz4, EFI stub) and amd64 (xz, EFI stub)
// from the cache, and minidisk's legacy tinyconfig build (xz, no stub).
func TestSetupHeaderOfRealKernels(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs the Debian kernels and the legacy kernel build")
	}
	fileTool := testutil.RequireTool(t, "file", "file")
	objdump := testutil.RequireTool(t, "objdump", "binutils")
	xz := testutil.RequireTool(t, "xz", "xz-utils")
	testutil.RequireTool(t, "apt-get", "apt")
	testutil.RequireTool(t, "dpkg-deb", "dpkg")
	kernels := map[string]string{"legacy": kerneltest.Legacy(t)}
	for _, flavour := range []string{"cloud-amd64", "amd64"} {
		k, err := kernel.FetchDebian(context.Background(), kernel.DebianOptions{Flavour: flavour})
		if err != nil {
			t.Fatal(err)
		}
		kernels["debian-"+flavour] = k.Kernel
	}
	for name, path := range kernels {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			h, err := kernel.ParseSetupHeader(data)
			if err != nil {
				t.Fatal(err)
			}
			if h.Protocol < 0x020F || h.LoadFlags&1 == 0 {
				t.Errorf("protocol %#x loadflags %#x: a 6.1 bzImage has 2.15 and LOADED_HIGH", h.Protocol, h.LoadFlags)
			}

			// file: "Linux kernel x86 boot executable bzImage, version V, RO-rootFS, ..."
			desc := testutil.Run(t, fileTool, "-b", path)
			version := h.ReadVersion(bytes.NewReader(data), int64(len(data)))
			if version == "" || !strings.Contains(desc, "bzImage, version "+version+", ") {
				t.Errorf("version string %q; file says %q", version, desc)
			}

			// objdump: .text's file offset is where the protected-mode code starts.
			if out, err := exec.Command(objdump, "-h", path).CombinedOutput(); err == nil {
				m := regexp.MustCompile(`(?m)^\s*\d+ \.text\s+\S+\s+\S+\s+\S+\s+([0-9a-f]+)`).FindSubmatch(out)
				if m == nil {
					t.Fatalf("objdump -h shows no .text:\n%s", out)
				}
				textOff, _ := strconv.ParseInt(string(m[1]), 16, 64)
				if textOff != h.ProtectedModeOffset() {
					t.Errorf("setup_sects %d puts the protected-mode code at %#x; objdump's .text is at %#x", h.SetupSects, h.ProtectedModeOffset(), textOff)
				}
			} else if name != "legacy" {
				t.Errorf("objdump -h: %v\n%s", err, out)
			}

			start := h.ProtectedModeOffset() + int64(h.PayloadOffset)
			end := start + int64(h.PayloadLength)
			if h.PayloadLength < 4 || end > int64(len(data)) {
				t.Fatalf("payload [%#x, %#x) outside the %d-byte file", start, end, len(data))
			}
			payload := data[start:end]
			pf := filepath.Join(t.TempDir(), "payload")
			if err := os.WriteFile(pf, payload, 0o644); err != nil {
				t.Fatal(err)
			}
			kind := testutil.Run(t, fileTool, "-b", pf)
			if !strings.HasPrefix(kind, "XZ compressed data") && !strings.HasPrefix(kind, "LZ4 compressed data") {
				t.Fatalf("file says the payload at %#x is %q", start, kind)
			}
			if !strings.HasPrefix(kind, "XZ") {
				return // lz4(1) stops at the kernel's legacy-frame stream; the start is checked
			}
			cmd := exec.Command(xz, "-dc", "--single-stream", pf)
			vmlinux, err := cmd.Output()
			if err != nil {
				t.Fatalf("xz -dc --single-stream on the payload: %v", err)
			}
			trailer := binary.LittleEndian.Uint32(payload[len(payload)-4:])
			if !bytes.HasPrefix(vmlinux, []byte("\x7fELF")) || uint32(len(vmlinux)) != trailer {
				t.Errorf("the payload decompresses to %d bytes starting % x; its size trailer says %d bytes of ELF", len(vmlinux), vmlinux[:min(len(vmlinux), 4)], trailer)
			}
		})
	}
}
