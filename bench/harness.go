package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/goprov/goprov/internal/shell"
	"github.com/goprov/goprov/testinfra"
)

//go:embed assets/main.hcl
var goprovConfig []byte

//go:embed assets/playbook.yml
var playbook []byte

//go:embed assets/ansible.cfg.tmpl
var ansibleCfgTmpl string

// Scenarios, in the order they run on each lab.
const (
	scConverge = "first converge"
	scCheck    = "no-op check"
	scChange   = "one-file change"
)

var scenarios = []string{scCheck, scConverge, scChange} // display order

const (
	toolGoprov  = "goprov"
	toolAnsible = "ansible"
	// toolMitogen is Ansible with strategy = mitogen_linear (Debian's
	// ansible-mitogen): the same playbook, configuration and cold start.
	toolMitogen = "mitogen"
	// toolSSH is the floor: a bare OpenSSH `ssh host true` to every host at
	// once (its only scenario is the no-op check).
	toolSSH = "ssh"
)

var allTools = []string{toolGoprov, toolAnsible, toolMitogen, toolSSH}

// Config of one bench run.
type Config struct {
	N         int
	Rounds    int
	Tools     []string      // goprov, ansible (in the order they alternate)
	WorkDir   string        // outputs of every run are kept here
	GoprovBin string        // built once
	Self      string        // binary that becomes the wrapper with wrapEnv=1
	Sample    time.Duration // memory sampling interval
	// Scenarios to run on each tool's labs, in this order (default, and
	// for tools not listed: converge, check, change; a check or change
	// needs a converge before it).
	Scenarios map[string][]string
	Log       io.Writer
}

// Sample is one measured tool invocation.
type Sample struct {
	Tool     string `json:"tool"`
	Scenario string `json:"scenario"`
	Round    int    `json:"round"`
	Usage
	ExecPerHost   float64 `json:"exec_per_host"`
	ExecMax       int     `json:"exec_max"`
	SFTPPerHost   float64 `json:"sftp_per_host"`
	LoginsPerHost float64 `json:"logins_per_host"`
	// HostCPUPerHost: CPU the hosts spent during the run (seconds per
	// host), from all the host's processes (see hostCPU): sshd, shells,
	// sudo, python, ufw.
	// In this lab it competes with the controller for the same cores.
	HostCPUPerHost float64 `json:"host_cpu_per_host"`
	// Load1 is the machine's 1-minute load average when the run started:
	// other work on the machine stretches wall times (CPU times much less).
	Load1 float64 `json:"load1"`
}

// Result of a bench run.
type Result struct {
	N, Rounds int
	Samples   []Sample
	// States maps tool → fingerprint of h1 after its first converge; the
	// harness checks both tools reach the same end state.
	States map[string]string
}

func (c *Config) logf(format string, args ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, format+"\n", args...)
	}
}

// Run starts a fresh lab of N hosts per tool per round and measures the
// three scenarios on it: first converge, no-op check, one-file change.
func Run(ctx context.Context, c Config) (*Result, error) {
	res := &Result{N: c.N, Rounds: c.Rounds, States: map[string]string{}}
	for r := 1; r <= c.Rounds; r++ {
		for _, tl := range c.Tools {
			ss, fp, err := runLab(ctx, c, tl, r)
			if err != nil {
				return res, fmt.Errorf("round %d, %s: %w", r, tl, err)
			}
			res.Samples = append(res.Samples, ss...)
			if prev, ok := res.States[tl]; ok && prev != fp {
				return res, fmt.Errorf("round %d, %s: end state differs from round 1:\n%s\n---\n%s", r, tl, prev, fp)
			}
			res.States[tl] = fp
		}
	}
	for _, other := range []string{toolAnsible, toolMitogen} {
		if g, a := res.States[toolGoprov], res.States[other]; g != "" && a != "" && g != a {
			return res, fmt.Errorf("goprov and %s left different end states on h1:\ngoprov:\n%s\n%s:\n%s", other, g, other, a)
		}
	}
	return res, nil
}

