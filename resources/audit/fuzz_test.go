package audit

import (
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// FuzzRules: whatever a rule string holds, validation either rejects it or
// the file goprov writes holds exactly that one rule on one line — never a
// smuggled second rule, never an -e line.
func FuzzRules(f *testing.F) {
	for _, s := range []string{"-w /etc/sudoers -p wa -k sudoers_change", "-a always,exit -F arch=b64 -S execve -F path=/usr/bin/sudo -k sudo_exec", "-e 2", "-D", "-w /x\n-e 2", "", "-A always,exit -C 0&\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		v := cty.ObjectVal(map[string]cty.Value{
			"name": cty.StringVal("f"), "ensure": cty.StringVal("present"),
			"rules": cty.ListVal([]cty.Value{cty.StringVal(line)}),
		})
		res, diags := kind{}.New("audit_rules.f", v, nil)
		if diags.HasErrors() {
			return
		}
		text := res.(*Rules).Render(nil)
		var rules []string
		for _, l := range strings.Split(text, "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				rules = append(rules, l)
			}
		}
		if len(rules) != 1 || strings.ContainsAny(text, "\r\x00") {
			t.Fatalf("rule %q rendered as %q", line, text)
		}
		if fs := strings.Fields(rules[0]); len(fs) > 0 && (fs[0] == "-e" || fs[0] == "-D") {
			t.Fatalf("accepted a control rule: %q", line)
		}
	})
}

// FuzzListing: any rule line, parsed and listed with the bookworm host's
// facts, either fails with an error or gives one line that lists the same
// the second time (no panic on hostile values: the listing code indexes
// tables and formats numbers from them).
func FuzzListing(f *testing.F) {
	for _, s := range []string{"-a always,exit -F arch=b64 -S open -F a2&03 -F exit=-EACCES -F auid>=1000 -F auid!=unset -k k",
		"-a always,exit -F perm=x -F path=/usr/bin/yum -F key=k", "-w /etc/x/ -p aw", "-a never,exclude -F msgtype=CWD",
		"-a always,exit -C euid!=uid -F uid=root -S 59", "-a always,exit -F exit=-99999999999 -F inode=-1 -F a0=0x1ffffffff"} {
		f.Add(s)
	}
	var l Listing
	f.Fuzz(func(t *testing.T, line string) {
		if l.Tables == nil {
			l = corpusListing(t, "testdata/corpus/bookworm")
		}
		r, err := ParseRule(line)
		if err != nil {
			return
		}
		a, err := l.Of(r)
		if err != nil {
			return
		}
		b, _ := l.Of(r)
		if a.Line == "" || a.Line != b.Line || strings.Contains(a.Line, "\n") {
			t.Fatalf("%q listed as %q then %q", line, a.Line, b.Line)
		}
	})
}
