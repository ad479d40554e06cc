package ssh

// In-process SSH servers (x/crypto/ssh server side, commands run by the real
// /bin/sh of this machine, sudo played by a small sh script with sudo's -S/-p
// behaviour). They exercise the client's state machine quickly and without
// the lab; the proof against real OpenSSH and real sudo is lab_test.go.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/goprov/goprov/transport"
)

const fakeSudo = `#!/bin/sh
# Stand-in for sudo -S -p PROMPT -u root -- CMD...: prompts on stderr, reads
# the password from stdin one line at a time, like sudo.
prompt=
while [ $# -gt 0 ]; do
	case $1 in
	-S) shift ;;
	-p) prompt=$2; shift 2 ;;
	-u) shift 2 ;;
	--) shift; break ;;
	*) echo "fake sudo: unexpected $1" >&2; exit 2 ;;
	esac
done
if [ "$FAKE_SUDO_USER" = ops ]; then
	tries=0
	while :; do
		printf '%s' "$prompt" >&2
		IFS= read -r pw || { echo "sudo: no password was provided" >&2; exit 1; }
		[ "$pw" = "$FAKE_SUDO_PW" ] && break
		tries=$((tries+1))
		[ $tries -ge 3 ] && { echo "sudo: 3 incorrect password attempts" >&2; exit 1; }
		echo "Sorry, try again." >&2
	done
elif [ "$FAKE_SUDO_USER" = nobody ]; then
	echo "nobody is not in the sudoers file." >&2
	exit 1
elif [ "$FAKE_SUDO_USER" = chatty ]; then
	# A hostile sudo that never stops talking (bounded, for the test's sake).
	yes 'sudo says' | head -c 50000000 >&2
	exit 1
fi
exec "$@"
`

const hostilePassword = `p a;s's"w$(touch /tmp/pwned)` + "`id`" + `\ord)`

type testServer struct {
	t          *testing.T
	addr       string
	port       int
	hostKey    gossh.Signer
	clientKey  string // private key file
	knownHosts string // a known_hosts with this server's key
	authorized gossh.PublicKey
	execs      []string
	mu         sync.Mutex
	ln         net.Listener
	fakeBin    string
	closed     chan struct{}
	logins     atomic.Int32 // completed SSH handshakes
	conns      []net.Conn
}

func writeClientKey(t *testing.T, dir string) (string, gossh.PublicKey) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	block, err := gossh.MarshalPrivateKey(priv, "")
	must(t, err)
	path := filepath.Join(dir, "id_ed25519")
	must(t, os.WriteFile(path, pem.EncodeToMemory(block), 0o600))
	signer, err := gossh.NewSignerFromKey(priv)
	must(t, err)
	return path, signer.PublicKey()
}

