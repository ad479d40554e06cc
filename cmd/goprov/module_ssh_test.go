package main

import (
	"strings"
	"testing"

	"github.com/goprov/goprov/testinfra"
)

// TestSSHHardeningModuleInLab applies modules/ssh-hardening to lab hosts
// through the binary: validate clean, apply (sshd reloaded, a new login
// proven), sshd's effective values as the module says, the next plan
// empty.
func TestSSHHardeningModuleInLab(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 2})
	main := `module "ssh" {
  source       = "../modules/ssh-hardening"
  allow_groups = "deploy sudo"
  extra        = { MaxSessions = 20 }
}
`
	applyModuleInLab(t, lab, "ssh-hardening", main)
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
