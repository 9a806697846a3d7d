package main

// The CLI contract of docs/cli.md, applied to the whole command tree by
// code rather than command by command, so a command added later gets it
// too: help in every position (`CMD --help`, `CMD ARG --help`,
// `help CMD`), one-line usage errors with a suggestion and their own exit
// status, `--version`, and flag help without doubled defaults.

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"runtime/debug"
	"sort"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"
)

// Exit statuses shared by every command (docs/cli.md). doctor adds 2 for an
// image it cannot read. 64 is EX_USAGE of sysexits.h: it cannot collide
// with doctor's 0/1/2, and a script can tell "I called it wrong" from
// "it ran and failed".
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 64
)

// exitStatusText is the EXIT STATUS section of a command's help; commands
// with their own codes list them in exitStatusOverride.
const exitStatusText = "0 success, 1 failure (the message names the file or flag and the fix), 64 usage error (unknown command or flag, bad flag value, wrong arguments)"

var exitStatusOverride = map[string]string{
	"doctor": "0 the image will boot, 1 it will not (errors found), 2 the image cannot be read, 64 usage error",
}

// Help templates: urfave/cli's, with the sub-templates that work before
// a command has run (help is printed by preflight, before parsing).
const (
	commandHelpTemplate = `NAME:
   {{template "helpNameTemplate" .}}

USAGE:
   {{template "usageTemplate" .}}{{if .Description}}

DESCRIPTION:
   {{template "descriptionTemplate" .}}{{end}}{{if .VisibleFlags}}

OPTIONS:{{template "visibleFlagTemplate" .}}{{end}}
`
	groupHelpTemplate = `NAME:
   {{template "helpNameTemplate" .}}

USAGE:
   {{.HelpName}} COMMAND [command options] [arguments...]{{if .Description}}

DESCRIPTION:
   {{template "descriptionTemplate" .}}{{end}}

COMMANDS:{{template "visibleCommandTemplate" .}}{{if .VisibleFlags}}

OPTIONS:{{template "visibleFlagTemplate" .}}{{end}}

Run '{{.HelpName}} COMMAND --help' for the help of one command.
`
)

// editsImageNote is the Description of every command that changes an
// existing image: the rule of internal/atomicfile.Edit, stated in its help.
const editsImageNote = "Modifies IMG: the change is made on a copy beside it (a reflink, or a sparse copy) that replaces it by rename only when complete, so a failure leaves IMG as it was. A symlink is followed (its target changes, the link stays); IMG keeps its permissions. Existing content (a partition table over a filesystem, an ext2 over an ext2) is not destroyed without --force."

// usageError is a mistake in the invocation itself: it exits 64 and never
// prints the help (the message says where to find it).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }
func (e *usageError) ExitCode() int { return exitUsage }

// usagef makes a usage error (exit 64).
func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// isUsage reports whether err is a usage error.
func isUsage(err error) bool {
	var u *usageError
	return errors.As(err, &u)
}

// runCLI is main without os.Exit: it runs minidisk with args (args[0] is
// the program name) and returns the exit status.
func runCLI(args []string, stdout, stderr io.Writer) int {
	app := newApp()
	app.Writer, app.ErrWriter = stdout, stderr
	prepare(app)
	if code, done := preflight(app, args); done {
		return code
	}
	return report(app.Run(interspersed(app, args)), stderr)
}

// report prints err as one line and returns the exit status it carries.
func report(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	code := exitFailure
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		code = ec.ExitCode()
	}
	// cli.Exit("", code) is a silent exit: the command printed its report.
	if msg := strings.TrimSpace(err.Error()); msg != "" {
		// One line: the packages name the file and the fix in their errors.
		fmt.Fprintln(stderr, "minidisk:", strings.ReplaceAll(msg, "\n", "; "))
	}
	if code == 0 {
		code = exitFailure
	}
	return code
}

