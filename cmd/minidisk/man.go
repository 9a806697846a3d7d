package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// writeManPage writes minidisk(1) in man(7) roff, generated from the same
// command tree as --help and completion: a page that cannot fall behind the
// commands. urfave/cli's own generator (ToMan) goes through markdown and
// links blackfriday into the binary, whose initialisation (214 KB) every
// run of minidisk would pay for; `make` builds with the urfave_cli_no_docs
// tag, which leaves it out.
func writeManPage(w io.Writer, app *cli.App) error {
	var b strings.Builder
	// No date: the page is the same for the same commands (determinism).
	fmt.Fprintf(&b, ".TH MINIDISK 1 \"\" \"minidisk\" \"User Commands\"\n")
	fmt.Fprintf(&b, ".SH NAME\nminidisk \\- %s\n", roff(app.Usage))
	b.WriteString(".SH SYNOPSIS\n.B minidisk\n[\\fB\\-\\-version\\fR] [\\fB\\-\\-help\\fR]\n.I command\n[\\fIoptions\\fR] [\\fIarguments\\fR]\n")
	b.WriteString(".SH DESCRIPTION\n")
	b.WriteString("Each step of building a bootable disk image is a command; `minidisk create` does them all. ")
	b.WriteString("Options may come before or after the arguments. ")
	b.WriteString("\\fBminidisk \\fIcommand\\fB \\-\\-help\\fR prints the same text as this page for one command.\n")
	b.WriteString(".SH OPTIONS\n")
	manFlags(&b, []cli.Flag{cli.VersionFlag, cli.HelpFlag})
	b.WriteString(".SH COMMANDS\n")
	var walk func(path string, cmds []*cli.Command)
	walk = func(path string, cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Hidden {
				continue
			}
			full := path + " " + c.Name
			fmt.Fprintf(&b, ".SS \"%s", roff(full))
			if c.ArgsUsage != "" {
				fmt.Fprintf(&b, " %s", roff(c.ArgsUsage))
			}
			b.WriteString("\"\n")
			b.WriteString(manText(c.Usage))
			if c.Description != "" {
				b.WriteString(".PP\n" + manText(c.Description))
			}
			if len(c.Subcommands) > 0 {
				var names []string
				for _, s := range c.Subcommands {
					if !s.Hidden {
						names = append(names, s.Name)
					}
				}
				fmt.Fprintf(&b, ".PP\nCommands: %s (below).\n", roff(strings.Join(names, ", ")))
			}
			manFlags(&b, c.Flags)
			walk(full, c.Subcommands)
		}
	}
	walk("minidisk", app.Commands)
	b.WriteString(".SH EXIT STATUS\n" + manText(exitStatusText))
	for _, name := range slices.Sorted(maps.Keys(exitStatusOverride)) {
		fmt.Fprintf(&b, ".PP\n\\fBminidisk %s\\fR: %s", roff(name), manText(exitStatusOverride[name]))
	}
	b.WriteString(".SH ENVIRONMENT\n.TP\n.B SOURCE_DATE_EPOCH\ntimestamps written into images (default: the Unix epoch); same inputs, same bytes.\n")
	b.WriteString(".TP\n.B XDG_CACHE_HOME\nkernels, Debian packages and boot results are cached under \\fI$XDG_CACHE_HOME/minidisk\\fR (default \\fI~/.cache/minidisk\\fR).\n")
	b.WriteString(".SH SEE ALSO\n.BR qemu-system-x86_64 (1),\n.BR e2fsck (8),\n.BR sfdisk (8),\n.BR grub (8)\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// manFlags lists flags as .TP paragraphs: the names as typed, the help
// --help prints (flagHelp: placeholder, default, repeatable).
func manFlags(b *strings.Builder, flags []cli.Flag) {
	for _, f := range flags {
		d, ok := describeFlag(f)
		if !ok {
			continue
		}
		b.WriteString(".TP\n\\fB" + roff(strings.Join(d.names, ", ")) + "\\fR")
		if d.placeholder != "" {
			b.WriteString(" \\fI" + roff(d.placeholder) + "\\fR")
		}
		if d.repeatable {
			b.WriteString(" (repeatable)")
		}
		b.WriteString("\n" + manText(d.usage))
	}
}

// manText is running text: one roff line per line of s, none starting
// with a control character.
func manText(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		line = roff(strings.TrimSpace(line))
		if line == "" {
			b.WriteString(".PP\n")
			continue
		}
		if line[0] == '.' || line[0] == '\'' {
			line = `\&` + line // a leading dot or quote would be a request
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// roff escapes what man(7) gives a meaning: the backslash; the hyphen,
// which would print as a typographic hyphen where a user types a minus
// (options, sizes); and characters beyond ASCII, which groff reads only as
// \[uXXXX] escapes.
func roff(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\e`)
		case r == '-':
			b.WriteString(`\-`)
		case r > 0x7e:
			fmt.Fprintf(&b, `\[u%04X]`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
