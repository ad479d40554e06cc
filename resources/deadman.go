package resources

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/goprov/goprov/internal/shell"
	"github.com/goprov/goprov/transport"
)

// DeadMan guards a change that can cut goprov's own SSH access (a
// firewall, sshd's configuration). Arm saves what the change touches and
// starts a detached timer on the host that puts it back after a timeout;
// the caller changes the host, proves a NEW login works (ProveAccess) and
// then disarms. If the controller dies or the proof fails, the host
// restores itself: RollbackNow at once, or the timer later.
type DeadMan struct {
	// Tag names the timer process ("goprov-TAG-rollback"), so that probes
	// and disarm recognise it and never signal anything else.
	Tag string
	// Dir holds the saved state, the restore script and the timer's PID.
	Dir string
	// Lock serialises the change and the restore on the host.
	Lock string
	// Save is sh run at arm time with "$d" the directory: it saves there
	// what Restore needs.
	Save string
	// Restore is sh run with "$d": it puts the saved state back and
	// reloads whatever reads it.
	Restore string
}

// Process is the timer's process name, as it shows in /proc/PID/cmdline.
func (d DeadMan) Process() string { return "goprov-" + d.Tag + "-rollback" }

// RestoreScript is the complete restore: under the lock, only while the
// saved state is there (once restored or cancelled it does nothing).
func (d DeadMan) RestoreScript() string {
	return fmt.Sprintf(`PATH=/usr/sbin:/usr/bin:/sbin:/bin
d=%s
exec 9>%s
flock -w 300 9
[ -f "$d/saved" ] || exit 0
%s
rm -f "$d/saved" "$d/pid"
echo "restored $(date -u +%%FT%%TZ)" >"$d/restored"
`, shell.Quote(d.Dir), shell.Quote(d.Lock), d.Restore)
}

// Arm saves the state and starts the detached timer that restores it
// after timeout seconds unless disarmed. The timer runs in its own session
// (setsid), so neither the SSH session ending nor sudo exiting stops it;
// its PID is recorded for Disarm.
func (d DeadMan) Arm(ctx context.Context, h *Host, timeout int) error {
	if err := runScript(ctx, h, d.ArmScript(timeout)); err != nil {
		return fmt.Errorf("arm the %s rollback: %w", d.Tag, err)
	}
	return nil
}

// ArmScript is Arm as a script, for a caller that runs it as the first
// step of a larger one (exit non-zero: nothing armed, nothing changed).
func (d DeadMan) ArmScript(timeout int) string {
	return fmt.Sprintf(`set -eu
PATH=/usr/sbin:/usr/bin:/sbin:/bin
d=%s
if [ -f "$d/pid" ]; then
  pid=$(cat "$d/pid")
  if [ -d "/proc/$pid" ] && grep -q %s "/proc/$pid/cmdline" 2>/dev/null; then
    echo "a %s rollback is already armed on this host (pid $pid): another goprov change is in flight or its rollback is pending" >&2; exit %d
  fi
fi
rm -rf "$d"; mkdir -p -m 700 "$d"
%s
: >"$d/saved"
cat >"$d/restore.sh" <<'GOPROV_EOF'
%sGOPROV_EOF
setsid sh -c 'sleep "$1"; exec sh "$2"' %s %d "$d/restore.sh" </dev/null >"$d/timer.log" 2>&1 &
echo $! >"$d/pid"
`, shell.Quote(d.Dir), d.Process(), d.Tag, ExitDeadManArmed, d.Save, d.RestoreScript(), d.Process(), timeout)
}

// Rearm restarts the timer with a full timeout from now, over the
// connection the change was made on, when a loaded host made the change
// itself eat most of the window: the new-login proof then gets its time,
// and the host still restores itself timeout seconds after goprov last
// reached it. The new timer starts before the old one is stopped, so there
// is never a moment without one.
func (d DeadMan) Rearm(ctx context.Context, h *Host, timeout int) error {
	s := fmt.Sprintf(`set -eu
PATH=/usr/sbin:/usr/bin:/sbin:/bin
d=%s
[ -f "$d/saved" ] || { echo "the saved state is gone: the rollback already ran" >&2; exit %d; }
old=$(cat "$d/pid" 2>/dev/null || true)
setsid sh -c 'sleep "$1"; exec sh "$2"' %s %d "$d/restore.sh" </dev/null >"$d/timer.log" 2>&1 &
echo $! >"$d/pid"
if [ -n "$old" ] && [ -d "/proc/$old" ] && grep -q %s "/proc/$old/cmdline" 2>/dev/null; then
  kill -TERM -- "-$old" 2>/dev/null || kill -TERM "$old"
fi
`, shell.Quote(d.Dir), ExitDeadManFired, d.Process(), timeout, d.Process())
	if err := runScript(ctx, h, s); err != nil {
		return fmt.Errorf("re-arm the %s rollback: %w", d.Tag, err)
	}
	return nil
}

// killTimer stops the timer if it has not fired yet; it fails when the
// timer already fired (the rollback ran or is running).
func (d DeadMan) killTimer() string {
	return fmt.Sprintf(`pid=$(cat "$d/pid" 2>/dev/null) || { echo "the rollback timer already fired" >&2; exit %[2]d; }
if [ -d "/proc/$pid" ] && grep -q %[1]s "/proc/$pid/cmdline" 2>/dev/null; then
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
else
  echo "the rollback timer already fired" >&2; exit %[2]d
fi
`, d.Process(), ExitDeadManFired)
}

