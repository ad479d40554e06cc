// Package testinfra is goprov's SSH test lab: real Linux hosts on this
// machine, each with its own root filesystem (overlayfs over a cached Debian
// bookworm image), network namespace, IP address and OpenSSH server.
//
// Tests call Start; people use `go run ./testinfra/cmd/goprov-lab up 3`.
// Everything needs root; see README.md.
package testinfra

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	_ "embed"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goprov/goprov/internal/ci"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/goprov/goprov/testinfra/base"
)

var validUser = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,30}$`)

//go:embed init.sh
var initSh []byte

//go:embed boot.sh
var bootSh []byte

//go:embed auditctl-guard.sh
var auditGuardSh []byte

// Options says which lab to start.
type Options struct {
	Hosts int // number of hosts
	// AuditHosts are indexes (0-based) of hosts started without their own
	// PID namespace, so they can change the machine's kernel audit. Only one
	// lab on the machine uses audit hosts at a time (others wait); the audit
	// state is saved before and restored at teardown.
	AuditHosts []int
	// FirewalldHosts are indexes (0-based) of hosts that run dbus + firewalld.
	FirewalldHosts []int
	// Detached labs outlive the process that started them (the CLI); only
	// Down removes them. Test labs are not detached: if their process dies,
	// the next Start sweeps them away.
	Detached bool
	// ReadyTimeout bounds the wait for sshd (and firewalld); default 60s.
	ReadyTimeout time.Duration
	// Users are extra login users created on every host (no sudo), each with
	// its own lab key (KeyPath, Signer), besides root, deploy and ops.
	Users []string
	// Suite is the hosts' Debian release: base.Bookworm (default, "") or
	// base.Trixie. Each has its own cached base image.
	Suite string
	// Minimal starts the hosts from the suite's minimal image: debootstrap's
	// minbase plus sshd, tini and iproute2 (no sudo, auditd, ufw, firewalld,
	// zsh; no fish/tcsh/zsh users). Its mirror of the packages the shipped
	// baselines install is MinimalBaseConfig(Suite).MirrorDir(). Not with
	// FirewalldHosts (firewalld is not there). An audit host of a minimal
	// lab gets the auditctl guard when apt installs auditd (a dpkg hook).
	Minimal bool
	// Log, if set, hears about slow steps (building the base image, waiting
	// for another lab's hold on kernel audit). Start sets it to t.Logf.
	Log func(format string, args ...any)
}

// Lab is a running set of hosts.
type Lab struct {
	Name           string
	Dir            string // per-lab state dir: keys, known_hosts, ssh_config, inventory.hcl, state.json
	Hosts          []*Host
	KnownHostsPath string // real host keys of all hosts, by IP
	SSHConfigPath  string // Host h1..hN entries, User root, strict host key checking
	InventoryPath  string // HCL host blocks for goprov (user deploy, become)

	mu      sync.Mutex
	state   *labState
	owner   *os.File // owner.lock, held while this process owns the lab
	keys    map[string]ed25519.PrivateKey
	users   []string // root, deploy, ops, then Options.Users
	closed  bool
	waiters sync.WaitGroup // reapers of the host processes this process started
}

// Host is one lab host.
type Host struct {
	Name    string // "h1".."hN"
	Index   int    // 0-based
	Addr    string // IP on the lab bridge
	Port    int    // 22
	RootDir string // the host's merged root as seen from the controller

	lab *Lab
}

// CI reports whether the tests run in CI (CI=true), where a lab that cannot
// start is a failure, never a skip.
func CI() bool { return ci.Enabled() }

// Missing reports why this machine cannot run a lab ("" if it can).
func Missing() string {
	if os.Geteuid() != 0 {
		return "the goprov SSH lab needs root (network namespaces, overlay mounts, unshare); run the tests as root, e.g. `sudo -E go test ./...`"
	}
	var miss []string
	for _, tool := range []string{"ip", "unshare", "nsenter", "mount", "chroot", "debootstrap"} {
		if _, err := exec.LookPath(tool); err != nil {
			miss = append(miss, tool)
		}
	}
	if len(miss) > 0 {
		return fmt.Sprintf("the goprov SSH lab needs %s on this machine; run scripts/lab-deps.sh (as root)", strings.Join(miss, ", "))
	}
	return ""
}

// Start starts a lab for a test and tears it down in t.Cleanup. Without root
// (or the lab's tools) it skips with the reason, except in CI where it fails.
func Start(t testing.TB, opts Options) *Lab {
	t.Helper()
	if why := Missing(); why != "" {
		ci.Skip(t, "testinfra: cannot start a lab: "+why)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if opts.Log == nil {
		opts.Log = t.Logf
	}
	lab, err := StartLab(ctx, "", opts)
	if err != nil {
		t.Fatalf("testinfra: start lab: %v", err)
	}
	t.Cleanup(func() {
		if err := lab.Close(); err != nil {
			t.Errorf("testinfra: teardown of lab %s: %v", lab.Name, err)
		}
	})
	return lab
}

func isShellUser(u string) bool {
	for _, s := range ShellUsers {
		if s.Name == u {
			return true
		}
	}
	return false
}

func baseConfig() base.Config { return base.Config{OpsPassword: OpsPassword} }

// BaseConfig is the base image description the lab uses (for the CLI).
func BaseConfig() base.Config { return baseConfig() }

// SuiteBaseConfig is the base image of a lab with Options.Suite = suite.
func SuiteBaseConfig(suite string) base.Config {
	c := baseConfig()
	c.Suite = suite
	return c
}

// MinimalBaseConfig is the base image of a lab with Options.Minimal and
// Options.Suite = suite.
func MinimalBaseConfig(suite string) base.Config {
	c := SuiteBaseConfig(suite)
	c.Minimal = true
	return c
}

// checkOptions validates opts and returns the audit and firewalld hosts
// as sets of indexes.
func checkOptions(opts Options) (isAudit, isFW map[int]bool, err error) {
	isAudit, isFW = map[int]bool{}, map[int]bool{}
	for _, i := range opts.AuditHosts {
		if i < 0 || i >= opts.Hosts {
			return nil, nil, fmt.Errorf("testinfra: audit host index %d out of range", i)
		}
		isAudit[i] = true
	}
	for _, i := range opts.FirewalldHosts {
		if i < 0 || i >= opts.Hosts {
			return nil, nil, fmt.Errorf("testinfra: firewalld host index %d out of range", i)
		}
		isFW[i] = true
	}
	if opts.Minimal && len(opts.FirewalldHosts) > 0 {
		return nil, nil, errors.New("testinfra: a minimal lab has no firewalld for firewalld hosts")
	}
	for _, u := range opts.Users {
		if !validUser.MatchString(u) || u == UserRoot || u == UserDeploy || u == UserOps || isShellUser(u) {
			return nil, nil, fmt.Errorf("testinfra: user %q: want a new lower-case login name", u)
		}
	}
	return isAudit, isFW, nil
}

// StartLab starts a lab named name ("" picks "gpl<id>"). The caller must
// Close it (unless opts.Detached, where Down removes it).
func StartLab(ctx context.Context, name string, opts Options) (*Lab, error) {
	if why := Missing(); why != "" {
		return nil, errors.New(why)
	}
	if opts.Hosts < 1 || opts.Hosts > 240 {
		return nil, fmt.Errorf("testinfra: %d hosts: want 1..240", opts.Hosts)
	}
	isAudit, isFW, err := checkOptions(opts)
	if err != nil {
		return nil, err
	}
	if opts.Log == nil {
		opts.Log = func(string, ...any) {}
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 60 * time.Second
	}
	if err := os.MkdirAll(RunRoot, 0o755); err != nil {
		return nil, fmt.Errorf("testinfra: %w", err)
	}
	if err := SweepStale(ctx); err != nil {
		// Not fatal for this lab, which gets fresh names anyway.
		opts.Log("testinfra: sweeping stale labs: %v", err)
	}
	bc := SuiteBaseConfig(opts.Suite)
	if opts.Minimal {
		bc = MinimalBaseConfig(opts.Suite)
	}
	if !bc.Ready() {
		opts.Log("testinfra: building (or waiting for) the lab's base image in %s; once per machine, about a minute", bc.Dir())
	}
	baseDir, err := base.Ensure(ctx, bc)
	if err != nil {
		return nil, fmt.Errorf("testinfra: base image: %w", err)
	}

	id, dir, owner, err := allocate(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("testinfra: allocate lab: %w", err)
	}
	if name == "" {
		name = filepath.Base(dir)
	}
	s := &labState{
		Name: name, ID: id, Dir: dir, DataDir: filepath.Join(DataRoot, name), Base: baseDir,
		Bridge: fmt.Sprintf("gpl%d", id), Subnet: subnetFor(id), OwnerPID: os.Getpid(),
		Detached: opts.Detached, Created: time.Now().UTC(),
	}
	l := &Lab{
		Name: name, Dir: dir, state: s, owner: owner,
		KnownHostsPath: filepath.Join(dir, "known_hosts"),
		SSHConfigPath:  filepath.Join(dir, "ssh_config"),
		InventoryPath:  filepath.Join(dir, "inventory.hcl"),
	}
	for i := 0; i < opts.Hosts; i++ {
		hn := fmt.Sprintf("h%d", i+1)
		hd := filepath.Join(s.DataDir, hn)
		s.Hosts = append(s.Hosts, hostState{
			Name: hn, Index: i, Addr: fmt.Sprintf("%s.%d", s.Subnet, 10+i+1),
			NetNS: fmt.Sprintf("gpl%d-%s", id, hn), Veth: fmt.Sprintf("gpl%d%s", id, hn),
			Audit: isAudit[i], Firewalld: isFW[i],
			Upper: filepath.Join(hd, "upper"), Work: filepath.Join(hd, "work"), Merged: filepath.Join(hd, "root"),
		})
		l.Hosts = append(l.Hosts, &Host{Name: hn, Index: i, Addr: s.Hosts[i].Addr, Port: 22, RootDir: s.Hosts[i].Merged, lab: l})
	}
	if err := s.save(); err != nil {
		l.abort()
		return nil, err
	}
	if err := l.start(ctx, opts); err != nil {
		if cerr := l.Close(); cerr != nil {
			err = fmt.Errorf("%w (and teardown: %v)", err, cerr)
		}
		return nil, fmt.Errorf("testinfra: start lab %s: %w", name, err)
	}
	if opts.Detached {
		// The CLI exits now; its children are reparented, nothing to reap.
		l.owner.Close()
		l.owner = nil
	}
	return l, nil
}

// abort drops a lab that never got past allocation.
func (l *Lab) abort() {
	_ = os.RemoveAll(l.Dir)
	if l.owner != nil {
		l.owner.Close()
	}
}

func (l *Lab) start(ctx context.Context, opts Options) error {
	s := l.state
	if err := os.WriteFile(filepath.Join(s.Dir, "init.sh"), initSh, 0o755); err != nil {
		return err
	}
	l.users = []string{UserRoot, UserDeploy, UserOps}
	for _, u := range ShellUsers {
		l.users = append(l.users, u.Name)
	}
	l.users = append(l.users, opts.Users...)
	if err := l.writeKeys(); err != nil {
		return err
	}
	if len(opts.AuditHosts) > 0 {
		if err := acquireAudit(ctx, s.Name, opts.Log); err != nil {
			return fmt.Errorf("kernel audit: %w", err)
		}
		s.AuditOwner = true
		if opts.Minimal { // no auditctl in a minimal image: the full one's
			full, err := base.Ensure(ctx, SuiteBaseConfig(opts.Suite))
			if err != nil {
				return fmt.Errorf("the full base image, for its auditctl: %w", err)
			}
			s.AuditBase = full
		}
		saved, err := saveAudit(ctx, s.auditBase())
		if err != nil {
			return fmt.Errorf("save kernel audit state: %w", err)
		}
		s.Audit = saved
		if err := s.save(); err != nil {
			return err
		}
	}
	if err := netUp(ctx, s); err != nil {
		return err
	}
	// Prepare and boot hosts in parallel; host keys are generated here too.
	var hosts strings.Builder
	hosts.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	for _, o := range s.Hosts {
		fmt.Fprintf(&hosts, "%s\t%s\n", o.Addr, o.Name)
	}
	hostKeys := make([][]ssh.PublicKey, len(s.Hosts))
	errs := make([]error, len(s.Hosts))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range s.Hosts {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			l.mu.Lock()
			h := s.Hosts[i]
			l.mu.Unlock()
			keys, err := l.prepareHost(i, h, hosts.String())
			if err == nil {
				err = l.boot(ctx, i)
			}
			hostKeys[i], errs[i] = keys, err
		}(i)
	}
	wg.Wait()
	if err := s.save(); err != nil {
		return err
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := l.writeClientFiles(hostKeys); err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, opts.ReadyTimeout)
	defer cancel()
	for i := range s.Hosts {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = l.Hosts[i].waitReady(rctx)
		}(i)
	}
	wg.Wait()
	return errors.Join(errs...)
}

// prepareHost mounts the host's overlay root and writes its identity: host
// keys, hostname, hosts file, users' authorized_keys, supervisor script.
func (l *Lab) prepareHost(i int, h hostState, etcHosts string) ([]ssh.PublicKey, error) {
	s := l.state
	for _, d := range []string{h.Upper, h.Work, h.Merged} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("%s: %w", h.Name, err)
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", s.Base, h.Upper, h.Work)
	if err := mountOverlay(h.Merged, opts); err != nil {
		return nil, fmt.Errorf("%s: mount overlay: %w", h.Name, err)
	}
	l.mu.Lock()
	s.Hosts[i].Mounted = true
	l.mu.Unlock()

	root := h.Merged
	pubs, err := writeHostKeys(root, h.Name)
	if err != nil {
		return nil, err
	}
	if err := l.writeIdentity(root, h, etcHosts); err != nil {
		return nil, err
	}
	if err := l.addExtraUsers(root, h); err != nil {
		return nil, err
	}
	if h.Audit {
		if err := installAuditGuard(root); err != nil {
			return nil, fmt.Errorf("%s: install auditctl guard: %w", h.Name, err)
		}
	}
	return pubs, nil
}

// writeRootFile writes rel under a host's root with exactly mode and owner.
func writeRootFile(root, rel string, data []byte, mode os.FileMode, uid int) error {
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(p, data, mode); err != nil {
		return err
	}
	if err := os.Chmod(p, mode); err != nil {
		return err
	}
	return os.Lchown(p, uid, uid)
}

// writeHostKeys gives the host fresh ed25519 and ecdsa host keys (the
// base's are never shared) and returns their public halves for known_hosts.
func writeHostKeys(root, name string) ([]ssh.PublicKey, error) {
	var pubs []ssh.PublicKey
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	for _, k := range []struct {
		name string
		key  any
	}{{"ssh_host_ed25519_key", edKey}, {"ssh_host_ecdsa_key", ecKey}} {
		block, err := ssh.MarshalPrivateKey(k.key, "root@"+name)
		if err != nil {
			return nil, err
		}
		signer, err := ssh.NewSignerFromKey(k.key)
		if err != nil {
			return nil, err
		}
		pubs = append(pubs, signer.PublicKey())
		if err := writeRootFile(root, "etc/ssh/"+k.name, pem.EncodeToMemory(block), 0o600, 0); err != nil {
			return nil, err
		}
		if err := writeRootFile(root, "etc/ssh/"+k.name+".pub", ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o644, 0); err != nil {
			return nil, err
		}
	}
	return pubs, nil
}

// writeIdentity writes the host's name, hosts file, boot script and the
// base users' authorized_keys.
func (l *Lab) writeIdentity(root string, h hostState, etcHosts string) error {
	type file struct {
		rel  string
		data []byte
		mode os.FileMode
		uid  int
	}
	files := []file{
		{"etc/hostname", []byte(h.Name + "\n"), 0o644, 0},
		{"etc/hosts", []byte(etcHosts), 0o644, 0},
		{"usr/local/lib/goprov-lab/boot.sh", bootSh, 0o755, 0},
		{"root/.ssh/authorized_keys", l.authorizedKey(UserRoot), 0o600, 0},
		{"home/deploy/.ssh/authorized_keys", l.authorizedKey(UserDeploy), 0o600, 1001},
		{"home/ops/.ssh/authorized_keys", l.authorizedKey(UserOps), 0o600, 1002},
	}
	for _, u := range ShellUsers {
		if _, err := os.Stat(filepath.Join(root, "home", u.Name)); err != nil {
			continue // a minimal image has no such shell, nor its users
		}
		files = append(files, file{"home/" + u.Name + "/.ssh/authorized_keys", l.authorizedKey(u.Name), 0o600, u.UID})
	}
	for _, f := range files {
		if err := writeRootFile(root, f.rel, f.data, f.mode, f.uid); err != nil {
			return fmt.Errorf("%s: write %s: %w", h.Name, f.rel, err)
		}
	}
	return nil
}

// addExtraUsers creates the users a test asked for beyond the base ones,
// with the host's own useradd, run from the controller before boot.
func (l *Lab) addExtraUsers(root string, h hostState) error {
	for _, u := range l.users[3+len(ShellUsers):] {
		cmd := exec.Command("chroot", root, "/bin/sh", "-c", `set -e
