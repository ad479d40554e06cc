package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goprov/goprov/internal/ci"
	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/planner"
	"github.com/goprov/goprov/testinfra"
	"github.com/goprov/goprov/transport"
)

// Budgets of programs a no-op read of the bench baseline may start on the
// host, the shell that runs it aside. Process count is what bounds the
// read's host CPU (1–3 ms each on a loaded machine; see README.md, "Profile
// of a no-op read"), and unlike time it is exact. readExecBudget is the
// baseline without its firewall (facts, profile_script, sudoers_dropin,
// audit_rules: one stat per probe for all of its files and auditctl -s;
// auditctl -v and
// ausyscall's two tables come from the facts cache an apply leaves in
// goprov's state dir while the tools it names are unchanged);
// fullReadExecBudget the whole baseline, whose firewall adds one awk over
// every file it needs and iptables (ufw enabled: its kernel state).
const (
	readExecBudget     = 4
	fullReadExecBudget = 6
)

// A no-op read of the bench baseline starts at most readExecBudget
// programs on the host without the firewall, fullReadExecBudget with it:
// the batched read goprov really sends (recorded from a plan after a
// converge) runs under strace in the host, and every successful execve is
// counted. (Run in the host with nsenter, not over SSH, the facts' one tr
// of the login session's environment is not among them.)
func TestLabNoopReadProcessCount(t *testing.T) {
	if _, err := exec.LookPath("strace"); err != nil {
		ci.Skip(t, "strace not installed (scripts/lab-deps.sh installs it)")
	}
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	h := lab.Hosts[0]
	full := string(goprovConfig)
	cut := strings.Index(full, `resource "firewall" "main"`)
	if cut < 0 {
		t.Fatal("the baseline has no firewall block to leave out")
	}
	for _, tc := range []struct {
		name, config string
		budget       int
	}{
		{"without firewall", full[:cut], readExecBudget},
		{"whole baseline", full, fullReadExecBudget},
	} {
		dir := labtest.Write(t, labtest.Inventory(lab, testinfra.UserDeploy), tc.config)
		labtest.RequireOK(t, labtest.Apply(t, dir, labtest.Options{}))
		s := labtest.Load(t, dir, labtest.Options{})
		rec := &recorder{Connector: s.Engine.Connector}
		s.Engine.Connector = rec
		labtest.RequireEmpty(t, s.Plan())
		if len(rec.reads) != 1 {
			t.Fatalf("%s: %d read-only commands, want the one batched read", tc.name, len(rec.reads))
		}
		execs := straceExecs(t, h, rec.reads[0])
		t.Logf("%s: the read started %d programs: %s", tc.name, len(execs), strings.Join(execs, " "))
		if len(execs) > tc.budget {
			t.Errorf("%s: a no-op read started %d programs, budget %d", tc.name, len(execs), tc.budget)
		}
	}
}

