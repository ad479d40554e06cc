package layers

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/goprov/goprov/resources"
	_ "github.com/goprov/goprov/resources/all"
)

// The planner and the configuration's compilation know no kind by name: a
// rule about kinds lives with the kinds (lint, groups, egress), so adding
// or renaming a kind touches its own folder only. Any string literal in
// their sources that is a registered kind's name is a kind named there.
func TestPlannerNamesNoKind(t *testing.T) {
	for _, dir := range []string{"../../planner", "../compile"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		fset := token.NewFileSet()
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			file, err := parser.ParseFile(fset, f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(file, func(n ast.Node) bool {
				lit, ok := n.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				if s, err := strconv.Unquote(lit.Value); err == nil {
					if _, isKind := resources.Lookup(s); isKind {
						t.Errorf("%s: names the kind %q", fset.Position(lit.Pos()), s)
					}
				}
				return true
			})
		}
	}
}
