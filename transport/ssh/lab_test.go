package ssh

// Behaviour against real OpenSSH servers and real sudo: the testinfra lab
// (one sshd per host in its own network namespace and overlay root). Without
// root or the lab's tools these skip with the reason; with CI=true they fail.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goprov/goprov/internal/ci"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/goprov/goprov/testinfra"
	"github.com/goprov/goprov/transport"
)

// labConfig logs in to h as user with the lab's key and real host keys.
func labConfig(lab *testinfra.Lab, h *testinfra.Host, user string) Config {
	return Config{Name: h.Name, Address: h.Addr, Port: h.Port, User: user,
		IdentityFiles: []string{lab.KeyPath(user)}, KnownHosts: []string{lab.KnownHostsPath},
		ConnectTimeout: 10 * time.Second}
}

func sshdSessions(t *testing.T, h *testinfra.Host) int {
	t.Helper()
	log, err := h.SSHDLog()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(log), "Starting session: command")
}

func assertNoPwned(t *testing.T, hosts ...*testinfra.Host) {
	t.Helper()
	if _, err := os.Stat("/tmp/pwned"); err == nil {
		t.Error("/tmp/pwned exists on the controller: the password was executed")
	}
	for _, h := range hosts {
		if out := h.Sh(t, "if [ -e /tmp/pwned ]; then echo yes; else echo no; fi"); out != "no\n" {
			t.Errorf("/tmp/pwned exists on %s: the password was executed", h.Name)
		}
	}
}

// TestLabRunAndExecs: root login, exit codes as data, many Runs over one
// connection, Execs() equal to the exec requests sshd logged.
func TestLabRunAndExecs(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	h := lab.Hosts[0]
	before := sshdSessions(t, h)
	c := dialT(t, labConfig(lab, h, testinfra.UserRoot))

	res := runT(t, c, transport.Cmd{Script: "id -un; hostname; echo oops >&2; exit 42", Sudo: true})
	if got := string(res.Stdout); got != "root\n"+h.Name+"\n" || string(res.Stderr) != "oops\n" || res.ExitCode != 42 {
		t.Errorf("result = %q %q %d", res.Stdout, res.Stderr, res.ExitCode)
	}
	if err := res.Err("probe"); err == nil || err.Error() != "probe: exit status 42: oops" {
		t.Errorf("Result.Err = %v", err)
	}
	// A command killed by a signal is a result too (128+n), not an error.
	if res := runT(t, c, transport.Cmd{Script: "kill -9 $$"}); res.ExitCode != 128+9 {
		t.Errorf("killed script: exit %d, want 137", res.ExitCode)
	}
	start := time.Now()
	for i := 0; i < 100; i++ {
		res := runT(t, c, transport.Cmd{Script: "echo " + strconv.Itoa(i)})
		if string(res.Stdout) != strconv.Itoa(i)+"\n" {
			t.Fatalf("run %d: %q", i, res.Stdout)
		}
	}
	t.Logf("100 Runs on one connection: %s", time.Since(start).Round(time.Millisecond))
	if c.Execs() != 102 {
		t.Errorf("Execs() = %d, want 102", c.Execs())
	}
	// sshd's own count (LogLevel VERBOSE: one line per exec request).
	deadline := time.Now().Add(5 * time.Second)
	for sshdSessions(t, h)-before != 102 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := sshdSessions(t, h) - before; got != 102 {
		t.Errorf("sshd logged %d exec sessions, want 102", got)
	}
	if log, _ := h.SSHDLog(); strings.Count(string(log), "Accepted publickey") != 1 {
		t.Errorf("sshd logged %d logins, want 1 (one connection per host)", strings.Count(string(log), "Accepted publickey"))
	}
}