// tool is how the harness drives one provisioning tool on one lab.
type tool struct {
	dir    string
	env    []string
	cpdir  string
	argv   func(sc string) []string
	verify func(sc string, stdout []byte) error
}

func runLab(ctx context.Context, c Config, name string, round int) ([]Sample, string, error) {
	t0 := time.Now()
	lab, err := testinfra.StartLab(ctx, "", testinfra.Options{Hosts: c.N, ReadyTimeout: 5 * time.Minute})
	if err != nil {
		return nil, "", fmt.Errorf("start lab: %w", err)
	}
	defer func() {
		t1 := time.Now()
		if err := lab.Close(); err != nil {
			c.logf("close lab %s: %v", lab.Name, err)
		}
		c.logf("  lab %s down in %s", lab.Name, time.Since(t1).Round(time.Millisecond))
	}()
	c.logf("round %d, %s: lab %s, %d hosts up in %s", round, name, lab.Name, c.N, time.Since(t0).Round(time.Millisecond))

	dir := filepath.Join(c.WorkDir, fmt.Sprintf("r%d-%s", round, name))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", err
	}
	var tl *tool
	switch name {
	case toolGoprov:
		tl, err = goprovTool(c, lab, dir)
	case toolAnsible, toolMitogen:
		tl, err = ansibleTool(c, lab, dir, name == toolMitogen)
	case toolSSH:
		tl, err = sshTool(lab, dir)
	default:
		err = fmt.Errorf("unknown tool %q", name)
	}
	if err != nil {
		return nil, "", err
	}
	if tl.cpdir != "" {
		defer os.RemoveAll(tl.cpdir)
	}

	var out []Sample
	var fingerprint string
	scs := c.Scenarios[name]
	switch {
	case len(scs) == 0 && name == toolSSH:
		scs = []string{scCheck}
	case len(scs) == 0:
		scs = []string{scConverge, scCheck, scChange}
	}
	for _, sc := range scs {
		s, stdout, err := runOne(ctx, c, lab, tl, name, sc, round)
		if err != nil {
			return out, "", err
		}
		if err := tl.verify(sc, stdout); err != nil {
			return out, "", fmt.Errorf("%s: %w (output in %s)", sc, err, tl.dir)
		}
		switch sc {
		case scConverge:
			if fingerprint, err = stateOf(ctx, lab.Hosts[0]); err != nil {
				return out, "", err
			}
		case scChange:
			b, err := os.ReadFile(filepath.Join(lab.Hosts[0].RootDir, "etc/profile.d/bench.sh"))
			if err != nil || !bytes.Contains(b, []byte("BENCH_VERSION=2\n")) {
				return out, "", fmt.Errorf("%s: h1's profile.d script was not changed (%v)", sc, err)
			}
		}
		c.logf("  %-16s %-7s wall %6.2fs  cpu %6.2fs  maxrss %6.1f MiB  pss %6.1f MiB  exec/host %.1f  host cpu/host %.2fs  load %.1f",
			sc, name, secs(s.WallNS), secs(s.UserNS+s.SysNS), mb(s.MaxRSSKB), mb(s.PeakPSSKB), s.ExecPerHost, s.HostCPUPerHost, s.Load1)
		out = append(out, *s)
	}
	return out, fingerprint, nil
}

