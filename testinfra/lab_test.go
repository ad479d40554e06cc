package testinfra

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goprov/goprov/internal/ci"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// The self-test lab: h1 plain, h2 runs firewalld, h3 is an audit host.
const (
	idxPlain     = 0
	idxFirewalld = 1
	idxAudit     = 2
)

var (
	sharedOnce sync.Once
	sharedLab  *Lab
	sharedErr  error
)

// TestMain tears the shared lab down after all tests; each test that needs
// it calls lab3(t).
func TestMain(m *testing.M) {
	code := m.Run()
	if sharedLab != nil {
		var before *auditSaved
		if sharedLab.state.Audit != nil {
			saved := *sharedLab.state.Audit
			before = &saved
		}
		if err := sharedLab.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "testinfra: teardown: %v\n", err)
			code = 1
		}
		// The audit test left a rule and a changed backlog limit behind on
		// purpose: teardown must have put the machine's audit state back.
		if before != nil {
			if err := checkAuditRestored(sharedLab.state.Base, before); err != nil {
				fmt.Fprintf(os.Stderr, "testinfra: FAIL: kernel audit not restored: %v\n", err)
				code = 1
			} else {
				fmt.Println("testinfra: kernel audit state restored after teardown")
			}
		}
	}
	os.Exit(code)
}

func lab3(t *testing.T) *Lab {
	t.Helper()
	if why := Missing(); why != "" {
		ci.Skip(t, "testinfra: cannot start a lab: "+why)
	}
	sharedOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		start := time.Now()
		sharedLab, sharedErr = StartLab(ctx, "", Options{Hosts: 3, FirewalldHosts: []int{idxFirewalld}, AuditHosts: []int{idxAudit}, Log: t.Logf})
		if sharedErr == nil {
			t.Logf("lab %s: 3 hosts (1 firewalld, 1 audit) up in %v", sharedLab.Name, time.Since(start).Round(time.Millisecond))
		}
	})
	if sharedErr != nil {
		t.Fatalf("start lab: %v", sharedErr)
	}
	return sharedLab
}

