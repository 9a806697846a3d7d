package kernel

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"sort"
	"strings"
)

// Setting is one Kconfig assignment as written in a .config: Value is "y",
// "m", "n" (for "# CONFIG_X is not set"), a number, or a quoted string.
type Setting struct {
	Name  string // without CONFIG_
	Value string
}

// parseConfigLine reads "CONFIG_X=v" or "# CONFIG_X is not set".
func parseConfigLine(line string) (Setting, bool) {
	line = strings.TrimSpace(line)
	if strings.HasPrefix(line, "# CONFIG_") && strings.HasSuffix(line, " is not set") {
		name := strings.TrimSuffix(strings.TrimPrefix(line, "# CONFIG_"), " is not set")
		if name != "" && !strings.ContainsAny(name, " \t") {
			return Setting{name, "n"}, true
		}
		return Setting{}, false
	}
	if !strings.HasPrefix(line, "CONFIG_") {
		return Setting{}, false
	}
	name, val, ok := strings.Cut(strings.TrimPrefix(line, "CONFIG_"), "=")
	if !ok || name == "" || strings.ContainsAny(name, " \t") {
		return Setting{}, false
	}
	return Setting{name, val}, true
}

// ParseFragment reads a config fragment file (lines of CONFIG_X=y,
// CONFIG_X="str" or "# CONFIG_X is not set"; other comments and blank lines
// are ignored). A line that is none of these is an error naming the line.
func ParseFragment(path string) ([]Setting, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read config fragment: %w", path, err)
	}
	var out []Setting
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if s, ok := parseConfigLine(line); ok {
			out = append(out, s)
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		return nil, fmt.Errorf("%s:%d: not a kernel config line %q (expected CONFIG_NAME=y or # CONFIG_NAME is not set)", path, n, line)
	}
	return out, nil
}

// settingLine renders s the way Kconfig writes it.
func settingLine(s Setting) string {
	if s.Value == "n" {
		return "# CONFIG_" + s.Name + " is not set"
	}
	return "CONFIG_" + s.Name + "=" + s.Value
}

// quote makes a Kconfig string value.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// mergeConfig replaces every line of config that assigns one of settings'
// symbols and appends the settings, so each symbol is assigned exactly once
// (Kconfig warns about, and olddefconfig may misread, duplicate
// assignments).
func mergeConfig(config []byte, settings []Setting) []byte {
	set := map[string]bool{}
	for _, s := range settings {
		set[s.Name] = true
	}
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(config))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		if s, ok := parseConfigLine(sc.Text()); ok && set[s.Name] {
			continue
		}
		out.WriteString(sc.Text())
		out.WriteByte('\n')
	}
	for _, s := range settings {
		out.WriteString(settingLine(s))
		out.WriteByte('\n')
	}
	return out.Bytes()
}

// readConfig returns the symbols assigned in a .config.
func readConfig(config []byte) map[string]string {
	// One string for the whole file; names and values are substrings of
	// it (a Debian config has ~10,000 lines: no allocation per line).
	text := string(config)
	m := make(map[string]string, strings.Count(text, "\nCONFIG_")+1)
	for text != "" {
		var line string
		line, text, _ = strings.Cut(text, "\n")
		if s, ok := parseConfigLine(line); ok {
			m[s.Name] = s.Value
		}
	}
	return m
}

// missingSettings lists the requested settings that olddefconfig did not
// keep (an option whose dependencies are unmet is silently dropped), as
// "CONFIG_X=want (got v)" strings, sorted.
func missingSettings(config []byte, want []Setting) []string {
	have := readConfig(config)
	var bad []string
	for _, s := range want {
		got, ok := have[s.Name]
		if !ok {
			got = "n"
		}
		if got != s.Value {
			if !ok {
				got = "unset"
			}
			bad = append(bad, fmt.Sprintf("CONFIG_%s=%s (got %s)", s.Name, s.Value, got))
		}
	}
	sort.Strings(bad)
	return bad
}