// TestLabBecomeDeploy: NOPASSWD sudo, no prompt; stdin (1 MB, every byte
// value) reaches the sudo'ed script intact.
func TestLabBecomeDeploy(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	h := lab.Hosts[0]
	cfg := labConfig(lab, h, testinfra.UserDeploy)
	cfg.Become = true
	c := dialT(t, cfg)

	if res := runT(t, c, transport.Cmd{Script: "id -un"}); string(res.Stdout) != "deploy\n" {
		t.Errorf("without Sudo: %q", res.Stdout)
	}
	res := runT(t, c, transport.Cmd{Script: "id -un; echo e >&2", Sudo: true})
	if string(res.Stdout) != "root\n" || string(res.Stderr) != "e\n" || res.ExitCode != 0 {
		t.Errorf("with Sudo: %q %q %d", res.Stdout, res.Stderr, res.ExitCode)
	}
	payload := binaryPayload(1 << 20)
	res = runT(t, c, transport.Cmd{Script: "cat > /root/blob && id -un && cat /root/blob", Stdin: bytes.NewReader(payload), Sudo: true})
	if want := append([]byte("root\n"), payload...); !bytes.Equal(res.Stdout, want) || res.ExitCode != 0 {
		t.Errorf("1 MB through sudo: got %d bytes, equal=%t, exit %d, stderr %q", len(res.Stdout), bytes.Equal(res.Stdout, want), res.ExitCode, res.Stderr)
	}
	if got := h.Sh(t, "stat -c '%U %s' /root/blob"); got != "root 1048576\n" {
		t.Errorf("/root/blob on host: %q", got)
	}
	// The script exits early without reading its stdin: a result, not a hang.
	res = runT(t, c, transport.Cmd{Script: "exit 5", Stdin: bytes.NewReader(payload), Sudo: true})
	if res.ExitCode != 5 {
		t.Errorf("early exit: %d", res.ExitCode)
	}
}

// TestLabBecomeOpsPassword: sudo with the hostile password works; the
// password is never executed, never in any /proc/*/cmdline on the host while
// a sudo'ed command runs, never in output or errors; a wrong password is a
// clear error naming the host, and is not retried.
func TestLabBecomeOpsPassword(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	h := lab.Hosts[0]
	pw := testinfra.OpsPassword
	cfg := labConfig(lab, h, testinfra.UserOps)
	cfg.Become, cfg.BecomePassword = true, pw
	c := dialT(t, cfg)

	// The sampler gets the password from a file (base64 on its command line,
	// so its own cmdline does not match) and scans every process's argv
	// while our sudo runs; it also proves it saw that sudo.
	h.Sh(t, "echo "+base64.StdEncoding.EncodeToString([]byte(pw))+" | base64 -d > /root/pw.txt")
	sampler := make(chan string, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, _, _, err := h.Exec(ctx, `end=$(( $(date +%s) + 3 )); seen=0; samples=0
while [ "$(date +%s)" -lt "$end" ]; do
	samples=$((samples+1))
	for f in /proc/[0-9]*/cmdline; do
		if grep -aqF -f /root/pw.txt "$f" 2>/dev/null; then echo "LEAK $f: $(tr '\0' ' ' < "$f")"; fi
		if grep -aq goprov-sudo-prompt "$f" 2>/dev/null; then seen=1; fi
	done
done
echo "seen=$seen samples=$samples"`)
		if err != nil {
			out = []byte("sampler: " + err.Error())
		}
		sampler <- string(out)
	}()
	time.Sleep(300 * time.Millisecond)
	res := runT(t, c, transport.Cmd{Script: "sleep 1.5; id -un", Sudo: true})
	if string(res.Stdout) != "root\n" || res.ExitCode != 0 || len(res.Stderr) != 0 {
		t.Errorf("sudo as ops: %q %q %d", res.Stdout, res.Stderr, res.ExitCode)
	}
	out := <-sampler
	if strings.Contains(out, "LEAK") || !strings.Contains(out, "seen=1") {
		t.Errorf("cmdline sampling on %s:\n%s", h.Name, out)
	}
	t.Logf("cmdline sampler: %s", strings.TrimSpace(out))

	payload := binaryPayload(1 << 20)
	res = runT(t, c, transport.Cmd{Script: "cat", Stdin: bytes.NewReader(payload), Sudo: true})
	if !bytes.Equal(res.Stdout, payload) {
		t.Errorf("1 MB stdin through password sudo: %d bytes, equal=%t, stderr %q", len(res.Stdout), bytes.Equal(res.Stdout, payload), res.Stderr)
	}
	// A script reading stdin line by line sees only its own input, never
	// the password.
	res = runT(t, c, transport.Cmd{Script: "cat", Stdin: strings.NewReader("mine\n"), Sudo: true})
	if string(res.Stdout) != "mine\n" {
		t.Errorf("stdin = %q, want only the caller's input", res.Stdout)
	}
	for _, b := range [][]byte{res.Stdout, res.Stderr} {
		if bytes.Contains(b, []byte(pw)) {
			t.Error("password in output")
		}
	}
	if log, _ := h.SSHDLog(); bytes.Contains(log, []byte(pw)) {
		t.Error("password in sshd's log")
	}
	assertNoPwned(t, h)

	// Wrong password (a hostile one too): a clear error, no retry.
	h.Sh(t, "rm -f /run/sudo/ts/ops")
	cfg.BecomePassword = `wrong; $(touch /tmp/pwned) 'x"`
	c2 := dialT(t, cfg)
	start := time.Now()
	_, err := c2.Run(context.Background(), transport.Cmd{Script: "id -un", Sudo: true})
	if err == nil || err.Error() != h.Name+": sudo: incorrect password for ops" {
		t.Fatalf("wrong password: err = %v", err)
	}
	t.Logf("wrong password detected in %s", time.Since(start).Round(time.Millisecond))
	n := c2.Execs()
	if _, err := c2.Run(context.Background(), transport.Cmd{Script: "id -un", Sudo: true}); err == nil || c2.Execs() != n {
		t.Errorf("retried after a wrong password (lockout risk): err %v, execs %d→%d", err, n, c2.Execs())
	}
	// No password at all.
	cfg.BecomePassword = ""
	c3 := dialT(t, cfg)
	if _, err := c3.Run(context.Background(), transport.Cmd{Script: "id -un", Sudo: true}); err == nil ||
		!strings.Contains(err.Error(), h.Name+": sudo: a password is required for ops") {
		t.Errorf("no password: err = %v", err)
	}
	assertNoPwned(t, h)
}

