package firewall

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/goprov/goprov/internal/shell"
	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/transport"
)

// lockPath serialises goprov's firewall commands on a host (ufw must never
// run twice at once); the dead-man rollback takes it too.
const lockPath = "/run/goprov-firewall.lock"

// reconnectFunc opens the new connection of the access check.
type reconnectFunc func(ctx context.Context, h *resources.Host) (transport.Transport, error)

// testHookReconnect, when set, replaces h.Reconnect in the access check.
var testHookReconnect atomic.Pointer[reconnectFunc]

// transaction carries out the host's whole firewall change.
func transaction(ctx context.Context, h *resources.Host, d decl, p *hostPlan) error {
	if !p.Changed {
		return nil
	}
	timeout := DefaultRollbackTimeout
	if len(d.Settings) > 0 {
		timeout = d.Settings[0].RollbackTimeout
	}
	// On a live host the previous config is always saved, so any failure
	// puts it back; the new-login check is needed only when the change can
	// cut SSH (a filtering firewall, a remote host).
	guarded := isLive(h)
	checkAccess := p.Filtering && h.SSHPort != 0
	pendingKey := pendingUFW
	if p.Backend == "firewalld" {
		pendingKey = pendingFirewalld
	}
	armed := time.Now() // changeAndRead arms the dead-man timer first
	// Failures from here on restore the previous firewall before returning.
	fail := func(err error) error { return restoreAfter(ctx, h, guarded, timeout, pendingKey, err) }
	// Arm, mark, change and read back: one command (changeAndRead).
	out, err := changeAndRead(ctx, h, p, guarded, timeout, pendingKey)
	var armErr *armError
	if errors.As(err, &armErr) {
		return armErr.err // nothing was changed
	}
	if err != nil {
		return fail(err)
	}
	// Read back: ufw exits 0 even when a delete matched nothing, and only
	// the host can say whether the result is what was planned.
	if err := verifyState(h, d, out); err != nil {
		return fail(err)
	}
	if checkAccess {
		// The proof retries a loaded host's dropped or slow handshakes
		// for as long as the dead-man timer leaves; when the change itself
		// took most of that, the timer starts again first.
		if guarded && time.Since(armed) > time.Duration(timeout)*time.Second/3 {
			if err := deadMan(p.Backend).Rearm(ctx, h, timeout); err != nil {
				return fail(err)
			}
			armed = time.Now()
		}
		if err := proveAccess(ctx, h, resources.AccessWindow(armed, timeout, time.Now())); err != nil {
			return fail(fmt.Errorf("a new SSH login failed after the firewall change: %w", err))
		}
	}
	if guarded {
		return disarmAndClear(ctx, h, pendingKey)
	}
	return nil
}

// restoreAfter puts the previous firewall back after err (on a live host,
// where it was saved) and says so.
func restoreAfter(ctx context.Context, h *resources.Host, guarded bool, timeout int, pendingKey string, err error) error {
	if !guarded {
		return err
	}
	if rerr := rollbackNow(ctx, h); rerr != nil {
		return fmt.Errorf("%w; restoring the previous firewall failed too (%v): the dead-man rollback restores it within %d s", err, rerr, timeout)
	}
	// The restore reloaded the old config: nothing is pending.
	if cerr := resources.ClearPending(ctx, h, pendingKey); cerr != nil {
		return fmt.Errorf("%w; the previous firewall was restored (%v)", err, cerr)
	}
	return fmt.Errorf("%w; the previous firewall was restored", err)
}

// Exit codes of changeAndRead's script: which step failed.
const (
	exitArm    = 90
	exitMark   = 91
	exitChange = 92
)

type armError struct{ err error }

func (e *armError) Error() string { return e.err.Error() }

// changeAndRead arms the dead-man rollback and marks the reload pending
// (on a live host), changes the firewall and prints the probe for the
// read-back, in ONE command; each step runs only if the one before it
// succeeded. It returns the probe's output.
func changeAndRead(ctx context.Context, h *resources.Host, p *hostPlan, guarded bool, timeout int, pendingKey string) ([]byte, error) {
	var b strings.Builder
	if guarded {
		fmt.Fprintf(&b, "( %s\n) || exit %d\n", deadMan(p.Backend).ArmScript(timeout), exitArm)
		why := "goprov firewall change started " + time.Now().UTC().Format(time.RFC3339)
		fmt.Fprintf(&b, "( %s\n) || exit %d\n", resources.MarkPendingScript(h, pendingKey, why), exitMark)
	}
	// The change's own output goes to stderr: stdout is the read-back's.
	fmt.Fprintf(&b, "( %s\n) >&2 || exit %d\n%s\n", script(h, p), exitChange, probeScript(h, p.needs))
	res, err := h.Run(ctx, transport.Cmd{Script: b.String(), Sudo: true})
	if err != nil {
		return nil, fmt.Errorf("change firewall: %w", err)
	}
	msg := strings.TrimSpace(string(res.Stderr))
	switch res.ExitCode {
	case 0:
		return res.Stdout, nil
	case exitArm:
		return nil, &armError{fmt.Errorf("arm the firewall rollback: exit %d: %s", res.ExitCode, msg)}
	case exitMark:
		return nil, fmt.Errorf("record pending reload %s: %s", pendingKey, msg)
	case exitChange:
		return nil, fmt.Errorf("change firewall: %s", msg)
	}
	return nil, fmt.Errorf("change firewall: read back: exit %d: %s", res.ExitCode, msg)
}

