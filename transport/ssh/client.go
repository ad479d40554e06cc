package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/goprov/goprov/internal/shell"
	"github.com/goprov/goprov/transport"
)

// becomeTimeout bounds the time sudo may take before the script starts
// (PAM, the password round trip). A sudo that never prompts with our marker
// (e.g. passprompt_override in sudoers) would otherwise hang a run.
const becomeTimeout = 60 * time.Second

// maxSessions caps concurrent Runs per connection below OpenSSH's default
// MaxSessions (10): extra Runs wait for a slot instead of failing with
// "administratively prohibited".
const maxSessions = 8

// Client is one SSH connection to a host (through its jumps), reused for
// every Run; each Run is one session and one exec request. It is safe for
// concurrent use; at most maxSessions Runs are in flight at once.
type Client struct {
	name     string
	user     string
	become   bool
	password string // secret: only ever written to a session's stdin
	addr     string
	maxOut   int64

	conn  *gossh.Client
	jumps []*poolEntry // shared jump connections, outermost first; released after conn closes

	slots     chan struct{} // concurrent sessions
	execs     atomic.Int64
	badSudoPw atomic.Bool // a wrong password is not retried (lockouts)

	done      chan struct{} // closed when the connection is gone
	deadOnce  sync.Once
	deadErr   error
	closeOnce sync.Once
	warnings  []string
}

var _ transport.Transport = (*Client)(nil)

// Dial connects to cfg's host (through its ProxyJump chain), verifies host
// keys and authenticates. ctx and ConnectTimeout bound every hop.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	name := cfg.Name
	if name == "" {
		name = cfg.Address
	}
	if strings.ContainsAny(cfg.BecomePassword, "\n\r\x00") {
		return nil, fmt.Errorf("%s: sudo: become_password contains a newline or NUL, which sudo cannot read", name)
	}
	hops, err := resolveChain(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: ssh: config: %w", name, err)
	}
	target := hops[len(hops)-1]
	c := &Client{
		name:     name,
		user:     target.user,
		become:   cfg.Become,
		password: cfg.BecomePassword,
		addr:     target.addr(),
		maxOut:   cfg.MaxOutput,
		done:     make(chan struct{}),
		slots:    make(chan struct{}, maxSessions),
	}
	warn := func(w string) {
		c.warnings = append(c.warnings, w)
		cfg.logf("%s: ssh: %s", name, w)
	}
	for _, h := range hops {
		for _, w := range h.warnings {
			warn(w)
		}
		h.notify = warn
	}
	interval := cfg.KeepAliveInterval
	if interval == 0 {
		interval = defaultKeepAlive
	}
	var prev *gossh.Client
	key := ""
	for _, h := range hops[:len(hops)-1] {
		key = hopKey(key, h)
		e, err := acquireJump(ctx, key, prev, h, interval)
		if err != nil {
			c.closeAll()
			return nil, fmt.Errorf("%s: ssh: jump %s: %w", name, h.name, err)
		}
		c.jumps = append(c.jumps, e)
		prev = e.client
	}
	c.conn, err = dialRetry(ctx, prev, target)
	if err != nil {
		c.closeAll()
		return nil, fmt.Errorf("%s: ssh: %w", name, err)
	}
	go func() {
		err := c.conn.Wait()
		if err == nil {
			err = errors.New("closed by the server")
		}
		c.markDead(err)
	}()
	if interval > 0 {
		go keepAlive(c.conn, interval, c.done, c.markDead)
	}
	return c, nil
}