// TestLabHostKeys: unknown key refused by default; accept-new records it;
// a changed key is refused even with accept-new; a host known only by one
// key type is verified with that type.
func TestLabHostKeys(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	h := lab.Hosts[0]
	ctx := context.Background()
	var labLines []string
	for _, l := range strings.Split(readFile(t, lab.KnownHostsPath), "\n") {
		if strings.HasPrefix(l, h.Addr+" ") {
			labLines = append(labLines, l)
		}
	}
	if len(labLines) < 2 {
		t.Fatalf("lab known_hosts has %d lines for %s, want ed25519 and ecdsa", len(labLines), h.Addr)
	}

	// Unknown host, default policy: refused, nothing written.
	empty := filepath.Join(t.TempDir(), "known_hosts")
	cfg := labConfig(lab, h, testinfra.UserRoot)
	cfg.KnownHosts = []string{empty}
	_, err := Dial(ctx, cfg)
	if err == nil || !strings.HasPrefix(err.Error(), h.Name+": ssh: unknown host key for "+h.Addr+":22 (") {
		t.Errorf("unknown key: err = %v", err)
	}
	if _, err := os.Stat(empty); !errors.Is(err, os.ErrNotExist) {
		t.Error("strict policy created known_hosts")
	}

	// accept-new records the real key, which strict then accepts.
	cfg.HostKeyPolicy = PolicyAcceptNew
	var logged []string
	cfg.Logf = func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }
	c := dialT(t, cfg)
	c.Close()
	if len(logged) != 1 || !strings.HasPrefix(logged[0], h.Name+": ssh: accept-new: recorded the host key of "+h.Addr+":22: ") ||
		!strings.HasSuffix(logged[0], " in "+empty) || len(c.Warnings()) != 1 {
		t.Errorf("accept-new notice: %q", logged)
	}
	cfg.Logf = nil
	recorded := strings.TrimSuffix(readFile(t, empty), "\n")
	if !contains(labLines, recorded) {
		t.Errorf("accept-new recorded %q, want one of the host's real keys %q", recorded, labLines)
	}
	cfg.HostKeyPolicy = PolicyStrict
	dialT(t, cfg).Close()
	if got := strings.TrimSuffix(readFile(t, empty), "\n"); got != recorded {
		t.Errorf("second dial changed known_hosts: %q", got)
	}

	// Changed key, same type and other type: refused even with accept-new.
	for _, other := range []gossh.PublicKey{newEd25519(t), newECDSA(t)} {
		changed := filepath.Join(t.TempDir(), "known_hosts")
		content := "# fleet\n" + knownhosts.Line([]string{h.Addr}, other) + "\n"
		must(t, os.WriteFile(changed, []byte(content), 0o600))
		cfg.KnownHosts, cfg.HostKeyPolicy = []string{changed}, PolicyAcceptNew
		_, err := Dial(ctx, cfg)
		want := fmt.Sprintf("%s: ssh: host key mismatch for %s (known_hosts %s:2) — possible man-in-the-middle", h.Name, h.Addr, changed)
		if err == nil || err.Error() != want {
			t.Errorf("changed %s key:\n got %v\nwant %s", other.Type(), err, want)
		}
		if readFile(t, changed) != content {
			t.Errorf("known_hosts modified on a changed %s key", other.Type())
		}
	}

	// Known only by its ECDSA key: the client must ask for ECDSA rather
	// than report the Ed25519 key sshd prefers as "changed".
	for _, l := range labLines {
		if !strings.Contains(l, "ecdsa-sha2") {
			continue
		}
		only := filepath.Join(t.TempDir(), "known_hosts")
		must(t, os.WriteFile(only, []byte(l+"\n"), 0o600))
		cfg.KnownHosts, cfg.HostKeyPolicy = []string{only}, PolicyStrict
		dialT(t, cfg).Close()
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestLabProxyJump: through h1 to h2 (Config.Jump), a chain h1,h2 → h3
// (ssh_config ProxyJump), and with the jump written in ssh_config. $SSH_CLIENT
// on the target shows the previous hop's address, proving the path.
func TestLabProxyJump(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 3})
	h1, h2, h3 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2]
	t.Setenv("HOME", t.TempDir()) // nothing from the tester's ~/.ssh
	from := func(c *Client) string {
		res := runT(t, c, transport.Cmd{Script: `hostname; echo "${SSH_CLIENT%% *}"`})
		return strings.ReplaceAll(strings.TrimSpace(string(res.Stdout)), "\n", " from ")
	}

	cfg := labConfig(lab, h2, testinfra.UserDeploy)
	cfg.Become = true
	cfg.Jump = []Config{labConfig(lab, h1, testinfra.UserRoot)}
	c := dialT(t, cfg)
	if got, want := from(c), h2.Name+" from "+h1.Addr; got != want {
		t.Errorf("Config.Jump: %q, want %q", got, want)
	}
	if res := runT(t, c, transport.Cmd{Script: "id -un", Sudo: true}); string(res.Stdout) != "root\n" {
		t.Errorf("sudo through a jump: %q", res.Stdout)
	}

	// Jump spec strings as the DSL gets them (ParseJump), settings from the
	// lab's ssh_config.
	jumps, err := ParseJump("root@" + h1.Addr + ":22")
	must(t, err)
	cfg = Config{Name: "web2", Address: h2.Addr, User: "root", Jump: jumps, IdentityFiles: []string{lab.KeyPath("root")},
		KnownHosts: []string{lab.KnownHostsPath}}
	c = dialT(t, cfg)
	if got, want := from(c), h2.Name+" from "+h1.Addr; got != want {
		t.Errorf("ParseJump: %q, want %q", got, want)
	}

	// ProxyJump in ssh_config, a chain of two, hosts known by alias only.
	sc := filepath.Join(t.TempDir(), "ssh_config")
	must(t, os.WriteFile(sc, []byte("Host h3\n  ProxyJump h1,h2\nHost web2\n  HostName "+h2.Addr+"\n  ProxyJump h1\n  User root\n  IdentityFile "+lab.KeyPath("root")+"\n  UserKnownHostsFile "+lab.KnownHostsPath+"\n"), 0o600))
	c = dialT(t, Config{Name: "h3", SSHConfigFiles: []string{sc, lab.SSHConfigPath}})
	if got, want := from(c), h3.Name+" from "+h2.Addr; got != want {
		t.Errorf("ssh_config ProxyJump h1,h2: %q, want %q", got, want)
	}
	c = dialT(t, Config{Name: "web2", SSHConfigFiles: []string{sc, lab.SSHConfigPath}})
	if got, want := from(c), h2.Name+" from "+h1.Addr; got != want {
		t.Errorf("ssh_config ProxyJump h1: %q, want %q", got, want)
	}

	// A jump that fails names the jump.
	bad := labConfig(lab, h2, testinfra.UserRoot)
	bad.Jump = []Config{{Name: "bastion", Address: h1.Addr, User: "nosuchuser"}}
	_, err = Dial(context.Background(), bad)
	if err == nil || !strings.HasPrefix(err.Error(), h2.Name+": ssh: jump bastion: auth as nosuchuser at "+h1.Addr+":22") {
		t.Errorf("failing jump: err = %v", err)
	}
}