// prepare applies the contract to every command of app.
func prepare(app *cli.App) {
	app.HideHelpCommand = true
	app.UseShortOptionHandling = true
	app.Version = versionString()
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Usage: "print the version: module version and VCS revision"}
	cli.VersionPrinter = func(c *cli.Context) { fmt.Fprintln(c.App.Writer, "minidisk", c.App.Version) }
	cli.FlagStringer = flagHelp
	cli.HelpPrinter = printHelp
	// urfave/cli would print ExitCoder messages itself and call os.Exit;
	// report prints them once.
	app.ExitErrHandler = func(*cli.Context, error) {}
	app.OnUsageError = func(c *cli.Context, err error, _ bool) error { return flagError(app, nil, err) }
	app.Action = func(c *cli.Context) error {
		if c.NArg() > 0 {
			return unknownCommand(app.Commands, "minidisk", c.Args().First())
		}
		return cli.ShowAppHelp(c)
	}
	app.Commands = append(app.Commands, helpCommand(app), completionCommand(app), manCommand(app))
	seen := map[cli.Flag]bool{}
	walk(app.Commands, "minidisk", func(cmd *cli.Command, full string) {
		// urfave/cli's Setup prefixes top-level commands with the app's
		// name; subcommands keep what is set here.
		cmd.HelpName = strings.TrimPrefix(full, "minidisk ")
		if strings.Count(full, " ") > 1 {
			cmd.HelpName = full
		}
		cmd.HideHelpCommand = true
		if !cmd.HideHelp && !hasFlagNamed(cmd.Flags, "help") {
			cmd.Flags = append(cmd.Flags, cli.HelpFlag)
		}
		status := exitStatusText
		if s, ok := exitStatusOverride[strings.TrimPrefix(full, "minidisk ")]; ok {
			status = s
		}
		if len(cmd.Subcommands) > 0 {
			cmd.CustomHelpTemplate = groupHelpTemplate
		} else {
			cmd.CustomHelpTemplate = commandHelpTemplate + "\nEXIT STATUS:\n   " + status + "\n"
		}
		c := cmd
		cmd.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return flagError(app, c, err) }
		if len(cmd.Subcommands) > 0 && cmd.Action == nil {
			cmd.Action = func(ctx *cli.Context) error {
				if ctx.NArg() > 0 {
					return unknownCommand(c.Subcommands, full, ctx.Args().First())
				}
				return usagef("%s needs a command: %s (see `%s --help`)", full, strings.Join(commandNames(c.Subcommands), ", "), full)
			}
		}
		requireFlags(cmd, full, seen)
	})
	app.Setup()
}

// walk calls fn for every command of the tree, parents first, with its
// full name ("minidisk image create").
func walk(cmds []*cli.Command, parent string, fn func(*cli.Command, string)) {
	for _, c := range cmds {
		full := parent + " " + c.Name
		fn(c, full)
		walk(c.Subcommands, full, fn)
	}
}

func hasFlagNamed(flags []cli.Flag, name string) bool {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}

func commandNames(cmds []*cli.Command) []string {
	var names []string
	for _, c := range cmds {
		if !c.Hidden {
			names = append(names, c.Name)
		}
	}
	return names
}

// requireFlags replaces urfave/cli's required-flag check (which prints the
// whole help, then the error) by a one-line usage error naming the flag.
func requireFlags(cmd *cli.Command, full string, seen map[cli.Flag]bool) {
	var required []string
	for _, f := range cmd.Flags {
		rf, ok := f.(cli.RequiredFlag)
		if !ok || !rf.IsRequired() {
			continue
		}
		required = append(required, f.Names()[0])
		if seen[f] {
			continue
		}
		seen[f] = true
		v := reflect.ValueOf(f).Elem()
		v.FieldByName("Required").SetBool(false)
		if u := v.FieldByName("Usage"); u.IsValid() && !strings.Contains(u.String(), "(required)") {
			u.SetString(u.String() + " (required)")
		}
	}
	if len(required) == 0 || cmd.Action == nil {
		return
	}
	action := cmd.Action
	cmd.Action = func(c *cli.Context) error {
		for _, name := range required {
			if !c.IsSet(name) {
				return usagef("%s: --%s is required; usage: %s %s --%s VALUE (see `%s --help`)", full, name, full, cmd.ArgsUsage, name, full)
			}
		}
		return action(c)
	}
}

