# minidisk — the two commands of the README:
#   make demo   host packages, a tiny kernel (built once, cached), a demo image, booted in QEMU
#   make test   host packages and every test; CI runs exactly this (.ci/run)
SHELL := /bin/bash
GO ?= go
BIN := bin/minidisk
CACHE := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/minidisk
# urfave_cli_no_docs leaves urfave/cli's markdown/man generator (and the
# blackfriday package it links, 214 KB of start-up work) out of the binary;
# `minidisk man` has its own generator. A plain `go build` works too.
TAGS := urfave_cli_no_docs

.PHONY: all build demo demo-distro test deps-demo deps-test vet fuzz bench clean

all: build

build:
	$(GO) build -tags $(TAGS) -o $(BIN) ./cmd/minidisk

deps-demo:
	scripts/host-deps.sh demo

deps-test:
	scripts/host-deps.sh test
	scripts/fetch-busybox-static.sh >/dev/null
	scripts/fetch-grub2.sh >/dev/null

# The main job: from a fresh Debian machine to a BusyBox shell answering in QEMU.
demo: deps-demo build
	kernel=$$($(BIN) kernel --profile legacy) && \
	$(BIN) create demo.img --kernel "$$kernel" --force && \
	$(BIN) boot demo.img --send 'echo MARK$$((6*7))' --expect MARK42 --timeout 120s
	@echo "demo.img boots. Try it yourself: $(BIN) boot demo.img   (quit QEMU with Ctrl-A X)"

# The fast path with a distribution kernel: Debian's cloud kernel (fetched with
# apt-get download + dpkg-deb -x into the cache, no build, no root); create adds
# the initramfs that loads its disk driver modules and GRUB's initrd line.
demo-distro: deps-demo build
	kernel=$$($(BIN) kernel --debian) && \
	$(BIN) create demo-distro.img --kernel "$$kernel" --force && \
	$(BIN) boot demo-distro.img --send 'echo MARK$$((6*7))' --expect MARK42 --timeout 180s
	@echo "demo-distro.img boots Debian's kernel. Try it yourself: $(BIN) boot demo-distro.img   (quit QEMU with Ctrl-A X)"

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) mod tidy -diff
	GOOS=darwin $(GO) build ./...
	GOOS=windows $(GO) build ./...

# Tests use the host tools as oracles; under CI=true a missing tool fails.
test: deps-test vet
	$(GO) test -timeout 80m ./...
	scripts/fuzz.sh

bench: build
	scripts/bench.sh

clean:
	rm -rf bin demo.img demo-distro.img

-include mk/*.mk

# The man page, generated from the command tree (no network): man/minidisk.1
.PHONY: man
man:
	mkdir -p man
	$(GO) run -tags $(TAGS) ./cmd/minidisk man > man/minidisk.1.tmp && mv man/minidisk.1.tmp man/minidisk.1