// dialHop opens the TCP connection (directly or through prev) and does
// the SSH handshake, all within timeout (one attempt).
func dialHop(ctx context.Context, prev *gossh.Client, h *hop, timeout time.Duration) (*gossh.Client, error) {
	addr := h.addr()
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	timedOut := func(err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if dctx.Err() != nil {
			return timeoutError{timeout}
		}
		return err
	}

	hk := &hostKeyChecker{policy: h.policy, files: h.knownHosts, global: h.globalKnown, hash: h.hashKnown}
	db, err := hk.load()
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", addr, err)
	}
	auth, err := loadAuth(h)
	if err != nil {
		return nil, fmt.Errorf("auth as %s: %w", h.user, err)
	}
	defer auth.close()

	var conn net.Conn
	if prev == nil {
		d := net.Dialer{KeepAlive: 30 * time.Second}
		conn, err = d.DialContext(dctx, "tcp", addr)
	} else {
		conn, err = prev.DialContext(dctx, "tcp", addr)
	}
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Err != nil {
			err = op.Err // "dial tcp ADDR:" would repeat what we say
		}
		return nil, fmt.Errorf("connect %s: %w", addr, timedOut(err))
	}
	stop := context.AfterFunc(dctx, func() { conn.Close() })
	// known_hosts is keyed by what was dialled, or by HostKeyAlias (which
	// OpenSSH stores without a port).
	keyAddr := addr
	if h.hostKeyAlias != "" {
		keyAddr = net.JoinHostPort(h.hostKeyAlias, "22")
	}
	check := hk.check(db)
	signers := auth.signers
	ccfg := &gossh.ClientConfig{
		User: h.user,
		Auth: []gossh.AuthMethod{gossh.PublicKeysCallback(func() ([]gossh.Signer, error) {
			return signers, nil
		})},
		HostKeyCallback: func(_ string, remote net.Addr, key gossh.PublicKey) error {
			return check(keyAddr, remote, key)
		},
		HostKeyAlgorithms: knownAlgorithms(db, keyAddr),
	}
	sconn, chans, reqs, err := gossh.NewClientConn(conn, addr, ccfg)
	if !stop() {
		// The deadline fired and closed conn: whatever the handshake said,
		// the reason is the timeout.
		if sconn != nil {
			sconn.Close()
		}
		return nil, fmt.Errorf("connect %s: handshake: %w", addr, timedOut(context.DeadlineExceeded))
	}
	if err != nil {
		conn.Close()
		if he := hk.refused(); he != nil {
			return nil, he
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, fmt.Errorf("auth as %s at %s: server accepted none of the keys (%s)", h.user, addr, auth.describe())
		}
		return nil, fmt.Errorf("connect %s: handshake: %w", addr, err)
	}
	if note := hk.recordedNote(); note != "" && h.notify != nil {
		// OpenSSH says "Permanently added"; an audit trail wants it too.
		h.notify(fmt.Sprintf("accept-new: recorded the host key of %s: %s", keyAddr, note))
	}
	return gossh.NewClient(sconn, chans, reqs), nil
}

func (c *Client) markDead(err error) {
	c.deadOnce.Do(func() {
		c.deadErr = err
		close(c.done)
	})
	c.closeAll()
}

func (c *Client) deadReason() error {
	select {
	case <-c.done:
		return c.deadErr
	default:
		return nil
	}
}

func (c *Client) closeAll() {
	c.closeOnce.Do(func() {
		if c.conn != nil {
			c.conn.Close()
		}
		for i := len(c.jumps) - 1; i >= 0; i-- {
			c.jumps[i].release()
		}
	})
}

// Close closes the connection and its jumps.
func (c *Client) Close() error {
	c.markDead(errors.New("closed"))
	return nil
}

// String identifies the client without its secrets (the default %v of a
// struct would print the become password).
func (c *Client) String() string {
	return fmt.Sprintf("ssh.Client{%s as %s at %s}", c.name, c.user, c.addr)
}

// GoString is String, for %#v.
func (c *Client) GoString() string { return c.String() }

// Execs counts exec requests sent on this connection.
func (c *Client) Execs() int { return int(c.execs.Load()) }

// MaxOutputBytes is what one Run may print (0: transport.DefaultMaxOutput).
func (c *Client) MaxOutputBytes() int64 { return c.maxOut }

// User is the login user after ssh_config resolution.
func (c *Client) User() string { return c.user }

// Warnings are the configuration warnings found at Dial (also logged).
func (c *Client) Warnings() []string { return append([]string(nil), c.warnings...) }