func dial(t *testing.T, l *Lab, h *Host, user string) *ssh.Client {
	t.Helper()
	c, err := ssh.Dial("tcp", net.JoinHostPort(h.Addr, "22"), l.ClientConfig(user))
	if err != nil {
		t.Fatalf("ssh %s@%s: %v", user, h.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sshRun runs cmd over a session, with optional stdin; the exit code is data.
func sshRun(t *testing.T, c *ssh.Client, cmd, stdin string) (string, string, int) {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatalf("new session: %v", err)
	}
	defer s.Close()
	var o, e bytes.Buffer
	s.Stdout, s.Stderr = &o, &e
	if stdin != "" {
		s.Stdin = strings.NewReader(stdin)
	}
	err = s.Run(cmd)
	var ee *ssh.ExitError
	switch {
	case errors.As(err, &ee):
		return o.String(), e.String(), ee.ExitStatus()
	case err != nil:
		t.Fatalf("run %q: %v", cmd, err)
	}
	return o.String(), e.String(), 0
}

func TestKeyLoginEveryUser(t *testing.T) {
	l := lab3(t)
	for _, h := range l.Hosts {
		for _, user := range []string{UserRoot, UserDeploy, UserOps} {
			t.Run(h.Name+"/"+user, func(t *testing.T) {
				c := dial(t, l, h, user)
				out, _, code := sshRun(t, c, "id -un; hostname", "")
				if want := user + "\n" + h.Name + "\n"; code != 0 || out != want {
					t.Fatalf("got %q exit %d, want %q", out, code, want)
				}
			})
		}
	}
}

func TestOpenSSHClientWithLabFiles(t *testing.T) {
	l := lab3(t)
	ci.LookPath(t, "ssh")
	for _, h := range l.Hosts {
		// BatchMode: a prompt (unknown host key, missing key) fails instead of hanging.
		out, err := exec.Command("ssh", "-F", l.SSHConfigPath, "-o", "BatchMode=yes", h.Name, "hostname").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != h.Name {
			t.Errorf("ssh -F ssh_config %s: %v: %s", h.Name, err, out)
		}
	}
	inv, err := os.ReadFile(l.InventoryPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`host "h1" {`, `address       = "` + l.Hosts[0].Addr + `"`, `user          = "deploy"`, `become        = true`, l.KeyPath(UserDeploy), l.KnownHostsPath} {
		if !strings.Contains(string(inv), want) {
			t.Errorf("inventory lacks %q:\n%s", want, inv)
		}
	}
}

func TestHostKeysAreStrict(t *testing.T) {
	l := lab3(t)
	// The known_hosts entry of h1 must not be accepted for h2.
	cb := l.HostKeyCallback()
	cfg := l.ClientConfig(UserRoot)
	cfg.HostKeyCallback = func(host string, remote net.Addr, key ssh.PublicKey) error {
		addr := &net.TCPAddr{IP: net.ParseIP(l.Hosts[0].Addr), Port: 22}
		return cb(net.JoinHostPort(l.Hosts[0].Addr, "22"), addr, key)
	}
	if c, err := ssh.Dial("tcp", net.JoinHostPort(l.Hosts[1].Addr, "22"), cfg); err == nil {
		c.Close()
		t.Fatal("h2 accepted with h1's host key")
	}
}

func TestEtcWritesAreIsolated(t *testing.T) {
	l := lab3(t)
	c := dial(t, l, l.Hosts[0], UserRoot)
	if _, e, code := sshRun(t, c, "echo only-h1 > /etc/goprov-isolation && sed -i 's/^/#/' /etc/issue", ""); code != 0 {
		t.Fatalf("write: %s", e)
	}
	if data, err := os.ReadFile(filepath.Join(l.Hosts[0].RootDir, "etc/goprov-isolation")); err != nil || string(data) != "only-h1\n" {
		t.Fatalf("h1 RootDir: %q %v", data, err)
	}
	for _, h := range l.Hosts[1:] {
		out := h.Sh(t, "test -e /etc/goprov-isolation && echo present || echo absent; head -c1 /etc/issue")
		if out != "absent\nD" {
			t.Errorf("%s sees h1's /etc writes: %q", h.Name, out)
		}
	}
	if _, err := os.Stat(filepath.Join(l.state.Base, "etc/goprov-isolation")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("write reached the shared base image: %v", err)
	}
}

func TestVisudo(t *testing.T) {
	l := lab3(t)
	c := dial(t, l, l.Hosts[0], UserRoot)
	tests := []struct {
		name, content string
		wantExit      int
		wantOut       string
	}{
		{"good", "deploy ALL=(ALL) NOPASSWD: /usr/bin/true\n", 0, "parsed OK"},
		{"bad", "deploy ALL=(ALL NOPASSWD /usr/bin/true\n", 1, "syntax error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := "/tmp/sudoers-" + tt.name
			if _, e, code := sshRun(t, c, "cat > "+f, tt.content); code != 0 {
				t.Fatal(e)
			}
			o, e, code := sshRun(t, c, "visudo -cf "+f, "")
			if code != tt.wantExit || !strings.Contains(o+e, tt.wantOut) {
				t.Fatalf("visudo -cf: exit %d, output %q; want exit %d with %q", code, o+e, tt.wantExit, tt.wantOut)
			}
		})
	}
}

func TestSudo(t *testing.T) {
	l := lab3(t)
	h := l.Hosts[0]
	deploy := dial(t, l, h, UserDeploy)
	ops := dial(t, l, h, UserOps)
	tests := []struct {
		name     string
		c        *ssh.Client
		cmd      string
		stdin    string
		wantExit int
		wantOut  string
	}{
		{"deploy sudo -n", deploy, "sudo -n id -u", "", 0, "0\n"},
		{"ops sudo -n needs a password", ops, "sudo -k; sudo -n id -u", "", 1, ""},
		{"ops sudo -S right password", ops, "sudo -k; sudo -S -p '' id -u", OpsPassword + "\n", 0, "0\n"},
		{"ops sudo -S wrong password", ops, "sudo -k; sudo -S -p '' id -u", "wrong\n", 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, e, code := sshRun(t, tt.c, tt.cmd, tt.stdin)
			if code != tt.wantExit || o != tt.wantOut {
				t.Fatalf("exit %d out %q err %q; want exit %d out %q", code, o, e, tt.wantExit, tt.wantOut)
			}
		})
	}
	// The hostile password was data, never shell.
	if out := h.Sh(t, "test -e /tmp/pwned && echo pwned || echo clean"); out != "clean\n" {
		t.Fatal("OpsPassword was executed by a shell")
	}
}

