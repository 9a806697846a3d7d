// Command minidisk builds bootable minimal Linux disk images and diagnoses
// images that do not boot. This package only wires flags to the packages
// that do the work: each subcommand lives in its own cmd_*.go file.
package main

import (
	"os"

	"github.com/urfave/cli/v2"
)

func newApp() *cli.App {
	return &cli.App{
		Name:  "minidisk",
		Usage: "build a bootable minimal Linux disk image, and say why one does not boot",
		// Each entry is one subcommand, defined in its own cmd_*.go file.
		Commands: []*cli.Command{
			imageCommand(),
			partCommand(),
			planCommand(),
			createCommand(),
			rootfsCommand(),
			libsCommand(), modulesCommand(),
			mkfsCommand(),
			initramfsCommand(), efiCommand(), ukiCommand(), flashCommand(),
			grubCommand(),
			kernelCommand(),
			bootCommand(),
			doctorCommand(), explainCommand(),
			lsCommand(), catCommand(), mountCommand(), umountCommand(),
		},
	}
}

func main() {
	os.Exit(runCLI(os.Args, os.Stdout, os.Stderr))
}