// Run implements transport.Transport. A script that ran and exited non-zero
// is a Result; an error means it could not run (connection, sudo refusal,
// cancellation) and always starts with the host name.
func (c *Client) Run(ctx context.Context, cmd transport.Cmd) (transport.Result, error) {
	useSudo, err := c.precheck(ctx, cmd)
	if err != nil {
		return transport.Result{}, err
	}
	select {
	case c.slots <- struct{}{}:
		defer func() { <-c.slots }()
	case <-ctx.Done():
		return transport.Result{}, fmt.Errorf("%s: ssh: run: %w", c.name, ctx.Err())
	case <-c.done:
		return transport.Result{}, fmt.Errorf("%s: ssh: connection lost: %w", c.name, c.deadErr)
	}
	sess, err := c.newSession(ctx)
	if err != nil {
		return transport.Result{}, err
	}
	defer sess.Close()
	r, out, err := c.start(sess, cmd, useSudo)
	if err != nil {
		return transport.Result{}, err
	}
	var waitErr error
	waited := false
	if useSudo {
		// A few hundred bytes: within the channel's window, so this does
		// not block on the host.
		if _, err := r.stdin.Write(out.first); err != nil {
			r.abort()
			return transport.Result{}, fmt.Errorf("%s: ssh: send command: %w", c.name, c.lost(err))
		}
		if waitErr, waited, err = c.awaitSudo(ctx, r); err != nil {
			return transport.Result{}, err
		}
	}
	// From here on stdin belongs to the script.
	stdinDone := feedScript(r.stdin, cmd)
	if !waited {
		if waitErr, err = c.awaitExit(ctx, r); err != nil {
			return transport.Result{}, err
		}
	}
	if r.budget.Err() != nil {
		r.abort()
		return transport.Result{}, c.overLimit(r.budget)
	}
	// Do not return while still reading the caller's Stdin (os/exec's rule).
	select {
	case <-stdinDone:
	case <-ctx.Done():
		return transport.Result{}, fmt.Errorf("%s: ssh: run: %w", c.name, ctx.Err())
	}
	return c.result(ctx, out, r.bw, waitErr)
}

// precheck refuses what can be refused before a session opens; it says
// whether the command goes through sudo.
func (c *Client) precheck(ctx context.Context, cmd transport.Cmd) (useSudo bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("%s: ssh: run: %w", c.name, err)
	}
	if err := c.deadReason(); err != nil {
		return false, fmt.Errorf("%s: ssh: connection lost: %w", c.name, err)
	}
	if shell.ContainsNUL(cmd.Script) {
		return false, fmt.Errorf("%s: script contains a NUL byte, which no shell can take", c.name)
	}
	useSudo = cmd.Sudo && c.user != "root"
	if useSudo && !c.become {
		return false, fmt.Errorf("%s: step needs root but become is off and the login user is %s", c.name, c.user)
	}
	if useSudo && c.badSudoPw.Load() {
		return false, c.errBadPassword()
	}
	return useSudo, nil
}

// runOutput is what a Run collects, and the sudo stage to send first.
type runOutput struct {
	stdout, stderr bytes.Buffer
	first          []byte // the framed sudo stage; nil without sudo
}

// start wires the session's output to one budget and starts the exec line.
func (c *Client) start(sess *gossh.Session, cmd transport.Cmd, useSudo bool) (*running, *runOutput, error) {
	// A compromised host may print without end: everything it sends
	// (sudo's chatter included) draws on one budget, except a stdout the
	// caller streams (it bounds what it keeps).
	budget := transport.NewBudget(c.maxOut)
	out := &runOutput{}
	sess.Stdout = budget.Wrap(&out.stdout)
	if cmd.Stdout != nil {
		sess.Stdout = cmd.Stdout // streamed, not kept: see transport.Cmd.Stdout
	}
	// Every command is the same exec line; what it runs travels on stdin
	// (see bootstrap): with sudo, first the sudo stage, and the script only
	// once sudo is done with stdin.
	var bw *becomeWriter
	if useSudo {
		m := newMarkers()
		bw = newBecomeWriter(m)
		sess.Stderr = budget.Wrap(bw)
		out.first = frame(sudoStage(m))
	} else {
		sess.Stderr = budget.Wrap(&out.stderr)
	}
	stdin, err := sess.StdinPipe()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: ssh: session stdin: %w", c.name, err)
	}
	c.execs.Add(1)
	if err := sess.Start(execLine); err != nil {
		return nil, nil, fmt.Errorf("%s: ssh: exec: %w", c.name, c.lost(err))
	}
	waitCh := make(chan error, 1)
	go func() { waitCh <- sess.Wait() }()
	abort := func() {
		_ = sess.Signal(gossh.SIGTERM)
		_ = sess.Close()
	}
	return &running{stdin: stdin, bw: bw, budget: budget, waitCh: waitCh, abort: abort}, out, nil
}