// TestLabSSHConfigOnly: everything from the lab's ssh_config (HostName,
// Port, User, IdentityFile, UserKnownHostsFile, StrictHostKeyChecking yes);
// and vagrant-style output (StrictHostKeyChecking no + /dev/null) warns.
func TestLabSSHConfigOnly(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 2})
	h2 := lab.Hosts[1]
	c := dialT(t, Config{Name: "web", Address: h2.Name, SSHConfigFiles: []string{lab.SSHConfigPath}})
	res := runT(t, c, transport.Cmd{Script: "hostname; id -un"})
	if got := string(res.Stdout); got != h2.Name+"\nroot\n" || c.User() != "root" {
		t.Errorf("ssh_config only: %q, User() %q", got, c.User())
	}

	vagrant := filepath.Join(t.TempDir(), "vagrant.ssh")
	must(t, os.WriteFile(vagrant, []byte(fmt.Sprintf(`Host default
  HostName %s
  User %s
  Port %d
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile "%s"
  IdentitiesOnly yes
  LogLevel FATAL
`, h2.Addr, testinfra.UserDeploy, h2.Port, lab.KeyPath(testinfra.UserDeploy))), 0o600))
	var logged []string
	c = dialT(t, Config{Name: "vm", Address: "default", SSHConfigFiles: []string{vagrant}, Become: true,
		Logf: func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }})
	if res := runT(t, c, transport.Cmd{Script: "id -un", Sudo: true}); string(res.Stdout) != "root\n" {
		t.Errorf("vagrant-style: %q", res.Stdout)
	}
	if len(logged) != 1 || !strings.HasPrefix(logged[0], "vm: ssh: ssh_config sets StrictHostKeyChecking no") || !strings.Contains(logged[0], "NOT verified") ||
		len(c.Warnings()) != 1 {
		t.Errorf("vagrant-style warning: logged %q, Warnings() %q", logged, c.Warnings())
	}
}