// startServer serves SSH on 127.0.0.1; clientKey "" makes a fresh one.
func startServer(t *testing.T, clientKey string, authorized gossh.PublicKey) *testServer {
	t.Helper()
	dir := t.TempDir()
	_, hpriv, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	hs, err := gossh.NewSignerFromKey(hpriv)
	must(t, err)
	if clientKey == "" {
		clientKey, authorized = writeClientKey(t, dir)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	s := &testServer{t: t, addr: ln.Addr().String(), port: ln.Addr().(*net.TCPAddr).Port, hostKey: hs,
		clientKey: clientKey, authorized: authorized, ln: ln, fakeBin: filepath.Join(dir, "bin"), closed: make(chan struct{})}
	must(t, os.MkdirAll(s.fakeBin, 0o755))
	must(t, os.WriteFile(filepath.Join(s.fakeBin, "sudo"), []byte(fakeSudo), 0o755))
	s.knownHosts = filepath.Join(dir, "known_hosts")
	must(t, os.WriteFile(s.knownHosts, []byte(knownhosts.Line([]string{knownhosts.Normalize(s.addr)}, hs.PublicKey())+"\n"), 0o600))
	go s.serve()
	t.Cleanup(func() { close(s.closed); ln.Close() })
	return s
}

func (s *testServer) config(name, user string) Config {
	return Config{Name: name, Address: "127.0.0.1", Port: s.port, User: user, IdentityFiles: []string{s.clientKey},
		KnownHosts: []string{s.knownHosts}, ConnectTimeout: 5 * time.Second, Logf: s.t.Logf}
}

func (s *testServer) serve() {
	cfg := &gossh.ServerConfig{
		PublicKeyCallback: func(c gossh.ConnMetadata, k gossh.PublicKey) (*gossh.Permissions, error) {
			if bytes.Equal(k.Marshal(), s.authorized.Marshal()) {
				return &gossh.Permissions{Extensions: map[string]string{"user": c.User()}}, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	cfg.AddHostKey(s.hostKey)
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		go func() {
			sc, chans, reqs, err := gossh.NewServerConn(nc, cfg)
			if err != nil {
				nc.Close()
				return
			}
			s.logins.Add(1)
			s.mu.Lock()
			s.conns = append(s.conns, nc)
			s.mu.Unlock()
			go gossh.DiscardRequests(reqs) // answers keepalives with "failure", like OpenSSH
			for nch := range chans {
				switch nch.ChannelType() {
				case "session":
					ch, creqs, err := nch.Accept()
					if err == nil {
						go s.session(sc.User(), ch, creqs)
					}
				case "direct-tcpip":
					go s.forward(nch)
				default:
					nch.Reject(gossh.UnknownChannelType, "no")
				}
			}
		}()
	}
}

func (s *testServer) forward(nch gossh.NewChannel) {
	var p struct {
		Host     string
		Port     uint32
		OrigHost string
		OrigPort uint32
	}
	if err := gossh.Unmarshal(nch.ExtraData(), &p); err != nil {
		nch.Reject(gossh.ConnectionFailed, "bad payload")
		return
	}
	c, err := net.Dial("tcp", net.JoinHostPort(p.Host, strconv.Itoa(int(p.Port))))
	if err != nil {
		nch.Reject(gossh.ConnectionFailed, err.Error())
		return
	}
	ch, reqs, err := nch.Accept()
	if err != nil {
		c.Close()
		return
	}
	go gossh.DiscardRequests(reqs)
	go func() { io.Copy(ch, c); ch.CloseWrite(); ch.Close() }()
	go func() { io.Copy(c, ch); c.Close() }()
}

func (s *testServer) session(user string, ch gossh.Channel, reqs <-chan *gossh.Request) {
	defer ch.Close()
	var cmd *exec.Cmd
	done := make(chan int, 1)
	for {
		select {
		case code := <-done:
			ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, uint32(code)))
			return
		case req, ok := <-reqs:
			if !ok {
				if cmd != nil && cmd.Process != nil {
					syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				}
				return
			}
			switch req.Type {
			case "exec":
				var p struct{ Command string }
				if gossh.Unmarshal(req.Payload, &p) != nil || cmd != nil {
					req.Reply(false, nil)
					continue
				}
				s.mu.Lock()
				s.execs = append(s.execs, p.Command)
				s.mu.Unlock()
				cmd = exec.Command("/bin/sh", "-c", p.Command)
				cmd.Env = []string{"PATH=" + s.fakeBin + ":/usr/sbin:/usr/bin:/sbin:/bin", "FAKE_SUDO_USER=" + user, "FAKE_SUDO_PW=" + hostilePassword}
				cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
				cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
				stdin, _ := cmd.StdinPipe()
				if err := cmd.Start(); err != nil {
					req.Reply(false, nil)
					continue
				}
				req.Reply(true, nil)
				go func() { io.Copy(stdin, ch); stdin.Close() }()
				go func() {
					cmd.Wait()
					done <- cmd.ProcessState.ExitCode()
				}()
			case "signal":
				var p struct{ Signal string }
				if gossh.Unmarshal(req.Payload, &p) == nil && cmd != nil && cmd.Process != nil && p.Signal == "TERM" {
					syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
				}
			default:
				if req.WantReply {
					req.Reply(false, nil)
				}
			}
		}
	}
}

func (s *testServer) execLines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.execs...)
}

func dialT(t *testing.T, cfg Config) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func runT(t *testing.T, c *Client, cmd transport.Cmd) transport.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := c.Run(ctx, cmd)
	if err != nil {
		script := cmd.Script
		if len(script) > 200 {
			script = script[:200] + "…"
		}
		t.Fatalf("Run(%q): %v", script, err)
	}
	return res
}