func runOne(ctx context.Context, c Config, lab *testinfra.Lab, tl *tool, name, sc string, round int) (*Sample, []byte, error) {
	before, err := sshdCounts(lab)
	if err != nil {
		return nil, nil, err
	}
	cpuBefore := hostCPU(lab)
	load1 := loadAvg()
	slug := strings.ReplaceAll(sc, " ", "-")
	usageFile := filepath.Join(tl.dir, slug+".usage.json")
	stdoutFile := filepath.Join(tl.dir, slug+".stdout")
	args := []string{"-out", usageFile, "-sample", c.Sample.String(), "-stdout", stdoutFile,
		"-stderr", filepath.Join(tl.dir, slug+".stderr")}
	if tl.cpdir != "" {
		args = append(args, "-cpdir", tl.cpdir)
	}
	args = append(args, "--")
	args = append(args, tl.argv(sc)...)
	cmd := exec.CommandContext(ctx, c.Self, args...)
	cmd.Dir = tl.dir
	cmd.Env = append(append(os.Environ(), wrapEnv+"=1"), tl.env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, nil, fmt.Errorf("%s: wrapper: %v: %s", sc, err, out)
	}
	var u Usage
	b, err := os.ReadFile(usageFile)
	if err == nil {
		err = json.Unmarshal(b, &u)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: usage: %w", sc, err)
	}
	stdout, _ := os.ReadFile(stdoutFile)
	if u.Exit != 0 {
		stderr, _ := os.ReadFile(filepath.Join(tl.dir, slug+".stderr"))
		return nil, nil, fmt.Errorf("%s: %s exited %d:\n%s\n%s", sc, name, u.Exit, tail(stdout, 3000), tail(stderr, 2000))
	}
	after, err := sshdCounts(lab)
	if err != nil {
		return nil, nil, err
	}
	s := &Sample{Tool: name, Scenario: sc, Round: round, Usage: u, Load1: load1}
	waitSessionsClosed(lab, 10*time.Second)
	var hostTicks int64
	for h, t := range hostCPU(lab) {
		hostTicks += t - cpuBefore[h]
	}
	s.HostCPUPerHost = float64(hostTicks) / clockTicks / float64(len(lab.Hosts))
	for h, a := range after {
		d := a.sub(before[h])
		s.ExecPerHost += float64(d.exec)
		s.SFTPPerHost += float64(d.sftp)
		s.LoginsPerHost += float64(d.logins)
		s.ExecMax = max(s.ExecMax, d.exec)
	}
	n := float64(len(after))
	s.ExecPerHost /= n
	s.SFTPPerHost /= n
	s.LoginsPerHost /= n
	return s, stdout, nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

type sshdCount struct{ exec, sftp, logins int }

func (a sshdCount) sub(b sshdCount) sshdCount {
	return sshdCount{a.exec - b.exec, a.sftp - b.sftp, a.logins - b.logins}
}

// sshdCounts reads every host's sshd VERBOSE log: one "Starting session:
// command" line per exec request, "subsystem 'sftp'" per file transfer
// session, "Accepted publickey" per login.
func sshdCounts(lab *testinfra.Lab) (map[string]sshdCount, error) {
	out := map[string]sshdCount{}
	for _, h := range lab.Hosts {
		b, err := h.SSHDLog()
		if err != nil {
			return nil, fmt.Errorf("%s: sshd log: %w", h.Name, err)
		}
		out[h.Name] = sshdCount{
			exec:   bytes.Count(b, []byte("Starting session: command")),
			sftp:   bytes.Count(b, []byte("Starting session: subsystem 'sftp'")),
			logins: bytes.Count(b, []byte("Accepted publickey")),
		}
	}
	return out, nil
}

// stateOf fingerprints what the baseline manages on a host: the files and
// ufw's view of the rules (goprov tags rule comments; those are dropped).
func stateOf(ctx context.Context, h *testinfra.Host) (string, error) {
	out, err := h.MustExec(ctx, `cd / && sha256sum etc/profile.d/bench.sh etc/zsh/zprofile etc/sudoers.d/bench-ops etc/audit/rules.d/50-bench.rules &&
stat -c '%n %a %U:%G' etc/profile.d/bench.sh etc/sudoers.d/bench-ops etc/audit/rules.d/50-bench.rules &&
ufw status verbose | sed 's/ *#.*$//; s/ *$//'`)
	if err != nil {
		return "", fmt.Errorf("%s: end state: %w", h.Name, err)
	}
	return out, nil
}

func goprovTool(c Config, lab *testinfra.Lab, dir string) (*tool, error) {
	cfg := filepath.Join(dir, "config")
	if err := os.MkdirAll(cfg, 0o755); err != nil {
		return nil, err
	}
	inv, err := os.ReadFile(lab.InventoryPath)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(cfg, "inventory.hcl"), inv, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(cfg, "main.hcl"), goprovConfig, 0o644); err != nil {
		return nil, err
	}
	par := "-parallel=" + strconv.Itoa(c.N) // as many at once as Ansible's forks
	return &tool{
		dir: dir,
		argv: func(sc string) []string {
			switch sc {
			case scCheck:
				return []string{c.GoprovBin, "plan", par, "-detailed-exitcode", cfg}
			case scChange:
				return []string{c.GoprovBin, "apply", par, "-auto-approve", "-var", "profile_version=2", cfg}
			}
			return []string{c.GoprovBin, "apply", par, "-auto-approve", cfg}
		},
		// Exit codes say it all (plan -detailed-exitcode: 0 = nothing to do).
		verify: func(string, []byte) error { return nil },
	}, nil
}

