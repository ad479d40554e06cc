package audit_test

import (
	"strings"
	"testing"

	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/planner"
	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/testinfra"

	_ "github.com/goprov/goprov/resources/audit"
)

const sudoRules = `
resource "audit_rules" "sudo" {
  name  = "50-sudo"
  rules = [
    "-w /etc/sudoers -p wa -k sudoers_change",
    "-w /etc/sudoers.d/ -p wa -k sudoers_change",
    "-a always,exit -F arch=b64 -S execve -F path=/usr/bin/sudo -k sudo_exec",%s
  ]
  ensure = "%s"
}
`

func config(extra, ensure string) string {
	return strings.Replace(strings.Replace(sudoRules, "%s", extra, 1), "%s", ensure, 1)
}

func notes(p *planner.Plan, host string) string {
	c := labtest.Change(p, host, "audit_rules.sudo")
	if c == nil {
		return ""
	}
	return string(c.Action) + ": " + strings.Join(c.Notes, "; ")
}

// fakeAugenrules replaces augenrules on h with a script (the real one is
// augenrules.real) until the test ends.
func fakeAugenrules(t *testing.T, h *testinfra.Host, body string) {
	t.Helper()
	h.Sh(t, "[ -f /usr/sbin/augenrules.real ] || mv /usr/sbin/augenrules /usr/sbin/augenrules.real; cat >/usr/sbin/augenrules <<'FAKE'\n#!/bin/sh\n"+body+"\nFAKE\nchmod 0755 /usr/sbin/augenrules")
	t.Cleanup(func() { h.Sh(t, "mv -f /usr/sbin/augenrules.real /usr/sbin/augenrules") })
}

func hostError(p *planner.Plan, host string) string {
	if hp := labtest.HostPlan(p, host); hp != nil {
		return hp.Error
	}
	return ""
}