// TestLabUnreachable: an address on the lab subnet nobody has. The error
// names the host and the step and comes within the overall dial deadline
// (by default 3 × ConnectTimeout: timed-out attempts are retried, as a
// loaded host's handshakes are).
func TestLabUnreachable(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	ip, _, err := net.ParseCIDR(lab.Subnet())
	must(t, err)
	ip4 := ip.To4()
	ip4[3] = 250
	timeout := 700 * time.Millisecond
	start := time.Now()
	_, err = Dial(context.Background(), Config{Name: "web9", Address: ip4.String(), User: "root",
		IdentityFiles: []string{lab.KeyPath("root")}, KnownHosts: []string{lab.KnownHostsPath}, ConnectTimeout: timeout})
	took := time.Since(start)
	prefix := "web9: ssh: connect " + ip4.String() + ":22: "
	if err == nil || !strings.HasPrefix(err.Error(), prefix) {
		t.Errorf("err = %v, want prefix %q", err, prefix)
	}
	if deadline := 3 * timeout; took > deadline+500*time.Millisecond {
		t.Errorf("took %s with ConnectTimeout %s (dial deadline %s)", took, timeout, deadline)
	}
	t.Logf("%v (after %s)", err, took.Round(time.Millisecond))
}

// TestLabDeadConnection: sshd killed → Run fails at once; network cut
// (packets dropped silently) → an in-flight Run fails through keepalive
// instead of hanging, and later Runs fail at once.
func TestLabDeadConnection(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]

	c := dialT(t, labConfig(lab, h1, testinfra.UserRoot))
	runT(t, c, transport.Cmd{Script: "true"})
	must(t, h1.KillSSHD())
	start := time.Now()
	_, err := c.Run(context.Background(), transport.Cmd{Script: "true"})
	if err == nil || !strings.HasPrefix(err.Error(), h1.Name+": ssh: ") || time.Since(start) > 2*time.Second {
		t.Errorf("after KillSSHD: %v after %s", err, time.Since(start))
	}
	t.Logf("sshd killed: %v", err)
	// Redial is refused, naming host and step.
	_, err = Dial(context.Background(), labConfig(lab, h1, testinfra.UserRoot))
	if err == nil || !strings.HasPrefix(err.Error(), h1.Name+": ssh: connect "+h1.Addr+":22: ") {
		t.Errorf("dial with sshd dead: %v", err)
	}

	cfg := labConfig(lab, h2, testinfra.UserRoot)
	cfg.KeepAliveInterval = 300 * time.Millisecond
	c = dialT(t, cfg)
	runT(t, c, transport.Cmd{Script: "true"})
	errc := make(chan error, 1)
	go func() {
		_, err := c.Run(context.Background(), transport.Cmd{Script: "sleep 30"})
		errc <- err
	}()
	time.Sleep(200 * time.Millisecond)
	must(t, h2.CutNetwork())
	t.Cleanup(func() { h2.RestoreNetwork() })
	start = time.Now()
	select {
	case err := <-errc:
		if err == nil || !strings.HasPrefix(err.Error(), h2.Name+": ssh: ") || !strings.Contains(err.Error(), "keepalive") {
			t.Errorf("in-flight Run: err = %v", err)
		}
		t.Logf("network cut: detected after %s: %v", time.Since(start).Round(time.Millisecond), err)
	case <-time.After(5 * time.Second):
		t.Fatal("in-flight Run still hanging 5s after the network was cut")
	}
	start = time.Now()
	if _, err := c.Run(context.Background(), transport.Cmd{Script: "true"}); err == nil || time.Since(start) > time.Second {
		t.Errorf("Run on dead connection: %v after %s", err, time.Since(start))
	}
}

