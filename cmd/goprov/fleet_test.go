package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/testinfra"
)

// fiveScripts is a config of 5 resources, for read-batching checks.
func fiveScripts() string {
	var b strings.Builder
	for i := 0; i < 5; i++ {
		fmt.Fprintf(&b, "resource \"profile_script\" \"s%d\" {\n  name = \"s%d\"\n  env = {\n    N = \"%d\"\n  }\n}\n", i, i, i)
	}
	return b.String()
}

func countExecs(t testing.TB, lab *testinfra.Lab) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, h := range lab.Hosts {
		log, err := h.SSHDLog()
		if err != nil {
			t.Fatalf("%s: sshd log: %v", h.Name, err)
		}
		out[h.Name] = strings.Count(string(log), "Starting session: command")
	}
	return out
}

// An unreachable host among live ones: the live ones finish, exit code 1,
// the summary names the dead one and the step.
func TestFleetWithUnreachableHost(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 3})
	dead := strings.Join(strings.Split(lab.Hosts[0].Addr, ".")[:3], ".") + ".254" // in the lab subnet, nobody there
	cfg := labtest.Write(t, labtest.Inventory(lab, testinfra.UserDeploy), fmt.Sprintf(`
host "ghost" {
  address       = %q
  user          = "deploy"
  identity_file = %q
  known_hosts   = %q
  become        = true
}
`, dead, lab.KeyPath(testinfra.UserDeploy), lab.KnownHostsPath), fiveScripts())

	start := time.Now()
	r := goprov(t, "apply", "-auto-approve", cfg)
	if r.code != 1 {
		t.Fatalf("apply with an unreachable host: want exit 1, got %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "ghost") || !strings.Contains(r.stdout, "ghost: connect: ") {
		t.Errorf("summary must name the unreachable host and the step:\n%s", r.stdout)
	}
	for _, h := range lab.Hosts {
		if !strings.Contains(r.stdout, fmt.Sprintf("  %-20s applied", h.Name)) {
			t.Errorf("live host %s did not finish:\n%s", h.Name, r.stdout)
		}
	}
	t.Logf("apply with a dead host took %s", time.Since(start).Round(time.Millisecond))

	r = goprov(t, "plan", cfg, "-json")
	if r.code != 1 {
		t.Fatalf("plan: want exit 1, got %d", r.code)
	}
	var doc struct {
		Hosts []struct {
			Name, Status, Error string
			Timings             struct {
				ConnectMS int64 `json:"connect_ms"`
				ReadMS    int64 `json:"read_ms"`
			}
		}
		Summary struct {
			Failed int `json:"failed_hosts"`
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Summary.Failed != 1 {
		t.Errorf("json summary: %d failed hosts, want 1", doc.Summary.Failed)
	}
	for _, h := range doc.Hosts {
		if (h.Name == "ghost") != (h.Status == "failed") {
			t.Errorf("json: host %s status %s (%s)", h.Name, h.Status, h.Error)
		}
	}
}

// A no-op plan costs one exec request per host (the batched read), however
// many resources there are: counted by the hosts' own sshd.
func TestNoOpPlanExecRequests(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 3})
	cfg := labtest.Write(t, labtest.Inventory(lab, testinfra.UserDeploy), fiveScripts())
	if r := goprov(t, "apply", "-auto-approve", cfg); r.code != 0 {
		t.Fatalf("apply: %d %s", r.code, r.stderr)
	}
	before := countExecs(t, lab)
	if r := goprov(t, "plan", cfg, "-detailed-exitcode"); r.code != 0 {
		t.Fatalf("no-op plan: want exit 0, got %d\n%s", r.code, r.stdout)
	}
	after := countExecs(t, lab)
	for _, h := range lab.Hosts {
		if n := after[h.Name] - before[h.Name]; n > 2 || n < 1 {
			t.Errorf("%s: no-op plan made %d exec requests, want 1 (at most 2)", h.Name, n)
		}
	}
}

// BenchmarkNoOpPlan20Hosts: `goprov plan` (the binary) against 20 lab hosts
// with 5 resources each. Reports wall time per plan and exec requests per
// host per plan, counted from sshd's VERBOSE logs.
//
//	go test ./cmd/goprov -run '^$' -bench NoOpPlan20Hosts -benchtime 5x
func BenchmarkNoOpPlan20Hosts(b *testing.B) {
	lab := testinfra.Start(b, testinfra.Options{Hosts: 20})
	cfg := labtest.Write(b, labtest.Inventory(lab, testinfra.UserDeploy), fiveScripts())
	if r := goprov(b, "apply", "-auto-approve", cfg); r.code != 0 {
		b.Fatalf("apply: %d %s", r.code, r.stderr)
	}
	before := countExecs(b, lab)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := goprov(b, "plan", cfg, "-detailed-exitcode"); r.code != 0 {
			b.Fatalf("no-op plan: exit %d\n%s", r.code, r.stdout)
		}
	}
	b.StopTimer()
	after := countExecs(b, lab)
	total := 0
	for _, h := range lab.Hosts {
		total += after[h.Name] - before[h.Name]
	}
	b.ReportMetric(float64(total)/float64(len(lab.Hosts)*b.N), "execs/host")
}