// preflight handles what must work before flags are parsed: help in any
// position, `--version`, and unknown commands. done reports that the run
// is over with the returned exit status.
func preflight(app *cli.App, args []string) (code int, done bool) {
	if len(args) < 2 {
		return 0, false
	}
	path, cmd, rest := resolve(app.Commands, args[1:])
	for _, a := range rest {
		if a == "--" {
			break
		}
		if a == "-h" || a == "--help" {
			if err := showHelp(app, path, cmd); err != nil {
				return report(err, app.ErrWriter), true
			}
			return exitOK, true
		}
		if cmd == nil && (a == "--version" || a == "-version") {
			cli.VersionPrinter(cli.NewContext(app, nil, nil))
			return exitOK, true
		}
	}
	// A flag that takes a value, given last without one: reordering would
	// make it swallow the argument before it.
	if cmd != nil && len(rest) > 0 {
		last := rest[len(rest)-1]
		if name := strings.TrimLeft(last, "-"); strings.HasPrefix(last, "-") && name != "" && !strings.Contains(name, "=") && takesValue(cmd, name) {
			return report(usagef("%s needs a value (see `%s --help`)", dashed(name), cmd.HelpName), app.ErrWriter), true
		}
	}
	// A word where a command is expected, that names none.
	cmds := app.Commands
	parent := "minidisk"
	if cmd != nil {
		cmds, parent = cmd.Subcommands, cmd.HelpName
	}
	if len(cmds) > 0 && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		return report(unknownCommand(cmds, parent, rest[0]), app.ErrWriter), true
	}
	return 0, false
}

// resolve follows the command words at the start of args.
func resolve(cmds []*cli.Command, args []string) (path []string, cmd *cli.Command, rest []string) {
	i := 0
	for i < len(args) {
		next := findCommand(cmds, args[i])
		if next == nil {
			break
		}
		cmd = next
		path = append(path, args[i])
		cmds = next.Subcommands
		i++
	}
	return path, cmd, args[i:]
}

// showHelp prints the help of the command at path (the app's for none).
func showHelp(app *cli.App, path []string, cmd *cli.Command) error {
	if cmd == nil {
		cli.HelpPrinter(app.Writer, cli.AppHelpTemplate, app)
		return nil
	}
	cli.HelpPrinter(app.Writer, cmd.CustomHelpTemplate, cmd)
	return nil
}

// helpCommand is `minidisk help [COMMAND...]`.
func helpCommand(app *cli.App) *cli.Command {
	return &cli.Command{
		Name:      "help",
		Usage:     "show the help of minidisk or of one command (same as COMMAND --help)",
		ArgsUsage: "[COMMAND...]",
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			path, cmd, rest := resolve(app.Commands, args)
			if len(rest) > 0 {
				cmds, parent := app.Commands, "minidisk"
				if cmd != nil {
					cmds, parent = cmd.Subcommands, cmd.HelpName
				}
				return unknownCommand(cmds, parent, rest[0])
			}
			return showHelp(app, path, cmd)
		},
	}
}

// unknownCommand is the one-line error for a word that names no command.
func unknownCommand(cmds []*cli.Command, parent, word string) error {
	var names []string
	for _, c := range cmds {
		if !c.Hidden {
			names = append(names, c.Names()...)
		}
	}
	if s := suggest(word, names); s != "" {
		return usagef("unknown command %q for %s; did you mean %q? (see `%s --help`)", word, parent, s, parent)
	}
	return usagef("unknown command %q for %s; did you mean one of: %s? (see `%s --help`)", word, parent, strings.Join(commandNames(cmds), ", "), parent)
}

