package planner

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"

	"github.com/goprov/goprov/internal/shell"
	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/transport"
)

// LockDir holds the host's apply lock and its holder's description.
const LockDir = "/var/lib/goprov"

// DefaultLockTimeout is how long an apply waits for another apply's lock.
const DefaultLockTimeout = 10 * time.Second

const exitLocked = 75

// heartbeat is how often the lock holder hears from the controller; the
// holder gives the lock up after three missed beats.
const heartbeat = 15 * time.Second

// LockError says who holds a host's lock.
type LockError struct{ Holder string }

func (e *LockError) Error() string {
	if e.Holder == "" {
		return "host is locked by another apply (holder unknown)"
	}
	return "host is locked by another apply: " + e.Holder
}

// lockCheckTimeout bounds how long a write waits for the lock holder to
// prove it is still alive.
const lockCheckTimeout = 10 * time.Second

// hostLock is a held host lock. The holder session on the host answers
// every line the controller sends with an "alive" line, so check can prove
// the lock is still held right before a write (no new exec request: the
// question travels on the holder's own stdin). The holder also runs the
// apply's commands sent to it (run): they execute only while it holds the
// flock, and cost no exec request of their own.
type hostLock struct {
	pw    *io.PipeWriter
	wmu   sync.Mutex // one writer on the holder's stdin: a frame is never split
	rmu   sync.Mutex // one command in flight
	det   *detector
	ended chan struct{} // closed when the holder session has ended
	why   string        // why it ended; set before ended is closed
	stop  chan struct{}
	once  sync.Once
	// local releases a lock goprov itself holds (image roots): it lasts
	// as long as this process, so it cannot be lost to a dead session.
	local func()
	// broken says why the holder's command stream is out of step (a
	// command abandoned mid-way): no further command is sent.
	broken error
	// kill ends the holder's session at once (abort).
	kill context.CancelFunc
}

// LostLockError says the host's lock was lost during an apply.
type LostLockError struct{ Reason string }

func (e *LostLockError) Error() string { return "lost the host lock: " + e.Reason }

// holderScript is the lock holder: it takes the flock, then answers the
// controller's lines. An empty line is a heartbeat or a check ("alive"); a
// line "run SLEN ILEN" is followed by a script of SLEN bytes and ILEN bytes
// of its stdin, run with the lock's fd closed (a detached child, such as a
// dead-man timer, must never keep the lock) and as the SSH transport runs
// a script (eval in /bin/sh -c: the same $0 and line numbers in the
// shell's own error messages, which probes' digests may hold), its result on one line
// "TOKEN-res CODE STDOUT STDERR" (base64). Outputs wait in a private
// directory, on tmpfs (/run) where there is one.
const holderScript = `set -u
trap '[ -n "${w:-}" ] && rm -rf -- "$w"; echo %[1]s-done' EXIT
d=%[2]s
mkdir -p -- "$d" && chmod 0700 -- "$d" || exit 1
command -v flock >/dev/null 2>&1 || { echo "flock (util-linux) is not installed: goprov cannot lock this host" >&2; exit %[6]d; }
exec 9>>"$d/apply.lock"
if ! flock -w %[3]d 9; then
	cat -- "$d/apply.holder" 2>/dev/null
	exit %[4]d
fi
printf '%%s\n' %[5]s > "$d/apply.holder"
w=$(umask 077; mktemp -d /run/goprov-holder.XXXXXX 2>/dev/null || mktemp -d "$d/run.XXXXXX") || exit 1
echo %[1]s
run() {
	head -c "$1" >"$w/s"
	[ "$(wc -c <"$w/s")" -eq "$1" ] || exit 1
	head -c "$2" | { GOPROV_SCRIPT="$w/s" /bin/sh -c 's=$(cat -- "$GOPROV_SCRIPT") && unset GOPROV_SCRIPT && eval "$s"' >"$w/o" 2>"$w/e" 9>&-; echo "$?" >"$w/rc"; cat >/dev/null; }
	printf '%%s-res %%s ' %[1]s "$(cat "$w/rc")"
	base64 <"$w/o" | tr -d '\n'
	printf ' '
	base64 <"$w/e" | tr -d '\n'
	printf '\n'
	rm -f -- "$w/s" "$w/o" "$w/e" "$w/rc"
}
answer() {
	case $1 in
	run\ [0-9]*\ [0-9]*) set -- $1; run "$2" "$3" ;;
	*) echo %[1]s-alive ;;
	esac
}
# Hold while the controller's lines (a heartbeat every 15 s, a check
# before each write, the commands) keep coming: EOF (release) or 45 s of
# silence (controller suspended or network gone, even when no FIN ever
# arrives) ends the loop and with it the lock.
if command -v timeout >/dev/null 2>&1; then
	while l=$(timeout 45 sh -c 'IFS= read -r l && printf "%%s" "$l"'); do answer "$l"; done
else
	while IFS= read -r l; do answer "$l"; done
fi
: > "$d/apply.holder"
`