useradd -m -s /bin/bash "$1"
install -d -m 0700 -o "$1" -g "$1" "/home/$1/.ssh"
cat > "/home/$1/.ssh/authorized_keys"
chown "$1:" "/home/$1/.ssh/authorized_keys"
chmod 0600 "/home/$1/.ssh/authorized_keys"`, "sh", u)
		cmd.Stdin = bytes.NewReader(l.authorizedKey(u))
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: add user %s: %w: %s", h.Name, u, err, out)
		}
	}
	return nil
}

// auditGuardHook is apt's configuration on an audit host without auditctl
// (a minimal image): after every dpkg run apt starts, an auditctl that a
// package installed goes behind the guard, before anything loads rules.
const auditGuardHook = `// goprov lab (audit host): the auditctl guard goes in front of auditctl
// as soon as a package installs it.
DPkg::Post-Invoke { "if [ -x /usr/sbin/auditctl ] && ! cmp -s /usr/sbin/auditctl /usr/local/lib/goprov-lab/auditctl-guard; then mv -f /usr/sbin/auditctl /usr/sbin/auditctl.goprov-real && cp /usr/local/lib/goprov-lab/auditctl-guard /usr/sbin/auditctl; fi"; };
`

// installAuditGuard puts the auditctl guard in front of an audit host's
// real auditctl (kept as auditctl.goprov-real); on a host without auditctl,
// apt puts it there once a package installs auditctl (auditGuardHook).
func installAuditGuard(root string) error {
	real := filepath.Join(root, "usr/sbin/auditctl.goprov-real")
	if _, err := os.Stat(filepath.Join(root, "usr/sbin/auditctl")); errors.Is(err, os.ErrNotExist) {
		if err := writeRootFile(root, "usr/local/lib/goprov-lab/auditctl-guard", auditGuardSh, 0o755, 0); err != nil {
			return err
		}
		return writeRootFile(root, "etc/apt/apt.conf.d/99goprov-lab-auditctl-guard", []byte(auditGuardHook), 0o644, 0)
	}
	if _, err := os.Stat(real); err != nil {
		if err := os.Rename(filepath.Join(root, "usr/sbin/auditctl"), real); err != nil {
			return err
		}
	}
	return writeRootFile(root, "usr/sbin/auditctl", auditGuardSh, 0o755, 0)
}

// boot starts the host's init in its namespaces; the host's sshd comes up
// shortly after (waitReady).
func (l *Lab) boot(ctx context.Context, i int) error {
	s := l.state
	l.mu.Lock()
	h := s.Hosts[i]
	l.mu.Unlock()
	args := []string{"netns", "exec", h.NetNS, "unshare", "--mount", "--uts", "--ipc"}
	if !h.Audit { // the kernel takes audit changes only from the initial PID namespace
		args = append(args, "--pid")
	}
	args = append(args, "--fork", "--kill-child", "--propagation", "private",
		"/bin/sh", filepath.Join(s.Dir, "init.sh"), h.Merged, h.Name)
	if h.Firewalld {
		args = append(args, "firewalld")
	}
	logf, err := os.OpenFile(filepath.Join(filepath.Dir(h.Merged), "console.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command("ip", args...) // not CommandContext: the host outlives ctx
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = detachAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: start: %w", h.Name, err)
	}
	pid := cmd.Process.Pid
	if s.Detached {
		_ = cmd.Process.Release()
	} else {
		l.waiters.Add(1)
		go func() { defer l.waiters.Done(); _ = cmd.Wait() }()
	}
	p, err := readProc(pid)
	if err != nil {
		return fmt.Errorf("%s: host process vanished at start: %w", h.Name, err)
	}
	l.mu.Lock()
	s.Hosts[i].PID, s.Hosts[i].PIDStart = pid, p.Start
	l.mu.Unlock()
	// `ip netns exec` execs unshare (same PID), which forks the host's init.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if kids := childrenOf(pid); len(kids) > 0 {
			l.mu.Lock()
			s.Hosts[i].InitPID = kids[0]
			l.mu.Unlock()
			return nil
		}
		if !alive(pid, p.Start) || time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(filepath.Dir(h.Merged), "console.log"))
			return fmt.Errorf("%s: host init did not start: %s", h.Name, strings.TrimSpace(string(log)))
		}
		time.Sleep(time.Millisecond)
	}
}

func childrenOf(pid int) []int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(data)) {
		var c int
		if _, err := fmt.Sscan(f, &c); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// Close tears the lab down: processes, audit state, mounts, namespaces,
// links, files. Safe to call more than once.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	s := l.state
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := teardown(ctx, s)
	l.waiters.Wait()
	if l.owner != nil {
		l.owner.Close()
		l.owner = nil
	}
	return err
}

// ---- keys and client files ----

func (l *Lab) writeKeys() error {
	l.keys = map[string]ed25519.PrivateKey{}
	kd := filepath.Join(l.Dir, "keys")
	if err := os.MkdirAll(kd, 0o700); err != nil {
		return err
	}
	for _, u := range l.users {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		l.keys[u] = priv
		block, err := ssh.MarshalPrivateKey(priv, u+"@goprov-lab")
		if err != nil {
			return err
		}
		if err := os.WriteFile(l.KeyPath(u), pem.EncodeToMemory(block), 0o600); err != nil {
			return fmt.Errorf("write key: %w", err)
		}
		if err := os.WriteFile(l.KeyPath(u)+".pub", l.authorizedKey(u), 0o644); err != nil {
			return fmt.Errorf("write key: %w", err)
		}
	}
	return nil
}

func (l *Lab) authorizedKey(user string) []byte {
	signer := l.Signer(user)
	if signer == nil {
		return nil
	}
	return ssh.MarshalAuthorizedKey(signer.PublicKey())
}

// KeyPath is the private key (ed25519, OpenSSH format) that logs in as user
// on every host.
func (l *Lab) KeyPath(user string) string {
	return filepath.Join(l.Dir, "keys", "id_ed25519_"+user)
}

// Signer is the key of KeyPath(user) for golang.org/x/crypto/ssh (nil for an
// unknown user).
func (l *Lab) Signer(user string) ssh.Signer {
	k, ok := l.keys[user]
	if !ok {
		return nil
	}
	s, err := ssh.NewSignerFromKey(k)
	if err != nil {
		return nil
	}
	return s
}

// HostKeyCallback verifies host keys strictly against the hosts' real keys.
func (l *Lab) HostKeyCallback() ssh.HostKeyCallback {
	cb, err := knownhosts.New(l.KnownHostsPath)
	if err != nil {
		return func(string, net.Addr, ssh.PublicKey) error {
			return fmt.Errorf("testinfra: known_hosts: %w", err)
		}
	}
	return cb
}

// ClientConfig is an ssh.ClientConfig for user with strict host key checking.
func (l *Lab) ClientConfig(user string) *ssh.ClientConfig {
	return &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(l.Signer(user))},
		HostKeyCallback: l.HostKeyCallback(),
		Timeout:         10 * time.Second,
	}
}

func (l *Lab) writeClientFiles(hostKeys [][]ssh.PublicKey) error {
	var kh, cfg, inv strings.Builder
	for i, h := range l.Hosts {
		for _, k := range hostKeys[i] {
			kh.WriteString(knownhosts.Line([]string{h.Addr}, k) + "\n")
		}
		fmt.Fprintf(&cfg, "Host %s\n  HostName %s\n  Port %d\n  User root\n  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n\n",
			h.Name, h.Addr, h.Port, l.KeyPath(UserRoot), l.KnownHostsPath)
		fmt.Fprintf(&inv, "host %q {\n  address       = %q\n  user          = %q\n  identity_file = %q\n  known_hosts   = %q\n  become        = true\n}\n\n",
			h.Name, h.Addr, UserDeploy, l.KeyPath(UserDeploy), l.KnownHostsPath)
	}
	for path, data := range map[string]string{l.KnownHostsPath: kh.String(), l.SSHConfigPath: cfg.String(), l.InventoryPath: inv.String()} {
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}

// Bridge is the lab's bridge interface on the controller.
func (l *Lab) Bridge() string { return l.state.Bridge }

// Subnet is the lab's IPv4 network, e.g. "10.200.3.0/24"; the controller is .1.
func (l *Lab) Subnet() string { return l.state.Subnet + ".0/24" }

// DataDir holds the hosts' disks (overlay upper layers).
func (l *Lab) DataDir() string { return l.state.DataDir }

// Host returns the host named name ("h1".."hN"), or nil.
func (l *Lab) Host(name string) *Host {
	for _, h := range l.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}