// listen starts an extra sshd on the given ports inside the host (a real
// TCP server to probe filtering from the controller).
func listen(t *testing.T, h *Host, ports ...int) {
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

func reachable(h *Host, port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort(h.Addr, fmt.Sprint(port)), 2*time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func TestUFWFiltersTraffic(t *testing.T) {
	l := lab3(t)
	h := l.Hosts[idxPlain]
	listen(t, h, 2222, 2223)
	if !reachable(h, 2222) || !reachable(h, 2223) {
		t.Fatal("ports not reachable before ufw")
	}
	c := dial(t, l, h, UserRoot)
	t.Cleanup(func() { _, _ = h.MustExec(context.Background(), "ufw --force reset >/dev/null") })
	if o, e, code := sshRun(t, c, "ufw default deny incoming && ufw allow 22/tcp && ufw allow 2222/tcp && ufw --force enable && ufw status", ""); code != 0 || !strings.Contains(o, "Status: active") {
		t.Fatalf("ufw enable: %d %s %s", code, o, e)
	}
	if !reachable(h, 2222) {
		t.Error("allowed port 2222 blocked")
	}
	if reachable(h, 2223) {
		t.Error("port 2223 reachable through ufw default deny")
	}
	if !reachable(l.Hosts[idxAudit], 22) {
		t.Error("ufw on h1 affected h3")
	}
	if _, e, code := sshRun(t, c, "ufw --force disable", ""); code != 0 {
		t.Fatal(e)
	}
	if !reachable(h, 2223) {
		t.Error("port 2223 still blocked after ufw disable")
	}
}

func TestFirewalldLive(t *testing.T) {
	l := lab3(t)
	h := l.Hosts[idxFirewalld]
	listen(t, h, 2224)
	c := dial(t, l, h, UserRoot)
	if o, e, code := sshRun(t, c, "firewall-cmd --state", ""); code != 0 || o != "running\n" {
		t.Fatalf("firewall-cmd --state: %d %q %q", code, o, e)
	}
	if reachable(h, 2224) {
		t.Fatal("port 2224 reachable though firewalld's public zone does not allow it")
	}
	if o, e, code := sshRun(t, c, "firewall-cmd --permanent --add-port=2224/tcp && firewall-cmd --reload && firewall-cmd --list-ports", ""); code != 0 || !strings.Contains(o, "2224/tcp") {
		t.Fatalf("open port: %d %q %q", code, o, e)
	}
	if !reachable(h, 2224) {
		t.Fatal("port 2224 blocked after firewall-cmd --add-port + --reload")
	}
}

func TestKernelAuditOnAuditHost(t *testing.T) {
	l := lab3(t)
	h := l.Hosts[idxAudit]
	if !h.Audit() {
		t.Fatal("h3 is not an audit host")
	}
	c := dial(t, l, h, UserRoot)
	if o, e, code := sshRun(t, c, "auditctl -s", ""); code != 0 || !strings.Contains(o, "enabled") {
		t.Fatalf("auditctl -s: %d %q %q", code, o, e)
	}
	if _, e, code := sshRun(t, c, "auditctl -w /etc/goprov-audit-probe -p wa -k goprov-selftest", ""); code != 0 {
		t.Fatalf("load watch rule: %s", e)
	}
	if o, _, _ := sshRun(t, c, "auditctl -l", ""); !strings.Contains(o, "goprov-selftest") {
		t.Fatalf("rule not listed: %q", o)
	}
	// The guard refuses to make the machine's audit immutable.
	if _, e, code := sshRun(t, c, "auditctl -e 2", ""); code == 0 || !strings.Contains(e, "refusing") {
		t.Fatalf("auditctl -e 2 was not refused: exit %d %q", code, e)
	}
	if o, _, _ := sshRun(t, c, "auditctl -s", ""); strings.Contains(o, "enabled 2") {
		t.Fatal("kernel audit became immutable")
	}
	// Left in place on purpose (with a changed backlog limit): teardown must
	// restore the machine's audit state, which TestMain checks.
	if _, e, code := sshRun(t, c, "auditctl -b 321", ""); code != 0 {
		t.Fatalf("auditctl -b: %s", e)
	}
	// A host with its own PID namespace cannot change kernel audit.
	plain := dial(t, l, l.Hosts[idxPlain], UserRoot)
	if _, _, code := sshRun(t, plain, "auditctl -w /etc/x -p wa", ""); code == 0 {
		t.Error("non-audit host changed kernel audit rules")
	}
}

func TestSFTP(t *testing.T) {
	l := lab3(t)
	h := l.Hosts[0]
	c := dial(t, l, h, UserDeploy)
	sc, err := sftp.NewClient(c)
	if err != nil {
		t.Fatalf("sftp: %v", err)
	}
	defer sc.Close()
	payload := bytes.Repeat([]byte("goprov\n"), 10000)
	f, err := sc.Create("/home/deploy/upload.txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(payload); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sc.Chmod("/home/deploy/upload.txt", 0o640); err != nil {
		t.Fatal(err)
	}
	r, err := sc.Open("/home/deploy/upload.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("read back %d bytes, %v", len(got), err)
	}
	if out := h.Sh(t, "stat -c '%U %a %s' /home/deploy/upload.txt"); out != fmt.Sprintf("deploy 640 %d\n", len(payload)) {
		t.Fatalf("on host: %q", out)
	}
	if _, err := sc.Create("/etc/not-for-deploy"); err == nil {
		t.Fatal("deploy could write /etc over SFTP")
	}
}

func checkAuditRestored(base string, before *auditSaved) error {
	after, err := saveAudit(context.Background(), base)
	if err != nil {
		return err
	}
	for _, k := range []string{"enabled", "failure", "rate_limit", "backlog_limit", "backlog_wait_time"} {
		if before.Status[k] != after.Status[k] {
			return fmt.Errorf("%s: %s before, %s after", k, before.Status[k], after.Status[k])
		}
	}
	if strings.Join(before.Rules, "\n") != strings.Join(after.Rules, "\n") {
		return fmt.Errorf("rules: %q before, %q after", before.Rules, after.Rules)
	}
	return nil
}

func TestHostsReachEachOtherButNothingElse(t *testing.T) {
	l := lab3(t)
	h1 := l.Hosts[0]
	// Host to host across the bridge, by name.
	out := h1.Sh(t, `timeout 5 bash -c 'exec 3<>/dev/tcp/h2/22; head -c 4 <&3'`)
	if out != "SSH-" {
		t.Errorf("h1 -> h2:22: %q", out)
	}
	// Offline: no route leaves the lab subnet (asks the routing table only;
	// no packet is sent).
	if _, e, code, err := h1.Exec(context.Background(), "ip route get 192.0.2.1"); err != nil || code == 0 || !strings.Contains(string(e), "unreachable") {
		t.Errorf("route out of the lab: exit %d %q %v", code, e, err)
	}
}