func binaryPayload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/256) // every byte value, NULs and newlines included
	}
	return b
}

func TestInProcRunAndBecome(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	s := startServer(t, "", nil)
	payload := binaryPayload(1 << 20)
	for _, tc := range []struct {
		user, password string
	}{
		{"root", ""},
		{"deploy", ""},           // NOPASSWD: nothing may be written before the script starts
		{"ops", hostilePassword}, // password on stdin only
	} {
		t.Run(tc.user, func(t *testing.T) {
			cfg := s.config("h1", tc.user)
			cfg.Become, cfg.BecomePassword = true, tc.password
			c := dialT(t, cfg)
			if c.User() != tc.user {
				t.Errorf("User() = %q", c.User())
			}
			before := len(s.execLines())

			res := runT(t, c, transport.Cmd{Script: "echo out; echo err >&2; exit 3", Sudo: true})
			if string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" || res.ExitCode != 3 {
				t.Errorf("result = %q %q %d", res.Stdout, res.Stderr, res.ExitCode)
			}
			res = runT(t, c, transport.Cmd{Script: "cat", Stdin: bytes.NewReader(payload), Sudo: true})
			if !bytes.Equal(res.Stdout, payload) || res.ExitCode != 0 {
				t.Errorf("stdin through sudo: got %d bytes (equal=%t), exit %d, stderr %q", len(res.Stdout), bytes.Equal(res.Stdout, payload), res.ExitCode, res.Stderr)
			}
			res = runT(t, c, transport.Cmd{Script: "cat", Sudo: true}) // nil Stdin: EOF at once
			if len(res.Stdout) != 0 {
				t.Errorf("nil stdin produced %q", res.Stdout)
			}
			for i := 0; i < 20; i++ {
				res = runT(t, c, transport.Cmd{Script: "echo " + strconv.Itoa(i)})
				if string(res.Stdout) != strconv.Itoa(i)+"\n" {
					t.Fatalf("run %d: %q", i, res.Stdout)
				}
			}
			if got := c.Execs(); got != 23 {
				t.Errorf("Execs() = %d, want 23", got)
			}
			lines := s.execLines()[before:]
			if len(lines) != 23 {
				t.Errorf("server saw %d execs, want 23", len(lines))
			}
			// One fixed exec line for every command, sudo or not: the
			// script, the sudo stage and the password all travel on stdin.
			for _, l := range lines {
				if l != execLine {
					t.Errorf("exec line %q, want the fixed %q", l, execLine)
				}
			}
			if _, err := os.Stat("/tmp/pwned"); err == nil {
				t.Error("/tmp/pwned exists: the password was executed")
			}
		})
	}
}

func TestInProcSudoFailures(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	s := startServer(t, "", nil)

	cfg := s.config("web1", "ops")
	cfg.Become, cfg.BecomePassword = true, "wrong;$(touch /tmp/pwned) 'x'"
	c := dialT(t, cfg)
	_, err := c.Run(context.Background(), transport.Cmd{Script: "echo hi", Sudo: true})
	if err == nil || err.Error() != "web1: sudo: incorrect password for ops" {
		t.Fatalf("wrong password: err = %v", err)
	}
	execs := c.Execs()
	_, err = c.Run(context.Background(), transport.Cmd{Script: "echo hi", Sudo: true})
	if err == nil || !strings.Contains(err.Error(), "incorrect password") || c.Execs() != execs {
		t.Errorf("second sudo after a wrong password: err %v, execs %d→%d (must not retry: lockouts)", err, execs, c.Execs())
	}
	// Unprivileged commands still work on this connection.
	if res := runT(t, c, transport.Cmd{Script: "echo still"}); string(res.Stdout) != "still\n" {
		t.Errorf("after sudo failure: %q", res.Stdout)
	}

	cfg = s.config("web1", "ops")
	cfg.Become = true
	c = dialT(t, cfg)
	_, err = c.Run(context.Background(), transport.Cmd{Script: "echo hi", Sudo: true})
	if err == nil || !strings.Contains(err.Error(), "web1: sudo: a password is required for ops") {
		t.Errorf("no password: err = %v", err)
	}

	cfg = s.config("web1", "nobody")
	cfg.Become = true
	c = dialT(t, cfg)
	_, err = c.Run(context.Background(), transport.Cmd{Script: "echo hi", Sudo: true})
	if err == nil || err.Error() != "web1: sudo: as nobody: nobody is not in the sudoers file." {
		t.Errorf("not in sudoers: err = %v", err)
	}

	cfg = s.config("web1", "deploy")
	c = dialT(t, cfg) // Become off
	_, err = c.Run(context.Background(), transport.Cmd{Script: "echo hi", Sudo: true})
	if err == nil || !strings.Contains(err.Error(), "web1: step needs root but become is off") {
		t.Errorf("become off: err = %v", err)
	}
	if _, err := os.Stat("/tmp/pwned"); err == nil {
		t.Error("/tmp/pwned exists")
	}
}

