package sudoers

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/resources/resourcetest"
)

func decode(t *testing.T, src string) (*Dropin, hcl.Diagnostics) {
	t.Helper()
	r, diags := resourcetest.Decode(t, kind{}, "sudoers_dropin.t", src)
	x, _ := r.(*Dropin)
	return x, diags
}

const okRule = `
rule {
  users    = ["%devops"]
  commands = ["/usr/bin/systemctl status httpd"]
}`

func TestValidation(t *testing.T) {
	rule := func(attrs string) string {
		return "name = \"x\"\nrule {\n" + attrs + "\n}\n"
	}
	cases := []resourcetest.Case{
		{`name = "devops"` + okRule, ""},
		{rule(`users = ["u"]
commands = ["/"]`), "Invalid command"}, // found by FuzzRule: visudo rejects it
		{rule(`users = ["u"]
commands = ["/usr/bin/"]`), ""}, // a directory: every program in it
		{`name = "dev_ops-2"` + okRule, ""},
		{`name = "a.b"` + okRule, "Invalid sudoers_dropin name"},
		{`name = "backup~"` + okRule, "Invalid sudoers_dropin name"},
		{`name = "../../etc/passwd"` + okRule, "Invalid sudoers_dropin name"},
		{"name = \"a\\nb\"" + okRule, "Invalid sudoers_dropin name"},
		{`name = "x"`, "No rules"},
		{`name = "x"` + "\nensure = \"absent\"", ""},
		{`name = "x"` + "\nensure = \"gone\"" + okRule, "Invalid ensure"},
		{`name = "x"` + "\ncontent = \"deploy ALL=(ALL) ALL\\n\"", ""},
		{`name = "x"` + "\ncontent = \"x\"" + okRule, "Both rule and content"},
		{`name = "x"` + "\ncontent = \"  \\n\"", "Empty content"},
		{`name = "x"` + "\ncontent = \"a\\u0000b\"", "NUL byte in content"},
		{rule(`users = ["alice", "%wheel", "%:admins", "+netgrp", "#1000", "%#50", "!bob", "ADMINS"]
commands = ["ALL"]`), ""},
		{rule(`users = []
commands = ["ALL"]`), "Empty users"},
		{rule(`users = ["alice, bob"]
commands = ["ALL"]`), "Invalid user"},
		{rule(`users = ["alice ALL=(ALL) NOPASSWD: ALL\nbob"]
commands = ["ALL"]`), "Invalid user"},
		{rule(`users = ["a:b"]
commands = ["ALL"]`), "Invalid user"},
		{rule(`users = ["a=b"]
commands = ["ALL"]`), "Invalid user"},
		{rule(`users = ["a#b"]
commands = ["ALL"]`), "Invalid user"},
		{rule(`users = ["a\\b"]
commands = ["ALL"]`), "Invalid user"},
		{rule(`users = ["u"]
hosts = ["web1", "10.0.0.0/255.0.0.0", "!db", "+servers"]
commands = ["ALL"]`), ""},
		{rule(`users = ["u"]
hosts = []
commands = ["ALL"]`), "Empty hosts"},
		{rule(`users = ["u"]
hosts = ["ALL = (ALL) ALL"]
commands = ["ALL"]`), "Invalid host"},
		{rule(`users = ["u"]
runas = "root:wheel"
commands = ["ALL"]`), "Invalid runas"},
		{rule(`users = ["u"]
runas = "!root"
commands = ["ALL"]`), "Invalid runas"},
		{rule(`users = ["u"]
runas = "monitor) ALL, (root"
commands = ["ALL"]`), "Invalid runas"},
		{rule(`users = ["u"]
commands = []`), "Empty commands"},
		{rule(`users = ["u"]
commands = ["systemctl status httpd"]`), "Invalid command"},
		{rule(`users = ["u"]
commands = ["./run.sh"]`), "Invalid command"},
		{rule(`users = ["u"]
commands = ["!/usr/bin/su"]`), "Invalid command"},
		{rule(`users = ["u"]
commands = ["/bin/echo a\nu ALL=(ALL) NOPASSWD: ALL"]`), "Invalid command"},
		{rule(`users = ["u"]
commands = ["/bin/echo a\\,b"]`), "Invalid command"},
		{rule(`users = ["u"]
commands = ["/bin/echo \"two words\""]`), "Invalid command"},
		{rule(`users = ["u"]
commands = ["/bin/ls \"\""]`), ""},
		{rule(`users = ["u"]
commands = ["/usr/bin/a,b"]`), "Invalid command"},
		{rule(`users = ["u"]
commands = ["ALL /bin/sh"]`), "Invalid command"},
		{rule(`users = ["u"]
commands = ["sudoedit /etc/hosts", "sudoedit"]`), "Invalid command"},
		{rule(`users = ["u"]
commands = ["/bin/echo a,b c:d e=f #g ; $(id) 'q' *"]`), ""}, // escaped or inert
	}
	resourcetest.Validation(t, kind{}, "sudoers_dropin.t", cases)
}

