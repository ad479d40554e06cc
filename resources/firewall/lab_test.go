package firewall

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/planner"
	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/testinfra"
	"github.com/goprov/goprov/transport"
)

// One lab for the package: h1 ufw, h2 firewalld, h3 ufw for the lockout
// tests. Subtests work on different hosts and run in parallel.
func TestLab(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 3, FirewalldHosts: []int{1}})
	inv := labtest.Inventory(lab, testinfra.UserDeploy)
	dispatch := reconnectFunc(func(ctx context.Context, h *resources.Host) (transport.Transport, error) {
		if f, ok := hostHooks.Load(h.Name); ok {
			return f.(reconnectFunc)(ctx, h)
		}
		return h.Reconnect(ctx)
	})
	testHookReconnect.Store(&dispatch)
	t.Cleanup(func() { testHookReconnect.Store(nil) })
	t.Run("ufw", func(t *testing.T) { t.Parallel(); testUFW(t, lab, inv) })
	t.Run("firewalld", func(t *testing.T) { t.Parallel(); testFirewalld(t, lab, inv) })
	t.Run("lockout", func(t *testing.T) { t.Parallel(); testLockout(t, lab, inv) })
	t.Run("image", func(t *testing.T) { t.Parallel(); testImage(t) })
}

// hostHooks replace the access check's new connection per host (subtests
// on other hosts run in parallel and keep the real one).
var hostHooks sync.Map

func setHook(t *testing.T, host string, f reconnectFunc) {
	if f == nil {
		hostHooks.Delete(host)
		return
	}
	hostHooks.Store(host, f)
	t.Cleanup(func() { hostHooks.Delete(host) })
}

// listen starts an extra sshd inside the host on ports: something real
// that answers, so the controller can tell open from filtered.
func listen(t *testing.T, h *testinfra.Host, ports ...int) {
	t.Helper()
	args := ""
	for _, p := range ports {
		args += fmt.Sprintf(" -p %d", p)
	}
	h.Sh(t, "/usr/sbin/sshd -o PidFile=/run/sshd-extra.pid"+args)
	t.Cleanup(func() { _, _ = h.MustExec(context.Background(), "kill $(cat /run/sshd-extra.pid)") })
	for _, p := range ports {
		h.Sh(t, fmt.Sprintf("for i in $(seq 100); do ss -Hltn 'sport = :%d' | grep -q . && exit 0; sleep 0.05; done; exit 1", p))
	}
}

// portState dials from the controller: "open", "refused" or "filtered"
// (no answer at all: the firewall dropped the SYN).
func portState(h *testinfra.Host, port int) string {
	c, err := net.DialTimeout("tcp", net.JoinHostPort(h.Addr, fmt.Sprint(port)), 1500*time.Millisecond)
	if err == nil {
		c.Close()
		return "open"
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return "refused"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "filtered"
	}
	return err.Error()
}

func wantPort(t *testing.T, h *testinfra.Host, port int, want string) {
	t.Helper()
	if got := portState(h, port); got != want {
		t.Fatalf("%s port %d: %s, want %s", h.Name, port, got, want)
	}
}

func applyOK(t *testing.T, inv, limit, hcl string) *planner.Plan {
	t.Helper()
	p := labtest.Apply(t, labtest.Write(t, inv, hcl), labtest.Options{Limit: limit})
	labtest.RequireOK(t, p)
	return p
}

func requireEmpty(t *testing.T, inv, limit, hcl string) {
	t.Helper()
	labtest.RequireEmpty(t, labtest.Plan(t, labtest.Write(t, inv, hcl), labtest.Options{Limit: limit}))
}

// steps runs named steps of one scenario in order on one host: each
// builds on the host state the previous one left, so the first failure
// stops the rest.
func steps(t *testing.T, list ...step) {
	t.Helper()
	for _, st := range list {
		if !t.Run(st.name, st.run) {
			t.FailNow()
		}
	}
}

type step struct {
	name string
	run  func(t *testing.T)
}

// ufwBase is the ufw scenario's configuration: purge and app_in's ensure
// vary between steps.
const ufwBase = `
resource "firewall" "main" {
  backend          = "ufw"
  default_incoming = "deny"
  default_outgoing = "allow"
  purge            = %v
}
resource "firewall_rule" "ssh_in" {
  port     = 22
  protocol = "tcp"
}
resource "firewall_rule" "app_in" {
  port    = 2222
  comment = "app"
  ensure  = %q
}
resource "firewall_rule" "https_out" {
  port      = 443
  direction = "out"
  comment   = "go get"
}
resource "firewall_rule" "mgmt_in" {
  service = "https"
  source  = "10.0.0.0/8"
  zone    = "internal"
}
`

