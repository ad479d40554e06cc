package sysctl_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goprov/goprov/internal/ci"

	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/planner"
	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/testinfra"

	_ "github.com/goprov/goprov/resources/all"
)

func change(t *testing.T, p *planner.Plan, host, addr string) *planner.ResourceChange {
	t.Helper()
	c := labtest.Change(p, host, addr)
	if c == nil {
		hp := labtest.HostPlan(p, host)
		msg := ""
		if hp != nil {
			msg = hp.Error
		}
		t.Fatalf("%s: no change for %s (host error: %s)", host, addr, msg)
	}
	return c
}

func hostError(p *planner.Plan, host string) string {
	if hp := labtest.HostPlan(p, host); hp != nil {
		return hp.Error
	}
	return ""
}

// The kernel.* key is set on h1 only: every lab host shares the
// machine's kernel, so applying it on h1 would change h2's state between
// its plan and its apply (a stale plan there, rightly).
const hardening = `
resource "sysctl" "hardening" {
  name   = "60-hardening"
  values = {
    "net.ipv4.conf.all.rp_filter"  = 1
    "net.ipv4.ip_local_port_range" = "40000    50000"
    "net/ipv4/tcp_syncookies"      = 1
  }
  ensure = "%ENSURE%"
}

resource "sysctl" "kernel" {
  targets = [host.h1]
  name    = "61-kernel"
  values  = { "kernel.kptr_restrict" = %KPTR% }
  ensure  = "%ENSURE%"
}
`

func hardeningConfig(kptr, ensure string) string {
	return strings.NewReplacer("%KPTR%", kptr, "%ENSURE%", ensure).Replace(hardening)
}