func TestInProcCancel(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	s := startServer(t, "", nil)
	for _, user := range []string{"root", "deploy"} {
		cfg := s.config("h", user)
		cfg.Become = true
		c := dialT(t, cfg)
		pidFile := filepath.Join(t.TempDir(), "pid")
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		start := time.Now()
		_, err := c.Run(ctx, transport.Cmd{Script: "echo $$ > " + pidFile + "; exec sleep 30", Sudo: true})
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "h: ssh: run: ") {
			t.Errorf("%s: err = %v, want h: ssh: run: …deadline exceeded", user, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: cancelled Run took %s", user, d)
		}
		// The remote command was signalled, not left running.
		deadline := time.Now().Add(3 * time.Second)
		for {
			b, _ := os.ReadFile(pidFile)
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			if pid > 0 && syscall.Kill(pid, 0) != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: remote sleep (pid %d) still running after cancel", user, pid)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		// The connection is still usable.
		if res := runT(t, c, transport.Cmd{Script: "echo ok"}); string(res.Stdout) != "ok\n" {
			t.Errorf("%s: after cancel: %q", user, res.Stdout)
		}
		if _, err := c.Run(ctx, transport.Cmd{Script: "true"}); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: Run with a done ctx: %v", user, err)
		}
	}
}

func TestInProcHostKeysAndAuth(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	s := startServer(t, "", nil)
	ctx := context.Background()

	// Unknown key refused by default.
	cfg := s.config("web1", "root")
	cfg.KnownHosts = []string{filepath.Join(t.TempDir(), "known_hosts")}
	_, err := Dial(ctx, cfg)
	if err == nil || !strings.HasPrefix(err.Error(), "web1: ssh: unknown host key for 127.0.0.1:") {
		t.Errorf("unknown key: err = %v", err)
	}
	// accept-new records it; next strict dial accepts it.
	cfg.HostKeyPolicy = PolicyAcceptNew
	c := dialT(t, cfg)
	c.Close()
	want := knownhosts.Line([]string{knownhosts.Normalize(s.addr)}, s.hostKey.PublicKey()) + "\n"
	if got := readFile(t, cfg.KnownHosts[0]); got != want {
		t.Errorf("recorded %q, want %q", got, want)
	}
	cfg.HostKeyPolicy = PolicyStrict
	dialT(t, cfg).Close()

	// A changed key is refused, even with accept-new.
	changed := filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(s.addr)}, newEd25519(t)) + "\n"
	must(t, os.WriteFile(changed, []byte("# fleet\n"+line), 0o600))
	cfg.KnownHosts, cfg.HostKeyPolicy = []string{changed}, PolicyAcceptNew
	_, err = Dial(ctx, cfg)
	wantMsg := fmt.Sprintf("web1: ssh: host key mismatch for %s (known_hosts %s:2) — possible man-in-the-middle", s.addr, changed)
	if err == nil || err.Error() != wantMsg {
		t.Errorf("changed key:\n got %v\nwant %s", err, wantMsg)
	}
	var he *HostKeyError
	if !errors.As(err, &he) || !he.Mismatch {
		t.Errorf("changed key: not a *HostKeyError with Mismatch: %#v", err)
	}
	if got := readFile(t, changed); got != "# fleet\n"+line {
		t.Errorf("known_hosts modified on mismatch: %q", got)
	}

	// Wrong client key: auth error names user and what was tried.
	other, _ := writeClientKey(t, t.TempDir())
	cfg = s.config("web1", "deploy")
	cfg.IdentityFiles = []string{other}
	_, err = Dial(ctx, cfg)
	if err == nil || !strings.HasPrefix(err.Error(), "web1: ssh: auth as deploy at 127.0.0.1:") || !strings.Contains(err.Error(), other) {
		t.Errorf("auth: err = %v", err)
	}
	// Missing explicit identity file.
	cfg.IdentityFiles = []string{"/nonexistent/key"}
	_, err = Dial(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), "web1: ssh: auth as deploy: identity file") {
		t.Errorf("missing identity: err = %v", err)
	}
}