// disarmAndClear cancels the rollback and clears the pending mark once
// access is proven: one command.
func disarmAndClear(ctx context.Context, h *resources.Host, pendingKey string) error {
	s := "( " + deadMan("").DisarmScript() + "\n) || exit $?\n" + resources.ClearPendingScript(h, pendingKey)
	res, err := h.Run(ctx, transport.Cmd{Script: s, Sudo: true})
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("exit %d: %s", res.ExitCode, strings.TrimSpace(string(res.Stderr)))
	}
	if err != nil {
		return fmt.Errorf("cancel the firewall rollback: %w (the previous state may have been restored: plan again)", err)
	}
	return nil
}

// script is the change as one sh script, run under the host's firewall
// lock. firewall-cmd and firewall-offline-cmd exit 11, 12 or 16 when the
// entry already is (or is not) there: that is success.
func script(h *resources.Host, p *hostPlan) string {
	var b strings.Builder
	fmt.Fprintf(&b, `PATH=/usr/sbin:/usr/bin:/sbin:/bin
l=%s
mkdir -p "$(dirname "$l")" && exec 9>"$l" || exit 1
flock -w 120 9 || { echo "another firewall change holds $l" >&2; exit 1; }
step() { sh -c "$1"; rc=$?; case $rc in 0) ;; 11|12|16) [ %q = firewalld ] || { echo "failed ($rc): $1" >&2; exit 1; } ;; *) echo "failed ($rc): $1" >&2; exit 1 ;; esac; }
`, shell.Quote(h.Path(lockPath)), p.Backend)
	if p.Backend == "ufw" && p.ufw != nil {
		b.WriteString(ufwFilesScript(h, p))
		return b.String()
	}
	cmds := append(append(append([]string{}, p.Adds...), p.Removes...), p.Defaults...)
	cmds = append(cmds, p.Runtime...)
	for _, c := range cmds {
		fmt.Fprintf(&b, "step %s\n", shell.Quote(inRoot(h, c)))
	}
	if p.Reload {
		reload := "firewall-cmd --reload"
		if p.Backend == "ufw" {
			reload = "ufw reload"
		}
		fmt.Fprintf(&b, "step %s\n", shell.Quote(inRoot(h, reload)))
	}
	for _, c := range p.Enable {
		fmt.Fprintf(&b, "step %s\n", shell.Quote(inRoot(h, c)))
	}
	return b.String()
}

func run(ctx context.Context, h *resources.Host, s string) error {
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

// verifyState requires the plan on the firewall as read back (the probe's
// output) to be empty.
func verifyState(h *resources.Host, d decl, out []byte) error {
	st, err := ParseState(out)
	if err != nil {
		return fmt.Errorf("read back: %w", err)
	}
	// The pending mark and the armed rollback are ours, ended right after.
	st.RollbackArmed = ""
	delete(st.Pending, pendingUFW)
	delete(st.Pending, pendingFirewalld)
	p := planHost(d, st, env{SSHPort: h.SSHPort, Live: isLive(h)})
	var diffs []string
	for _, addr := range sortedKeys(p.changes) {
		if ch := p.changes[addr]; ch.Action != resources.NoOp {
			diffs = append(diffs, fmt.Sprintf("%s: %s %s", addr, ch.Action, strings.Join(ch.Notes, "; ")))
		}
	}
	for _, addr := range sortedKeys(p.errs) {
		diffs = append(diffs, fmt.Sprintf("%s: %v", addr, p.errs[addr]))
	}
	if len(diffs) > 0 {
		return fmt.Errorf("after the change the firewall still differs from the configuration: %s", strings.Join(diffs, " | "))
	}
	return nil
}

// proveAccess logs in again over a NEW connection and runs `true` with
// sudo (resources.ProveAccess); tests may replace the connection.
func proveAccess(ctx context.Context, h *resources.Host, window time.Duration) error {
	reconnect := h.Reconnect
	if hook := testHookReconnect.Load(); hook != nil {
		reconnect = func(ctx context.Context) (transport.Transport, error) { return (*hook)(ctx, h) }
	}
	return resources.ProveAccess(ctx, reconnect, window)
}

// ---- the dead-man rollback (resources.DeadMan) ----

// deadMan saves the backend's config; its restore reloads the backend.
// The restore removes saved.tar too: the firewall probe reads its
// presence without a timer as "an unconfirmed change, timer gone".
func deadMan(backend string) resources.DeadMan {
	d := resources.DeadMan{Tag: "firewall", Dir: rollbackDir, Lock: lockPath}
	if backend == "ufw" {
		d.Save = `tar -C / -cpf "$d/saved.tar" etc/ufw etc/default/ufw`
		// Stop first: the restored ufw.conf decides whether it starts again.
		d.Restore = `ufw disable >/dev/null 2>&1
tar -C / -xpf "$d/saved.tar"
if grep -qx 'ENABLED=yes' /etc/ufw/ufw.conf; then ufw --force enable; fi
rm -f "$d/saved.tar"`
	} else {
		d.Save = `tar -C / -cpf "$d/saved.tar" etc/firewalld`
		d.Restore = `rm -rf /etc/firewalld.goprov-old && mv /etc/firewalld /etc/firewalld.goprov-old
tar -C / -xpf "$d/saved.tar" && rm -rf /etc/firewalld.goprov-old
firewall-cmd --reload
rm -f "$d/saved.tar"`
	}
	return d
}

// restoreScript puts the saved config back and reloads.
func restoreScript(backend string) string { return deadMan(backend).RestoreScript() }

// rollbackNow does not depend on the backend: the restore script saved
// at arm time knows it.
func rollbackNow(ctx context.Context, h *resources.Host) error {
	return deadMan("").RollbackNow(ctx, h)
}
