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

// lockHost takes the host's apply lock: a session on the host holds an
// flock(2) on LockDir/apply.lock for as long as the apply runs. It ends
// when release closes the session's stdin — or, if the controller dies or
// the connection is cut, when the session dies: the kernel drops an flock
// with its process, so a crashed apply never leaves a stale lock behind.
func lockHost(ctx context.Context, h *resources.Host, holder string, timeout time.Duration) (release func(), err error) {
	if fs, ok := h.T.(imageFS); ok && h.Sandboxed() {
		return lockImage(ctx, fs, holder, timeout)
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
# Hold while the controller's heartbeat (a line every 15 s) keeps coming:
# EOF (release) or 45 s of silence (controller or network gone, even when
# no FIN ever arrives) ends the loop and with it the lock.
if command -v timeout >/dev/null 2>&1; then
	while timeout 45 sh -c 'IFS= read -r _'; do :; done
else
	cat >/dev/null
fi
: > "$d/apply.holder"
`, token, shell.Quote(dir), secs, exitLocked, shell.Quote(holder), token)

	pr, pw := io.Pipe()
	acquired := make(chan struct{})
	det := &detector{token: []byte(token + "\n"), found: acquired, doneToken: []byte(token + "-done"), onDone: func() { pw.Close() }}
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
		stop := make(chan struct{})
		go func() {
			t := time.NewTicker(heartbeat)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					if _, err := io.WriteString(pw, "\n"); err != nil {
						return
					}
				}
			}
		}()
		var once sync.Once
		return func() {
			once.Do(func() {
				close(stop)
				pw.Close()
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					// The host stopped answering; the session dies with
					// the connection, and the flock with it.
				}
			})
		}, nil
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

// detector watches the holder's stdout: it closes found when token
// appears, and calls onDone when doneToken does.
type detector struct {
	mu        sync.Mutex
	buf       []byte
	token     []byte
	found     chan struct{}
	seen      bool
	doneToken []byte
	onDone    func()
	done      bool
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
	return len(p), nil
}

// holderInfo describes this apply for whoever finds the host locked.
func holderInfo(run runInfo) string {
	return fmt.Sprintf("%s@%s pid %d since %s (run %s)", run.operator, run.controller, os.Getpid(),
		time.Now().UTC().Format(time.RFC3339), run.id)
}