func TestInProcJump(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	jump := startServer(t, "", nil)
	target := startServer(t, jump.clientKey, jump.authorized)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	must(t, os.WriteFile(kh, []byte(readFile(t, jump.knownHosts)+readFile(t, target.knownHosts)), 0o600))

	cfg := target.config("web2", "root")
	cfg.KnownHosts = []string{kh}
	cfg.Jump = []Config{{Name: "bastion", Address: "127.0.0.1", Port: jump.port, User: "root"}}
	c := dialT(t, cfg)
	if res := runT(t, c, transport.Cmd{Script: "echo via jump"}); string(res.Stdout) != "via jump\n" {
		t.Errorf("got %q", res.Stdout)
	}
	if len(jump.execLines()) != 0 || len(target.execLines()) != 1 {
		t.Errorf("execs: jump %d, target %d; want 0, 1", len(jump.execLines()), len(target.execLines()))
	}

	// The same through ssh_config ProxyJump, with the target known only by alias.
	sc := filepath.Join(t.TempDir(), "ssh_config")
	must(t, os.WriteFile(sc, []byte(fmt.Sprintf(`Host bastion
  HostName 127.0.0.1
  Port %d
  User root
Host web2
  HostName 127.0.0.1
  Port %d
  User root
  ProxyJump bastion
Host *
  IdentityFile "%s"
  UserKnownHostsFile %s
`, jump.port, target.port, jump.clientKey, kh)), 0o600))
	c = dialT(t, Config{Name: "web2", SSHConfigFiles: []string{sc}})
	if res := runT(t, c, transport.Cmd{Script: "echo via ssh_config"}); string(res.Stdout) != "via ssh_config\n" {
		t.Errorf("got %q", res.Stdout)
	}
	if len(jump.execLines()) != 0 || len(target.execLines()) != 2 {
		t.Errorf("execs: jump %d, target %d; want 0, 2", len(jump.execLines()), len(target.execLines()))
	}

	// A jump host with a changed key: the error names the jump.
	bad := filepath.Join(t.TempDir(), "known_hosts")
	must(t, os.WriteFile(bad, []byte(knownhosts.Line([]string{knownhosts.Normalize(jump.addr)}, newEd25519(t))+"\n"+readFile(t, target.knownHosts)), 0o600))
	cfg.KnownHosts = []string{bad}
	_, err := Dial(context.Background(), cfg)
	if err == nil || !strings.HasPrefix(err.Error(), "web2: ssh: jump bastion: host key mismatch") {
		t.Errorf("jump mismatch: err = %v", err)
	}
}

// freezer forwards TCP until frozen, then silently drops everything: a
// network cut as seen by the client (no RST, no FIN).
type freezer struct {
	ln     net.Listener
	mu     sync.Mutex
	frozen bool
}

func startFreezer(t *testing.T, to string) *freezer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	f := &freezer{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", to)
			if err != nil {
				c.Close()
				continue
			}
			t.Cleanup(func() { c.Close(); u.Close() })
			go f.pipe(c, u)
			go f.pipe(u, c)
		}
	}()
	return f
}