func testUFW(t *testing.T, lab *testinfra.Lab, inv string) {
	h := lab.Host("h1")
	listen(t, h, 2222, 2223)
	wantPort(t, h, 2223, "open")
	steps(t,
		step{"apply", func(t *testing.T) { ufwApply(t, h, inv) }},
		step{"unloaded", func(t *testing.T) { ufwUnloaded(t, h, inv) }},
		step{"absent", func(t *testing.T) { ufwAbsent(t, h, inv) }},
		step{"purge", func(t *testing.T) { ufwPurge(t, h, inv) }},
		step{"outgoing", func(t *testing.T) { ufwOutgoing(t, lab, h, inv) }},
	)
}

// ufwApply: the first apply opens what is declared, and a second plan is
// empty.
func ufwApply(t *testing.T, h *testinfra.Host, inv string) {
	cfg := fmt.Sprintf(ufwBase, false, "present")
	p := applyOK(t, inv, "host.h1", cfg)
	if c := labtest.Change(p, "h1", "firewall.main"); c.Action != resources.Update || c.Outcome != planner.OutcomeApplied {
		t.Fatalf("firewall.main: %s %s %v", c.Action, c.Outcome, c.Notes)
	}
	wantPort(t, h, 2222, "open")
	wantPort(t, h, 2223, "filtered")
	wantPort(t, h, 22, "open")
	added := h.Sh(t, "ufw show added; ufw status verbose")
	for _, s := range []string{"comment 'goprov:firewall_rule.app_in app'", "Status: active", "allow out 443/tcp", "10.0.0.0/8", "22/tcp (v6)"} {
		if !strings.Contains(added, s) {
			t.Errorf("ufw state lacks %q:\n%s", s, added)
		}
	}
	// The top complaint about ufw modules: "changed" on every run.
	requireEmpty(t, inv, "host.h1", cfg)
}

// ufwUnloaded is what a reboot without the ufw service does: ufw.conf
// still says ENABLED=yes (and `ufw status` "active"), but the kernel holds
// no rules. The plan says so and the apply loads them.
func ufwUnloaded(t *testing.T, h *testinfra.Host, inv string) {
	cfg := fmt.Sprintf(ufwBase, false, "present")
	h.Sh(t, "nft flush ruleset")
	wantPort(t, h, 2223, "open")
	pl := labtest.Plan(t, labtest.Write(t, inv, cfg), labtest.Options{Limit: "host.h1"})
	labtest.RequireOK(t, pl)
	if c := labtest.Change(pl, "h1", "firewall.main"); c.Action != resources.Update || !strings.Contains(strings.Join(c.Notes, " "), "not loaded") {
		t.Fatalf("unloaded ufw: %s %q", c.Action, c.Notes)
	}
	applyOK(t, inv, "host.h1", cfg)
	wantPort(t, h, 2223, "filtered")
	requireEmpty(t, inv, "host.h1", cfg)
}

// ufwAbsent: ensure = "absent" closes the port again.
func ufwAbsent(t *testing.T, h *testinfra.Host, inv string) {
	cfg := fmt.Sprintf(ufwBase, false, "absent")
	p := applyOK(t, inv, "host.h1", cfg)
	if c := labtest.Change(p, "h1", "firewall_rule.app_in"); c.Action != resources.Delete {
		t.Fatalf("app_in: %s", c.Action)
	}
	wantPort(t, h, 2222, "filtered")
	requireEmpty(t, inv, "host.h1", cfg)
}

