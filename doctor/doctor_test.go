package doctor

import "testing"

// TestGoodHandMadeImage: the guide's image made by hand (sfdisk, mke2fs -d,
// debugfs mknod, dd, GRUB shell setup) with a stand-in kernel that has ext2
// and ata_piix: no errors, no warnings.
func TestGoodHandMadeImage(t *testing.T) {
	img := makeLegacy(t, legacySpec{})
	rep := diagnoseFile(t, img)
	if rep.ExitCode() != 0 || rep.Warnings() != 0 {
		t.Fatalf("exit %d, %d warnings:\n%s", rep.ExitCode(), rep.Warnings(), dump(rep))
	}
	for _, id := range []ID{"part-ok", "fs-ok", "grub-stage15-ok", "grub-ok", "kernel-ok", "init-ok", "console-ok"} {
		want(t, rep, id, OK)
	}
	t.Logf("\n%s", dump(rep))
}