// TestLabCancel: a cancelled ctx stops a sudo'ed command on the host.
func TestLabCancel(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	h := lab.Hosts[0]
	cfg := labConfig(lab, h, testinfra.UserOps)
	cfg.Become, cfg.BecomePassword = true, testinfra.OpsPassword
	c := dialT(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	_, err := c.Run(ctx, transport.Cmd{Script: "exec sleep 77", Sudo: true})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), h.Name+": ssh: run: ") {
		t.Errorf("err = %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("cancelled Run took %s", d)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		// (pgrep -f would match the sh running it.)
		out := h.Sh(t, "ps -eo pid=,args= | grep ' sleep 77$' || true")
		if strings.TrimSpace(out) == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("sleep 77 still running on the host after cancel: %q", out)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if res := runT(t, c, transport.Cmd{Script: "id -un", Sudo: true}); string(res.Stdout) != "root\n" {
		t.Errorf("after cancel: %q", res.Stdout)
	}
}

// TestLabConcurrentRuns: more concurrent Runs than sshd's MaxSessions (10)
// on one connection all succeed (they queue for a session slot).
func TestLabConcurrentRuns(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	h := lab.Hosts[0]
	// The lab raises MaxSessions; put OpenSSH's default back.
	h.Sh(t, "sed -i 's/^MaxSessions .*/MaxSessions 10/' /etc/ssh/sshd_config.d/goprov-lab.conf && grep -x 'MaxSessions 10' /etc/ssh/sshd_config.d/goprov-lab.conf")
	must(t, h.KillSSHD())
	must(t, h.StartSSHD())
	cfg := labConfig(lab, h, testinfra.UserDeploy)
	cfg.Become = true
	c := dialT(t, cfg)
	const n = 30
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			res, err := c.Run(context.Background(), transport.Cmd{Script: "sleep 0.2; echo " + strconv.Itoa(i), Sudo: i%2 == 0})
			if err == nil && string(res.Stdout) != strconv.Itoa(i)+"\n" {
				err = fmt.Errorf("run %d: stdout %q stderr %q", i, res.Stdout, res.Stderr)
			}
			errs <- err
		}()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if c.Execs() != n {
		t.Errorf("Execs() = %d, want %d", c.Execs(), n)
	}
}