// lockHost takes the host's apply lock: a session on the host holds an
// flock(2) on LockDir/apply.lock for as long as the apply runs. It ends
// when release closes the session's stdin — or, if the controller dies or
// the connection is cut, when the session dies: the kernel drops an flock
// with its process, so a crashed apply never leaves a stale lock behind.
func lockHost(ctx context.Context, h *resources.Host, holder string, timeout time.Duration) (*hostLock, error) {
	l, _, err := lockAndRun(ctx, h, holder, timeout, nil, 0)
	return l, err
}

// lockAndRun is lockHost that also runs first (if not nil) as soon as the
// lock is taken, in the holder's own session: the read of an apply costs
// no exec request of its own, and happens under the lock even when this
// controller is suspended between the two. It returns first's result (or
// why it has none: then the lock is held but first did not run).
func lockAndRun(ctx context.Context, h *resources.Host, holder string, timeout time.Duration, first *transport.Cmd, firstTimeout time.Duration) (*hostLock, *cmdResult, error) {
	if fs, ok := h.T.(imageFS); ok && h.Sandboxed() {
		release, err := lockImage(ctx, fs, holder, timeout)
		if err != nil {
			return nil, nil, err
		}
		l := &hostLock{local: release}
		if first == nil {
			return l, nil, nil
		}
		fctx, cancel := withTimeout(ctx, firstTimeout)
		defer cancel()
		res, err := h.T.Run(fctx, *first)
		if err != nil && fctx.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("%v: %w", err, fctx.Err())
		}
		return l, &cmdResult{res, err}, nil
	}
	token := newBatch().marker // random, unguessable by a config
	secs := int(timeout.Round(time.Second) / time.Second)
	script := fmt.Sprintf(holderScript, token, shell.Quote(h.Path(LockDir)), secs, exitLocked, shell.Quote(holder), resources.ExitToolMissing)

	pr, pw := io.Pipe()
	acquired := make(chan struct{})
	det := newDetector(token, acquired, func() { pw.Close() })
	det.limit = transport.OutputLimit(h.T)
	hctx, kill := context.WithCancel(ctx)
	l := &hostLock{pw: pw, det: det, ended: make(chan struct{}), stop: make(chan struct{}), kill: kill}
	type result struct {
		res transport.Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := h.Run(hctx, transport.Cmd{Script: script, Stdin: pr, Sudo: true, Stdout: det})
		done <- result{res, err}
	}()
	if first != nil {
		// Queued now: the holder reads it once it has the lock.
		if err := l.send(*first); err != nil {
			pw.Close()
			return nil, nil, fmt.Errorf("lock: %w", err)
		}
	}
	select {
	case <-acquired:
		go func() {
			r := <-done
			l.why = endReason(r.res, r.err, det.sawDone())
			close(l.ended)
		}()
		go l.heartbeat()
		if first == nil {
			return l, nil, nil
		}
		fctx, cancel := withTimeout(ctx, firstTimeout)
		defer cancel()
		res, err := l.await(fctx)
		return l, &cmdResult{res, err}, nil
	case r := <-done:
		pw.Close()
		kill()
		if r.err != nil {
			return nil, nil, fmt.Errorf("lock: %w", r.err)
		}
		if r.res.ExitCode == exitLocked {
			holder := strings.TrimSpace(strings.ReplaceAll(det.preamble(), token+"-done", ""))
			return nil, nil, &LockError{Holder: holder}
		}
		if r.res.ExitCode == 0 {
			return nil, nil, fmt.Errorf("lock: holder session ended before the lock was confirmed")
		}
		return nil, nil, fmt.Errorf("lock: %w", r.res.Err("take lock"))
	case <-ctx.Done():
		pw.Close()
		kill()
		return nil, nil, fmt.Errorf("lock: %w", ctx.Err())
	}
}