// Messages of Go's flag package, as urfave/cli passes them on.
// Compiled on first use: start-up (--help) does not pay for them.
var (
	reUndefined = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^flag provided but not defined: -+(.*)$`) })
	reBadValue  = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^invalid (?:boolean )?value "(.*)" for (?:flag )?-+([^:]+): (.*)$`)
	})
	reNoValue = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^flag needs an argument: -+(.*)$`) })
)

// flagError turns a flag-parsing error into one line that names the flag
// as it is typed (--name), says what is wrong and where the flags are
// listed. cmd is nil for the app's own flags.
func flagError(app *cli.App, cmd *cli.Command, err error) error {
	full, flags := "minidisk", app.Flags
	if cmd != nil {
		full, flags = cmd.HelpName, cmd.Flags
	}
	msg := err.Error()
	switch {
	case reUndefined().MatchString(msg):
		name := reUndefined().FindStringSubmatch(msg)[1]
		var names []string
		for _, f := range flags {
			names = append(names, f.Names()...)
		}
		if s := suggest(name, names); s != "" {
			return usagef("%s: unknown flag %s; did you mean %s? (see `%s --help`)", full, dashed(name), dashed(s), full)
		}
		return usagef("%s: unknown flag %s (see `%s --help` for its flags)", full, dashed(name), full)
	case reBadValue().MatchString(msg):
		m := reBadValue().FindStringSubmatch(msg)
		return usagef("%s %q: %s (see `%s --help`)", dashed(m[2]), m[1], valueHint(flags, m[2]), full)
	case reNoValue().MatchString(msg):
		name := reNoValue().FindStringSubmatch(msg)[1]
		return usagef("%s needs a value (see `%s --help`)", dashed(name), full)
	}
	return usagef("%s: %v (see `%s --help`)", full, err, full)
}

// valueHint says what a flag takes, from its type.
func valueHint(flags []cli.Flag, name string) string {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			switch f.(type) {
			case *cli.IntFlag, *cli.Int64Flag:
				return "not a whole number"
			case *cli.UintFlag, *cli.Uint64Flag:
				return "not a whole number ≥ 0"
			case *cli.DurationFlag:
				return "not a duration (give e.g. 90s or 2m)"
			case *cli.BoolFlag:
				return "a switch takes no value (give it alone, or =true/=false)"
			case *cli.Float64Flag:
				return "not a number"
			}
		}
	}
	return "not a valid value"
}

// dashed writes a flag name as it is typed: -l, --size.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// suggest returns the candidate closest to word, if it is close enough to
// be a typo of it (edit distance at most a third of its length, at least 2).
func suggest(word string, candidates []string) string {
	best, bestD := "", 1<<30
	sorted := append([]string(nil), candidates...)
	sort.Strings(sorted)
	for _, c := range sorted {
		d := editDistance(strings.ToLower(word), strings.ToLower(c))
		if strings.HasPrefix(c, word) && len(word) >= 2 {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = c, d
		}
	}
	if bestD <= max(2, len(word)/3) {
		return best
	}
	return ""
}

// editDistance is the optimal-string-alignment distance: insertions,
// deletions, substitutions and transpositions of neighbours each cost 1.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// flagHelp renders one flag line of the help: names with the placeholder,
// the usage, and the default only when the usage does not state one and
// it is not the zero value.
func flagHelp(f cli.Flag) string {
	d, ok := describeFlag(f)
	if !ok {
		return ""
	}
	s := strings.Join(d.names, ", ")
	if d.placeholder != "" {
		s += " " + d.placeholder
	}
	if d.repeatable {
		s += " (repeatable)"
	}
	return s + "\t" + d.usage
}

// flagDoc is what help, the man page and completion say of a flag.
type flagDoc struct {
	names       []string // as typed: --name, -n
	placeholder string   // "" for a flag that takes no value
	usage       string   // with its default, when it has one worth saying
	repeatable  bool     // a slice flag whose usage does not say so
}

func describeFlag(f cli.Flag) (flagDoc, bool) {
	df, ok := f.(cli.DocGenerationFlag)
	if !ok {
		return flagDoc{}, false
	}
	placeholder, usage := unquoteUsage(df.GetUsage())
	if df.TakesValue() && placeholder == "" {
		placeholder = "value"
	}
	if !df.TakesValue() {
		placeholder = ""
	}
	if def := df.GetDefaultText(); def != "" && def != "0" && def != `""` && def != "false" && def != "[]" &&
		!strings.Contains(strings.ToLower(usage), "default") {
		if _, isBool := f.(*cli.BoolFlag); !isBool {
			usage += " (default: " + def + ")"
		}
	}
	d := flagDoc{placeholder: placeholder, usage: strings.TrimSpace(usage)}
	for _, n := range df.Names() {
		d.names = append(d.names, dashed(n))
	}
	if sf, ok := f.(cli.DocGenerationSliceFlag); ok && sf.IsSliceFlag() && !strings.Contains(usage, "repeatable") {
		d.repeatable = true
	}
	return d, true
}

// versionString is the module version and the VCS revision the binary was
// built from, as the Go toolchain recorded them.
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown: built without module information)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, when string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev == "" {
		return v + " (no VCS revision recorded)"
	}
	s := v + " revision " + rev
	if when != "" {
		s += " " + when
	}
	if modified {
		s += " (modified)"
	}
	return s + " " + bi.GoVersion
}

// unquoteUsage splits a flag's usage as urfave/cli does: the first
// `backticked` word is the value's placeholder (and stays in the text).
func unquoteUsage(usage string) (placeholder, text string) {
	if i := strings.IndexByte(usage, '`'); i >= 0 {
		if j := strings.IndexByte(usage[i+1:], '`'); j >= 0 {
			name := usage[i+1 : i+1+j]
			return name, usage[:i] + name + usage[i+1+j+1:]
		}
	}
	return "", usage
}
