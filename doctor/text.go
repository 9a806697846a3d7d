package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// TextOptions shape the human-readable report.
type TextOptions struct {
	// Verbose prints the evidence of ok and info findings too.
	Verbose bool
	// Symbols uses ✔ ⚠ ✘ (for a terminal) instead of [ok] [warn] [error].
	Symbols bool
}

func (s Severity) mark(symbols bool) string {
	if symbols {
		return map[Severity]string{OK: "✔", Info: "ℹ", Warning: "⚠", Error: "✘"}[s]
	}
	return map[Severity]string{OK: "[ok]", Info: "[info]", Warning: "[warn]", Error: "[error]"}[s]
}

// WriteText prints the report grouped by area, in boot order, then a
// one-line verdict.
func (r *Report) WriteText(w io.Writer, o TextOptions) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d bytes (%d sectors), %s\n", r.Image, r.SizeBytes, r.DiskSectors, r.Scheme)
	if r.Boot != nil && r.Boot.Summary != "" {
		fmt.Fprintf(&b, "boot: %s\n", r.Boot.Summary)
	}
	var area Area
	for _, f := range r.Findings {
		if f.Area != area {
			area = f.Area
			fmt.Fprintf(&b, "\n%s\n", area)
		}
		fmt.Fprintf(&b, "  %s %s", f.Severity.mark(o.Symbols), f.Title)
		if f.ID != "" {
			fmt.Fprintf(&b, " (%s)", f.ID)
		}
		b.WriteByte('\n')
		if f.Severity >= Warning || o.Verbose {
			if f.Evidence != "" {
				fmt.Fprintf(&b, "      evidence: %s\n", f.Evidence)
			}
			if len(f.Files) > 0 && (f.Severity >= Warning || o.Verbose) {
				fmt.Fprintf(&b, "      files: %s\n", strings.Join(f.Files, " "))
			}
		}
		if f.Fix != "" && f.Severity >= Warning {
			fmt.Fprintf(&b, "      fix: %s\n", f.Fix)
		}
	}
	b.WriteByte('\n')
	switch r.ExitCode() {
	case 0:
		fmt.Fprintf(&b, "verdict: bootable as far as doctor can tell (%d warnings)\n", r.Warnings())
	case 1:
		fmt.Fprintf(&b, "verdict: will not boot: %d errors, %d warnings\n", r.Errors(), r.Warnings())
	default:
		b.WriteString("verdict: the image cannot be read\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON prints the report as indented JSON (findings, and the numbers
// behind them).
func (r *Report) WriteJSON(w io.Writer) error {
	type out struct {
		*Report
		Errors   int `json:"errors"`
		Warnings int `json:"warnings"`
		Exit     int `json:"exit_code"`
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out{Report: r, Errors: r.Errors(), Warnings: r.Warnings(), Exit: r.ExitCode()})
}