func (f *freezer) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		f.mu.Lock()
		frozen := f.frozen
		f.mu.Unlock()
		if !frozen && n > 0 {
			dst.Write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

func (f *freezer) freeze() { f.mu.Lock(); f.frozen = true; f.mu.Unlock() }

func TestInProcDeadConnection(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	s := startServer(t, "", nil)
	f := startFreezer(t, s.addr)
	cfg := s.config("web1", "root")
	cfg.Port = f.ln.Addr().(*net.TCPAddr).Port
	kh := filepath.Join(t.TempDir(), "kh")
	must(t, os.WriteFile(kh, []byte(knownhosts.Line([]string{knownhosts.Normalize(f.ln.Addr().String())}, s.hostKey.PublicKey())+"\n"), 0o600))
	cfg.KnownHosts = []string{kh}
	cfg.KeepAliveInterval = 200 * time.Millisecond
	c := dialT(t, cfg)
	runT(t, c, transport.Cmd{Script: "true"})

	// A Run in flight when the network dies returns an error, not a hang.
	errc := make(chan error, 1)
	go func() {
		_, err := c.Run(context.Background(), transport.Cmd{Script: "sleep 5; echo late"})
		errc <- err
	}()
	time.Sleep(100 * time.Millisecond)
	f.freeze()
	start := time.Now()
	select {
	case err := <-errc:
		if err == nil || !strings.HasPrefix(err.Error(), "web1: ssh: ") || !strings.Contains(err.Error(), "keepalive") {
			t.Errorf("in-flight Run: err = %v", err)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("in-flight Run hung on a dead connection")
	}
	t.Logf("dead connection detected after %s", time.Since(start).Round(time.Millisecond))
	// And a new Run fails at once.
	start = time.Now()
	_, err := c.Run(context.Background(), transport.Cmd{Script: "true"})
	if err == nil || !strings.Contains(err.Error(), "web1: ssh: connection lost") || time.Since(start) > time.Second {
		t.Errorf("Run on dead connection: %v after %s", err, time.Since(start))
	}
}

func TestInProcConnectErrors(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	// A closed port: refused at once, error names host and step.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	_, err = Dial(context.Background(), Config{Name: "web1", Address: "127.0.0.1", Port: port, User: "root",
		KnownHosts: []string{os.DevNull}})
	want := fmt.Sprintf("web1: ssh: connect 127.0.0.1:%d: ", port)
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("refused: err = %v, want prefix %q", err, want)
	}

	// A server that accepts TCP and never speaks: the handshake times out.
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	start := time.Now()
	_, err = Dial(context.Background(), Config{Name: "web1", Address: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port,
		User: "root", KnownHosts: []string{os.DevNull}, ConnectTimeout: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "timed out after 300ms") || time.Since(start) > 2*time.Second {
		t.Errorf("silent server: err = %v after %s", err, time.Since(start))
	}
	// The caller's ctx bounds it too, and its error is kept.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = Dial(ctx, Config{Name: "web1", Address: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port,
		User: "root", KnownHosts: []string{os.DevNull}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ctx deadline: err = %v", err)
	}
	// A password with a newline cannot be sent to sudo, and is not printed.
	_, err = Dial(context.Background(), Config{Name: "web1", BecomePassword: "se\ncret"})
	if err == nil || strings.Contains(err.Error(), "cret") {
		t.Errorf("newline password: %v", err)
	}
}

// dropAll cuts every connection the server has (like sshd dying).
func (s *testServer) dropAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

