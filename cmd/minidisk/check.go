package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/minidisk/minidisk/doctor"
	"github.com/minidisk/minidisk/legacy"
	"github.com/urfave/cli/v2"
)

// noCheckFlag turns off the boot check of create, rootfs add and grub config.
var noCheckFlag = &cli.BoolFlag{Name: "no-check", Usage: "write the image even when doctor's checks say it will not boot"}

// bootCheck is what create, rootfs add and grub config run on the finished
// image before renaming it into place: doctor's diagnosis (its top-level
// entry point, doctor.Diagnose). It refuses an error finding the image did
// not already have: for an edit, the errors of the original (say, GRUB not
// installed yet in the step-by-step recipe) are not the edit's doing.
// Without an original (create), every error counts.
func bootCheck(c *cli.Context, img string, edit bool) legacy.Check {
	if c.Bool("no-check") {
		return nil
	}
	opt := doctor.Options{Name: img}
	if k := c.String("kernel"); k != "" {
		// The kernel create or rootfs add copied in: doctor reads its
		// config beside the host file instead of decompressing it.
		opt.HostKernels = []string{k}
	}
	before := map[doctor.ID]bool{}
	if edit {
		if f, err := os.Open(img); err == nil {
			if fi, err := f.Stat(); err == nil {
				for _, fd := range doctor.Diagnose(f, fi.Size(), opt).Findings {
					if fd.Severity == doctor.Error {
						before[fd.ID] = true
					}
				}
			}
			f.Close()
		}
	}
	return func(r io.ReaderAt, size int64) error {
		rep := doctor.Diagnose(r, size, opt)
		for _, fd := range rep.Findings {
			if fd.Severity != doctor.Error || before[fd.ID] {
				continue
			}
			msg := fmt.Sprintf("%s: the result would not boot: %s", img, strings.TrimSuffix(fd.Title, "."))
			if fd.Fix != "" {
				msg += "; fix: " + strings.TrimSuffix(fd.Fix, ".")
			}
			return fmt.Errorf("%s (nothing written; --no-check writes it anyway)", msg)
		}
		return nil
	}
}