// feedScript sends the framed script, then the caller's Stdin, and closes
// stdin; the returned channel closes when it is done.
func feedScript(stdin io.WriteCloser, cmd transport.Cmd) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := stdin.Write(frame(cmd.Script)); err != nil {
			_ = stdin.Close()
			return
		}
		if cmd.Stdin != nil {
			// An error here means the script exited without reading all
			// of its input: its exit code tells the story.
			_, _ = io.Copy(stdin, cmd.Stdin)
		}
		_ = stdin.Close()
	}()
	return done
}

// awaitExit waits for the command's end, its output budget or ctx.
func (c *Client) awaitExit(ctx context.Context, r *running) (waitErr, err error) {
	select {
	case waitErr := <-r.waitCh:
		return waitErr, nil
	case <-r.budget.Exceeded():
		// Closing the session stops the command (SIGPIPE, hangup)
		// and the bytes: the channel's window bounds what is in flight.
		r.abort()
		return nil, c.overLimit(r.budget)
	case <-ctx.Done():
		r.abort()
		return nil, fmt.Errorf("%s: ssh: run: %w", c.name, ctx.Err())
	}
}

// result turns what the session ended with into Run's answer.
func (c *Client) result(ctx context.Context, out *runOutput, bw *becomeWriter, waitErr error) (transport.Result, error) {
	res := transport.Result{Stdout: out.stdout.Bytes(), Stderr: out.stderr.Bytes()}
	if bw != nil {
		res.Stderr = bw.stderr()
	}
	var exitErr *gossh.ExitError
	switch {
	case waitErr == nil:
	case errors.As(waitErr, &exitErr):
		res.ExitCode = exitErr.ExitStatus()
	default:
		if ctx.Err() != nil {
			return res, fmt.Errorf("%s: ssh: run: %w", c.name, ctx.Err())
		}
		return res, fmt.Errorf("%s: ssh: run: %w", c.name, c.lost(waitErr))
	}
	return res, nil
}

// running is one Run in flight, as awaitSudo needs it.
type running struct {
	stdin  io.WriteCloser
	bw     *becomeWriter
	budget *transport.Budget
	waitCh chan error
	abort  func()
}

// awaitSudo drives sudo until it runs the script: the password when asked
// (once), and an error for a second prompt, a refusal, a timeout, too much
// output or cancellation. waited says the session already ended, with
// waitErr.
func (c *Client) awaitSudo(ctx context.Context, r *running) (waitErr error, waited bool, err error) {
	timer := time.NewTimer(becomeTimeout)
	defer timer.Stop()
	for {
		select {
		case ev := <-r.bw.events:
			switch ev {
			case evPrompt:
				if c.password == "" {
					r.abort()
					return nil, false, fmt.Errorf("%s: sudo: a password is required for %s (become_password is not set)", c.name, c.user)
				}
				// sudo reads the password byte by byte up to "\n", so
				// nothing after it is consumed by sudo.
				if _, err := io.WriteString(r.stdin, c.password+"\n"); err != nil {
					r.abort()
					return nil, false, fmt.Errorf("%s: sudo: send password: %w", c.name, c.lost(err))
				}
			case evReprompt:
				r.abort()
				c.badSudoPw.Store(true)
				return nil, false, c.errBadPassword()
			case evStarted:
				return nil, false, nil
			}
		case werr := <-r.waitCh:
			if started, _ := r.bw.state(); started {
				return werr, true, nil
			}
			return nil, false, c.sudoFailed(r.bw, werr)
		case <-r.budget.Exceeded():
			r.abort()
			return nil, false, c.overLimit(r.budget)
		case <-timer.C:
			r.abort()
			msg := c.redact(r.bw.sudoOutput())
			if msg == "" {
				msg = "no output"
			}
			return nil, false, fmt.Errorf("%s: sudo: did not start the command within %s (%s)", c.name, becomeTimeout, msg)
		case <-ctx.Done():
			r.abort()
			return nil, false, fmt.Errorf("%s: ssh: run: %w", c.name, ctx.Err())
		}
	}
}