// TestSysctlOnLabHosts: net.* keys are per network namespace, so each lab
// host has its own; kernel.kptr_restrict is the machine's, saved and
// restored around the test under the machine-wide sysctl lock.
//
// It stays whole: its named subtests share one lab and the saved machine-wide
// kptr_restrict, and run in order, each on the state the one before left.
func TestSysctlOnLabHosts(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 2})
	inv := labtest.Inventory(lab, testinfra.UserDeploy)
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	labtest.HoldMachineSysctls(t, "kernel/kptr_restrict")
	kptr := "1"
	if old, err := os.ReadFile("/proc/sys/kernel/kptr_restrict"); err == nil && strings.TrimSpace(string(old)) == "1" {
		kptr = "0"
	}
	base := labtest.Write(t, inv, hardeningConfig(kptr, "present"))
	const addr = "sysctl.hardening"
	const file = "/etc/sysctl.d/60-hardening.conf"
	values := "sysctl -n net.ipv4.conf.all.rp_filter net.ipv4.ip_local_port_range net.ipv4.tcp_syncookies kernel.kptr_restrict"

	t.Run("apply writes the file and loads it, then the next plan is empty", func(t *testing.T) {
		h1.Sh(t, "sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.tcp_syncookies=0")
		p := labtest.Plan(t, base, labtest.Options{})
		labtest.RequireOK(t, p)
		for _, h := range []string{"h1", "h2"} {
			if c := change(t, p, h, addr); c.Action != resources.Create || !strings.Contains(c.Diff, "+net.ipv4.ip_local_port_range = 40000 50000") {
				t.Errorf("%s: %s\n%s", h, c.Action, c.Diff)
			}
		}
		if n := strings.Join(change(t, p, "h1", addr).Notes, "; "); !strings.Contains(n, "net.ipv4.conf.all.rp_filter 0 → 1") {
			t.Errorf("h1 plan notes: %s", n)
		}
		labtest.RequireOK(t, labtest.Load(t, base, labtest.Options{}).Apply(p))
		for _, h := range lab.Hosts {
			// kernel.kptr_restrict is the machine's: h2 sees h1's setting.
			if got, want := h.Sh(t, values), "1\n40000\t50000\n1\n"+kptr+"\n"; got != want {
				t.Errorf("%s: live values %q, want %q", h.Name, got, want)
			}
			got := h.Sh(t, "stat -c '%a %U %G' "+file+"; cat "+file+"; ls -A /etc/sysctl.d")
			if !strings.HasPrefix(got, "644 root root\n") || !strings.Contains(got, "\nnet.ipv4.tcp_syncookies = 1\n") || strings.Contains(got, ".goprov") {
				t.Errorf("%s: %s", h.Name, got)
			}
		}
		if got := h1.Sh(t, "cat /etc/sysctl.d/61-kernel.conf"); !strings.Contains(got, "\nkernel.kptr_restrict = "+kptr+"\n") {
			t.Errorf("h1: 61-kernel.conf: %q", got)
		}
		labtest.RequireEmpty(t, labtest.Plan(t, base, labtest.Options{}))
	})

	t.Run("a live value that drifted is an update that reloads the file", func(t *testing.T) {
		h1.Sh(t, "sysctl -qw net.ipv4.conf.all.rp_filter=0")
		p := labtest.Plan(t, base, labtest.Options{})
		labtest.RequireOK(t, p)
		c := change(t, p, "h1", addr)
		if n := strings.Join(c.Notes, "; "); c.Action != resources.Update || c.Diff != "" || !strings.Contains(n, "reload: net.ipv4.conf.all.rp_filter is 0, file says 1") {
			t.Fatalf("h1: %s %q %q", c.Action, n, c.Diff)
		}
		if c := change(t, p, "h2", addr); c.Action != resources.NoOp {
			t.Errorf("h2 did not drift, yet %s", c.Action)
		}
		labtest.RequireOK(t, labtest.Load(t, base, labtest.Options{}).Apply(p))
		if got := h1.Sh(t, "sysctl -n net.ipv4.conf.all.rp_filter"); got != "1\n" {
			t.Errorf("h1: rp_filter %q after the reload", got)
		}
		labtest.RequireEmpty(t, labtest.Plan(t, base, labtest.Options{}))
	})

	t.Run("a key this kernel does not have is refused at plan, nothing written", func(t *testing.T) {
		unknown := labtest.Write(t, inv, `
resource "sysctl" "typo" {
  name   = "61-typo"
  values = { "net.ipv4.tcp_syncookie" = 1, "net.ipv4.conf.all.rp_filter" = 1, "kernel.ostype" = "Linux" }
}
`)
		p := labtest.Plan(t, unknown, labtest.Options{Limit: "host.h1"})
		if msg := hostError(p, "h1"); !strings.Contains(msg, "net.ipv4.tcp_syncookie") || !strings.Contains(msg, "no such key on this kernel") ||
			!strings.Contains(msg, "kernel.ostype: read-only here") {
			t.Fatalf("want the unknown key named, got %q", msg)
		}
		p = labtest.Apply(t, unknown, labtest.Options{Limit: "host.h1"})
		if hostError(p, "h1") == "" {
			t.Fatal("apply of an unknown key succeeded")
		}
		if got := h1.Sh(t, "ls -A /etc/sysctl.d"); strings.Contains(got, "61-typo") || strings.Contains(got, ".goprov") {
			t.Fatalf("written anyway: %s", got)
		}
	})

	t.Run("a file applied after this one that sets a key differently is noted on every plan", func(t *testing.T) {
		h1.Sh(t, "printf 'net.ipv4.conf.all.rp_filter = 2\\n' > /etc/sysctl.d/70-later.conf")
		defer h1.Sh(t, "rm -f /etc/sysctl.d/70-later.conf")
		for i := 0; i < 2; i++ {
			p := labtest.Plan(t, base, labtest.Options{})
			labtest.RequireEmpty(t, p)
			n := strings.Join(change(t, p, "h1", addr).Notes, "; ")
			if !strings.Contains(n, "/etc/sysctl.d/70-later.conf sets net.ipv4.conf.all.rp_filter = 2 after this file") {
				t.Fatalf("plan %d: h1 notes %q", i+1, n)
			}
			if n := strings.Join(change(t, p, "h2", addr).Notes, "; "); strings.Contains(n, "70-later") {
				t.Fatalf("h2 has no such file, yet %q", n)
			}
		}
	})

	t.Run("a value the kernel refuses fails the apply and leaves file and kernel as they were", func(t *testing.T) {
		before := h1.Sh(t, "cat "+file+"; sysctl -n net.ipv4.ip_default_ttl net.ipv4.ip_local_port_range")
		refused := labtest.Write(t, inv, `
resource "sysctl" "hardening" {
  name   = "60-hardening"
  values = {
    "net.ipv4.ip_default_ttl"      = 33
    "net.ipv4.ip_local_port_range" = "50000 40000"
  }
}
`)
		p := labtest.Apply(t, refused, labtest.Options{Limit: "host.h1"})
		if msg := hostError(p, "h1"); !strings.Contains(msg, `setting key "net.ipv4.ip_local_port_range": Invalid argument`) ||
			!strings.Contains(msg, "the previous live values are restored") || !strings.Contains(msg, "previous content restored") {
			t.Fatalf("want the refused key named and the restore said, got %q", msg)
		}
		if after := h1.Sh(t, "cat "+file+"; sysctl -n net.ipv4.ip_default_ttl net.ipv4.ip_local_port_range"); after != before {
			t.Fatalf("host changed by a failed apply:\nbefore %q\nafter  %q", before, after)
		}
		if got := h1.Sh(t, "ls -A /etc/sysctl.d"); strings.Contains(got, ".goprov") {
			t.Fatalf("temp files left: %s", got)
		}
		labtest.RequireEmpty(t, labtest.Plan(t, base, labtest.Options{Limit: "host.h1"}))
	})

	t.Run("hostile values are written as data and never executed", func(t *testing.T) {
		hostile := labtest.Write(t, inv, `
resource "sysctl" "hostile" {
  name   = "62-hostile"
  values = { "net.ipv4.tcp_congestion_control" = "$(touch /tmp/pwned) `+"`touch /tmp/pwned`"+` ; touch /tmp/pwned ' ; touch /tmp/pwned ; '" }
}
`)
		p := labtest.Apply(t, hostile, labtest.Options{Limit: "host.h1"})
		if msg := hostError(p, "h1"); !strings.Contains(msg, "net.ipv4.tcp_congestion_control") {
			t.Fatalf("the kernel has no such congestion control; want the refusal, got %q", msg)
		}
		if got := h1.Sh(t, "ls /tmp/pwned 2>&1; ls -A /etc/sysctl.d; sysctl -n net.ipv4.tcp_congestion_control"); !strings.Contains(got, "No such file") || strings.Contains(got, "62-hostile") || strings.Contains(got, "pwned\n") {
			t.Fatalf("h1: %q", got)
		}
		if _, err := os.Stat("/tmp/pwned"); err == nil {
			t.Fatal("/tmp/pwned on the controller")
		}
	})

	t.Run("a connection cut between the write and the load is a reload on the next plan", func(t *testing.T) {
		cut := labtest.Write(t, inv, strings.Replace(hardeningConfig(kptr, "present"), `"net.ipv4.conf.all.rp_filter"  = 1`, `"net.ipv4.conf.all.rp_filter"  = 2`, 1))
		// sysctl that says it started, then hangs before loading anything:
		// the cut (sshd and the session killed outright) lands in between.
		s := labtest.Load(t, cut, labtest.Options{Limit: "host.h1"})
		p := s.Plan()
		labtest.RequireOK(t, p)
		p = labtest.ApplyCutDuring(t, s, p, h1, "/usr/sbin/sysctl")
		if hp := labtest.HostPlan(p, "h1"); hp.Status != planner.StatusFailed {
			t.Fatalf("apply through a cut connection: status %s", hp.Status)
		}
		if got := h1.Sh(t, "grep rp_filter "+file+"; cat /proc/sys/net/ipv4/conf/all/rp_filter"); got != "net.ipv4.conf.all.rp_filter = 2\n1\n" {
			t.Fatalf("want the new file, the old live value: %q", got)
		}
		p = labtest.Plan(t, cut, labtest.Options{Limit: "host.h1"})
		c := change(t, p, "h1", addr)
		if n := strings.Join(c.Notes, "; "); c.Action != resources.Update || c.Diff != "" || !strings.Contains(n, "reload: net.ipv4.conf.all.rp_filter is 1, file says 2") {
			t.Fatalf("plan after the cut: %s %q %q", c.Action, n, c.Diff)
		}
		labtest.RequireOK(t, labtest.Load(t, cut, labtest.Options{Limit: "host.h1"}).Apply(p))
		labtest.RequireEmpty(t, labtest.Plan(t, cut, labtest.Options{Limit: "host.h1"}))
		// Back to the shared configuration for the next subtest.
		labtest.RequireOK(t, labtest.Apply(t, base, labtest.Options{Limit: "host.h1"}))
	})

	t.Run("ensure absent removes the file and leaves the live values", func(t *testing.T) {
		gone := labtest.Write(t, inv, hardeningConfig(kptr, "absent"))
		p := labtest.Apply(t, gone, labtest.Options{})
		labtest.RequireOK(t, p)
		c := change(t, p, "h1", addr)
		if n := strings.Join(c.Notes, "; "); c.Action != resources.Delete || !strings.Contains(n, "live values stay") {
			t.Errorf("h1: %s %q", c.Action, n)
		}
		for _, h := range []*testinfra.Host{h1, h2} {
			if got := h.Sh(t, "ls -A /etc/sysctl.d; sysctl -n net.ipv4.conf.all.rp_filter"); strings.Contains(got, "60-hardening") || !strings.HasSuffix(got, "\n1\n") {
				t.Errorf("%s: %q", h.Name, got)
			}
		}
		labtest.RequireEmpty(t, labtest.Plan(t, gone, labtest.Options{}))
	})
}