// TestLabJumpShared: targets behind one bastion share one connection to it
// (one login in the bastion's sshd log), and it closes with the last one.
func TestLabJumpShared(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 3})
	bastion := lab.Hosts[0]
	logins := func() int {
		log, err := bastion.SSHDLog()
		must(t, err)
		return strings.Count(string(log), "Accepted publickey")
	}
	before := logins()
	var clients []*Client
	errs := make(chan error, 2)
	var mu sync.Mutex
	for _, h := range lab.Hosts[1:] {
		go func() {
			cfg := labConfig(lab, h, testinfra.UserOps)
			cfg.Become, cfg.BecomePassword = true, testinfra.OpsPassword
			cfg.Jump = []Config{labConfig(lab, bastion, testinfra.UserRoot)}
			c, err := Dial(context.Background(), cfg)
			if err == nil {
				mu.Lock()
				clients = append(clients, c)
				mu.Unlock()
				var res transport.Result
				res, err = c.Run(context.Background(), transport.Cmd{Script: "hostname; id -un", Sudo: true})
				if err == nil && string(res.Stdout) != h.Name+"\nroot\n" {
					err = fmt.Errorf("%s: %q", h.Name, res.Stdout)
				}
			}
			errs <- err
		}()
	}
	for range lab.Hosts[1:] {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if got := logins() - before; got != 1 {
		t.Errorf("bastion logins for 2 parallel targets: %d, want 1", got)
	}
	for _, c := range clients {
		c.Close()
	}
	if poolSize() != 0 {
		t.Errorf("bastion connection still pooled after all clients closed")
	}
}

// TestLabAgent: keys from ssh-agent (SSH_AUTH_SOCK); with IdentitiesOnly
// only the agent keys matching an IdentityFile are offered, which is how a
// passphrase-protected key held by the agent is used.
func TestLabAgent(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	h := lab.Hosts[0]
	t.Setenv("HOME", t.TempDir()) // no default identities
	raw, err := os.ReadFile(lab.KeyPath(testinfra.UserDeploy))
	must(t, err)
	priv, err := gossh.ParseRawPrivateKey(raw)
	must(t, err)
	keyring := agent.NewKeyring()
	must(t, keyring.Add(agent.AddedKey{PrivateKey: priv}))
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	must(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); agent.ServeAgent(keyring, c) }()
		}
	}()
	t.Setenv("SSH_AUTH_SOCK", sock)

	cfg := Config{Name: h.Name, Address: h.Addr, User: testinfra.UserDeploy, KnownHosts: []string{lab.KnownHostsPath}, Become: true}
	c := dialT(t, cfg)
	if res := runT(t, c, transport.Cmd{Script: "id -un", Sudo: true}); string(res.Stdout) != "root\n" {
		t.Errorf("via agent: %q", res.Stdout)
	}

	// The same key on disk, passphrase-protected: not usable by itself, but
	// with IdentitiesOnly it selects the agent's copy.
	block, err := gossh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("secret"))
	must(t, err)
	enc := filepath.Join(t.TempDir(), "id_enc")
	must(t, os.WriteFile(enc, pem.EncodeToMemory(block), 0o600))
	sc := filepath.Join(t.TempDir(), "ssh_config")
	must(t, os.WriteFile(sc, []byte("Host *\n  IdentitiesOnly yes\n  IdentityFile "+enc+"\n"), 0o600))
	cfg.SSHConfigFiles = []string{sc}
	c = dialT(t, cfg)
	runT(t, c, transport.Cmd{Script: "true"})

	// IdentitiesOnly with an unrelated identity: the agent key is withheld.
	other, _ := writeClientKey(t, t.TempDir())
	must(t, os.WriteFile(sc, []byte("Host *\n  IdentitiesOnly yes\n  IdentityFile "+other+"\n"), 0o600))
	_, err = Dial(context.Background(), cfg)
	if err == nil || !strings.HasPrefix(err.Error(), h.Name+": ssh: auth as deploy at "+h.Addr+":22: server accepted none of the keys (tried "+other+")") {
		t.Errorf("IdentitiesOnly: err = %v", err)
	}
}

