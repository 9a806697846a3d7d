package main

import (
	"io"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
)

// templateHelpPrinter is urfave/cli's own help printer (text/template),
// kept for help this file does not render.
var templateHelpPrinter = cli.HelpPrinter

// printHelp is cli.HelpPrinter: it writes the three help layouts minidisk
// uses (cli.AppHelpTemplate for minidisk itself, commandHelpTemplate and
// groupHelpTemplate) directly, byte for byte what the templates give
// (TestHelpTextMatchesTemplates compares every command), so `--help` does
// not parse and run text/template at every start. Anything else (a
// category, a template this file does not know) goes to the template
// printer.
func printHelp(w io.Writer, templ string, data any) {
	var b strings.Builder
	ok := false
	switch d := data.(type) {
	case *cli.App:
		ok = templ == cli.AppHelpTemplate && appHelpText(&b, d)
	case *cli.Command:
		switch {
		case templ == groupHelpTemplate:
			ok = commandHelpText(&b, d, true)
			if ok {
				b.WriteString("\n\nRun '" + d.HelpName + " COMMAND --help' for the help of one command.\n")
			}
		case strings.HasPrefix(templ, commandHelpTemplate) && !strings.Contains(templ[len(commandHelpTemplate):], "{{"):
			ok = commandHelpText(&b, d, false)
			if ok {
				// The static tail prepare appends: the EXIT STATUS section.
				b.WriteString(templ[len(commandHelpTemplate):])
			}
		}
	}
	if !ok {
		templateHelpPrinter(w, templ, data)
		return
	}
	// The templates' output goes through this tabwriter, which aligns the
	// flag columns (FlagStringer puts a tab between names and usage).
	tw := tabwriter.NewWriter(w, 1, 8, 2, ' ', 0)
	io.WriteString(tw, b.String())
	tw.Flush()
}

func appHelpText(b *strings.Builder, a *cli.App) bool {
	if len(a.VisibleFlagCategories()) > 0 || len(a.Authors) > 0 || a.Copyright != "" {
		return false
	}
	cats := a.VisibleCategories()
	for _, c := range cats {
		if c.Name() != "" {
			return false
		}
	}
	b.WriteString("NAME:\n   ")
	helpName(b, a.HelpName, a.Usage)
	b.WriteString("\n\nUSAGE:\n   ")
	if a.UsageText != "" {
		b.WriteString(helpWrap(a.UsageText, 3))
	} else {
		b.WriteString(a.HelpName + " ")
		if len(a.VisibleFlags()) > 0 {
			b.WriteString("[global options]")
		}
		if len(a.Commands) > 0 {
			b.WriteString(" command [command options]")
		}
		argsUsage(b, a.ArgsUsage, a.Args)
	}
	if a.Version != "" && !a.HideVersion {
		b.WriteString("\n\nVERSION:\n   " + a.Version)
	}
	if a.Description != "" {
		b.WriteString("\n\nDESCRIPTION:\n   " + helpWrap(a.Description, 3))
	}
	if len(a.VisibleCommands()) > 0 {
		b.WriteString("\n\nCOMMANDS:")
		for _, c := range cats {
			commandList(b, c.VisibleCommands())
		}
	}
	if fl := a.VisibleFlags(); len(fl) > 0 {
		b.WriteString("\n\nGLOBAL OPTIONS:")
		flagList(b, fl)
	}
	b.WriteString("\n")
	return true
}

// commandHelpText is commandHelpTemplate, or groupHelpTemplate up to its
// closing line, for c.
func commandHelpText(b *strings.Builder, c *cli.Command, group bool) bool {
	if len(c.VisibleFlagCategories()) > 0 {
		return false
	}
	b.WriteString("NAME:\n   ")
	helpName(b, c.HelpName, c.Usage)
	b.WriteString("\n\nUSAGE:\n   ")
	switch {
	case group:
		b.WriteString(c.HelpName + " COMMAND [command options] [arguments...]")
	case c.UsageText != "":
		b.WriteString(helpWrap(c.UsageText, 3))
	default:
		b.WriteString(c.HelpName)
		if len(c.VisibleFlags()) > 0 {
			b.WriteString(" [command options]")
		}
		argsUsage(b, c.ArgsUsage, c.Args)
	}
	if c.Description != "" {
		b.WriteString("\n\nDESCRIPTION:\n   " + helpWrap(c.Description, 3))
	}
	if group {
		b.WriteString("\n\nCOMMANDS:")
		commandList(b, c.VisibleCommands())
	}
	if fl := c.VisibleFlags(); len(fl) > 0 {
		b.WriteString("\n\nOPTIONS:")
		flagList(b, fl)
	}
	if !group {
		b.WriteString("\n")
	}
	return true
}

// helpName: "NAME - usage", the usage's continuation lines indented
// under its first.
func helpName(b *strings.Builder, name, usage string) {
	b.WriteString(helpWrap(name, 3))
	if usage != "" {
		b.WriteString(" - " + helpWrap(usage, len(name)+6))
	}
}

func argsUsage(b *strings.Builder, usage string, args bool) {
	switch {
	case usage != "":
		b.WriteString(" " + usage)
	case args:
		b.WriteString(" [arguments...]")
	}
}

// commandList: each command's names, padded to the longest, then its
// usage.
func commandList(b *strings.Builder, cmds []*cli.Command) {
	width := 0
	for _, c := range cmds {
		width = max(width, len(strings.Join(c.Names(), ", ")))
	}
	col := width + 5
	for _, c := range cmds {
		names := strings.Join(c.Names(), ", ")
		b.WriteString("\n   " + names)
		b.WriteString(strings.Repeat(" ", max(0, col-(len(names)+3))))
		b.WriteString(helpWrap(c.Usage, col))
	}
}

func flagList(b *strings.Builder, flags []cli.Flag) {
	for _, f := range flags {
		b.WriteString("\n   " + helpWrap(f.String(), 6))
	}
}

// helpWrap indents every line of s after the first by offset spaces, as
// the templates' wrap does with their 10,000-column limit (no help line
// here comes near it, so no line is broken).
func helpWrap(s string, offset int) string {
	lines := strings.Split(s, "\n")
	pad := strings.Repeat(" ", offset)
	for i := 1; i < len(lines); i++ {
		if lines[i] != "" {
			lines[i] = pad + lines[i]
		}
	}
	return strings.Join(lines, "\n")
}