// withTimeout is ctx bounded by d (none when d <= 0).
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return context.WithCancel(ctx)
}

// cmdResult is a command's outcome, as Run returns it.
type cmdResult struct {
	res transport.Result
	err error
}

// maxHeldStdin bounds the stdin a command sent to the holder may carry: it
// is framed whole, so larger streams (a toolchain) take their own exec.
const maxHeldStdin = 16 << 20

// send writes c to the holder as one frame; the caller holds rmu or is
// lockAndRun before anyone else can.
func (l *hostLock) send(c transport.Cmd) error {
	var in []byte
	if c.Stdin != nil {
		var err error
		if in, err = io.ReadAll(c.Stdin); err != nil {
			return fmt.Errorf("read the command's stdin: %w", err)
		}
	}
	frame := make([]byte, 0, len(c.Script)+len(in)+32)
	frame = fmt.Appendf(frame, "run %d %d\n", len(c.Script), len(in))
	frame = append(append(frame, c.Script...), in...)
	// The write blocks until the transport takes it; once the session is
	// gone nobody does, and release's Close frees it.
	go func() {
		l.wmu.Lock()
		defer l.wmu.Unlock()
		l.pw.Write(frame)
	}()
	return nil
}

// await waits for the answer to the command sent last.
func (l *hostLock) await(ctx context.Context) (transport.Result, error) {
	select {
	case line := <-l.det.resCh:
		return parseResult(line, l.det.limit)
	case <-l.ended:
		// Its answer may have come just before the end.
		select {
		case line := <-l.det.resCh:
			return parseResult(line, l.det.limit)
		default:
		}
		l.broken = &LostLockError{Reason: l.why}
		return transport.Result{}, l.broken
	case <-ctx.Done():
		l.broken = fmt.Errorf("a command was abandoned: %w", ctx.Err())
		return transport.Result{}, ctx.Err()
	}
}

// run runs c in the holder's session, under the lock.
func (l *hostLock) run(ctx context.Context, c transport.Cmd) (transport.Result, error) {
	l.rmu.Lock()
	defer l.rmu.Unlock()
	if l.broken != nil {
		return transport.Result{}, l.broken
	}
	select {
	case <-l.ended:
		return transport.Result{}, &LostLockError{Reason: l.why}
	default:
	}
	if err := l.send(c); err != nil {
		return transport.Result{}, err
	}
	return l.await(ctx)
}

// parseResult decodes a "CODE STDOUT STDERR" result line; what the
// command printed is bounded by limit (-max-output) as on its own exec.
func parseResult(line []byte, limit int64) (transport.Result, error) {
	if len(line) == 0 { // the detector dropped a result over the limit
		return transport.Result{}, &transport.OutputLimitError{Limit: limit}
	}
	parts := strings.SplitN(string(line), " ", 3)
	if len(parts) != 3 {
		return transport.Result{}, fmt.Errorf("lock holder: malformed result")
	}
	code, err := strconv.Atoi(parts[0])
	if err != nil {
		return transport.Result{}, fmt.Errorf("lock holder: bad exit status %q", parts[0])
	}
	out, err1 := base64.StdEncoding.DecodeString(parts[1])
	errb, err2 := base64.StdEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil {
		return transport.Result{}, fmt.Errorf("lock holder: undecodable output")
	}
	if int64(len(out)+len(errb)) > limit {
		return transport.Result{}, &transport.OutputLimitError{Limit: limit}
	}
	return transport.Result{Stdout: out, Stderr: errb, ExitCode: code}, nil
}

// heldTransport runs a host's privileged commands in its lock holder's
// session while the lock is held; what the holder cannot carry (a
// command as the login user, a streamed stdout, a large stdin) takes its
// own exec on the connection.
type heldTransport struct {
	transport.Transport
	lock *hostLock
}