func (c *Client) overLimit(b *transport.Budget) error {
	return fmt.Errorf("%s: %w", c.name, b.Err())
}

// newSession opens a session without hanging on a connection that died
// silently (the keepalive closes it; ctx bounds it).
//
// sshd refuses a session ("open failed") while it still counts ones that
// just ended against MaxSessions; nothing ran yet, so that is retried
// briefly. Any other refusal is returned at once.
func (c *Client) newSession(ctx context.Context) (*gossh.Session, error) {
	backoff := 10 * time.Millisecond
	for attempt := 1; ; attempt++ {
		s, err := c.openSession(ctx)
		var oce *gossh.OpenChannelError
		if err == nil || attempt == 6 || !errors.As(err, &oce) {
			return s, err
		}
		select {
		case <-time.After(backoff):
			backoff *= 2
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: ssh: open session: %w", c.name, ctx.Err())
		}
	}
}

func (c *Client) openSession(ctx context.Context) (*gossh.Session, error) {
	type result struct {
		s   *gossh.Session
		err error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := c.conn.NewSession()
		ch <- result{s, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("%s: ssh: open session: %w", c.name, c.lost(r.err))
		}
		return r.s, nil
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.s != nil {
				r.s.Close()
			}
		}()
		return nil, fmt.Errorf("%s: ssh: open session: %w", c.name, ctx.Err())
	case <-c.done:
		return nil, fmt.Errorf("%s: ssh: connection lost: %w", c.name, c.deadErr)
	}
}

// lost prefers the recorded reason a connection died (e.g. keepalive) over
// the bare EOF the library reports.
func (c *Client) lost(err error) error {
	var missing *gossh.ExitMissingError
	if dead := c.deadReason(); dead != nil {
		return fmt.Errorf("connection lost: %w (%v)", dead, err)
	}
	if errors.Is(err, io.EOF) || errors.As(err, &missing) {
		return fmt.Errorf("connection lost or command ended without an exit status: %w", err)
	}
	return err
}

// redact removes the password from text that came from the host, in case a
// sudo look-alike echoed its input: defence in depth for error messages.
func (c *Client) redact(s string) string {
	if c.password == "" {
		return s
	}
	return strings.ReplaceAll(s, c.password, "<redacted>")
}

func (c *Client) errBadPassword() error {
	return fmt.Errorf("%s: sudo: incorrect password for %s", c.name, c.user)
}

// sudoFailed explains a session that ended before the script started: sudo
// refused (not in sudoers, requiretty, no such command) or the connection
// dropped.
func (c *Client) sudoFailed(bw *becomeWriter, waitErr error) error {
	msg := c.redact(bw.sudoOutput())
	var exitErr *gossh.ExitError
	if errors.As(waitErr, &exitErr) {
		if msg == "" {
			msg = fmt.Sprintf("exit status %d", exitErr.ExitStatus())
		}
		if len(msg) > 2000 {
			msg = msg[:2000] + "…"
		}
		return fmt.Errorf("%s: sudo: as %s: %s", c.name, c.user, msg)
	}
	if waitErr == nil {
		return fmt.Errorf("%s: sudo: as %s: exited before running the command: %s", c.name, c.user, msg)
	}
	return fmt.Errorf("%s: sudo: %w", c.name, c.lost(waitErr))
}