// Many hosts behind one bastion share one connection to it; it closes with
// the last of them, and a dead one is replaced by the next Dial.
func TestInProcJumpShared(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	jump := startServer(t, "", nil)
	var targets []*testServer
	kh := readFile(t, jump.knownHosts)
	for i := 0; i < 5; i++ {
		ts := startServer(t, jump.clientKey, jump.authorized)
		targets = append(targets, ts)
		kh += readFile(t, ts.knownHosts)
	}
	khFile := filepath.Join(t.TempDir(), "known_hosts")
	must(t, os.WriteFile(khFile, []byte(kh), 0o600))
	cfgFor := func(ts *testServer, i int) Config {
		cfg := ts.config(fmt.Sprintf("web%d", i), "root")
		cfg.KnownHosts = []string{khFile}
		cfg.Jump = []Config{{Name: "bastion", Address: "127.0.0.1", Port: jump.port, User: "root"}}
		return cfg
	}

	clients := make([]*Client, len(targets))
	var wg sync.WaitGroup
	for i, ts := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Dial(context.Background(), cfgFor(ts, i))
			if err != nil {
				t.Error(err)
				return
			}
			clients[i] = c
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if n := jump.logins.Load(); n != 1 {
		t.Errorf("bastion saw %d logins for %d parallel dials, want 1", n, len(targets))
	}
	for i, c := range clients {
		if res := runT(t, c, transport.Cmd{Script: "echo " + strconv.Itoa(i)}); string(res.Stdout) != strconv.Itoa(i)+"\n" {
			t.Errorf("web%d: %q", i, res.Stdout)
		}
	}
	if poolSize() != 1 {
		t.Errorf("pool holds %d connections, want 1", poolSize())
	}
	for _, c := range clients[1:] {
		c.Close()
	}
	if poolSize() != 1 {
		t.Errorf("pool closed the bastion while web0 still uses it")
	}
	runT(t, clients[0], transport.Cmd{Script: "true"})
	clients[0].Close()
	if poolSize() != 0 {
		t.Errorf("pool holds %d connections after every client closed", poolSize())
	}

	// A bastion connection that dies is not reused.
	c := dialT(t, cfgFor(targets[0], 0))
	jump.dropAll()
	deadline := time.Now().Add(3 * time.Second)
	for poolSize() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := c.Run(context.Background(), transport.Cmd{Script: "true"}); err == nil {
		t.Error("Run through a dead bastion succeeded")
	}
	c2 := dialT(t, cfgFor(targets[1], 1))
	runT(t, c2, transport.Cmd{Script: "true"})
	if n := jump.logins.Load(); n != 3 {
		t.Errorf("bastion logins = %d, want 3 (one per generation)", n)
	}
}

// Cmd.Stdout receives output while the command still runs (the host
// lock's holder relies on it), through sudo too; Result.Stdout keeps none
// of it (the writer has it all).
func TestInProcStreamingStdout(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	s := startServer(t, "", nil)
	for _, user := range []string{"root", "deploy"} {
		cfg := s.config("h", user)
		cfg.Become = true
		c := dialT(t, cfg)
		if c.Port() != s.port {
			t.Errorf("Port() = %d, want %d", c.Port(), s.port)
		}
		pr, pw := io.Pipe()
		done := make(chan transport.Result, 1)
		go func() {
			done <- runT(t, c, transport.Cmd{Script: "echo first; sleep 1; echo second", Stdout: pw, Sudo: true})
			pw.Close()
		}()
		line := make([]byte, 6)
		if _, err := io.ReadFull(pr, line); err != nil || string(line) != "first\n" {
			t.Fatalf("%s: streamed %q, %v", user, line, err)
		}
		select {
		case <-done:
			t.Errorf("%s: Run returned before the first line was streamed", user)
		default:
		}
		go io.Copy(io.Discard, pr)
		if res := <-done; len(res.Stdout) != 0 {
			t.Errorf("%s: Result.Stdout %q", user, res.Stdout)
		}
	}
}

// What one Run may print is capped (Config.MaxOutput), on stdout, stderr
// and in sudo's own chatter before the script starts: over it the Run fails
// naming the host and the limit, the command is stopped, and the
// connection still serves the next Run.
func TestInProcOutputLimit(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	s := startServer(t, "", nil)
	for _, tc := range []struct {
		user, script string
		sudo         bool
	}{
		{"root", "yes | head -c 50000000", false},
		{"root", "yes | head -c 50000000 >&2", false},
		{"deploy", "yes | head -c 50000000", true},
		{"chatty", "echo never", true},
	} {
		cfg := s.config("h", tc.user)
		cfg.Become, cfg.MaxOutput = true, 1<<20
		c := dialT(t, cfg)
		_, err := c.Run(context.Background(), transport.Cmd{Script: tc.script, Sudo: tc.sudo})
		if err == nil || !strings.HasPrefix(err.Error(), "h: host printed more than 1048576 bytes") {
			t.Errorf("%s %q: err = %v", tc.user, tc.script, err)
		}
		if res := runT(t, c, transport.Cmd{Script: "head -c 1048576 /dev/zero"}); len(res.Stdout) != 1<<20 {
			t.Errorf("%s: a Run at the limit after one over it: %d bytes", tc.user, len(res.Stdout))
		}
	}
}