func (t *heldTransport) Run(ctx context.Context, c transport.Cmd) (transport.Result, error) {
	if !c.Sudo || c.Stdout != nil || shell.ContainsNUL(c.Script) {
		return t.Transport.Run(ctx, c)
	}
	if c.Stdin != nil {
		// Bounded: read up to the limit; past it, the whole stream goes
		// to a command of its own.
		head, err := io.ReadAll(io.LimitReader(c.Stdin, maxHeldStdin+1))
		if err != nil {
			return transport.Result{}, fmt.Errorf("read the command's stdin: %w", err)
		}
		if len(head) > maxHeldStdin {
			c.Stdin = io.MultiReader(bytes.NewReader(head), c.Stdin)
			return t.Transport.Run(ctx, c)
		}
		c.Stdin = bytes.NewReader(head)
	}
	return t.lock.run(ctx, c)
}

// heldSFTPTransport is heldTransport over a connection that also offers
// SFTP (staged uploads), which it passes on.
type heldSFTPTransport struct {
	*heldTransport
	sftp interface {
		SFTP(ctx context.Context) (*sftp.Client, error)
	}
}

func (t *heldSFTPTransport) SFTP(ctx context.Context) (*sftp.Client, error) { return t.sftp.SFTP(ctx) }

// held wraps t so that the lock's holder runs its commands.
func held(t transport.Transport, l *hostLock) transport.Transport {
	if l == nil || l.local != nil {
		return t // image roots: goprov holds the lock itself
	}
	ht := &heldTransport{Transport: t, lock: l}
	if s, ok := t.(interface {
		SFTP(ctx context.Context) (*sftp.Client, error)
	}); ok {
		return &heldSFTPTransport{heldTransport: ht, sftp: s}
	}
	return ht
}

// endReason says why a holder session that had the lock ended.
func endReason(res transport.Result, err error, gaveUp bool) string {
	switch {
	case gaveUp:
		return "the holder on the host gave it up (no word from this controller for 45 s: suspended, or the link was cut)"
	case err != nil:
		return "the holder session failed: " + err.Error()
	case res.ExitCode < 0:
		return "the holder session on the host was killed by a signal"
	case res.ExitCode > 128:
		return fmt.Sprintf("the holder session on the host ended (exit %d, as when killed by signal %d)", res.ExitCode, res.ExitCode-128)
	default:
		return fmt.Sprintf("the holder session on the host ended (exit %d)", res.ExitCode)
	}
}

func (l *hostLock) heartbeat() {
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-l.ended:
			return
		case <-t.C:
			if err := l.writeLine(); err != nil {
				return
			}
		}
	}
}

// check proves the lock is still held: it asks the holder and waits for
// its answer. An ended session, no answer within timeout, or ctx ending
// is a LostLockError (ctx: its error).
func (l *hostLock) check(ctx context.Context, timeout time.Duration) error {
	if l.local != nil {
		return nil
	}
	select {
	case <-l.ended:
		return &LostLockError{Reason: l.why}
	default:
	}
	l.det.drainAlive()
	// The write may block until the transport reads it; once the session
	// is gone nobody does, and release's Close frees it.
	go l.writeLine()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-l.det.aliveCh:
		return nil
	case <-l.ended:
		return &LostLockError{Reason: l.why}
	case <-t.C:
		return &LostLockError{Reason: fmt.Sprintf("the holder on the host did not answer within %s", timeout)}
	case <-ctx.Done():
		return ctx.Err()
	}
}

// release gives the lock up: closing the holder's stdin ends its loop.
func (l *hostLock) release() { l.end(10 * time.Second) }

// abort ends the holder's session at once, for a command that hangs (the
// holder answers nothing until it ends): the transport stops the session
// and the flock goes with the holder.
func (l *hostLock) abort() { l.end(0) }

// end closes the holder's stdin and, if its session has not ended within
// grace, stops the session: the flock goes with the holder.
func (l *hostLock) end(grace time.Duration) {
	if l.local != nil {
		l.once.Do(l.local)
		return
	}
	l.once.Do(func() {
		close(l.stop)
		l.pw.Close()
		select {
		case <-l.ended:
		case <-time.After(grace):
			l.kill()
		}
	})
}

