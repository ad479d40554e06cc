package main

import (
	"encoding/json"
	"fmt"
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
	"github.com/goprov/goprov/testinfra/base"
)

// minimalHost is one host of TestBaselinesFromMinimalHosts, named by its
// suite so two labs fit in one inventory.
type minimalHost struct {
	name string
	h    *testinfra.Host
	lab  *testinfra.Lab
}

// startMinimalLab starts n hosts from the minimal base of suite, each
// pointed at the lab's signed mirror of that suite (served over HTTP on
// the lab bridge) as its only apt source.
func startMinimalLab(t *testing.T, suite string, n int, audit []int) []minimalHost {
	t.Helper()
	bc := testinfra.MinimalBaseConfig(suite)
	mirrorDir := bc.MirrorDir()
	if _, err := os.Stat(filepath.Join(mirrorDir, "InRelease")); err != nil {
		// The image and its mirror are built by scripts/lab-deps.sh (signed there).
		if bc.Ready() {
			t.Fatalf("the lab's %s mirror is not signed: run scripts/lab-deps.sh (%v)", suite, err)
		}
		ci.Skip(t, "the lab's minimal "+suite+" image is missing: run scripts/lab-deps.sh")
	}
	lab := testinfra.Start(t, testinfra.Options{Hosts: n, Suite: suite, Minimal: true, AuditHosts: audit})
	url := lab.ServeDir(t, mirrorDir)
	key, err := os.ReadFile(filepath.Join(mirrorDir, "lab-archive-keyring.gpg"))
	if err != nil {
		t.Fatal(err)
	}
	var out []minimalHost
	for _, h := range lab.Hosts {
		if err := os.MkdirAll(filepath.Join(h.RootDir, "etc/apt/keyrings"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(h.RootDir, "etc/apt/keyrings/goprov-lab.gpg"), key, 0o644); err != nil {
			t.Fatal(err)
		}
		// No init system in a lab host: maintainer scripts may not start
		// services (policy-rc.d, as in containers).
		h.Sh(t, `set -e
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*
echo 'deb [signed-by=/etc/apt/keyrings/goprov-lab.gpg] `+url+`/ ./' > /etc/apt/sources.list.d/goprov-lab.list
rm -rf /var/lib/apt/lists/*`)
		out = append(out, minimalHost{name: suite + "-" + h.Name, h: h, lab: lab})
	}
	return out
}

// minimalInventory is one host block per host (root by key: a bare host
// has no sudo yet).
func minimalInventory(hosts []minimalHost) string {
	var b strings.Builder
	for _, m := range hosts {
		fmt.Fprintf(&b, "host %q {\n  address       = %q\n  user          = \"root\"\n  identity_file = %q\n  known_hosts   = %q\n}\n\n",
			m.name, m.h.Addr, m.lab.KeyPath(testinfra.UserRoot), m.lab.KnownHostsPath)
	}
	return b.String()
}

// goprovJSONPlan runs `goprov plan -json dir` and decodes the plan.
func goprovJSONPlan(t *testing.T, dir string) *planner.Plan {
	t.Helper()
	r := goprov(t, "plan", "-json", dir)
	if r.code != 0 {
		t.Fatalf("goprov plan: exit %d\n%s\n%s", r.code, r.stderr, r.stdout)
	}
	var p planner.Plan
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
		t.Fatalf("plan -json: %v\n%.3000s", err, r.stdout)
	}
	return &p
}