type recap struct{ ok, changed, unreachable, failed int }

var recapLine = regexp.MustCompile(`(?m)^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)`)

// parseRecap reads ansible-playbook's PLAY RECAP.
func parseRecap(out []byte) map[string]recap {
	m := map[string]recap{}
	for _, g := range recapLine.FindAllSubmatch(out, -1) {
		n := func(i int) int { v, _ := strconv.Atoi(string(g[i])); return v }
		m[string(g[1])] = recap{n(2), n(3), n(4), n(5)}
	}
	return m
}

func ansibleTool(c Config, lab *testinfra.Lab, dir string, mitogen bool) (_ *tool, err error) {
	// The control socket path must stay short (sun_path is 108 bytes and
	// ssh appends a random suffix while it sets up the master).
	cpdir, err := os.MkdirTemp("/tmp", "gpb")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(cpdir)
		}
	}()
	var cfg bytes.Buffer
	tmpl := template.Must(template.New("cfg").Parse(ansibleCfgTmpl))
	if err := tmpl.Execute(&cfg, map[string]any{"N": c.N, "KnownHosts": lab.KnownHostsPath, "ControlDir": cpdir, "Mitogen": mitogen}); err != nil {
		return nil, err
	}
	var inv strings.Builder
	inv.WriteString("[lab]\n")
	for _, h := range lab.Hosts {
		fmt.Fprintf(&inv, "%s ansible_host=%s\n", h.Name, h.Addr)
	}
	fmt.Fprintf(&inv, "\n[lab:vars]\nansible_user=%s\nansible_ssh_private_key_file=%s\n", testinfra.UserDeploy, lab.KeyPath(testinfra.UserDeploy))
	if mitogen {
		// Mitogen's ssh turns compression on by default; the others run
		// without it (it only costs CPU on a LAN).
		inv.WriteString("mitogen_ssh_compression=False\n")
		// Mitogen does its own interpreter discovery unless told per host.
		inv.WriteString("ansible_python_interpreter=/usr/bin/python3\n")
	}
	for name, b := range map[string][]byte{"ansible.cfg": cfg.Bytes(), "hosts.ini": []byte(inv.String()), "playbook.yml": playbook} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return nil, err
		}
	}
	nHosts := len(lab.Hosts)
	return &tool{
		dir:   dir,
		cpdir: cpdir,
		env:   []string{"ANSIBLE_CONFIG=" + filepath.Join(dir, "ansible.cfg"), "ANSIBLE_NOCOLOR=1"},
		argv: func(sc string) []string {
			switch sc {
			case scCheck:
				return []string{"ansible-playbook", "--check", "playbook.yml"}
			case scChange:
				return []string{"ansible-playbook", "-e", "profile_version=2", "playbook.yml"}
			}
			return []string{"ansible-playbook", "playbook.yml"}
		},
		verify: func(sc string, out []byte) error {
			rc := parseRecap(out)
			if len(rc) != nHosts {
				return fmt.Errorf("PLAY RECAP lists %d hosts, want %d", len(rc), nHosts)
			}
			for h, r := range rc {
				if r.failed+r.unreachable > 0 {
					return fmt.Errorf("%s: failed=%d unreachable=%d", h, r.failed, r.unreachable)
				}
				switch {
				case sc == scCheck && r.changed != 0:
					return fmt.Errorf("%s: a no-op check reports changed=%d", h, r.changed)
				case sc == scChange && r.changed != 1:
					return fmt.Errorf("%s: a one-file change reports changed=%d", h, r.changed)
				case sc == scConverge && r.changed == 0:
					return fmt.Errorf("%s: first converge changed nothing", h)
				}
			}
			return nil
		},
	}, nil
}