// writeLine sends the holder an empty line (heartbeat, check).
func (l *hostLock) writeLine() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	_, err := io.WriteString(l.pw, "\n")
	return err
}

// detector watches the holder's stdout line by line: it closes found at
// the token line, calls onDone at the end line, signals aliveCh for each
// alive line and passes each result line on resCh.
type detector struct {
	mu     sync.Mutex
	buf    []byte // the last, incomplete line
	pre    []byte // what came before the token (who holds the lock), bounded
	token  []byte
	found  chan struct{}
	seen   bool
	done   []byte
	onDone func()
	ended  bool
	alive  []byte
	res    []byte
	limit  int64 // what one command may print (-max-output)
	// skipping drops the rest of a line that grew past maxLine.
	skipping bool
	aliveCh  chan struct{}
	resCh    chan []byte
}

func newDetector(token string, found chan struct{}, onDone func()) *detector {
	return &detector{token: []byte(token), found: found, done: []byte(token + "-done"), onDone: onDone,
		alive: []byte(token + "-alive"), res: []byte(token + "-res "), limit: transport.DefaultMaxOutput,
		aliveCh: make(chan struct{}, 1), resCh: make(chan []byte, 1)}
}

// maxPreamble bounds the holder description kept from a locked host.
const maxPreamble = 4 << 10

// maxLine bounds one line of the holder's stdout: a result line carries
// one command's stdout and stderr, base64-encoded, which -max-output
// bounds as it bounds a command of its own. The transport does not keep
// or cap a streamed stdout, so the detector does.
func (d *detector) maxLine() int {
	return base64.StdEncoding.EncodedLen(int(d.limit)) + len(d.res) + 64
}

func (d *detector) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := len(p)
	if !d.seen && len(d.pre) < maxPreamble {
		d.pre = append(d.pre, p[:min(len(p), maxPreamble-len(d.pre))]...)
	}
	if d.skipping {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			return n, nil
		}
		d.skipping, p = false, p[i+1:]
	}
	// Only p can hold a new line end: scanning from there keeps a long
	// result line's cost linear in its size.
	from := len(d.buf)
	d.buf = append(d.buf, p...)
	consumed := false
	for {
		i := bytes.IndexByte(d.buf[from:], '\n')
		if i < 0 {
			break
		}
		i += from
		d.line(d.buf[:i])
		d.buf, from, consumed = d.buf[i+1:], 0, true
	}
	if consumed {
		d.buf = append([]byte(nil), d.buf...) // do not pin what was read
	}
	if len(d.buf) > d.maxLine() {
		// Longer than any result may be: dropped up to its end, and the
		// command's waiter hears it printed too much. The stream goes on,
		// so the session and its lock do not stall.
		if d.seen && bytes.HasPrefix(d.buf, d.res) {
			d.resCh <- []byte{}
		}
		d.buf, d.skipping = nil, true
	}
	return n, nil
}

// preamble is what the holder printed before it had the lock: when the
// host is locked, the current holder's description.
func (d *detector) preamble() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return string(d.pre)
}

func (d *detector) line(l []byte) {
	switch {
	case !d.seen && bytes.Equal(l, d.token):
		d.seen = true
		close(d.found)
	case !d.ended && bytes.HasSuffix(l, d.done):
		// A holder file without a final newline may share its line.
		d.ended = true
		d.onDone()
	case d.seen && bytes.Equal(l, d.alive):
		select {
		case d.aliveCh <- struct{}{}:
		default:
		}
	case d.seen && bytes.HasPrefix(l, d.res):
		// One command is in flight at a time: its waiter takes this.
		d.resCh <- append([]byte(nil), l[len(d.res):]...)
	}
}

// drainAlive forgets answers already received, so that check waits for
// one that comes after its question.
func (d *detector) drainAlive() {
	d.mu.Lock()
	defer d.mu.Unlock()
	select {
	case <-d.aliveCh:
	default:
	}
}

func (d *detector) sawDone() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ended
}

// holderInfo describes this apply for whoever finds the host locked.
func holderInfo(run runInfo) string {
	return fmt.Sprintf("%s@%s pid %d since %s (run %s)", run.operator, run.controller, os.Getpid(),
		time.Now().UTC().Format(time.RFC3339), run.id)
}
