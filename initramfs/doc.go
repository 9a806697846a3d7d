// Package initramfs builds the early userspace a kernel unpacks into its
// rootfs before running /init (the newc cpio of the kernel's
// Documentation/driver-api/early-userspace): BusyBox with an applet link
// each, its libraries when it is dynamic, /dev/console, and an /init.
//
// Two kinds are built. The EFI variant's initramfs is the whole system
// (Tree: /init mounts the virtual filesystems and becomes the shell). The
// initramfs for a modular kernel (a distro kernel whose disk driver is a
// module) only bridges to the real root: its /init loads the modules in
// order, waits for the root device, mounts it and switch_roots to the real
// init. The legacy image (GRUB's initrd line), the EFI image and UKIs use
// this package.
package initramfs
