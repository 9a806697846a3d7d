// Package kmod resolves Linux kernel modules the way package libs resolves
// shared libraries: by reading the files themselves, never by running
// modprobe or trusting an index. A linux-image package carries no
// modules.dep (depmod runs at install time), so dependencies come from
// each module's ELF ".modinfo" section (depends=, softdep=, alias=,
// vermagic=, name=), read with debug/elf after decompressing .ko.gz,
// .ko.xz or .ko.zst. modules.builtin and modules.builtin.modinfo say what
// the kernel has built in (nothing to load).
//
// API (stable; the initramfs builder, create, rootfs and doctor use it):
//
//	dir, err := kmod.FindTree(kernelPath, info.Version) // ROOT/boot/vmlinuz-V → ROOT/lib/modules/V, else /lib/modules/V
//	tree, err := kmod.Open(dir, info.Version)           // lib/modules/V, or a root holding it; release checked
//	c, err := tree.Resolve([]string{"ide", "ext2"}, nil) // targets (kmod.Targets()) and module names/aliases
//	for _, m := range c.Load() { ... m.Name, m.Path (relative to tree.Dir), m.Why }
//	ok, missing := tree.Serves("ahci")                  // can this kernel drive it at all?
//	tree.IsBuiltin("ext4"); tree.ModInfo("sd_mod"); tree.Lookup("crc32c")
//	elf, err := tree.ModuleData("sd_mod")               // decompressed .ko bytes, for an initramfs
//	tree, err := kmod.OpenFS(imageFS, "lib/modules/V", release) // a tree inside an image or initramfs
//	mi, err := kmod.ParseModInfo(elfBytes)              // one module's .modinfo (depends, vermagic, ...)
//
// Closure.Modules is in load order (insmod order): a module comes after
// everything in its depends= and softdep "pre:" lists (depth first, in the
// order the module lists them) and before its "post:" list; built-in
// modules that satisfied a need are included with Builtin set and no Path.
// Each entry says why it is there: "target ide: disk controller (...)",
// "needed by sd_mod", "soft dependency (pre) of libcrc32c via alias crc32c",
// "asked for".
//
// Names are looked up as modprobe looks them up (libkmod
// kmod_module_new_from_lookup): a module file of that name ('-' and '_'
// are the same), else every module whose alias= matches (fnmatch globs),
// else a built-in module of that name, else a built-in module whose alias
// matches — which is how "ext2" resolves to the built-in ext4 in a kernel
// with CONFIG_EXT4_USE_FOR_EXT2 (fs/ext4/super.c MODULE_ALIAS_FS("ext2")).
// When two files have one name, updates/ wins, as in depmod's default
// "search updates built-in".
//
// Targets, named for the hardware: ide (ata_piix, sd_mod), ahci (ahci,
// sd_mod), virtio (virtio_pci, virtio_blk), nvme (nvme), usb (xhci_pci,
// ehci_pci, usb_storage, uas, sd_mod); filesystems: ext2, ext4, vfat
// (vfat plus the codepage/iocharset tables it loads at mount, when the
// kernel has them). A target whose driver is neither a module nor built in
// is refused with a *TargetError naming the missing drivers and the kernel
// that has them (Debian's cloud flavour has no ahci, xhci, ehci,
// usb-storage or uas: its hint names the generic amd64 flavour).
//
// Errors are typed for errors.As: *NotFoundError (what was searched),
// *VersionMismatchError (tree or module vermagic against the kernel's
// release), *NotELFError, *TruncatedError and *CorruptError (compressed
// modules), *TargetError, *TreeNotFoundError. Each message is one line
// naming the file and the fix. Parsing never panics (FuzzParseModInfo).
//
// Not modelled: modprobe.d configuration (aliases, blacklists, options,
// install commands), "symbol:" aliases from modules.symbols, and weakdep.
// The package is pure Go and builds on every GOOS.
package kmod