// straceExecs runs script as root in h (as goprov's sudo would: sh reads
// it) under strace and returns the programs it started, by name.
func straceExecs(t *testing.T, h *testinfra.Host, script string) []string {
	t.Helper()
	tmp := t.TempDir()
	trace := filepath.Join(tmp, "trace")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// nsenter (outside the host) execs sh (inside it): both are the
	// harness, not the read.
	// The host's init: h.PID() is the unshare that forked it.
	kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", h.PID(), h.PID()))
	if err != nil || len(strings.Fields(string(kids))) != 1 {
		t.Fatalf("the host's init: %q, %v", kids, err)
	}
	initPID := strings.Fields(string(kids))[0]
	cmd := exec.CommandContext(ctx, "strace", "-f", "-qq", "-e", "trace=execve", "-e", "signal=none", "-o", trace,
		"nsenter", "--target", initPID, "--mount", "--uts", "--ipc", "--net", "--pid", "--root", "--wd",
		"--", "/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("strace: %v\n%s", err, out)
	}
	f, err := os.Open(trace)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ok := regexp.MustCompile(`execve\("([^"]*)".* = 0$`)
	var progs []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if m := ok.FindStringSubmatch(sc.Text()); m != nil {
			progs = append(progs, filepath.Base(m[1]))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(progs) < 2 || progs[0] != "nsenter" || progs[1] != "sh" {
		t.Fatalf("trace does not start with nsenter, sh: %v", progs)
	}
	return progs[2:]
}

// recorder keeps the scripts of the read-only commands run through the
// transports it hands out.
type recorder struct {
	planner.Connector
	mu    sync.Mutex
	reads []string
}

func (r *recorder) Connect(ctx context.Context, h planner.HostSpec) (transport.Transport, error) {
	t, err := r.Connector.Connect(ctx, h)
	if err != nil {
		return nil, err
	}
	return &recTransport{Transport: t, r: r}, nil
}

type recTransport struct {
	transport.Transport
	r *recorder
}

func (t *recTransport) Run(ctx context.Context, c transport.Cmd) (transport.Result, error) {
	if c.ReadOnly {
		t.r.mu.Lock()
		t.r.reads = append(t.r.reads, c.Script)
		t.r.mu.Unlock()
	}
	return t.Transport.Run(ctx, c)
}

// What hostFor asks of an SSH transport.
func (t *recTransport) Port() int {
	return call(t.Transport, func(p interface{ Port() int }) int { return p.Port() })
}
func (t *recTransport) User() string {
	return call(t.Transport, func(p interface{ User() string }) string { return p.User() })
}
func (t *recTransport) AuthMethod() string {
	return call(t.Transport, func(p interface{ AuthMethod() string }) string { return p.AuthMethod() })
}

func call[I any, R any](t transport.Transport, f func(I) R) R {
	var zero R
	if i, ok := t.(I); ok {
		return f(i)
	}
	return zero
}

// BenchmarkNoopReadHostCPU measures what a no-op read of the bench
// baseline costs a lab host: the batched read goprov sends (recorded from
// a plan after a converge), and each of its sections alone, run 20 times
// as root in the host by sh, user+sys CPU of those runs from the shell's
// `times`, reported per read:
//
//	go test ./bench -run '^$' -bench NoopReadHostCPU -benchtime 1x
func BenchmarkNoopReadHostCPU(b *testing.B) {
	const runs = 20
	lab := testinfra.Start(b, testinfra.Options{Hosts: 1})
	h := lab.Hosts[0]
	dir := labtest.Write(b, labtest.Inventory(lab, testinfra.UserDeploy), string(goprovConfig))
	labtest.RequireOK(b, labtest.Apply(b, dir, labtest.Options{}))
	s := labtest.Load(b, dir, labtest.Options{})
	rec := &recorder{Connector: s.Engine.Connector}
	s.Engine.Connector = rec
	labtest.RequireEmpty(b, s.Plan())
	script := rec.reads[0]
	put := func(name, sc string) {
		h.Sh(b, "echo "+base64.StdEncoding.EncodeToString([]byte(sc))+" | base64 -d > /tmp/"+name)
	}
	put("read.sh", script)
	// A section is what the batch runs between "( " and ") </dev/null".
	secs := regexp.MustCompile(`(?s)e=\$\( \{ \(\n(.*?)\n\) </dev/null 2>&3 3>&-`).FindAllStringSubmatch(script, -1)
	names := []string{"facts", "profile_script", "sudoers_dropin", "audit_rules", "firewall"}
	if len(secs) != len(names) {
		b.Fatalf("%d sections in the read, want %d", len(secs), len(names))
	}
	for i, m := range secs {
		put(names[i]+".sh", "export LC_ALL=C\n"+m[1])
	}
	cpuMS := func(f string) float64 {
		out := h.ShTrim(b, fmt.Sprintf(`i=0; while [ $i -lt %d ]; do sh /tmp/%s >/dev/null 2>&1 </dev/null; i=$((i+1)); done; times >/tmp/times; tail -n 1 /tmp/times`, runs, f))
		var um, us, sm, ss float64
		if _, err := fmt.Sscanf(out, "%fm%fs %fm%fs", &um, &us, &sm, &ss); err != nil {
			b.Fatalf("times: %q: %v", out, err)
		}
		return (um*60 + us + sm*60 + ss) * 1000 / runs
	}
	for i := 0; i < b.N; i++ {
		b.ReportMetric(cpuMS("read.sh"), "read-host-cpu-ms")
		for _, n := range names {
			b.ReportMetric(cpuMS(n+".sh"), n+"-host-cpu-ms")
		}
	}
}
