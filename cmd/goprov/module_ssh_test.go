package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/testinfra"
)

// TestSSHHardeningModuleInLab applies modules/ssh-hardening to lab hosts
// through the binary: validate clean, apply (sshd reloaded, a new login
// proven), sshd's effective values as the module says, the next plan
// empty.
func TestSSHHardeningModuleInLab(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 2})
	tree := copyTree(t, "modules")
	dir := filepath.Join(tree, "cfg")
	main := `module "ssh" {
  source       = "../modules/ssh-hardening"
  allow_groups = "deploy sudo"
  extra        = { MaxSessions = 20 }
}
`
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]string{"main.hcl": main, "inventory.hcl": labtest.Inventory(lab, testinfra.UserDeploy)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if r := goprov(t, "fmt", "-check", filepath.Join(repoRoot, "modules/ssh-hardening")); r.code != 0 {
		t.Errorf("fmt -check modules/ssh-hardening: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := goprov(t, "validate", dir); r.code != 0 || strings.Contains(r.stderr, "warning") {
		t.Fatalf("validate: exit %d (the module must lint clean)\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := goprov(t, "apply", "-auto-approve", dir); r.code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := goprov(t, "plan", "-detailed-exitcode", dir); r.code != 0 {
		t.Fatalf("plan after apply: want exit 0, got %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, h := range lab.Hosts {
		got := h.Sh(t, "sshd -T -C user=deploy,host=x,addr=10.0.0.1 | grep -E '^(passwordauthentication|maxauthtries|x11forwarding|allowgroups|maxsessions) ' | sort")
		want := "allowgroups deploy\nallowgroups sudo\nmaxauthtries 3\nmaxsessions 20\npasswordauthentication no\nx11forwarding no\n"
		if got != want {
			t.Errorf("%s: effective:\n%s\nwant:\n%s", h.Name, got, want)
		}
		if got := h.Sh(t, "head -n 1 /etc/ssh/sshd_config.d/50-ssh-hardening.conf"); !strings.Contains(got, "module.ssh.sshd_config.hardening") {
			t.Errorf("%s: %q", h.Name, got)
		}
	}
}