// The diagnostic for a bad list element points at that element.
func TestDiagnosticPointsAtElement(t *testing.T) {
	_, diags := decode(t, "name = \"x\"\nrule {\n  users = [\"u\"]\n  commands = [\"/bin/ok\", \"relative\"]\n}\n")
	if len(diags) != 1 {
		t.Fatalf("want 1 diagnostic, got %v", diags)
	}
	if r := diags[0].Subject; r.Start.Line != 4 || r.Start.Column != 26 {
		t.Fatalf("diagnostic at %v, want t.hcl:4,26", r)
	}
}

func TestRender(t *testing.T) {
	d, diags := decode(t, `name = "devops"
rule {
  users    = ["%devops"]
  runas    = "monitor"
  nopasswd = true
  commands = ["/usr/bin/systemctl status httpd", "/bin/journalctl   -u httpd -n 50"]
}
rule {
  users    = ["alice", "bob"]
  hosts    = ["web1", "web2"]
  commands = ["/bin/echo a,b c:d e=f #g"]
}`)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	want := `# Managed by goprov (sudoers_dropin.t). Local edits are overwritten on the next apply.
%devops ALL = (monitor) NOPASSWD: /usr/bin/systemctl status httpd, /bin/journalctl -u httpd -n 50
alice, bob web1, web2 = (root) /bin/echo a\,b c\:d e\=f \#g
`
	if got := d.Render(); got != want {
		t.Errorf("Render:\n%s\nwant:\n%s", got, want)
	}
	c := "raw\ncontent"
	if got := (&Dropin{Content: &c}).Render(); got != c {
		t.Errorf("content rendered as %q", got)
	}
}

func TestParseVerdict(t *testing.T) {
	cases := []struct {
		out     string
		want    Verdict
		wantErr string
	}{
		{"ok\n", Verdict{Checked: true}, ""},
		{"rejected\nstdin:1:9: syntax error\nthis is not sudoers\n        ^~~\n", Verdict{Checked: true, Rejected: true,
			Message: "stdin:1:9: syntax error\nthis is not sudoers\n        ^~~"}, ""},
		{"unchecked visudo cannot read stdin\n", Verdict{Message: "visudo cannot read stdin"}, ""},
		{"unchecked /usr/sbin/visudo not found\n", Verdict{Message: "/usr/sbin/visudo not found"}, ""},
		{"", Verdict{}, `visudo check: unrecognised answer ""`},
		{"Segmentation fault\n", Verdict{}, `visudo check: unrecognised answer "Segmentation fault\n"`},
	}
	for _, tc := range cases {
		got, err := ParseVerdict([]byte(tc.out))
		if got != tc.want || (err == nil) != (tc.wantErr == "") || (err != nil && err.Error() != tc.wantErr) {
			t.Errorf("ParseVerdict(%q) = %+v, %v; want %+v, %q", tc.out, got, err, tc.want, tc.wantErr)
		}
	}
}