// TestAuditRulesOnLabHosts: h1 is an audit host (it may change the
// machine's kernel audit rules), h2 an ordinary host in its own PID
// namespace, where the kernel refuses audit control. testinfra restores
// the machine's audit rules and settings at teardown.
//
// It stays whole: its named subtests share one lab (starting one costs minutes)
// and run in order, each on the host state the one before left.
func TestAuditRulesOnLabHosts(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 2, AuditHosts: []int{0}})
	inv := labtest.Inventory(lab, testinfra.UserDeploy)
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	base := labtest.Write(t, inv, config("", "present"))
	pendingMark := "/var/lib/goprov/pending/audit_rules.50-sudo"

	t.Run("loaded and verified on the audit host, written and reported not loaded elsewhere", func(t *testing.T) {
		p := labtest.Plan(t, base, labtest.Options{})
		labtest.RequireOK(t, p)
		if n := notes(p, "h1"); !strings.HasPrefix(n, "create: ") || !strings.Contains(n, "verified against auditctl -l") {
			t.Errorf("h1 plan: %s", n)
		}
		if n := notes(p, "h2"); !strings.HasPrefix(n, "create: ") || !strings.Contains(n, "written, NOT loaded: the kernel refuses audit control here (Error sending status request (Operation not permitted))") {
			t.Errorf("h2 plan: %s", n)
		}
		labtest.RequireOK(t, labtest.Load(t, base, labtest.Options{}).Apply(p))
		loaded := h1.Sh(t, "auditctl -l")
		for _, want := range []string{"-w /etc/sudoers -p wa -k sudoers_change", "-w /etc/sudoers.d -p wa -k sudoers_change",
			"-a always,exit -F arch=b64 -S execve -F path=/usr/bin/sudo -F key=sudo_exec"} {
			if !strings.Contains(loaded, want+"\n") {
				t.Errorf("h1: auditctl -l lacks %q:\n%s", want, loaded)
			}
		}
		for _, h := range lab.Hosts {
			if got := h.Sh(t, "stat -c '%a %U %G' /etc/audit/rules.d/50-sudo.rules; ls -A /etc/audit/rules.d; ls "+pendingMark+" 2>&1 || true"); !strings.HasPrefix(got, "640 root root\n") ||
				strings.Contains(got, ".goprov") || !strings.Contains(got, "No such file") {
				t.Errorf("%s: %q", h.Name, got)
			}
		}
		p = labtest.Plan(t, base, labtest.Options{})
		labtest.RequireEmpty(t, p)
		if n := notes(p, "h2"); !strings.Contains(n, "NOT loaded") {
			t.Errorf("h2: the empty plan must still say the rules are not loaded: %s", n)
		}
	})

	t.Run("rules removed from the kernel behind goprov's back are reloaded", func(t *testing.T) {
		h1.Sh(t, "auditctl -D >/dev/null")
		p := labtest.Plan(t, base, labtest.Options{Limit: "host.h1"})
		if n := notes(p, "h1"); !strings.HasPrefix(n, "update: ") || !strings.Contains(n, "in the file but not loaded in the kernel") {
			t.Fatalf("h1 plan: %s", n)
		}
		labtest.RequireOK(t, labtest.Load(t, base, labtest.Options{Limit: "host.h1"}).Apply(p))
		if !strings.Contains(h1.Sh(t, "auditctl -l"), "sudo_exec") {
			t.Fatal("not reloaded")
		}
		labtest.RequireEmpty(t, labtest.Plan(t, base, labtest.Options{Limit: "host.h1"}))
	})

	t.Run("a reload that fails stays pending until an apply completes it", func(t *testing.T) {
		more := labtest.Write(t, inv, config(`
    "-w /etc/shadow -p wa -k shadow_change",`, "present"))
		s := labtest.Load(t, more, labtest.Options{Limit: "host.h1"})
		p := s.Plan()
		labtest.RequireOK(t, p)
		// The fault: augenrules becomes unusable after the plan, before
		// the apply (the apply's read still matches the plan).
		h1.Sh(t, "chmod a-x /usr/sbin/augenrules")
		t.Cleanup(func() { h1.Sh(t, "chmod 0755 /usr/sbin/augenrules") })
		p = s.Apply(p)
		if msg := hostError(p, "h1"); !strings.Contains(msg, "augenrules not found (or not executable)") || !strings.Contains(msg, "restoring the previous file failed too") || !strings.Contains(msg, "stays pending") {
			t.Fatalf("want the reload failure, got %q", msg)
		}
		// The previous file is back, but nothing could reload it: the mark
		// stays, so no run takes the kernel's rules for the file's.
		if got := h1.Sh(t, "cat "+pendingMark+"; grep -c shadow_change /etc/audit/rules.d/50-sudo.rules || true"); got != "augenrules --load after a change of /etc/audit/rules.d/50-sudo.rules\n0\n" {
			t.Fatalf("mark and file: %q", got)
		}
		if strings.Contains(h1.Sh(t, "auditctl -l"), "shadow_change") {
			t.Fatal("loaded although augenrules could not run")
		}
		p = labtest.Plan(t, more, labtest.Options{Limit: "host.h1"})
		if n := notes(p, "h1"); !strings.HasPrefix(n, "update: ") || !strings.Contains(n, "reload pending: augenrules --load after a change of /etc/audit/rules.d/50-sudo.rules") {
			t.Fatalf("h1 plan after the failure: %s", n)
		}
		h1.Sh(t, "chmod 0755 /usr/sbin/augenrules")
		labtest.RequireOK(t, labtest.Load(t, more, labtest.Options{Limit: "host.h1"}).Apply(p))
		if got := h1.Sh(t, "auditctl -l; ls "+pendingMark+" 2>&1 || true"); !strings.Contains(got, "-w /etc/shadow -p wa -k shadow_change") || !strings.Contains(got, "No such file") {
			t.Fatalf("after the retry: %s", got)
		}
		labtest.RequireEmpty(t, labtest.Plan(t, more, labtest.Options{Limit: "host.h1"}))
	})

	t.Run("a connection cut between the write and the reload leaves the reload pending", func(t *testing.T) {
		cut := labtest.Write(t, inv, config(`
    "-w /etc/shadow -p wa -k shadow_change",
    "-w /etc/group -p wa -k group_change",`, "present"))
		// augenrules that says it started, then hangs: the cut lands while
		// the reload runs, before it has loaded anything.
		s := labtest.Load(t, cut, labtest.Options{Limit: "host.h1"})
		p := s.Plan()
		labtest.RequireOK(t, p)
		p = labtest.ApplyCutDuring(t, s, p, h1, "/usr/sbin/augenrules")
		if hp := labtest.HostPlan(p, "h1"); hp.Status != planner.StatusFailed {
			t.Fatalf("apply through a cut connection: status %s", hp.Status)
		}
		if got := h1.Sh(t, "cat "+pendingMark+"; grep -c group_change /etc/audit/rules.d/50-sudo.rules"); got != "augenrules --load after a change of /etc/audit/rules.d/50-sudo.rules\n1\n" {
			t.Fatalf("mark and file after the cut: %q", got)
		}
		if strings.Contains(h1.Sh(t, "auditctl -l"), "group_change") {
			t.Fatal("loaded although the reload was cut")
		}
		p = labtest.Plan(t, cut, labtest.Options{Limit: "host.h1"})
		if n := notes(p, "h1"); !strings.HasPrefix(n, "update: ") || !strings.Contains(n, "reload pending") {
			t.Fatalf("plan after the cut: %s", n)
		}
		labtest.RequireOK(t, labtest.Load(t, cut, labtest.Options{Limit: "host.h1"}).Apply(p))
		if got := h1.Sh(t, "auditctl -l; ls "+pendingMark+" 2>&1 || true"); !strings.Contains(got, "-w /etc/group -p wa -k group_change") || !strings.Contains(got, "No such file") {
			t.Fatalf("after the retry: %s", got)
		}
		labtest.RequireEmpty(t, labtest.Plan(t, cut, labtest.Options{Limit: "host.h1"}))
	})

	t.Run("a rule the kernel refuses is refused at plan, before anything is written", func(t *testing.T) {
		labtest.RequireOK(t, labtest.Apply(t, base, labtest.Options{Limit: "host.h1"}))
		before := h1.Sh(t, "auditctl -l; cat /etc/audit/rules.d/50-sudo.rules")
		bad := labtest.Write(t, inv, config(`
    "-a always,exit -F arch=b64 -S nosuchcall -k bad",
    "-a always,exit -F dir=/etc/NetworkManager/ -F perm=wa -k nm",`, "present"))
		for _, p := range []*planner.Plan{labtest.Plan(t, bad, labtest.Options{Limit: "host.h1"}), labtest.Apply(t, bad, labtest.Options{Limit: "host.h1"})} {
			msg := hostError(p, "h1")
			for _, want := range []string{"nothing is written",
				`line 5: "-a always,exit -F arch=b64 -S nosuchcall -k bad": Syscall name unknown: nosuchcall`,
				`line 6: "-a always,exit -F dir=/etc/NetworkManager/ -F perm=wa -k nm": -F dir=/etc/NetworkManager/ needs the directory /etc/NetworkManager/, which does not exist on this host`} {
				if !strings.Contains(msg, want) {
					t.Errorf("the refusal lacks %q: %q", want, msg)
				}
			}
		}
		if after := h1.Sh(t, "auditctl -l; cat /etc/audit/rules.d/50-sudo.rules"); after != before {
			t.Fatalf("a refused plan changed the host:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		if got := h1.Sh(t, "ls "+pendingMark+" 2>&1 || true"); !strings.Contains(got, "No such file") {
			t.Fatalf("pending mark after a refused plan: %q", got)
		}
	})

	t.Run("a rule another rules file already holds is refused at plan", func(t *testing.T) {
		labtest.RequireOK(t, labtest.Apply(t, base, labtest.Options{Limit: "host.h1"}))
		h1.Sh(t, "printf '%s\\n' '-w /etc/group -p wa -k group_change' >/etc/audit/rules.d/60-other.rules")
		t.Cleanup(func() { h1.Sh(t, "rm -f /etc/audit/rules.d/60-other.rules") })
		before := h1.Sh(t, "auditctl -l; cat /etc/audit/rules.d/50-sudo.rules")
		dup := labtest.Write(t, inv, config(`
    "-w /etc/group -p aw -k group_change",`, "present"))
		msg := hostError(labtest.Apply(t, dup, labtest.Options{Limit: "host.h1"}), "h1")
		if want := `line 5: "-w /etc/group -p aw -k group_change" is already a rule of 60-other.rules line 1 in /etc/audit/rules.d (auditctl: Rule exists`; !strings.Contains(msg, want) {
			t.Fatalf("want %q, got %q", want, msg)
		}
		if after := h1.Sh(t, "auditctl -l; cat /etc/audit/rules.d/50-sudo.rules"); after != before {
			t.Fatalf("a refused apply changed the host:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})

	t.Run("a load that fails anyway is undone: previous file, previous rules", func(t *testing.T) {
		labtest.RequireOK(t, labtest.Apply(t, base, labtest.Options{Limit: "host.h1"}))
		before := h1.Sh(t, "auditctl -l")
		beforeFile := h1.Sh(t, "cat /etc/audit/rules.d/50-sudo.rules")
		// A kernel that refuses a syscall the plan could not know of: a
		// fake augenrules that loads, then fails the way auditctl does at
		// a bad line, leaving the kernel with part of the rules.
		fakeAugenrules(t, h1, `if grep -qs fail_me /etc/audit/rules.d/*.rules; then
  /usr/sbin/augenrules.real --load >/dev/null 2>&1
  auditctl -D >/dev/null; auditctl -w /etc/shadow -p wa -k fail_me
  echo "Syscall name unknown: fakecall"; echo "There was an error in line 7 of /etc/audit/audit.rules"; exit 1
fi
exec /usr/sbin/augenrules.real "$@"`)
		failing := labtest.Write(t, inv, config(`
    "-w /etc/shadow -p wa -k fail_me",`, "present"))
		p := labtest.Apply(t, failing, labtest.Options{Limit: "host.h1"})
		msg := hostError(p, "h1")
		if !strings.Contains(msg, "Syscall name unknown: fakecall") || !strings.Contains(msg, "the previous file is restored and the kernel holds the previous rules again") {
			t.Fatalf("want the kernel's message and the restore, got %q", msg)
		}
		if after := h1.Sh(t, "auditctl -l"); after != before {
			t.Fatalf("auditctl -l before and after differ:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		if got := h1.Sh(t, "cat /etc/audit/rules.d/50-sudo.rules; ls -A /etc/audit/rules.d; ls "+pendingMark+" 2>&1 || true"); !strings.HasPrefix(got, beforeFile) ||
			strings.Contains(got, ".goprov") || !strings.Contains(got, "No such file") {
			t.Fatalf("file, directory and mark after the restore: %q", got)
		}
		labtest.RequireEmpty(t, labtest.Plan(t, base, labtest.Options{Limit: "host.h1"}))
	})

	t.Run("ensure absent whose rules stay loaded is undone", func(t *testing.T) {
		labtest.RequireOK(t, labtest.Apply(t, base, labtest.Options{Limit: "host.h1"}))
		before := h1.Sh(t, "auditctl -l")
		// An augenrules that says it loaded and did nothing: the removed
		// rules stay in the kernel, which only auditctl -l can tell.
		fakeAugenrules(t, h1, "exit 0")
		gone := labtest.Write(t, inv, config("", "absent"))
		p := labtest.Apply(t, gone, labtest.Options{Limit: "host.h1"})
		if msg := hostError(p, "h1"); !strings.Contains(msg, "rules still loaded after the file was removed") || !strings.Contains(msg, "previous file is restored") {
			t.Fatalf("want the failed removal undone, got %q", msg)
		}
		if got := h1.Sh(t, "auditctl -l; ls /etc/audit/rules.d"); !strings.HasPrefix(got, before) || !strings.Contains(got, "50-sudo.rules") {
			t.Fatalf("after the undone removal: %s", got)
		}
	})

	t.Run("ensure absent removes the file and, where allowed, the rules", func(t *testing.T) {
		gone := labtest.Write(t, inv, config("", "absent"))
		p := labtest.Apply(t, gone, labtest.Options{})
		labtest.RequireOK(t, p)
		if c := labtest.Change(p, "h1", "audit_rules.sudo"); c.Action != resources.Delete || !strings.Contains(c.Diff, "--- /etc/audit/rules.d/50-sudo.rules") {
			t.Errorf("h1: %s %q", c.Action, c.Diff)
		}
		if got := h1.Sh(t, "auditctl -l"); strings.Contains(got, "sudoers_change") || strings.Contains(got, "sudo_exec") {
			t.Errorf("h1: rules still loaded:\n%s", got)
		}
		for _, h := range []*testinfra.Host{h1, h2} {
			if got := h.Sh(t, "ls -A /etc/audit/rules.d"); strings.Contains(got, "50-sudo") {
				t.Errorf("%s: %q", h.Name, got)
			}
		}
		labtest.RequireEmpty(t, labtest.Plan(t, gone, labtest.Options{}))
	})
}
