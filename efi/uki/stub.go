package uki

import (
	"context"
	"errors"
	"os"
	"path/filepath"

	"github.com/minidisk/minidisk/internal/debpkg"
)

// StubPackage is the Debian package with systemd's EFI stubs.
const StubPackage = "systemd-boot-efi"

// stubRel is where systemd installs the x86-64 stub
// (systemd-boot-efi: /usr/lib/systemd/boot/efi/linuxx64.efi.stub).
const stubRel = "usr/lib/systemd/boot/efi/linuxx64.efi.stub"

// HostStub is the installed stub's path.
const HostStub = "/" + stubRel

// StubSource says where FindStub found the stub and why.
type StubSource struct {
	Path string
	Why  string // "installed", "cached Debian package ...", "fetched ..."
}

// FindStub returns the host's stub when systemd-boot-efi is installed,
// else the one unpacked from the Debian package in cacheDir, fetching it
// (apt-get download + dpkg-deb -x) when fetch is true.
func FindStub(ctx context.Context, cacheDir string, fetch bool, log func(string)) (StubSource, error) {
	if isFile(HostStub) {
		return StubSource{Path: HostStub, Why: "installed by systemd-boot-efi"}, nil
	}
	root := debpkg.Root(cacheDir, StubPackage)
	p := filepath.Join(root, stubRel)
	if isFile(p) {
		return StubSource{Path: p, Why: "from the cached Debian package " + debpkg.Deb(root)}, nil
	}
	if !fetch {
		return StubSource{}, errors.New("no systemd EFI stub: " + HostStub + " is missing (apt-get install systemd-boot-efi, or give --stub)")
	}
	root, err := debpkg.Fetch(ctx, cacheDir, StubPackage, log)
	if err != nil {
		return StubSource{}, err
	}
	if !isFile(p) {
		return StubSource{}, errors.New(debpkg.Deb(root) + " has no " + stubRel)
	}
	return StubSource{Path: p, Why: "fetched the Debian package " + debpkg.Deb(root)}, nil
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}