// sshTool runs OpenSSH's `ssh HOST true` to every host at once, with the
// lab's key and known_hosts, nothing shared between connections: the least
// any agentless tool can do per host (one handshake, one exec).
func sshTool(lab *testinfra.Lab, dir string) (*tool, error) {
	var script strings.Builder
	for _, h := range lab.Hosts {
		fmt.Fprintf(&script, "ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=%s -o GlobalKnownHostsFile=/dev/null -i %s %s@%s true & pids=\"$pids $!\"\n",
			shell.Quote(lab.KnownHostsPath), shell.Quote(lab.KeyPath(testinfra.UserDeploy)), testinfra.UserDeploy, h.Addr)
	}
	script.WriteString("fail=0; for p in $pids; do wait $p || fail=1; done; exit $fail\n")
	return &tool{
		dir:    dir,
		argv:   func(string) []string { return []string{"/bin/sh", "-c", script.String()} },
		verify: func(string, []byte) error { return nil }, // the exit code says it
	}, nil
}

func secs(ns int64) float64 { return float64(ns) / 1e9 }
func mb(kb int64) float64   { return float64(kb) / 1024 }

// loadAvg is the 1-minute load average (0 if unknown).
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times (100 on Linux).
const clockTicks = 100

// sshdListener finds the host's sshd listener among the host's processes.
func sshdListener(h *testinfra.Host, parents map[int]int) int {
	kids := map[int][]int{}
	for p, pp := range parents {
		kids[pp] = append(kids[pp], p)
	}
	queue := []int{h.PID()}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/cmdline"); err == nil && bytes.Contains(b, []byte("[listener]")) {
			return p
		}
		queue = append(queue, kids[p]...)
	}
	return 0
}

// statTimes returns utime+stime+cutime+cstime of pid, in clock ticks.
func statTimes(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return 0
	}
	var sum int64
	for _, k := range []int{11, 12, 13, 14} {
		v, _ := strconv.ParseInt(f[k], 10, 64)
		sum += v
	}
	return sum
}

// hostCPU is, per host, the CPU used so far by the processes of the host
// (clock ticks): the sum over its live processes of their own and their
// reaped children's times. Every process of a host descends from its
// init, and orphans are reaped by it, so exited work is in some live
// process's cutime: not only in sshd's (an sshd monitor may exit before its
// session process, which the host's init then reaps, as happens with
// Ansible's ControlPersist connections).
func hostCPU(lab *testinfra.Lab) map[string]int64 {
	parents := procParents()
	kids := map[int][]int{}
	for p, pp := range parents {
		kids[pp] = append(kids[pp], p)
	}
	out := map[string]int64{}
	for _, h := range lab.Hosts {
		var sum int64
		queue := []int{h.PID()}
		for len(queue) > 0 {
			p := queue[0]
			queue = queue[1:]
			sum += statTimes(p)
			queue = append(queue, kids[p]...)
		}
		out[h.Name] = sum
	}
	return out
}

// waitSessionsClosed waits until no host's sshd listener has a connection
// process left, so that their CPU has been reaped into the listener's.
func waitSessionsClosed(lab *testinfra.Lab, limit time.Duration) {
	end := time.Now().Add(limit)
	for time.Now().Before(end) {
		parents := procParents()
		busy := false
		for _, h := range lab.Hosts {
			l := sshdListener(h, parents)
			for _, pp := range parents {
				if l != 0 && pp == l {
					busy = true
					break
				}
			}
			if busy {
				break
			}
		}
		if !busy {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
