package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goprov/goprov/internal/ci"

	"github.com/goprov/goprov/testinfra"
	"golang.org/x/crypto/ssh"
)

// TestMain lets the test binary act as the measuring wrapper, as the bench
// binary does (the harness re-executes itself with wrapEnv=1).
func TestMain(m *testing.M) {
	if os.Getenv(wrapEnv) == "1" {
		os.Exit(wrapMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// wrap runs argv under the wrapper, as the harness does.
func wrap(t *testing.T, argv ...string) Usage {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "usage.json")
	cmd := exec.Command(self, append([]string{"-out", out, "-sample", "20ms", "--"}, argv...)...)
	cmd.Env = append(os.Environ(), wrapEnv+"=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("wrapper: %v: %s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var u Usage
	if err := json.Unmarshal(b, &u); err != nil {
		t.Fatal(err)
	}
	return u
}

// The CPU of a process that outlives the tool's main process (as an ssh
// ControlPersist master does) is counted: the wrapper is its subreaper.
// Fixed work, not fixed time, so a busy machine does not change the verdict.
func TestWrapperCountsOrphans(t *testing.T) {
	const loop = `i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done`
	fg := wrap(t, "sh", "-c", loop)
	orphan := wrap(t, "sh", "-c", "("+loop+") </dev/null >/dev/null 2>&1 & exit 3")
	if orphan.Exit != 3 {
		t.Errorf("exit code: %d, want 3", orphan.Exit)
	}
	fgCPU, orphanCPU := time.Duration(fg.UserNS+fg.SysNS), time.Duration(orphan.UserNS+orphan.SysNS)
	if fgCPU < 30*time.Millisecond {
		t.Fatalf("the loop took only %s of CPU in the foreground", fgCPU)
	}
	if orphanCPU < fgCPU/2 {
		t.Errorf("CPU of the orphan not counted: %s (the same loop in the foreground: %s)", orphanCPU, fgCPU)
	}
	if orphan.WallNS > fg.WallNS/2 {
		t.Errorf("wall time must stop at the main process's exit: %s (foreground loop: %s)", time.Duration(orphan.WallNS), time.Duration(fg.WallNS))
	}
	if orphan.MaxRSSKB <= 0 {
		t.Errorf("max RSS: %d", orphan.MaxRSSKB)
	}
}

// Memory is sampled over the whole tree: a child holding 64 MB shows up.
func TestWrapperSamplesTreeMemory(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatalf("python3: %v", err) // Debian's base system has it; the lab needs it too
	}
	// bytes of 'x' are written, so all 64 MB are resident (a zeroed
	// bytearray may be only partly touched); 1 s leaves the sampler time
	// even on a busy machine.
	u := wrap(t, "sh", "-c", `python3 -c 'import time; b = b"x" * (64 << 20); time.sleep(1)'`)
	if u.PeakPSSKB < 60<<10 || u.PeakRSSSumKB < u.PeakPSSKB {
		t.Errorf("peak PSS %d kB, RSS sum %d kB: want ≥ 60 MB", u.PeakPSSKB, u.PeakRSSSumKB)
	}
	if u.MaxProcs < 2 {
		t.Errorf("saw %d processes, want the shell and python", u.MaxProcs)
	}
	if u.MaxRSSKB < 60<<10 {
		t.Errorf("max RSS %d kB", u.MaxRSSKB)
	}
}

func TestParseRecap(t *testing.T) {
	out := []byte(`PLAY RECAP *********************************************************************
h1                         : ok=9    changed=7    unreachable=0    failed=0    skipped=1    rescued=0    ignored=0
h10                        : ok=2    changed=0    unreachable=1    failed=3    skipped=0    rescued=0    ignored=0
`)
	got := parseRecap(out)
	if len(got) != 2 || got["h1"] != (recap{9, 7, 0, 0}) || got["h10"] != (recap{2, 0, 1, 3}) {
		t.Errorf("parseRecap: %+v", got)
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestTableAndTargets(t *testing.T) {
	res := &Result{N: 20, Rounds: 1}
	for _, s := range []Sample{
		{Tool: toolGoprov, Scenario: scCheck, Usage: Usage{WallNS: 5e8, UserNS: 1e8, MaxRSSKB: 20 << 10}, ExecPerHost: 1, ExecMax: 1},
		{Tool: toolAnsible, Scenario: scCheck, Usage: Usage{WallNS: 20e9, UserNS: 10e9, MaxRSSKB: 60 << 10}, ExecPerHost: 10, ExecMax: 10},
		{Tool: toolGoprov, Scenario: scConverge, Usage: Usage{WallNS: 4e9}, ExecMax: 9},
		{Tool: toolAnsible, Scenario: scConverge, Usage: Usage{WallNS: 20e9}},
	} {
		res.Samples = append(res.Samples, s)
	}
	tab := Table(res)
	for _, want := range []string{
		"| no-op check | wall time (s) | 0.50 | 20.00 | 0.025 (40.0× less) |",
		"| no-op check | SSH exec requests / host | 1.0 | 10.0 | 0.100 (10.0× less) |",
	} {
		if !strings.Contains(tab, want) {
			t.Errorf("table lacks %q:\n%s", want, tab)
		}
	}
	if strings.Contains(tab, scChange) {
		t.Errorf("a scenario that did not run is listed:\n%s", tab)
	}
	tg := Targets(res)
	for _, want := range []string{
		"no-op check: goprov 40.0× faster than Ansible (target ≥ 20×): met",
		"first converge: goprov 5.0× faster than Ansible (target ≥ 10×): MISSED",
		"at most 1 exec requests on any host",
		"= 1.05 MB (10^6 bytes) per concurrent host (target ≤ 1 MB): MISSED (the target is stated for N = 200; this run has N = 20)",
	} {
		if !strings.Contains(tg, want) {
			t.Errorf("targets lack %q:\n%s", want, tg)
		}
	}
}

// TestBenchSmoke runs the harness for real: 2 lab hosts, one round, first
// converge and no-op check with goprov, first converge with Ansible when
// ansible-playbook is installed (the harness checks both end states match) (scripts/bench.sh installs it). Without it, goprov alone runs —
// except under CI=true, where a missing Ansible fails the test.
func TestBenchSmoke(t *testing.T) {
	if why := testinfra.Missing(); why != "" {
		ci.Skip(t, "lab unavailable: "+why)
	}
	tools := []string{toolGoprov, toolAnsible}
	if _, err := exec.LookPath("ansible-playbook"); err != nil {
		if ci.Enabled() {
			t.Fatal("ansible-playbook is not installed (CI): run scripts/bench.sh or apt-get install ansible")
		}
		t.Log("ansible-playbook is not installed: goprov only (scripts/bench.sh installs Ansible)")
		tools = tools[:1]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	bin, err := buildGoprov(ctx, work)
	if err != nil {
		t.Fatal(err)
	}
	c := Config{N: 2, Rounds: 1, Tools: tools, WorkDir: work, GoprovBin: bin, Self: self,
		Sample: 100 * time.Millisecond, Log: testWriter{t},
		// Ansible's first converge is the slow part (~20 s idle); its no-op
		// check and the change scenario are left to the full bench.
		Scenarios: map[string][]string{toolGoprov: {scConverge, scCheck}, toolAnsible: {scConverge}}}
	res, err := Run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + len(tools); len(res.Samples) != want {
		t.Fatalf("%d samples, want %d", len(res.Samples), want)
	}
	for _, s := range res.Samples {
		if s.WallNS <= 0 || s.UserNS+s.SysNS <= 0 || s.MaxRSSKB <= 0 || s.ExecPerHost < 1 || s.LoginsPerHost < 1 {
			t.Errorf("%s %s: implausible sample %+v", s.Tool, s.Scenario, s)
		}
		if s.Tool == toolGoprov && s.Scenario == scCheck && s.ExecMax > 2 {
			t.Errorf("goprov's no-op check made %d exec requests on a host, want ≤ 2", s.ExecMax)
		}
	}
	t.Logf("\n%s\n%s", Table(res), Targets(res))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// The README documents the exact configurations the harness uses.
func TestREADMEShowsTheConfigs(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{
		"assets/main.hcl": string(goprovConfig), "assets/playbook.yml": string(playbook), "assets/ansible.cfg.tmpl": ansibleCfgTmpl,
	} {
		if !strings.Contains(string(readme), text) {
			t.Errorf("README.md does not show %s verbatim", name)
		}
	}
}

// Host CPU counts every process of a host, including work orphaned by its
// SSH session (reaped by the host's init, not by sshd) — as happens to
// Ansible's sessions when their ControlPersist master goes away.
func TestHostCPUCountsOrphanedWork(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	h := lab.Hosts[0]
	c, err := ssh.Dial("tcp", h.Addr+":22", lab.ClientConfig(testinfra.UserRoot))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	run := func(script string) {
		t.Helper()
		s, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if out, err := s.CombinedOutput(script); err != nil {
			t.Fatalf("%s: %v: %s", script, err, out)
		}
	}
	const loop = `i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done`
	measure := func(script string, wait func()) time.Duration {
		before := hostCPU(lab)[h.Name]
		run(script)
		wait()
		waitSessionsClosed(lab, 5*time.Second)
		return time.Duration(hostCPU(lab)[h.Name]-before) * time.Second / clockTicks
	}
	fg := measure(loop, func() {})
	orphan := measure("("+loop+"; touch /tmp/orphan-done) </dev/null >/dev/null 2>&1 &", func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for {
			if _, _, code, err := h.Exec(ctx, "test -e /tmp/orphan-done"); err == nil && code == 0 {
				time.Sleep(200 * time.Millisecond) // let init reap it
				return
			}
			if ctx.Err() != nil {
				t.Fatal("the orphaned loop never finished")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	if fg < 50*time.Millisecond {
		t.Fatalf("the loop took only %s of host CPU in the foreground", fg)
	}
	if orphan < fg/2 {
		t.Errorf("orphaned work not counted: %s (the same loop in the session: %s)", orphan, fg)
	}
	t.Logf("host CPU: loop in the session %s, orphaned %s", fg, orphan)
}

func TestTableWithMitogenAndSSH(t *testing.T) {
	res := &Result{N: 20, Rounds: 1}
	res.Samples = []Sample{
		{Tool: toolGoprov, Scenario: scCheck, Usage: Usage{WallNS: 5e8}, HostCPUPerHost: 0.02},
		{Tool: toolAnsible, Scenario: scCheck, Usage: Usage{WallNS: 20e9}},
		{Tool: toolMitogen, Scenario: scCheck, Usage: Usage{WallNS: 4e9}},
		{Tool: toolSSH, Scenario: scCheck, Usage: Usage{WallNS: 4e8}},
		{Tool: toolGoprov, Scenario: scConverge, Usage: Usage{WallNS: 2e9}},
		{Tool: toolMitogen, Scenario: scConverge, Usage: Usage{WallNS: 8e9}},
	}
	tab := Table(res)
	for _, want := range []string{
		"| scenario | metric | goprov (median) | Ansible (median) | Ansible+Mitogen (median) | bare ssh (median) | goprov/Ansible | goprov/Mitogen | goprov/ssh |",
		"| no-op check | wall time (s) | 0.50 | 20.00 | 4.00 | 0.40 | 0.025 (40.0× less) | 0.125 (8.0× less) | 1.250 |",
		"| first converge | wall time (s) | 2.00 | — | 8.00 | — | — | 0.250 (4.0× less) | — |",
	} {
		if !strings.Contains(tab, want) {
			t.Errorf("table lacks %q:\n%s", want, tab)
		}
	}
	tg := Targets(res)
	for _, want := range []string{
		"no-op check: goprov 8.0× faster than Ansible+Mitogen (target ≥ 10×): MISSED",
		"first converge: goprov 4.0× faster than Ansible+Mitogen (target ≥ 5×): MISSED",
		"goprov's wall time is 1.25× a bare `ssh host true` (target ≤ 2×): met (the target is stated for N = 1; this run has N = 20)",
		"costs each host 20 ms of CPU (median; target ≤ 30 ms): met",
	} {
		if !strings.Contains(tg, want) {
			t.Errorf("targets lack %q:\n%s", want, tg)
		}
	}
}