// TestBaselinesFromMinimalHosts: three hosts started from the lab's minimal
// base (debootstrap minbase + sshd: no sudo, auditd, ufw, firewalld, zsh),
// two Debian 12 and one Debian 13, whose only apt source is the lab's signed
// mirror of their release. A package the mirror lacks fails at apply with
// apt's message and leaves every host's package state as it was; then the
// three shipped baselines go on in ONE `goprov apply`, the plan before it
// showing the resources that need a missing tool "known after apply" of the
// package resource that installs it; the next plan is empty.
func TestBaselinesFromMinimalHosts(t *testing.T) {
	requireRoot(t)
	start := time.Now()
	// bookworm-h1 is an audit host: the baseline's rules really load there
	// (the kernel takes them only from the initial PID namespace).
	hosts := append(startMinimalLab(t, base.Bookworm, 2, []int{0}), startMinimalLab(t, base.Trixie, 1, nil)...)
	t.Logf("labs up in %s", time.Since(start).Round(time.Millisecond))
	for _, m := range hosts {
		if out := m.h.Sh(t, `for t in sudo visudo auditctl ufw firewalld zsh; do command -v $t || true; done`); out != "" {
			t.Fatalf("%s is not bare: %q", m.name, out)
		}
	}
	tree := copyTree(t, "modules")
	inv := minimalInventory(hosts)

	// A name the mirror lacks (fish is Debian's, not the mirror's): apt
	// refuses the whole install, zsh included; dpkg's state is unchanged.
	missing := filepath.Join(tree, "missing")
	writeFiles(t, missing, map[string]string{"inventory.hcl": inv,
		"main.hcl": "resource \"package\" \"shells\" {\n  names = [\"zsh\", \"fish\"]\n}\n"})
	before := map[string]string{}
	for _, m := range hosts {
		before[m.name] = m.h.Sh(t, "dpkg -l")
	}
	r := goprov(t, "apply", "-auto-approve", missing)
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "Unable to locate package fish") {
		t.Fatalf("apply of a package the mirror lacks: exit %d, want apt's message\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, m := range hosts {
		if after := m.h.Sh(t, "dpkg -l"); after != before[m.name] {
			t.Errorf("%s: package state changed by a failed apply:\nbefore:\n%s\nafter:\n%s", m.name, before[m.name], after)
		}
	}

	dir := filepath.Join(tree, "bare")
	writeFiles(t, dir, map[string]string{"inventory.hcl": inv, "main.hcl": bareHostConfig})
	p := goprovJSONPlan(t, dir)
	waits := map[string]string{
		"module.sudo.sudoers_dropin.service": "module.sudo.package.baseline[0]",
		"module.sudo.audit_rules.sudo[0]":    "module.sudo.package.baseline[0]",
		"module.fw.firewall.main":            "module.fw.package.firewall[0]",
		"module.fw.firewall_rule.ssh_in":     "module.fw.package.firewall[0]",
		"module.go.profile_script.go":        "module.go.package.shells[0]",
	}
	for _, m := range hosts {
		hp := labtest.HostPlan(p, m.name)
		if hp == nil || hp.Status == planner.StatusFailed {
			t.Fatalf("plan: %s: %+v", m.name, hp)
		}
		for addr, after := range waits {
			c := labtest.Change(p, m.name, addr)
			if c == nil || c.KnownAfterApply != after || c.Summary != "known after apply" ||
				!strings.Contains(strings.Join(c.Notes, "; "), "not installed yet: ") {
				t.Errorf("plan: %s: %s: %+v", m.name, addr, c)
			}
		}
		for _, addr := range []string{"module.sudo.package.baseline[0]", "module.fw.package.firewall[0]", "module.go.package.shells[0]"} {
			if c := labtest.Change(p, m.name, addr); c == nil || c.Action != resources.Create {
				t.Errorf("plan: %s: %s: %+v", m.name, addr, c)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	start = time.Now()
	if r := goprov(t, "apply", "-auto-approve", dir); r.code != 0 {
		t.Fatalf("goprov apply: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("one apply on %d hosts: %s", len(hosts), time.Since(start).Round(time.Millisecond))
	for _, m := range hosts {
		out := m.h.Sh(t, `/usr/sbin/visudo -c >/dev/null && echo sudoers-ok
ufw status | head -n 1
test -s /etc/audit/rules.d/50-sudo-baseline.rules && echo rules-written
su -l deploy -s /usr/bin/zsh -c 'command -v go'`)
		if want := "sudoers-ok\nStatus: active\nrules-written\n/usr/local/go/bin/go\n"; out != want {
			t.Errorf("%s after apply:\n%s\nwant:\n%s", m.name, out, want)
		}
	}
	// On the audit host the kernel holds the rules, behind the lab's
	// auditctl guard (put in front of the auditctl apt installed).
	out := hosts[0].h.Sh(t, `grep -c goprov-lab /usr/sbin/auditctl; auditctl -l | grep -c 'sudoers_change\|sudo_exec'`)
	if out != "1\n3\n" {
		t.Errorf("%s: guard and loaded rules: %q, want 1 and 3", hosts[0].name, out)
	}
	if r := goprov(t, "plan", "-detailed-exitcode", dir); r.code != 0 {
		t.Errorf("the plan after apply is not empty: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
