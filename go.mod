module github.com/minidisk/minidisk

go 1.26

// Direct dependencies. Of go-diskfs import only partition/mbr,
// filesystem/fat16 and fat32 and backend/...: its root diskfs and disk
// packages link every filesystem and compressor it knows (ext4, iso9660,
// squashfs, lz4, lzo, logrus) into the binary. partition/gpt only in tests,
// as the referee of disk.WriteGPT: it imports github.com/google/uuid and
// with it net, which makes a cgo build dynamically linked.
require (
	// Pinned at v1.9.4 (the latest when checked): efi/fatfix.go repairs
	// what this version's fat32.Create leaves wrong (the ".." entry of root
	// subdirectories, the FSInfo free count, clock-dependent timestamps);
	// re-check every repair against fsck.fat before moving the pin.
	github.com/diskfs/go-diskfs v1.9.4
	// No tagged releases: a 2022 pseudo-version; Linux-only (rootfs/loopmount).
	github.com/freddierice/go-losetup v0.0.0-20220711213114-2a14873012db
	github.com/klauspost/compress v1.18.5 // zstd for initramfs and kernel payloads
	github.com/ulikunitz/xz v0.5.15 // xz for initramfs, kernel and module payloads
	// v2 on purpose (maintenance-only; v3 has another flag API).
	github.com/urfave/cli/v2 v2.27.7
	golang.org/x/sys v0.46.0
	golang.org/x/term v0.44.0
)

require (
	github.com/cpuguy83/go-md2man/v2 v2.0.7 // indirect
	github.com/elliotwutingfeng/asciiset v0.0.0-20260129054604-cfde2086bc57 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/russross/blackfriday/v2 v2.1.0 // indirect
	github.com/xrash/smetrics v0.0.0-20240521201337-686a1a2994c1 // indirect
)
