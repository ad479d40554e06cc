// Package layers holds the test that goprov's imports point one way:
// transport <- resources <- planner <- cmd, with the DSL feeding only the
// configuration's compilation.
package layers

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/goprov/goprov/"

// layer ranks a package: it may import packages of its own rank or lower.
// Leaf helpers (internal/shell, internal/hostspec, ...) rank lowest.
func layer(pkg string) int {
	under := func(prefix string) bool { return pkg == prefix || strings.HasPrefix(pkg, prefix+"/") }
	switch {
	case under("transport"), under("internal/connect"): // connect only makes transports
		return 1
	case under("resources"):
		return 2
	case under("planner"):
		return 3
	case under("internal/compile"):
		return 4
	case under("cmd"), under("internal/labtest"), under("bench"), under("testinfra"):
		return 5
	case under("dsl"):
		return 0 // a leaf: it knows nothing of goprov's other packages
	}
	return 0
}

// mayImportDSL are the packages that compile configurations (and the
// layers above them).
func mayImportDSL(pkg string) bool {
	return pkg == "internal/compile" || strings.HasPrefix(pkg, "cmd/") || pkg == "internal/labtest"
}

func TestImportsPointOneWay(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	n := 0
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		pkg := strings.TrimPrefix(f[0], module)
		n++
		for _, imp := range f[1:] {
			dep, ok := strings.CutPrefix(imp, module)
			if !ok {
				continue
			}
			if layer(dep) > layer(pkg) {
				t.Errorf("%s imports %s: a lower layer must not import a higher one (transport <- resources <- planner <- cmd)", pkg, dep)
			}
			if (dep == "dsl" || strings.HasPrefix(dep, "dsl/")) && !mayImportDSL(pkg) {
				t.Errorf("%s imports %s: only the configuration's compilation (internal/compile) and the CLI read the DSL", pkg, dep)
			}
		}
	}
	if n < 10 {
		t.Fatalf("go list saw %d packages; the test would prove nothing", n)
	}
}
