package doctor

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// codeIDs parses ids.go and returns every constant of type ID.
func codeIDs(t *testing.T) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "ids.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, decl := range f.Decls {
		g, ok := decl.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "ID" {
				continue
			}
			for i, n := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok {
					t.Fatalf("ids.go: %s is not a string literal", n.Name)
				}
				v, _ := strconv.Unquote(lit.Value)
				if prev, dup := ids[v]; dup {
					t.Fatalf("ids.go: %s and %s are both %q", prev, n.Name, v)
				}
				ids[v] = n.Name
			}
		}
	}
	return ids
}

// docIDs returns the IDs docs/doctor.md documents: the backquoted names in
// the first column of its tables.
func docIDs(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../docs/doctor.md")
	if err != nil {
		t.Fatal(err)
	}
	tick := regexp.MustCompile("`([a-z0-9][a-z0-9-]*)`")
	ids := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		first := strings.SplitN(line[1:], "|", 2)[0]
		for _, m := range tick.FindAllStringSubmatch(first, -1) {
			ids[m[1]] = true
		}
	}
	return ids
}

// TestDocsListEveryID fails when docs/doctor.md and the code disagree: every
// ID constant has a row, every row names an ID constant.
func TestDocsListEveryID(t *testing.T) {
	code, doc := codeIDs(t), docIDs(t)
	var undocumented, unknown []string
	for id := range code {
		if !doc[id] {
			undocumented = append(undocumented, id)
		}
	}
	for id := range doc {
		if _, ok := code[id]; !ok {
			unknown = append(unknown, id)
		}
	}
	sort.Strings(undocumented)
	sort.Strings(unknown)
	if len(undocumented) > 0 {
		t.Errorf("IDs in doctor/ids.go without a row in docs/doctor.md: %s", strings.Join(undocumented, " "))
	}
	if len(unknown) > 0 {
		t.Errorf("IDs in docs/doctor.md that doctor/ids.go does not define: %s", strings.Join(unknown, " "))
	}
}

// TestFindingsUseIDConstants fails when a check builds a finding with a
// string literal instead of a constant from ids.go (the docs test could not
// see it).
func TestFindingsUseIDConstants(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	lit := regexp.MustCompile(`\b(ID|id):\s*"`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if lit.MatchString(line) {
				t.Errorf("%s:%d: finding ID as a string literal; add a constant to ids.go and a row to docs/doctor.md", f, i+1)
			}
		}
	}
}
