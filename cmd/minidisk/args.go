package main

import (
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersed moves flags that follow positional arguments in front of
// them. urfave/cli v2 stops reading flags at the first positional argument,
// but minidisk's documented forms put the image first
// (`minidisk image create IMG --size 12M`). The command path is matched
// against the app's commands so that each flag's arity (bool or not) is
// known; "--" ends flag reordering.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	cmds := app.Commands
	var cmd *cli.Command
	i := 1
	for i < len(args) {
		next := findCommand(cmds, args[i])
		if next == nil {
			break
		}
		cmd = next
		out = append(out, args[i])
		cmds = next.Subcommands
		i++
	}
	if cmd == nil {
		return args
	}
	var flags, pos []string
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if takesValue(cmd, name) && i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	out = append(out, flags...)
	return append(out, pos...)
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.Name == name {
			return c
		}
		for _, a := range c.Aliases {
			if a == name {
				return c
			}
		}
	}
	return nil
}

func takesValue(cmd *cli.Command, name string) bool {
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			if _, isBool := f.(*cli.BoolFlag); isBool {
				return false
			}
			return true
		}
	}
	return false
}

// splitImageArg splits "IMG:PATH" into the image file and the path inside
// it ("/" when absent). An argument naming an existing file is all image,
// so image names may contain ':'.
func splitImageArg(arg string) (img, name string) {
	if _, err := os.Stat(arg); err == nil {
		return arg, "/"
	}
	i := strings.LastIndexByte(arg, ':')
	if i <= 0 {
		return arg, "/"
	}
	name = arg[i+1:]
	if name == "" {
		name = "/"
	}
	return arg[:i], name
}
