package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// One owner per file: two resources that manage the same thing on one host
// would undo each other on every apply (today: "2 to add", then "1 to
// change" forever). validate and plan refuse them, naming both blocks with
// file:line:col; resources aimed at disjoint hosts do not conflict.
func TestOneOwnerPerFile(t *testing.T) {
	cases := []struct {
		dir string
		// want: substrings of the error output; empty means valid.
		want []string
	}{
		{"profile-same-name", []string{"main.hcl:7:10: error: Two resources manage /etc/profile.d/go.sh",
			"profile_script.golang (", "main.hcl:6:1)", "profile_script.go (", "main.hcl:1:1)", `on host "local"`}},
		{"profile-present-and-absent", []string{"main.hcl:7:12: error: Two resources manage /etc/profile.d/go.sh",
			"profile_script.old (", "profile_script.go ("}},
		{"sudoers-same-name", []string{"main.hcl:10:10: error: Two resources manage /etc/sudoers.d/ops",
			"sudoers_dropin.ops_too (", "main.hcl:9:1)", "sudoers_dropin.ops (", "main.hcl:1:1)"}},
		{"audit-same-file", []string{"main.hcl:7:11: error: Two resources manage /etc/audit/rules.d/50-sudo.rules",
			"audit_rules.sudo_exec (", "main.hcl:6:1)", "audit_rules.sudo (", "main.hcl:1:1)"}},
		{"toolchain-same-link", []string{"main.hcl:6:1: error: Two resources manage /usr/local/go",
			"go_toolchain.new (", "main.hcl:6:1)", "go_toolchain.old (", "main.hcl:1:1)"}},
		{"toolchain-same-root", []string{"main.hcl:5:1: error: Two resources manage /usr/local",
			"go_toolchain.next (", "go_toolchain.stable (", "main.hcl:1:1)", "install_root"}},
		{"toolchain-link-is-root", []string{"main.hcl:8:18: error: Two resources manage /opt/go",
			"go_toolchain.b (", "main.hcl:6:1)", "go_toolchain.a (", "main.hcl:1:1)"}},
		{"count-instances", []string{"main.hcl:3:11: error: Two resources manage /etc/profile.d/go.sh",
			"profile_script.go[1] (", "profile_script.go[0] (", "main.hcl:1:1)"}},
		{"module-twice", []string{"env/main.hcl:2:10: error: Two resources manage /etc/profile.d/site-env.sh",
			"module.b.profile_script.env (", "module.a.profile_script.env (", "env/main.hcl:1:1)"}},
		{"overlapping-targets", []string{"main.hcl:17:10: error: Two resources manage /etc/profile.d/site.sh",
			"profile_script.all (", "profile_script.web (", "main.hcl:11:1)", `on host "web1"`}},
		{"two-firewalls", []string{"main.hcl:5:1: error: Two resources manage the host's firewall",
			"firewall.strict (", "firewall.main (", "main.hcl:1:1)"}},
		{"sysctl-same-key", []string{"main.hcl:8:12: error: Two resources manage the kernel setting net.ipv4.conf.all.rp_filter",
			"sysctl.site (", "main.hcl:6:1)", "sysctl.base (", "main.hcl:1:1)"}},
		{"ok-disjoint-hosts", nil},
		{"ok-for-each-names", nil},
	}
	for _, tc := range cases {
		t.Run(tc.dir, func(t *testing.T) {
			dir := filepath.Join("testdata", "owners", tc.dir)
			r := goprov(t, "validate", dir)
			if tc.want == nil {
				if r.code != 0 {
					t.Fatalf("validate: want exit 0, got %d\n%s", r.code, r.stderr)
				}
				return
			}
			if r.code != 1 {
				t.Errorf("validate: want exit 1, got %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("validate: output lacks %q:\n%s", w, r.stderr)
				}
			}
			// plan refuses too, before touching anything.
			root := t.TempDir()
			p := goprov(t, "plan", "-root", root, dir)
			if p.code != 1 || !strings.Contains(p.stderr, tc.want[0]) {
				t.Errorf("plan: want exit 1 and %q, got %d\n%s%s", tc.want[0], p.code, p.stdout, p.stderr)
			}
			if entries, _ := os.ReadDir(root); len(entries) != 0 {
				t.Errorf("plan of a contradictory config changed the root: %v", entries)
			}
		})
	}
}
