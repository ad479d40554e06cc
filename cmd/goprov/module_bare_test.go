package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goprov/goprov/internal/ci"
	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/planner"
	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/testinfra"
)

// labDebs is the lab's cache of Debian's own .debs (scripts/lab-deps.sh).
const labDebs = "/var/cache/goprov-lab/debs/bookworm"

// bareHostConfig: the three shipped baselines, each installing what it
// needs (install_packages defaults to true).
const bareHostConfig = `
module "go" {
  source        = "../modules/go-workstation"
  go_version    = "1.22.5"
  verify_users  = ["deploy"]
  verify_shells = ["bash", "zsh"]
}

module "sudo" {
  source       = "../modules/sudo-audit-baseline"
  users        = ["deploy"]
  service_user = "www-data"
  commands     = ["/usr/bin/journalctl -n 50"]
}

module "fw" {
  source = "../modules/firewall-baseline"
}
`

// TestBaselinesFromBareHost: a host without sudo, auditd, ufw, firewalld and zsh
// (purged from the lab's image; its only apt source is the lab's signed
// mirror, served over HTTP on the lab bridge) gets the three shipped baselines in ONE apply: the plan
// before shows every resource that needs a missing tool as "known after
// apply", naming the package resource; apply installs the packages, then
// reads, plans and applies those resources; the next plan is empty.
func TestBaselinesFromBareHost(t *testing.T) {
	if _, err := os.Stat(filepath.Join(labDebs, ".packages")); err != nil {
		ci.Skip(t, "the lab's package cache is missing: run scripts/lab-deps.sh ("+err.Error()+")")
	}
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	h := lab.Hosts[0]
	// The fleet's own mirror: the cached packages, signed with the lab's
	// archive key, served over HTTP on the lab bridge; the host trusts that
	// key only for that source.
	mirror := lab.ServeDir(t, labDebs)
	key, err := os.ReadFile(filepath.Join(labDebs, "lab-archive-keyring.gpg"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(h.RootDir, "etc/apt/keyrings"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.RootDir, "etc/apt/keyrings/goprov-lab.gpg"), key, 0o644); err != nil {
		t.Fatal(err)
	}
	// No init system in a lab host: maintainer scripts may not start or
	// stop services (policy-rc.d, as in containers), and only dpkg's own
	// removal runs for the purge (the scripts that stop services or clean
	// up after them have no init system to talk to).
	setup := `set -e
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*
echo 'deb [signed-by=/etc/apt/keyrings/goprov-lab.gpg] ` + mirror + `/ ./' > /etc/apt/sources.list.d/goprov-lab.list
rm -rf /var/lib/apt/lists/*
for p in sudo auditd ufw zsh firewalld; do rm -f /var/lib/dpkg/info/$p.prerm /var/lib/dpkg/info/$p.postrm; done
dpkg --purge sudo auditd ufw zsh firewalld </dev/null >/dev/null
for t in visudo auditctl ufw zsh firewalld; do if command -v $t; then exit 1; fi; done`
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := h.MustExec(ctx, setup); err != nil {
		t.Fatal(err)
	}
	tree := copyTree(t, "modules")
	dir := filepath.Join(tree, "bare")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]string{"main.hcl": bareHostConfig, "inventory.hcl": labtest.Inventory(lab, testinfra.UserRoot)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	opts := labtest.Options{Timeout: 10 * time.Minute}
	s := labtest.Load(t, dir, opts)
	p := s.Plan()
	labtest.RequireOK(t, p)
	waits := map[string]string{
		"module.sudo.sudoers_dropin.service": "module.sudo.package.baseline[0]",
		"module.sudo.audit_rules.sudo[0]":    "module.sudo.package.baseline[0]",
		"module.fw.firewall.main":            "module.fw.package.firewall[0]",
		"module.fw.firewall_rule.ssh_in":     "module.fw.package.firewall[0]",
		"module.go.profile_script.go":        "module.go.package.shells[0]",
	}
	for addr, after := range waits {
		c := labtest.Change(p, "h1", addr)
		if c == nil || c.KnownAfterApply != after || c.Summary != "known after apply" {
			t.Errorf("plan: %s: %+v", addr, c)
			continue
		}
		if n := strings.Join(c.Notes, "; "); !strings.Contains(n, "not installed yet: ") || !strings.Contains(n, " after "+after) {
			t.Errorf("plan: %s: notes %q", addr, n)
		}
	}
	if c := labtest.Change(p, "h1", "module.sudo.audit_rules.sudo[0]"); c != nil && !strings.Contains(strings.Join(c.Notes, "; "), "auditctl not installed yet: rules will be loaded and verified after module.sudo.package.baseline[0]") {
		t.Errorf("audit_rules notes: %q", c.Notes)
	}
	for _, addr := range []string{"module.sudo.package.baseline[0]", "module.fw.package.firewall[0]", "module.go.package.shells[0]"} {
		if c := labtest.Change(p, "h1", addr); c == nil || c.Action != resources.Create {
			t.Errorf("plan: %s: %+v", addr, c)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	s.Apply(p)
	labtest.RequireOK(t, p)
	for _, c := range labtest.HostPlan(p, "h1").Changes {
		if c.Action != resources.NoOp && c.Outcome != planner.OutcomeApplied {
			t.Errorf("%s: %s outcome %q %s", c.Address, c.Action, c.Outcome, c.Error)
		}
	}
	out := h.Sh(t, `/usr/sbin/visudo -c >/dev/null && echo sudoers-ok
ufw status | head -n 1
test -s /etc/audit/rules.d/50-sudo-baseline.rules && echo rules-written
su -l deploy -s /usr/bin/zsh -c 'command -v go'`)
	if want := "sudoers-ok\nStatus: active\nrules-written\n/usr/local/go/bin/go\n"; out != want {
		t.Errorf("host after apply:\n%s\nwant:\n%s", out, want)
	}
	labtest.RequireEmpty(t, labtest.Plan(t, dir, opts))
}