// TestSysctlImageRoot: into an image root only the file is written;
// nothing is loaded into the kernel of the machine building the image.
func TestSysctlImageRoot(t *testing.T) {
	ci.RequireRoot(t, "the local transport runs privileged steps through sudo otherwise")
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc/sysctl.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	ttl, err := os.ReadFile("/proc/sys/net/ipv4/ip_default_ttl")
	if err != nil {
		t.Fatal(err)
	}
	want := "99"
	if strings.TrimSpace(string(ttl)) == want {
		want = "98"
	}
	cfg := labtest.Write(t, `
host "img" {
  connection = "local"
  root       = "`+root+`"
}

resource "sysctl" "img" {
  name   = "60-image"
  values = { "net.ipv4.ip_default_ttl" = `+want+`, "kernel.no_such_key_here" = 1 }
}
`)
	p := labtest.Apply(t, cfg, labtest.Options{})
	labtest.RequireOK(t, p)
	if n := strings.Join(change(t, p, "img", "sysctl.img").Notes, "; "); !strings.Contains(n, "nothing was loaded") {
		t.Errorf("notes: %q", n)
	}
	got, err := os.ReadFile(filepath.Join(root, "etc/sysctl.d/60-image.conf"))
	if err != nil || !strings.Contains(string(got), "\nnet.ipv4.ip_default_ttl = "+want+"\n") {
		t.Fatalf("image file: %q %v", got, err)
	}
	if now, _ := os.ReadFile("/proc/sys/net/ipv4/ip_default_ttl"); string(now) != string(ttl) {
		os.WriteFile("/proc/sys/net/ipv4/ip_default_ttl", ttl, 0o644)
		t.Fatalf("the build machine's kernel was changed: ttl %q, was %q", now, ttl)
	}
	labtest.RequireEmpty(t, labtest.Plan(t, cfg, labtest.Options{}))
}