// Disarm cancels the rollback once access is proven.
func (d DeadMan) Disarm(ctx context.Context, h *Host) error {
	if err := runScript(ctx, h, d.DisarmScript()); err != nil {
		return fmt.Errorf("cancel the %s rollback: %w (the previous state may have been restored: plan again)", d.Tag, err)
	}
	return nil
}

// DisarmScript is Disarm as a script (ExitDeadManFired: the timer already
// fired).
func (d DeadMan) DisarmScript() string {
	return fmt.Sprintf("d=%s\n%srm -rf \"$d\"\n", shell.Quote(d.Dir), d.killTimer())
}

// RollbackNow restores the saved state at once, then stops the timer.
func (d DeadMan) RollbackNow(ctx context.Context, h *Host) error {
	s := fmt.Sprintf(`d=%s
pid=$(cat "$d/pid" 2>/dev/null || true)
sh "$d/restore.sh" || exit 1
if [ -n "$pid" ] && [ -d "/proc/$pid" ] && grep -q %s "/proc/$pid/cmdline" 2>/dev/null; then
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
fi
rm -rf "$d"
`, shell.Quote(d.Dir), d.Process())
	return runScript(ctx, h, s)
}

// ArmedProbe prints "armed PID" while a timer runs, "stale" when the
// saved state is there without a timer (the host restarted), nothing
// otherwise.
func (d DeadMan) ArmedProbe(h *Host) string {
	dir := shell.Quote(h.Path(d.Dir))
	return fmt.Sprintf(`if [ -f %s/pid ]; then pid=$(cat %s/pid)
if [ -d /proc/$pid ] && grep -q %s /proc/$pid/cmdline 2>/dev/null; then echo "armed $pid"; else echo stale; fi
fi`, dir, dir, d.Process())
}

func runScript(ctx context.Context, h *Host, s string) error {
	res, err := h.Run(ctx, transport.Cmd{Script: s, Sudo: true})
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		msg := strings.TrimSpace(string(res.Stderr))
		if msg == "" {
			msg = strings.TrimSpace(string(res.Stdout))
		}
		return fmt.Errorf("exit %d: %s", res.ExitCode, msg)
	}
	return nil
}

// ProveAccess logs in again over a NEW connection (reconnect, normally
// h.Reconnect) and runs `true` with sudo: established sessions survive
// firewall changes and sshd reloads, new ones are what a lockout stops.
// A connection that is refused (a reloading sshd re-executes itself and is
// briefly not listening), dropped or timed out (a host loaded by a big
// parallel run) is tried again, with back-off, until timeout; a refused
// login (keys, host key, sudo) is final at once.
func ProveAccess(ctx context.Context, reconnect func(context.Context) (transport.Transport, error), timeout time.Duration) error {
	return proveAccessBackoff(ctx, reconnect, timeout, 200*time.Millisecond)
}

// minAccessWindow is the least time a new-login proof gets, even when the
// change itself took most of the rollback window.
const minAccessWindow = 5 * time.Second

// AccessWindow is how long a new-login proof may retry when the dead-man
// timer was armed at armed for rollback seconds and it is now now: until a
// margin (a quarter of the window, at most 15 s) before the timer fires, so
// that disarming or rolling back still happens first.
func AccessWindow(armed time.Time, rollback int, now time.Time) time.Duration {
	total := time.Duration(rollback) * time.Second
	margin := min(total/4, 15*time.Second)
	return max(armed.Add(total-margin).Sub(now), minAccessWindow)
}

func proveAccessBackoff(ctx context.Context, reconnect func(context.Context) (transport.Transport, error), timeout, first time.Duration) error {
	if reconnect == nil {
		return errors.New("the planner offers no way to open a new connection to prove access")
	}
	start := time.Now()
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	wait := first
	var last error
	for attempt := 1; ; attempt++ {
		err := proveOnce(pctx, reconnect)
		if err == nil {
			return nil
		}
		if pctx.Err() != nil && ctx.Err() == nil {
			// Our window ended mid-attempt: say so, with what the
			// attempts before it met.
			if last == nil {
				last = err
			}
			return fmt.Errorf("no new login within %s (%d attempts), last: %w", time.Since(start).Round(100*time.Millisecond), attempt, last)
		}
		if !transport.Transient(err) || ctx.Err() != nil {
			return err
		}
		last = err
		select {
		case <-pctx.Done():
			return fmt.Errorf("no new login within %s (%d attempts), last: %w", time.Since(start).Round(100*time.Millisecond), attempt, last)
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

func proveOnce(ctx context.Context, reconnect func(context.Context) (transport.Transport, error)) error {
	t, err := reconnect(ctx)
	if err != nil {
		return err
	}
	defer t.Close()
	res, err := t.Run(ctx, transport.Cmd{Script: "true", Sudo: true})
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("`true` exited %d over the new connection: %s", res.ExitCode, strings.TrimSpace(string(res.Stderr)))
	}
	return nil
}