// ufwPurge: a rule added by hand is left alone without purge; with it,
// the plan shows it and the apply removes it.
func ufwPurge(t *testing.T, h *testinfra.Host, inv string) {
	h.Sh(t, "ufw allow 2223/tcp >/dev/null")
	wantPort(t, h, 2223, "open")
	requireEmpty(t, inv, "host.h1", fmt.Sprintf(ufwBase, false, "absent"))
	cfg := fmt.Sprintf(ufwBase, true, "absent")
	pl := labtest.Plan(t, labtest.Write(t, inv, cfg), labtest.Options{Limit: "host.h1"})
	labtest.RequireOK(t, pl)
	if c := labtest.Change(pl, "h1", "firewall.main"); c.Action != resources.Update || !strings.Contains(strings.Join(c.Notes, "\n"), "purge: allow in tcp port 2223") {
		t.Fatalf("purge plan: %s %q", c.Action, c.Notes)
	}
	applyOK(t, inv, "host.h1", cfg)
	wantPort(t, h, 2223, "filtered")
	wantPort(t, h, 22, "open")
	requireEmpty(t, inv, "host.h1", cfg)
	if out := h.Sh(t, "grep -c '^### tuple' /etc/ufw/user.rules /etc/ufw/user6.rules"); !strings.Contains(out, "user.rules:3") || !strings.Contains(out, "user6.rules:2") {
		t.Errorf("tuples after purge: %s", out)
	}
}

