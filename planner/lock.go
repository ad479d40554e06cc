package planner

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

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
// question travels on the holder's own stdin).
type hostLock struct {
	pw    *io.PipeWriter
	det   *detector
	ended chan struct{} // closed when the holder session has ended
	why   string        // why it ended; set before ended is closed
	stop  chan struct{}
	once  sync.Once
	// local releases a lock goprov itself holds (image roots): it lasts
	// as long as this process, so it cannot be lost to a dead session.
	local func()
}

// LostLockError says the host's lock was lost during an apply.
type LostLockError struct{ Reason string }

func (e *LostLockError) Error() string { return "lost the host lock: " + e.Reason }

// lockHost takes the host's apply lock: a session on the host holds an
// flock(2) on LockDir/apply.lock for as long as the apply runs. It ends
// when release closes the session's stdin — or, if the controller dies or
// the connection is cut, when the session dies: the kernel drops an flock
// with its process, so a crashed apply never leaves a stale lock behind.
func lockHost(ctx context.Context, h *resources.Host, holder string, timeout time.Duration) (*hostLock, error) {
	if fs, ok := h.T.(imageFS); ok && h.Sandboxed() {
		release, err := lockImage(ctx, fs, holder, timeout)
		if err != nil {
			return nil, err
		}
		return &hostLock{local: release}, nil
	}
	token := newBatch().marker // random, unguessable by a config
	secs := int(timeout.Round(time.Second) / time.Second)
	dir := h.Path(LockDir)
	// The EXIT trap announces the end of the script: the transport goes on
	// reading our stdin pipe until it is closed (os/exec's rule), so on an
	// early exit (lock busy) we must close it for Run to return.
	script := fmt.Sprintf(`set -u
trap 'echo %s-done' EXIT
d=%s
mkdir -p -- "$d" && chmod 0700 -- "$d" || exit 1
command -v flock >/dev/null 2>&1 || { echo "flock (util-linux) is not installed: goprov cannot lock this host" >&2; exit 70; }
exec 9>>"$d/apply.lock"
if ! flock -w %d 9; then
	cat -- "$d/apply.holder" 2>/dev/null
	exit %d
fi
printf '%%s\n' %s > "$d/apply.holder"
echo %s
# Hold while the controller's lines (a heartbeat every 15 s, and a check
# before each write) keep coming, answering each: EOF (release) or 45 s of
# silence (controller suspended or network gone, even when no FIN ever
# arrives) ends the loop and with it the lock.
if command -v timeout >/dev/null 2>&1; then
	while timeout 45 sh -c 'IFS= read -r _'; do echo %s-alive; done
else
	while IFS= read -r _; do echo %s-alive; done
fi
: > "$d/apply.holder"
`, token, shell.Quote(dir), secs, exitLocked, shell.Quote(holder), token, token, token)

	pr, pw := io.Pipe()
	acquired := make(chan struct{})
	det := &detector{token: []byte(token + "\n"), found: acquired, doneToken: []byte(token + "-done"), onDone: func() { pw.Close() },
		alive: []byte(token + "-alive\n"), aliveCh: make(chan struct{}, 1)}
	type result struct {
		res transport.Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := h.Run(ctx, transport.Cmd{Script: script, Stdin: pr, Sudo: true, Stdout: det})
		done <- result{res, err}
	}()
	select {
	case <-acquired:
		l := &hostLock{pw: pw, det: det, ended: make(chan struct{}), stop: make(chan struct{})}
		go func() {
			r := <-done
			l.why = endReason(r.res, r.err, det.sawDone())
			close(l.ended)
		}()
		go l.heartbeat()
		return l, nil
	case r := <-done:
		pw.Close()
		if r.err != nil {
			return nil, fmt.Errorf("lock: %w", r.err)
		}
		if r.res.ExitCode == exitLocked {
			holder := strings.TrimSpace(strings.ReplaceAll(string(r.res.Stdout), token+"-done", ""))
			return nil, &LockError{Holder: holder}
		}
		if r.res.ExitCode == 0 {
			return nil, fmt.Errorf("lock: holder session ended before the lock was confirmed")
		}
		return nil, fmt.Errorf("lock: %w", r.res.Err("take lock"))
	case <-ctx.Done():
		pw.Close()
		return nil, fmt.Errorf("lock: %w", ctx.Err())
	}
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
			if _, err := io.WriteString(l.pw, "\n"); err != nil {
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
	go io.WriteString(l.pw, "\n")
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
func (l *hostLock) release() {
	if l.local != nil {
		l.once.Do(l.local)
		return
	}
	l.once.Do(func() {
		close(l.stop)
		l.pw.Close()
		select {
		case <-l.ended:
		case <-time.After(10 * time.Second):
			// The host stopped answering; the session dies with
			// the connection, and the flock with it.
		}
	})
}

// detector watches the holder's stdout: it closes found when token
// appears, calls onDone when doneToken does, and signals aliveCh for each
// alive line.
type detector struct {
	mu        sync.Mutex
	buf       []byte
	token     []byte
	found     chan struct{}
	seen      bool
	doneToken []byte
	onDone    func()
	done      bool
	alive     []byte
	aliveN    int
	aliveCh   chan struct{}
}

func (d *detector) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.buf = append(d.buf, p...)
	if !d.seen && bytes.Contains(d.buf, d.token) {
		d.seen = true
		close(d.found)
	}
	if !d.done && bytes.Contains(d.buf, d.doneToken) {
		d.done = true
		d.onDone()
	}
	if d.seen && len(d.alive) > 0 {
		if n := bytes.Count(d.buf, d.alive); n > d.aliveN {
			d.aliveN = n
			select {
			case d.aliveCh <- struct{}{}:
			default:
			}
		}
	}
	return len(p), nil
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
	return d.done
}

// holderInfo describes this apply for whoever finds the host locked.
func holderInfo(run runInfo) string {
	return fmt.Sprintf("%s@%s pid %d since %s (run %s)", run.operator, run.controller, os.Getpid(),
		time.Now().UTC().Format(time.RFC3339), run.id)
}
