# docs: regenerate the layout pictures under docs/img with minidisk itself,
# so the guide shows what the tool draws from the real numbers.
#   plan-2007.svg  the 2007 recipe's 8 MiB image (partition 63..16064, cylinder-aligned):
#                  the planned layout and, below it, mke2fs without a block count (159-block overrun)
#   plan-1mib.svg  a 1 GiB image with the partition at 1 MiB (sector 2048)
#   error24.svg    the layout behind GRUB's "Error 24": the 2007 disk with mke2fs run without a count
DOCS_IMG ?= docs/img

.PHONY: docs
docs:
	mkdir -p $(DOCS_IMG)
	set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	go build -o "$$tmp/minidisk" ./cmd/minidisk; \
	"$$tmp/minidisk" plan --size 8M --cylinder-align --picture both --svg $(DOCS_IMG)/plan-2007.svg --force >/dev/null; \
	"$$tmp/minidisk" plan --size 1G --align 1MiB --picture planned --svg $(DOCS_IMG)/plan-1mib.svg --force >/dev/null; \
	"$$tmp/minidisk" plan --size 8M --cylinder-align --picture naive --svg $(DOCS_IMG)/error24.svg --force >/dev/null
	# explain-layout.png, explain-partition.png: `minidisk explain --html` of a host-tool image in
	# headless Chromium, the top of the page and (?click=mbr.p1&only=1) the partition entry clicked
	MINIDISK_WRITE_DOCS=$(abspath $(DOCS_IMG)) go test ./explain -run '^TestDocsScreenshot$$' -count=1