// ufwOutgoing is the seeds' scenario: outgoing denied by default breaks
// `go get` until HTTPS out is allowed. Two listeners on the controller
// stand in for the module proxy; the host dials them.
func ufwOutgoing(t *testing.T, lab *testinfra.Lab, h *testinfra.Host, inv string) {
	gw := lab.Gateway()
	var ports [2]int
	for i := range ports {
		ports[i] = lab.AcceptAll(t, 0)
	}
	dialOut := func(port int) int {
		_, _, code, err := h.Exec(context.Background(), fmt.Sprintf("timeout 3 bash -c 'exec 3<>/dev/tcp/%s/%d'", gw, port))
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
	if dialOut(ports[1]) != 0 {
		t.Fatal("outgoing connection fails before the change")
	}
	out := fmt.Sprintf(`
resource "firewall" "main" {
  default_outgoing = "deny"
}
resource "firewall_rule" "ssh_in" {
  port = 22
}
resource "firewall_rule" "proxy_out" {
  port      = %d
  direction = "out"
  comment   = "go get"
}`, ports[0])
	applyOK(t, inv, "host.h1", out)
	if code := dialOut(ports[0]); code != 0 {
		t.Errorf("allowed outgoing port: exit %d", code)
	}
	if code := dialOut(ports[1]); code == 0 {
		t.Error("outgoing connection to a port not allowed went through")
	}
	requireEmpty(t, inv, "host.h1", out)
}

func testFirewalld(t *testing.T, lab *testinfra.Lab, inv string) {
	h := lab.Host("h2")
	// A failure here can be firewalld's own: say what it logged.
	t.Cleanup(func() {
		if t.Failed() {
			o, _, _, _ := h.Exec(context.Background(), "tail -30 /var/log/firewalld.console /var/log/firewalld; ps axo pid,args")
			t.Logf("firewalld's logs and the host's processes:\n%s", o)
		}
	})
	listen(t, h, 2224, 2225)
	const base = `
resource "firewall" "main" {
  default_incoming = "deny"
}
resource "firewall_rule" "ssh_in" {
  service = "ssh"
}
resource "firewall_rule" "app_in" {
  port   = 2224
  ensure = %q
}
resource "firewall_rule" "mgmt_in" {
  service = "https"
  source  = "10.0.0.0/8"
  zone    = "internal"
}
`
	cfg := fmt.Sprintf(base, "present")
	p := applyOK(t, inv, "host.h2", cfg)
	if c := labtest.Change(p, "h2", "firewall.main"); c.Action != resources.Update || !strings.Contains(c.Summary, "firewalld") {
		t.Fatalf("firewall.main: %s %q %v", c.Action, c.Summary, c.Notes)
	}
	wantPort(t, h, 2224, "open")
	wantPort(t, h, 2225, "filtered") // target DROP: no answer, not a reject
	wantPort(t, h, 22, "open")
	// Permanent and runtime agree.
	out := h.Sh(t, "firewall-cmd --permanent --zone=public --list-ports; firewall-cmd --zone=public --list-ports; firewall-cmd --permanent --zone=internal --list-rich-rules; firewall-cmd --zone=internal --list-rich-rules; firewall-cmd --zone=public --get-target 2>/dev/null || firewall-cmd --permanent --zone=public --get-target")
	if strings.Count(out, "2224/tcp") != 2 || strings.Count(out, `rule family="ipv4" source address="10.0.0.0/8" service name="https" accept`) != 2 || !strings.Contains(out, "DROP") {
		t.Errorf("firewalld state:\n%s", out)
	}
	requireEmpty(t, inv, "host.h2", cfg)

	cfg = fmt.Sprintf(base, "absent")
	applyOK(t, inv, "host.h2", cfg)
	wantPort(t, h, 2224, "filtered")
	requireEmpty(t, inv, "host.h2", cfg)

	// A reload an earlier apply could not finish is pending on the host: the
	// plan says so (and which runtime-only entry the reload will drop), the
	// apply reloads and clears the mark.
	h.Sh(t, "mkdir -p /var/lib/goprov/pending && echo 'interrupted earlier' > /var/lib/goprov/pending/firewalld-reload && firewall-cmd --zone=public --add-port=2226/tcp >/dev/null")
	pl := labtest.Plan(t, labtest.Write(t, inv, cfg), labtest.Options{Limit: "host.h2"})
	labtest.RequireOK(t, pl)
	notes := strings.Join(labtest.Change(pl, "h2", "firewall.main").Notes, "\n")
	if c := labtest.Change(pl, "h2", "firewall.main"); c.Action != resources.Update || !strings.Contains(notes, "reload pending: interrupted earlier") || !strings.Contains(notes, "drops runtime-only entries: zone public port 2226/tcp") {
		t.Fatalf("pending reload: %s %q", c.Action, c.Notes)
	}
	applyOK(t, inv, "host.h2", cfg)
	if out := h.Sh(t, "firewall-cmd --zone=public --list-ports; ls /var/lib/goprov/pending"); strings.Contains(out, "2226") || strings.Contains(out, "firewalld-reload") {
		t.Errorf("after the pending reload: %s", out)
	}
	requireEmpty(t, inv, "host.h2", cfg)

	// A failed login check rolls firewalld back: /etc/firewalld restored,
	// permanent and runtime alike.
	snap := "firewall-cmd --permanent --list-all-zones | sha256sum; firewall-cmd --list-all-zones | sha256sum; find /etc/firewalld -type f | sort | xargs sha256sum"
	before := h.Sh(t, snap)
	setHook(t, h.Name, func(ctx context.Context, rh *resources.Host) (transport.Transport, error) {
		return nil, errors.New("simulated: new login refused")
	})
	p = labtest.Apply(t, labtest.Write(t, inv, fmt.Sprintf(base, "present")+`
resource "firewall_rule" "other" {
  port   = 2225
  source = "10.0.0.0/8"
}`), labtest.Options{Limit: "host.h2"})
	setHook(t, h.Name, nil)
	if hp := labtest.HostPlan(p, "h2"); hp.Status != planner.StatusFailed || !strings.Contains(hp.Error, "simulated") || !strings.Contains(hp.Error, "previous firewall was restored") {
		t.Fatalf("apply: %s: %s", hp.Status, hp.Error)
	}
	if after := h.Sh(t, snap); after != before {
		t.Errorf("firewalld not restored:\nbefore %s\nafter %s", before, after)
	}
	wantPort(t, h, 2224, "filtered")
	requireEmpty(t, inv, "host.h2", cfg)
}

func testLockout(t *testing.T, lab *testinfra.Lab, inv string) {
	h := lab.Host("h3")
	steps(t,
		step{"refused", func(t *testing.T) { lockoutRefused(t, inv) }},
		step{"rollback", func(t *testing.T) { lockoutRollback(t, h, inv) }},
		step{"confirmed", func(t *testing.T) { lockoutConfirmed(t, h, inv) }},
		step{"timer", func(t *testing.T) { lockoutTimer(t, h, inv) }},
	)
}

// ufwFiles hashes ufw's configuration on the host.
const ufwFiles = "cat /etc/ufw/ufw.conf /etc/ufw/user.rules /etc/ufw/user6.rules /etc/default/ufw | sha256sum"

// lockoutOK is a configuration that keeps SSH open.
const lockoutOK = `
resource "firewall" "main" {
  rollback_timeout = 10
}
resource "firewall_rule" "ssh_in" {
  port = 22
}`

// lockoutRefused: what certainly locks goprov out is refused at plan.
func lockoutRefused(t *testing.T, inv string) {
	planErr := func(cfg string) string {
		t.Helper()
		p := labtest.Plan(t, labtest.Write(t, inv, cfg), labtest.Options{Limit: "host.h3"})
		hp := labtest.HostPlan(p, "h3")
		if hp.Status != planner.StatusFailed {
			t.Fatalf("plan of a lockout was accepted:\n%s", cfg)
		}
		return hp.Error
	}
	// Default deny and nothing allows SSH.
	if e := planErr(`resource "firewall" "main" {}`); !strings.Contains(e, "lock goprov out") || !strings.Contains(e, "port 22/tcp") {
		t.Errorf("error: %s", e)
	}
	// A rule denying the SSH port.
	if e := planErr(`
resource "firewall" "main" {
  default_incoming = "allow"
}
resource "firewall_rule" "no_ssh" {
  port   = 22
  action = "deny"
}`); !strings.Contains(e, "firewall_rule.no_ssh") || !strings.Contains(e, "lock goprov out") {
		t.Errorf("error: %s", e)
	}
}

// lockoutRollback: a change that passes the plan (SSH allowed only from a
// network goprov cannot judge) but really cuts new logins: the access
// check fails and the rollback restores the previous firewall.
func lockoutRollback(t *testing.T, h *testinfra.Host, inv string) {
	before := h.Sh(t, ufwFiles)
	// rollback_timeout 30: the proof retries for as long as the timer
	// leaves (AccessWindow), so a short window keeps this test short.
	cut := `
resource "firewall" "main" {
  rollback_timeout = 30
}
resource "firewall_rule" "ssh_in" {
  port   = 22
  source = "192.0.2.0/24"
}`
	pl := labtest.Plan(t, labtest.Write(t, inv, cut), labtest.Options{Limit: "host.h3"})
	labtest.RequireOK(t, pl)
	if c := labtest.Change(pl, "h3", "firewall.main"); !strings.Contains(strings.Join(c.Notes, " "), "cannot tell whether that includes this controller") {
		t.Errorf("no warning in the plan: %q", c.Notes)
	}
	start := time.Now()
	p := labtest.Apply(t, labtest.Write(t, inv, cut), labtest.Options{Limit: "host.h3"})
	hp := labtest.HostPlan(p, "h3")
	if hp.Status != planner.StatusFailed || !strings.Contains(hp.Error, "new SSH login failed") || !strings.Contains(hp.Error, "previous firewall was restored") {
		t.Fatalf("apply: %s: %s", hp.Status, hp.Error)
	}
	t.Logf("lockout detected and rolled back in %v: %s", time.Since(start).Round(time.Millisecond), hp.Error)
	wantPort(t, h, 22, "open")
	if after := h.Sh(t, ufwFiles); after != before {
		t.Error("ufw files differ after the rollback")
	}
	labtest.RequireOK(t, labtest.Plan(t, labtest.Write(t, inv, `resource "firewall_rule" "x" {
  port = 22
}`), labtest.Options{Limit: "host.h3"}))
}

// lockoutConfirmed: with access intact, a config applies and stays applied
// (no rollback left armed).
func lockoutConfirmed(t *testing.T, h *testinfra.Host, inv string) {
	applyOK(t, inv, "host.h3", lockoutOK)
	if out := h.Sh(t, "ufw status; test -e "+rollbackDir+" && echo ARMED || true"); !strings.Contains(out, "Status: active") || strings.Contains(out, "ARMED") {
		t.Errorf("after a good apply: %s", out)
	}
	requireEmpty(t, inv, "host.h3", lockoutOK)
}

// lockoutTimer is the detached timer: while the controller is stuck (the
// access check hangs), the rollback fires on its own after
// rollback_timeout and puts the previous, active firewall back.
func lockoutTimer(t *testing.T, h *testinfra.Host, inv string) {
	active := h.Sh(t, ufwFiles)
	more := lockoutOK + `
resource "firewall_rule" "extra" {
  port = 2999
}`
	var once sync.Once
	setHook(t, h.Name, func(ctx context.Context, rh *resources.Host) (transport.Transport, error) {
		once.Do(func() {
			t.Log("access check stalled; waiting for the dead-man timer")
		})
		// Stuck: past its own access window too (AccessWindow ends
		// before the timer fires, and a stuck controller honours none).
		for stuck := time.Now(); time.Since(stuck) < 60*time.Second; {
			if _, _, code, _ := h.Exec(context.Background(), "test -f "+rollbackDir+"/restored"); code == 0 {
				return nil, errors.New("simulated: controller lost the host")
			}
			time.Sleep(200 * time.Millisecond)
		}
		return nil, ctx.Err()
	})
	start := time.Now()
	p := labtest.Apply(t, labtest.Write(t, inv, more), labtest.Options{Limit: "host.h3"})
	setHook(t, h.Name, nil)
	hp := labtest.HostPlan(p, "h3")
	if hp.Status != planner.StatusFailed || !strings.Contains(hp.Error, "simulated") {
		t.Fatalf("apply: %s: %s", hp.Status, hp.Error)
	}
	if d := time.Since(start); d < 9*time.Second {
		t.Errorf("rollback fired after %v, before its 10 s timeout", d)
	}
	if after := h.Sh(t, ufwFiles); after != active {
		t.Error("ufw files differ after the timed rollback")
	}
	if out := h.Sh(t, "ufw status; ls -A "+rollbackDir+" 2>&1 || true"); !strings.Contains(out, "Status: active") || strings.Contains(out, "2999") {
		t.Errorf("after the timed rollback: %s", out)
	}
	wantPort(t, h, 22, "open")
	// Nothing left pending or armed: the next plan is exactly the change.
	pl := labtest.Plan(t, labtest.Write(t, inv, more), labtest.Options{Limit: "host.h3"})
	labtest.RequireOK(t, pl)
	if c := labtest.Change(pl, "h3", "firewall.main"); c.Action != resources.NoOp {
		t.Errorf("firewall.main after rollback: %s %q", c.Action, c.Notes)
	}
	if c := labtest.Change(pl, "h3", "firewall_rule.extra"); c.Action != resources.Create {
		t.Errorf("extra after rollback: %s", c.Action)
	}
}

// testImage builds two image roots (overlays of the lab's base image) and
// configures firewalld offline in one, ufw in the other: files only, no
// live firewall anywhere.
func testImage(t *testing.T) {
	var roots [2]string
	for i := range roots {
		roots[i], _ = testinfra.ImageRoot(t)
	}
	inv := fmt.Sprintf(`
host "fwd_image" {
  connection = "local"
  root       = %q
}
host "ufw_image" {
  connection = "local"
  root       = %q
}
`, roots[0], roots[1])
	cfg := `
resource "firewall" "fwd" {
  backend          = "firewalld"
  default_incoming = "deny"
  targets          = [host.fwd_image]
}
resource "firewall" "ufw" {
  backend = "ufw"
  targets = [host.ufw_image]
}
resource "firewall_rule" "https_in" {
  port = 443
}
resource "firewall_rule" "mgmt_in" {
  service = "https"
  source  = "10.0.0.0/8"
  zone    = "internal"
}
`
	p := labtest.Apply(t, labtest.Write(t, inv, cfg), labtest.Options{})
	labtest.RequireOK(t, p)
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	pub := read(filepath.Join(roots[0], "etc/firewalld/zones/public.xml"))
	if !strings.Contains(pub, `target="DROP"`) || !strings.Contains(pub, `<port port="443" protocol="tcp"/>`) {
		t.Errorf("public.xml:\n%s", pub)
	}
	if in := read(filepath.Join(roots[0], "etc/firewalld/zones/internal.xml")); !strings.Contains(in, `<source address="10.0.0.0/8"/>`) {
		t.Errorf("internal.xml:\n%s", in)
	}
	if c := read(filepath.Join(roots[1], "etc/ufw/ufw.conf")); !strings.Contains(c, "ENABLED=yes") {
		t.Errorf("ufw.conf: %s", c)
	}
	if r := read(filepath.Join(roots[1], "etc/ufw/user6.rules")); !strings.Contains(r, "### tuple ### allow tcp 443 ::/0 any ::/0 in") {
		t.Errorf("user6.rules:\n%s", r)
	}
	labtest.RequireEmpty(t, labtest.Plan(t, labtest.Write(t, inv, cfg), labtest.Options{}))
	// `ufw --force enable` ran for the image: in its sandbox's throwaway
	// network namespace, never in this machine's (listed with the image's
	// own nft, read-only; the controller may have no nft of its own).
	out, err := exec.Command("chroot", roots[1], "/usr/sbin/nft", "list", "ruleset").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list ruleset: %v %s", err, out)
	}
	if strings.Contains(string(out), "ufw") {
		t.Errorf("ufw chains in the controller's own netfilter:\n%s", out)
	}
}