// TestLabLargeScript: a 200 KiB script (beyond Linux's 128 KiB argv string
// limit) runs plain and through password sudo, followed by 1 MB of stdin,
// and leaves no temp file behind.
func TestLabLargeScript(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	h := lab.Hosts[0]
	cfg := labConfig(lab, h, testinfra.UserOps)
	cfg.Become, cfg.BecomePassword = true, testinfra.OpsPassword
	c := dialT(t, cfg)
	payload := binaryPayload(1 << 20)
	for _, sudo := range []bool{false, true} {
		res := runT(t, c, transport.Cmd{Script: bigScript() + "id -un\n", Stdin: bytes.NewReader(payload), Sudo: sudo})
		user := "ops"
		if sudo {
			user = "root"
		}
		if got, want := string(res.Stdout), fmt.Sprintf("big\n%d\n%s\n", len(payload), user); got != want || res.ExitCode != 0 {
			t.Errorf("sudo=%t: stdout %q (want %q), stderr %q, exit %d", sudo, got, want, res.Stderr, res.ExitCode)
		}
	}
	if out := h.Sh(t, "ls /tmp/goprov-script.* 2>/dev/null || true"); out != "" {
		t.Errorf("temp scripts left on the host: %q", out)
	}
	if c.Execs() != 2 {
		t.Errorf("Execs() = %d, want 2 (one per Run, big or not)", c.Execs())
	}
}

// TestLabKnownHostsInterop: lines recorded by accept-new (plain and hashed)
// satisfy OpenSSH's own client in strict mode, and a file hashed by
// ssh-keygen -H satisfies ours.
func TestLabKnownHostsInterop(t *testing.T) {
	sshBin := ci.LookPath(t, "ssh")
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	h := lab.Hosts[0]
	t.Setenv("HOME", t.TempDir())
	for _, hash := range []bool{false, true} {
		kh := filepath.Join(t.TempDir(), "known_hosts")
		sc := filepath.Join(t.TempDir(), "ssh_config")
		must(t, os.WriteFile(sc, []byte(fmt.Sprintf("HashKnownHosts %s\n", map[bool]string{false: "no", true: "yes"}[hash])), 0o600))
		cfg := labConfig(lab, h, testinfra.UserRoot)
		cfg.KnownHosts, cfg.HostKeyPolicy, cfg.SSHConfigFiles, cfg.Logf = []string{kh}, PolicyAcceptNew, []string{sc}, t.Logf
		dialT(t, cfg).Close()
		if got := readFile(t, kh); strings.HasPrefix(got, "|1|") != hash {
			t.Errorf("hash=%t: recorded %q", hash, got)
		}
		out, err := exec.Command(sshBin, "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
			"-o", "UserKnownHostsFile="+kh, "-o", "GlobalKnownHostsFile=/dev/null", "-i", lab.KeyPath("root"),
			"root@"+h.Addr, "hostname").CombinedOutput()
		if err != nil || string(out) != h.Name+"\n" {
			t.Errorf("hash=%t: OpenSSH with our known_hosts: %v: %s", hash, err, out)
		}
	}
	hashed := filepath.Join(t.TempDir(), "known_hosts")
	must(t, os.WriteFile(hashed, []byte(readFile(t, lab.KnownHostsPath)), 0o600))
	if out, err := exec.Command("ssh-keygen", "-H", "-f", hashed).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -H: %v: %s", err, out)
	}
	if strings.Contains(readFile(t, hashed), h.Addr) {
		t.Fatal("ssh-keygen -H left plain names")
	}
	cfg := labConfig(lab, h, testinfra.UserRoot)
	cfg.KnownHosts = []string{hashed}
	dialT(t, cfg).Close()
}
