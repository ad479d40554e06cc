package resources

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// exitLit finds an exit status spelled as a number inside a script.
var exitLit = regexp.MustCompile(`\bexit\s+([0-9]+)\b`)

// TestScriptExitCodesAreNamed reads every kind's source, and the planner's
// (the lock holder, the host journal), and fails on a
// script (a Go string literal) that spells an exit status as a number
// other than 0 or 1 (plain success and failure). Such codes must be printed
// from exitcodes.go's constants, so that the script and the Go side that
// compares the status can never drift apart. The tools' own codes, in
// comments, are not scripts and are not read.
func TestScriptExitCodesAreNamed(t *testing.T) {
	fset := token.NewFileSet()
	for _, root := range []string{".", "../planner"} {
		checkExitLiterals(t, fset, root)
	}
}

func checkExitLiterals(t *testing.T, fset *token.FileSet, root string) {
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "firewall") && p != root {
			// testdata: generators, not scripts; firewall's own codes
			// (90–92) are private to one package and named there.
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			for _, m := range exitLit.FindAllStringSubmatch(s, -1) {
				if m[1] != "0" && m[1] != "1" {
					t.Errorf("%s: a script spells %q: print it from the named constant in exitcodes.go", fset.Position(lit.Pos()), m[0])
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