// multi builds MultiProbe output from its parts, as the host would print it.
func multi(parts ...string) []byte {
	return resources.MultiOutput(parts...)
}

func TestDiff(t *testing.T) {
	d, diags := decode(t, `name = "devops"`+okRule)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	h := &resources.Host{Root: "/"}
	want := d.Render()
	cases := []struct {
		name    string
		probe   []byte
		action  resources.Action
		note    string // a substring of the notes
		wantErr string
	}{
		{"absent", multi("absent\n", "ok\n", "yes\n"), resources.Create, "", ""},
		{"same", multi("file 440 0 0\n"+want, "ok\n", "yes\n"), resources.NoOp, "", ""},
		{"mode", multi("file 644 0 0\n"+want, "ok\n", "yes\n"), resources.Update, "mode 0644 → 0440", ""},
		{"changed", multi("file 440 0 0\nold\n", "ok\n", "yes\n"), resources.Update, "", ""},
		{"rejected", multi("absent\n", "rejected\nstdin:1:9: syntax error\n", "yes\n"), "", "", "visudo rejects the content for /etc/sudoers.d/devops (nothing was written): stdin:1:9: syntax error"},
		{"sudo-rs", multi("absent\n", "unchecked visudo cannot read stdin\n", "yes\n"), resources.Create, "not checked at plan time (visudo cannot read stdin)", ""},
		{"no includedir", multi("absent\n", "ok\n", "no\n"), resources.Create, "/etc/sudoers has no @includedir /etc/sudoers.d line", ""},
		{"bad probe", []byte("garbage"), "", "", "probe"},
		// An answer the check never gives fails the plan, quoted, instead
		// of passing as "not checked at plan time".
		{"unknown answer", multi("absent\n", "sudo: something odd\n", "yes\n"), "", "", `visudo check: unrecognised answer "sudo: something odd\n"`},
	}
	for _, tc := range cases {
		ch, err := d.Diff(h, tc.probe)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: want error %q, got %v", tc.name, tc.wantErr, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if ch.Action != tc.action {
			t.Errorf("%s: action %s, want %s", tc.name, ch.Action, tc.action)
		}
		if tc.note != "" && !strings.Contains(strings.Join(ch.Notes, "\n"), tc.note) {
			t.Errorf("%s: notes %q lack %q", tc.name, ch.Notes, tc.note)
		}
		if tc.action == resources.Create && !strings.Contains(ch.Diff, "+%devops ALL = (root) /usr/bin/systemctl status httpd") {
			t.Errorf("%s: no unified diff in the plan: %q", tc.name, ch.Diff)
		}
	}
	// Absent: a present file is deleted, no visudo verdict needed.
	gone, _ := decode(t, "name = \"devops\"\nensure = \"absent\"")
	if ch, err := gone.Diff(h, multi("file 440 0 0\nx\n", "absent\n", "yes\n")); err != nil || ch.Action != resources.Delete {
		t.Errorf("absent: %v %v", ch.Action, err)
	}
}

// The plan-time check embeds the candidate content quoted, so hostile
// content is inert text for the shell; large content is left to apply.
func TestCheckProbeQuoting(t *testing.T) {
	p := checkProbe(&resources.Host{Root: "/"}, "x'; touch /tmp/pwned; '")
	if !strings.Contains(p, `'x'\''; touch /tmp/pwned; '\'''`) {
		t.Errorf("content not quoted:\n%s", p)
	}
	if p := checkProbe(&resources.Host{Root: "/"}, strings.Repeat("a", maxProbeContent+1)); !strings.Contains(p, "unchecked content too large") {
		t.Errorf("large content embedded:\n%.200s", p)
	}
}
