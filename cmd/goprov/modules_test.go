package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/testinfra"
)

// repoRoot is the repository root, seen from this package's directory.
const repoRoot = "../.."

// copyTree copies the repository paths rels (directories) into a fresh
// directory, keeping their relative layout, so an example's
// "../../modules/x" sources resolve there too.
func copyTree(t *testing.T, rels ...string) string {
	t.Helper()
	dst := t.TempDir()
	for _, rel := range rels {
		src := filepath.Join(repoRoot, rel)
		err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			r, _ := filepath.Rel(repoRoot, p)
			out := filepath.Join(dst, r)
			if d.IsDir() {
				return os.MkdirAll(out, 0o755)
			}
			if d.Name() == "inventory.hcl" && strings.HasPrefix(rel, "examples/lab") {
				return nil // a developer's copy of their own lab's hosts
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(out, b, 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// applyModuleInLab puts main (a config calling modules/NAME from a copy of
// the tree) beside the lab's inventory and drives the binary through what
// every shipped module must pass: fmt -check, validate without warnings,
// apply, then an empty plan. The test checks the hosts afterwards.
func applyModuleInLab(t *testing.T, lab *testinfra.Lab, name, main string) {
	t.Helper()
	dir := filepath.Join(copyTree(t, "modules"), "cfg")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for file, src := range map[string]string{"main.hcl": main, "inventory.hcl": labtest.Inventory(lab, testinfra.UserDeploy)} {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if r := goprov(t, "fmt", "-check", filepath.Join(repoRoot, "modules", name)); r.code != 0 {
		t.Errorf("fmt -check modules/%s: exit %d\n%s%s", name, r.code, r.stdout, r.stderr)
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
}

// TestShippedModulesInLab applies examples/lab — the three shipped modules
// together — to 3 lab hosts through the binary, checks what each host ends
// up with, and requires the next plan to be empty.
//
// It stays whole: one apply of the three modules, then a check per host of
// what that one apply left, then the empty plan.
func TestShippedModulesInLab(t *testing.T) {
	t.Parallel() // its own lab (or image root): runs beside the other example tests
	lab := testinfra.Start(t, testinfra.Options{Hosts: 3, AuditHosts: []int{0}, Users: []string{"webops"}})
	tree := copyTree(t, "examples/lab", "modules")
	dir := filepath.Join(tree, "examples/lab")
	if err := os.WriteFile(filepath.Join(dir, "inventory.hcl"), []byte(labtest.Inventory(lab, testinfra.UserDeploy)), 0o644); err != nil {
		t.Fatal(err)
	}

	r := goprov(t, "validate", dir)
	if r.code != 0 || strings.Contains(r.stderr, "warning") {
		t.Fatalf("validate: exit %d (the modules must lint clean)\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "3 hosts, 12 resources, 36 resource-host pairs") {
		t.Errorf("validate: %s", r.stdout)
	}

	// The plan examples/lab/README.md shows.
	if r := goprov(t, "plan", "-detailed-exitcode", dir); r.code != 2 || !strings.Contains(r.stdout, "Plan: 24 to add, 3 to change, 0 to destroy.") {
		t.Errorf("first plan: exit %d, want 2 and the README's counts\n%s%s", r.code, r.stdout, r.stderr)
	} else if !strings.Contains(r.stdout, "verify: the login shells of deploy, webops (bash, zsh) are checked after apply") {
		t.Errorf("first plan: go-workstation's verify_users are not checked:\n%s", r.stdout)
	}
	start := time.Now()
	r = goprov(t, "apply", "-auto-approve", dir)
	if r.code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("first apply of the three modules on 3 hosts: %s", time.Since(start).Round(time.Millisecond))
	for _, addr := range []string{
		"module.go.go_toolchain.go", "module.go.profile_script.go",
		"module.sudo.sudoers_dropin.service", "module.sudo.audit_rules.sudo[0]",
		"module.fw.firewall.main", "module.fw.firewall_rule.ssh_in", "module.fw.firewall_rule.https_out[0]",
		`module.fw.firewall_rule.dns_out["udp"]`, `module.fw.firewall_rule.dns_out["tcp"]`,
	} {
		if !strings.Contains(r.stdout, addr) {
			t.Errorf("apply output does not mention %s", addr)
		}
	}

	start = time.Now()
	r = goprov(t, "plan", "-detailed-exitcode", dir)
	if r.code != 0 {
		t.Fatalf("plan after apply: want exit 0 (no changes), got %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("no-op plan: %s", time.Since(start).Round(time.Millisecond))

	for _, h := range lab.Hosts {
		// A login shell finds the new go first, with go.env's defaults.
		out := h.Sh(t, `su -l webops -s /bin/bash -c 'command -v go; go version; go env GOROOT GOPROXY GOSUMDB GOPRIVATE GOTOOLCHAIN; echo "$PATH"'`)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		want := []string{"/usr/local/go/bin/go", "go version go1.22.5 linux/amd64", "/usr/local/go",
			"https://proxy.golang.org,direct", "sum.golang.org", "git.example.internal/*", "local"}
		if len(lines) != len(want)+1 {
			t.Fatalf("%s: login shell:\n%s", h.Name, out)
		}
		for i, w := range want {
			if lines[i] != w {
				t.Errorf("%s: login shell line %d = %q, want %q", h.Name, i+1, lines[i], w)
			}
		}
		if !strings.HasPrefix(lines[len(want)], "/usr/local/go/bin:") {
			t.Errorf("%s: $GOROOT/bin is not first in PATH: %s", h.Name, lines[len(want)])
		}
		if got := strings.TrimSpace(h.Sh(t, "readlink /usr/local/go")); got != "/usr/local/go-1.22.5" {
			t.Errorf("%s: /usr/local/go -> %q", h.Name, got)
		}

		// Least privilege: webops may run exactly the two commands, as
		// www-data, and nothing else.
		out = h.Sh(t, "sudo -l -U webops")
		if !strings.Contains(out, "(www-data) NOPASSWD: /usr/bin/systemctl restart nginx, /usr/bin/journalctl -u nginx -n 200") {
			t.Errorf("%s: sudo -l -U webops:\n%s", h.Name, out)
		}
		out = h.Sh(t, `as() { su -l webops -s /bin/sh -c "$1" >/dev/null 2>&1; echo $?; }
as 'sudo -n -u www-data -l /usr/bin/systemctl restart nginx'
as 'sudo -n -u www-data /usr/bin/id'
as 'sudo -n -u www-data -l /usr/bin/systemctl restart nginx extra'
as 'sudo -n /usr/bin/systemctl restart nginx'`)
		if got := strings.Fields(out); strings.Join(got, " ") != "0 1 1 1" {
			t.Errorf("%s: webops sudo verdicts (listed command, other command, extra argument, as root) = %v, want [0 1 1 1]", h.Name, got)
		}

		// Default-deny both ways, SSH in, HTTPS and DNS out.
		out = h.Sh(t, "ufw status verbose")
		for _, w := range []string{"Status: active", "Default: deny (incoming), deny (outgoing)", "22/tcp", "443/tcp", "53/udp", "53/tcp"} {
			if !strings.Contains(out, w) {
				t.Errorf("%s: ufw status lacks %q:\n%s", h.Name, w, out)
			}
		}
	}
	// Behind default-deny outgoing, HTTPS still goes out (what `go get`
	// needs) and other ports do not: listeners on the controller's lab
	// address stand in for a module proxy and for anything else.
	gw := lab.Gateway()
	var ports []int
	for _, port := range []int{443, 0} {
		ports = append(ports, lab.AcceptAll(t, port))
	}
	for _, h := range lab.Hosts {
		out := h.Sh(t, fmt.Sprintf(`for p in %d %d; do timeout 3 bash -c "exec 3<>/dev/tcp/%s/$p" 2>/dev/null; echo $?; done`, ports[0], ports[1], gw))
		if got := strings.Fields(out); len(got) != 2 || got[0] != "0" || got[1] == "0" {
			t.Errorf("%s: outgoing connections (443, other port) = %v, want 443 open and the other blocked", h.Name, got)
		}
	}

	// The audit host loaded the rules into the kernel.
	out := lab.Hosts[0].Sh(t, "auditctl -l")
	for _, w := range []string{"-w /etc/sudoers -p wa -k sudoers_change", "-w /etc/sudoers.d -p wa -k sudoers_change", "-S execve -F path=/usr/bin/sudo -F key=sudo_exec"} {
		if !strings.Contains(out, w) {
			t.Errorf("h1: auditctl -l lacks %q:\n%s", w, out)
		}
	}
}

// TestLintWarningsInCLI: risky settings print file:line:col warnings from
// validate and plan, and change no exit code.
func TestLintWarningsInCLI(t *testing.T) {
	dir := writeConfig(t, `resource "sudoers_dropin" "ops" {
  name = "ops"
  rule {
    users    = ["%ops"]
    nopasswd = true
    commands = ["ALL"]
  }
  rule {
    users    = ["%ops"]
    commands = ["/usr/bin/journalctl -u *"]
  }
}

resource "profile_script" "go" {
  name = "go"
  env  = { GOFLAGS = "-insecure" }
}

resource "firewall" "fw" {
  default_outgoing = "deny"
}

resource "go_toolchain" "go" {
  version = "1.22.5"
  source  = "dl"
  sha256  = "904b924d435eaea086515bc63235b192ea441bd8c9b198c507e85009e6e4c7f0"
  fetch   = "host"
}
`)
	main := filepath.Join(dir, "main.hcl")
	want := []string{
		main + ":6:16: warning: NOPASSWD: ALL",
		main + ":10:16: warning: Wildcard in a sudo command",
		main + ":16:10: warning: Module verification turned off",
		main + ":27:13: warning: Toolchain download blocked by the firewall",
	}
	r := goprov(t, "validate", dir)
	if r.code != 0 {
		t.Fatalf("validate with warnings: want exit 0, got %d\n%s", r.code, r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w+"\n") {
			t.Errorf("validate: missing %q in:\n%s", w, r.stderr)
		}
	}
	if strings.Contains(r.stdout, "warning") {
		t.Errorf("warnings belong on stderr, stdout:\n%s", r.stdout)
	}

	// plan prints them too, before reading any host (here a scratch root
	// holding only the profile script: the other kinds need tools).
	only := writeConfig(t, `resource "profile_script" "go" {
  name = "go"
  env  = { GOSUMDB = "off" }
}
`)
	requireRoot(t)
	r = goprov(t, "plan", "-detailed-exitcode", "-root", t.TempDir(), only)
	if r.code != 2 || !strings.Contains(r.stderr, filepath.Join(only, "main.hcl")+":3:10: warning: Module verification turned off") {
		t.Fatalf("plan: want exit 2 and the warning, got %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
