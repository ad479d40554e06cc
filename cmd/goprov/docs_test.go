package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hcldec"

	"github.com/goprov/goprov/resources"
)

func readDoc(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// diffSets reports what is in a and not in b, and the reverse.
func diffSets(a, b map[string]bool) (onlyA, onlyB []string) {
	for k := range a {
		if !b[k] {
			onlyA = append(onlyA, k)
		}
	}
	for k := range b {
		if !a[k] {
			onlyB = append(onlyB, k)
		}
	}
	sort.Strings(onlyA)
	sort.Strings(onlyB)
	return onlyA, onlyB
}

var helpFlagRe = regexp.MustCompile(`(?m)^  (-[a-z][a-z-]*)`)

// helpFlags runs the built binary's `goprov CMD -h` and returns the flags
// it lists.
func helpFlags(t *testing.T, args ...string) map[string]bool {
	t.Helper()
	r := goprov(t, append(args, "-h")...)
	out := map[string]bool{}
	for _, m := range helpFlagRe.FindAllStringSubmatch(r.stdout+r.stderr, -1) {
		out[m[1]] = true
	}
	if !strings.Contains(r.stdout+r.stderr, "Usage: goprov "+strings.Join(args, " ")) {
		t.Fatalf("goprov %s -h printed no usage:\n%s%s", strings.Join(args, " "), r.stdout, r.stderr)
	}
	return out
}

// docSections splits cli.md at "## `goprov CMD`" headings.
func docSections(doc string) map[string]string {
	out := map[string]string{}
	re := regexp.MustCompile("(?m)^## `goprov ([a-z]+)`\n")
	locs := re.FindAllStringSubmatchIndex(doc, -1)
	for i, l := range locs {
		end := len(doc)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		out[doc[l[2]:l[3]]] = doc[l[1]:end]
	}
	return out
}

var rowFlagRe = regexp.MustCompile("(?m)^\\| `(-[a-z][a-z-]*)")

// TestCLIDocsMatchHelp keeps docs/cli.md and the binary's -h output in
// step: the same commands, each command's flags both ways, the shared
// flag table's command lists, and the exit codes.
func TestCLIDocsMatchHelp(t *testing.T) {
	doc := readDoc(t, "docs/cli.md")
	sections := docSections(doc)

	// Commands: `goprov -h`, the code's list, the doc's table and sections.
	r := goprov(t, "-h")
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  ([a-z]+)\s{2,}`).FindAllStringSubmatch(r.stdout, -1) {
		listed[m[1]] = true
	}
	code := map[string]bool{}
	for _, c := range commands() {
		code[c.name] = true
	}
	if a, b := diffSets(code, listed); len(a)+len(b) > 0 {
		t.Errorf("goprov -h: commands missing %v, unknown %v", a, b)
	}
	table := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| \\[`goprov ([a-z]+)`\\]").FindAllStringSubmatch(doc, -1) {
		table[m[1]] = true
	}
	if a, b := diffSets(code, table); len(a)+len(b) > 0 {
		t.Errorf("docs/cli.md command table: missing %v, not commands %v", a, b)
	}
	secs := map[string]bool{}
	for c := range sections {
		secs[c] = true
	}
	if a, b := diffSets(code, secs); len(a)+len(b) > 0 {
		t.Errorf("docs/cli.md sections: missing %v, not commands %v", a, b)
	}

	// Each command's flags, both ways.
	byCmd := map[string]map[string]bool{}
	for _, c := range commands() {
		args := []string{c.name}
		switch c.name {
		case "version":
			continue // prints the version; documented as "No flags"
		case "journal":
			args = []string{"journal", "verify"}
		}
		help := helpFlags(t, args...)
		byCmd[c.name] = help
		documented := map[string]bool{}
		for _, m := range rowFlagRe.FindAllStringSubmatch(sections[c.name], -1) {
			documented[m[1]] = true
		}
		notDoc, notReal := diffSets(help, documented)
		for _, f := range notDoc {
			t.Errorf("goprov %s -h lists %s, but docs/cli.md's `goprov %s` section has no row for it", c.name, f, c.name)
		}
		for _, f := range notReal {
			t.Errorf("docs/cli.md documents %s for goprov %s, which -h does not list", f, c.name)
		}
	}

	// The shared flag table: its command column must be exact.
	shared := doc[strings.Index(doc, "## Flags shared by several commands"):]
	shared = shared[:strings.Index(shared, "\n## ")]
	rows := regexp.MustCompile("(?m)^\\| `(-[a-z][a-z-]*)[^`]*` \\| ([a-z, ]+) \\|").FindAllStringSubmatch(shared, -1)
	if len(rows) == 0 {
		t.Fatal("no rows in docs/cli.md's shared flag table")
	}
	for _, m := range rows {
		docCmds := map[string]bool{}
		for _, c := range strings.Split(m[2], ",") {
			docCmds[strings.TrimSpace(c)] = true
		}
		real := map[string]bool{}
		for c, flags := range byCmd {
			if flags[m[1]] {
				real[c] = true
			}
		}
		if a, b := diffSets(real, docCmds); len(a)+len(b) > 0 {
			t.Errorf("shared flag %s: commands that take it but are not listed %v, listed but do not take it %v", m[1], a, b)
		}
	}

	// Exit codes.
	exits := doc[strings.Index(doc, "## Exit codes"):]
	exits = exits[:strings.Index(exits, "\n## ")]
	for _, c := range []int{exitOK, exitError, exitChanges, exitFmt} {
		if !strings.Contains(exits, fmt.Sprintf("\n| %d |", c)) {
			t.Errorf("docs/cli.md exit code table lacks %d", c)
		}
	}
	if strings.Count(exits, "\n| ") != 1+4 { // header + one row per code
		t.Errorf("docs/cli.md exit code table has rows for codes the CLI does not use:\n%s", exits)
	}
}

// specAttrs walks a kind's hcldec spec and returns its attribute names and
// block type names, nested ones included.
func specAttrs(s hcldec.Spec, out map[string]bool) {
	switch s := s.(type) {
	case hcldec.ObjectSpec:
		for _, v := range s {
			specAttrs(v, out)
		}
	case *hcldec.ObjectSpec:
		for _, v := range *s {
			specAttrs(v, out)
		}
	case *hcldec.AttrSpec:
		out[s.Name] = true
	case *hcldec.DefaultSpec:
		specAttrs(s.Primary, out)
		specAttrs(s.Default, out)
	case *hcldec.BlockListSpec:
		out[s.TypeName] = true
		specAttrs(s.Nested, out)
	case *hcldec.BlockSpec:
		out[s.TypeName] = true
		specAttrs(s.Nested, out)
	case *hcldec.BlockSetSpec:
		out[s.TypeName] = true
		specAttrs(s.Nested, out)
	case *hcldec.BlockMapSpec:
		out[s.TypeName] = true
		specAttrs(s.Nested, out)
	case *hcldec.LiteralSpec, nil:
	default:
		panic(fmt.Sprintf("specAttrs: unhandled spec %T: teach this test about it", s))
	}
}

var docRowRe = regexp.MustCompile("(?m)^\\| `([a-z_0-9]+)` \\|")

// metaArgs every resource block takes; a reference page may document them.
var metaArgs = map[string]bool{"targets": true, "depends_on": true, "count": true, "for_each": true}

// TestResourceDocsCoverSchemas: for every registered kind,
// docs/resources/KIND.md has a table row "| `name` |" for each attribute
// and block of its schema, and every such row is a real attribute (or a
// meta-argument).
func TestResourceDocsCoverSchemas(t *testing.T) {
	kinds := resources.Registry{}.Kinds()
	if len(kinds) < 6 {
		t.Errorf("only %d kinds registered: %v", len(kinds), kinds)
	}
	for _, kind := range kinds {
		spec, _ := resources.Registry{}.Spec(kind)
		attrs := map[string]bool{}
		specAttrs(spec, attrs)
		b, err := os.ReadFile(filepath.Join(repoRoot, "docs/resources", kind+".md"))
		if err != nil {
			t.Errorf("kind %s has no reference page: %v", kind, err)
			continue
		}
		rows := map[string]bool{}
		for _, m := range docRowRe.FindAllStringSubmatch(string(b), -1) {
			rows[m[1]] = true
		}
		for _, a := range sortedKeys(attrs) {
			if !rows[a] {
				t.Errorf("docs/resources/%s.md: attribute %q has no table row \"| `%s` |\"", kind, a, a)
			}
		}
		for _, r := range sortedKeys(rows) {
			if !attrs[r] && !metaArgs[r] {
				t.Errorf("docs/resources/%s.md documents %q, which is not an attribute of %s", kind, r, kind)
			}
		}
	}
}

var mdLinkRe = regexp.MustCompile(`\]\(([^)#\s]+)(#[^)\s]*)?\)`)

// TestDocLinks: every relative link in the docs, the README and the
// examples' READMEs points at a file or directory that exists.
func TestDocLinks(t *testing.T) {
	var files []string
	for _, g := range []string{"README.md", "docs/*.md", "docs/resources/*.md", "examples/*/README.md", "examples/README.md", "modules/README.md"} {
		m, _ := filepath.Glob(filepath.Join(repoRoot, g))
		files = append(files, m...)
	}
	if len(files) < 8 {
		t.Fatalf("found only %v", files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mdLinkRe.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			p := filepath.Join(filepath.Dir(f), target)
			if _, err := os.Stat(p); err != nil {
				rel, _ := filepath.Rel(repoRoot, f)
				t.Errorf("%s: broken link %q", rel, target)
			}
		}
	}
}

var cmdLineRe = regexp.MustCompile(`goprov (validate|plan|apply|show|fmt|journal verify)((?: +[^ \n|` + "`" + `#;"'()<>&]+)*)`)

// TestDocCommandsUseRealFlags: every `goprov CMD ... -flag` written in the
// docs, READMEs and the gitops workflow uses flags CMD has.
func TestDocCommandsUseRealFlags(t *testing.T) {
	flags := map[string]map[string]bool{}
	for _, c := range []string{"validate", "plan", "apply", "show", "fmt", "journal verify"} {
		flags[c] = helpFlags(t, strings.Fields(c)...)
	}
	var files []string
	for _, g := range []string{"README.md", "docs/*.md", "examples/*/README.md", "examples/*/*.hcl", "modules/*/*.hcl", "examples/gitops/.github/workflows/*.yml"} {
		m, _ := filepath.Glob(filepath.Join(repoRoot, g))
		files = append(files, m...)
	}
	seen := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(repoRoot, f)
		for _, m := range cmdLineRe.FindAllStringSubmatch(string(b), -1) {
			for _, w := range strings.Fields(m[2]) {
				if !strings.HasPrefix(w, "-") || w == "-" {
					continue
				}
				name, _, _ := strings.Cut(w, "=")
				name = strings.TrimRight(name, ".,:;)")
				seen++
				if !flags[m[1]][name] {
					t.Errorf("%s: %q uses %s, which goprov %s does not have", rel, strings.TrimSpace(m[0]), name, m[1])
				}
			}
		}
	}
	if seen < 20 {
		t.Errorf("only %d flags found in docs: is the pattern still right?", seen)
	}
}

// kindPackages lists the packages under resources/ whose non-test code
// registers a kind: what the binary must link, found without asking the
// registry (which holds only what some import pulled in).
func kindPackages(t *testing.T) map[string]bool {
	t.Helper()
	dirs, err := os.ReadDir(filepath.Join(repoRoot, "resources"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(repoRoot, "resources", d.Name(), "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), "resources.Register(") {
				out[d.Name()] = true
			}
		}
	}
	return out
}

var allImportRe = regexp.MustCompile(`"github\.com/goprov/goprov/resources/([a-z0-9_]+)"`)

var readmeKindRe = regexp.MustCompile("\\[`([a-z_0-9]+)`\\]\\(resources/([a-z_0-9]+)\\.md\\)")

// TestKindListsFollowRegistry: every package that registers a kind is
// imported by resources/all (so the binary has it), the registry's kinds
// are exactly the reference pages under docs/resources/, and docs/README.md
// lists and links every registered kind and nothing else.
func TestKindListsFollowRegistry(t *testing.T) {
	imported := map[string]bool{}
	files, _ := filepath.Glob(filepath.Join(repoRoot, "resources/all/*.go"))
	for _, f := range files {
		for _, m := range allImportRe.FindAllStringSubmatch(readDoc(t, mustRel(t, f)), -1) {
			imported[m[1]] = true
		}
	}
	if missing, _ := diffSets(kindPackages(t), imported); len(missing) > 0 {
		t.Errorf("resources/all does not import %v: their kinds are not in the binary", missing)
	}

	registered := map[string]bool{}
	for _, k := range (resources.Registry{}).Kinds() {
		registered[k] = true
	}
	pages := map[string]bool{}
	mds, _ := filepath.Glob(filepath.Join(repoRoot, "docs/resources/*.md"))
	for _, f := range mds {
		pages[strings.TrimSuffix(filepath.Base(f), ".md")] = true
	}
	if noPage, noKind := diffSets(registered, pages); len(noPage)+len(noKind) > 0 {
		t.Errorf("registered kinds without a page in docs/resources: %v; pages for kinds the binary does not register: %v", noPage, noKind)
	}

	listed := map[string]bool{}
	for _, m := range readmeKindRe.FindAllStringSubmatch(readDoc(t, "docs/README.md"), -1) {
		if m[1] != m[2] {
			t.Errorf("docs/README.md links `%s` to resources/%s.md", m[1], m[2])
		}
		listed[m[1]] = true
	}
	if notListed, extra := diffSets(registered, listed); len(notListed)+len(extra) > 0 {
		t.Errorf("docs/README.md kind list: missing %v, not registered kinds %v", notListed, extra)
	}
}

func mustRel(t *testing.T, path string) string {
	t.Helper()
	rel, err := filepath.Rel(repoRoot, path)
	if err != nil {
		t.Fatal(err)
	}
	return rel
}
