package audit_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/planner"
	"github.com/goprov/goprov/testinfra"
	"github.com/goprov/goprov/testinfra/base"
)

// TestShippedRuleSetsOnAuditHosts pastes every rule file auditd ships in
// its examples into one audit_rules, on an audit host of each Debian
// release, as a new user would. Each either converges (and the kernel lists
// exactly the lines recorded in the corpus) or the plan refuses before
// writing and names the rules; the ones refused for missing paths converge
// with skip_missing_paths. No apply ends with a file whose rules are not
// loaded: every apply is followed by an empty plan.
func TestShippedRuleSetsOnAuditHosts(t *testing.T) {
	for _, suite := range []string{base.Bookworm, base.Trixie} {
		t.Run(suite, func(t *testing.T) { shippedRuleSets(t, suite) })
	}
}

// Where Debian ships the examples: bookworm's rules/, trixie's audit-rules/.
var exampleDirs = []string{"/usr/share/doc/auditd/examples/rules", "/usr/share/doc/auditd/examples/audit-rules"}

func shippedRuleSets(t *testing.T, suite string) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1, AuditHosts: []int{0}, Suite: suite})
	h := lab.Hosts[0]
	inv := labtest.Inventory(lab, testinfra.UserDeploy)
	var files []string
	for _, d := range exampleDirs {
		m, _ := filepath.Glob(filepath.Join(h.RootDir, d, "*.rules"))
		files = append(files, m...)
	}
	if len(files) < 25 {
		t.Fatalf("%s: only %d shipped rule files", suite, len(files))
	}
	corpus := filepath.Join("testdata", "corpus", suite)
	ran := 0
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".rules")
		rules := shippedRules(t, f)
		if len(rules) == 0 {
			continue // control lines only (-D, -b, -e, -f …)
		}
		ran++
		t.Run(name, func(t *testing.T) {
			listed := readFile(t, filepath.Join(corpus, name+".listed"))
			var pathRefused, otherRefused []int
			for _, l := range strings.Split(readFileOr(filepath.Join(corpus, name+".refused")), "\n") {
				if n, _, ok := strings.Cut(l, ":"); ok {
					i, _ := strconv.Atoi(n)
					pathRefused = append(pathRefused, i)
				}
			}
			for i, l := range listed {
				if strings.HasPrefix(l, "!refused") {
					otherRefused = append(otherRefused, i+1)
				}
			}
			dir := labtest.Write(t, inv, shippedConfig(rules, false))
			if len(pathRefused)+len(otherRefused) > 0 {
				before := h.Sh(t, "auditctl -l; ls -A /etc/audit/rules.d; cat /etc/audit/rules.d/50-shipped.rules 2>&1")
				requireRefused(t, labtest.Apply(t, dir, labtest.Options{}), rules, append(pathRefused, otherRefused...))
				if after := h.Sh(t, "auditctl -l; ls -A /etc/audit/rules.d; cat /etc/audit/rules.d/50-shipped.rules 2>&1"); after != before {
					t.Errorf("a refused apply changed the host:\nbefore:\n%s\nafter:\n%s", before, after)
				}
				if len(otherRefused) > 0 {
					return
				}
				dir = labtest.Write(t, inv, shippedConfig(rules, true))
			}
			p := labtest.Apply(t, dir, labtest.Options{})
			labtest.RequireOK(t, p)
			labtest.RequireEmpty(t, labtest.Plan(t, dir, labtest.Options{}))
			loaded := h.Sh(t, "auditctl -l")
			skipped := map[int]bool{}
			for _, i := range pathRefused {
				skipped[i] = true
			}
			for i, l := range listed {
				if !skipped[i+1] && !strings.Contains(loaded, l+"\n") {
					t.Errorf("rule %d %q: the kernel does not list the recorded %q", i+1, rules[i], l)
				}
			}
		})
	}
	if ran < 20 {
		t.Fatalf("%s: only %d rule sets", suite, ran)
	}
	gone := labtest.Write(t, inv, "resource \"audit_rules\" \"shipped\" {\n  name = \"50-shipped\"\n  ensure = \"absent\"\n}\n")
	labtest.RequireOK(t, labtest.Apply(t, gone, labtest.Options{}))
	labtest.RequireEmpty(t, labtest.Plan(t, gone, labtest.Options{}))
}

// requireRefused: the plan fails and names each refused rule with its line
// in the file (after the header).
func requireRefused(t *testing.T, p *planner.Plan, rules []string, lines []int) {
	t.Helper()
	msg := hostError(p, "h1")
	if !strings.Contains(msg, "nothing is written") {
		t.Fatalf("want a refusal, got %q", msg)
	}
	for _, i := range lines {
		if want := fmt.Sprintf("line %d: %q", i+1, rules[i-1]); !strings.Contains(msg, want) {
			t.Errorf("the refusal does not name %s:\n%s", want, msg)
		}
	}
}

func shippedConfig(rules []string, skip bool) string {
	var b strings.Builder
	b.WriteString("resource \"audit_rules\" \"shipped\" {\n  name = \"50-shipped\"\n")
	if skip {
		b.WriteString("  skip_missing_paths = true\n")
	}
	b.WriteString("  rules = [\n")
	for _, r := range rules {
		fmt.Fprintf(&b, "    %q,\n", r)
	}
	b.WriteString("  ]\n}\n")
	return b.String()
}

// shippedRules are a file's rules without comments and control lines.
func shippedRules(t *testing.T, f string) []string {
	t.Helper()
	fh, err := os.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var out []string
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		l := strings.Join(strings.Fields(sc.Text()), " ")
		if strings.HasPrefix(l, "-a ") || strings.HasPrefix(l, "-A ") || strings.HasPrefix(l, "-w ") {
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func readFile(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func readFileOr(path string) string {
	data, _ := os.ReadFile(path)
	return string(data)
}
