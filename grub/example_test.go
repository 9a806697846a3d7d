package grub_test

import (
	"fmt"
	"os"

	"github.com/minidisk/minidisk/grub"
)

// Install does what `root (hd0,0)` / `setup (hd0)` does in the GRUB shell,
// byte for byte: stage1 into the MBR, e2fs_stage1_5 embedded after it. The
// image must already hold an ext2 with /boot/grub's stage files; nothing is
// written unless every check passes. (Not run: it needs grub-legacy's stage
// files and such an image.)
func ExampleInstall() {
	st, err := grub.FindStages("") // /usr/lib/grub/x86_64-pc, i386-pc, /boot/grub
	if err != nil {
		panic(err)
	}
	img, err := os.OpenFile("disk.img", os.O_RDWR, 0)
	if err != nil {
		panic(err)
	}
	defer img.Close()
	rep, err := grub.Install(img, st, grub.InstallOptions{PartitionIndex: 0, Name: "disk.img"})
	if err != nil {
		panic(err) // e.g. errors.Is(err, grub.ErrInodeSize) for 256-byte inodes
	}
	fmt.Print(rep)
}