// ProxyJump through another host block, through a user@host spec, and a
// host known only by its ssh_config alias — all through the CLI.
func TestJumpAndSSHConfigOnly(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 3})
	h1, h2, h3 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2]
	key, kh := lab.KeyPath(testinfra.UserDeploy), lab.KnownHostsPath
	cfg := labtest.Write(t, fmt.Sprintf(`
host "bastion" {
  address       = %[1]q
  user          = "deploy"
  identity_file = %[4]q
  known_hosts   = %[5]q
}
host "inner" {
  address       = %[2]q
  user          = "deploy"
  identity_file = %[4]q
  known_hosts   = %[5]q
  jump          = "bastion"
  become        = true
}
host "inner2" {
  address       = %[3]q
  user          = "deploy"
  identity_file = %[4]q
  known_hosts   = %[5]q
  jump          = "deploy@%[1]s:22"
  become        = true
}
resource "profile_script" "j" {
  targets = [host.inner, host.inner2]
  name    = "jumped"
}
`, h1.Addr, h2.Addr, h3.Addr, key, kh))
	if r := goprov(t, "apply", "-auto-approve", cfg); r.code != 0 {
		t.Fatalf("apply through a jump host: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, h := range []*testinfra.Host{h2, h3} {
		// The inner hosts saw the login come from the bastion.
		log, _ := h.SSHDLog()
		if !strings.Contains(string(log), "from "+h1.Addr) {
			t.Errorf("%s: no login from the bastion %s in sshd's log", h.Name, h1.Addr)
		}
		if out, _ := h.MustExec(context.Background(), "ls /etc/profile.d/jumped.sh"); !strings.Contains(out, "jumped.sh") {
			t.Errorf("%s: not applied", h.Name)
		}
	}

	// Host blocks naming just an ssh_config alias (the lab's ssh_config has
	// HostName, User, IdentityFile and UserKnownHostsFile for h1…h3).
	alias := labtest.Write(t, `
host "h1" {
}
host "h2" {
}
resource "profile_script" "a" {
  name = "alias"
}
`)
	if r := goprov(t, "plan", alias, "-detailed-exitcode"); r.code != 1 {
		t.Fatalf("without -ssh-config the alias must not resolve (want exit 1), got %d\n%s", r.code, r.stdout)
	}
	if r := goprov(t, "apply", "-auto-approve", "-ssh-config", lab.SSHConfigPath, alias); r.code != 0 {
		t.Fatalf("apply via ssh_config only: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := goprov(t, "plan", "-ssh-config", lab.SSHConfigPath, alias, "-detailed-exitcode"); r.code != 0 {
		t.Fatalf("next plan not empty: %d\n%s", r.code, r.stdout)
	}
}

// Behind port forwarding (Vagrant's 127.0.0.1:2222 → 22) the lockout guard
// must protect the port sshd really listens on, not the one goprov dials.
func TestLockoutGuardBehindPortForward(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	tunnel := exec.Command("ssh", "-F", lab.SSHConfigPath, "-N", "-o", "ExitOnForwardFailure=yes",
		"-L", fmt.Sprintf("127.0.0.1:%d:%s:22", port, h2.Addr), h1.Name)
	if err := tunnel.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tunnel.Process.Kill(); tunnel.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tunnel never came up: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cfg := labtest.Write(t, fmt.Sprintf(`
host "vm" {
  address         = "127.0.0.1"
  port            = %d
  user            = "deploy"
  identity_file   = %q
  known_hosts     = %q
  host_key_policy = "accept-new"
  become          = true
}
resource "firewall" "main" {
  backend          = "ufw"
  enabled          = true
  default_incoming = "deny"
  default_outgoing = "allow"
}
resource "firewall_rule" "ssh_in" {
  port      = 22
  protocol  = "tcp"
  direction = "in"
  action    = "allow"
}
`, port, lab.KeyPath(testinfra.UserDeploy), filepath.Join(t.TempDir(), "known_hosts")))
	if r := goprov(t, "plan", cfg, "-detailed-exitcode"); r.code != 2 {
		t.Fatalf("plan through a port forward: want exit 2 (changes, no lockout: sshd listens on 22), got %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := goprov(t, "apply", "-auto-approve", cfg); r.code != 0 {
		t.Fatalf("apply: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := goprov(t, "plan", cfg, "-detailed-exitcode"); r.code != 0 {
		t.Fatalf("next plan: %d\n%s", r.code, r.stdout)
	}
}
