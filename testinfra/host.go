package testinfra

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func detachAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

func mountOverlay(target, opts string) error {
	return syscall.Mount("overlay", target, "overlay", 0, opts)
}

func (h *Host) state() hostState {
	h.lab.mu.Lock()
	defer h.lab.mu.Unlock()
	return h.lab.state.Hosts[h.Index]
}

// String is "h1 (10.200.0.11)".
func (h *Host) String() string { return fmt.Sprintf("%s (%s)", h.Name, h.Addr) }

// Exec runs `sh -c script` as root inside the host (its namespaces and root
// filesystem, entered with nsenter): for test setup and assertions, not a
// replacement for SSH. A non-zero exit is reported in exit, not err.
func (h *Host) Exec(ctx context.Context, script string) (stdout, stderr []byte, exit int, err error) {
	st := h.state()
	if !alive(st.InitPID, 0) {
		return nil, nil, -1, fmt.Errorf("%s: host is not running", h.Name)
	}
	cmd := exec.CommandContext(ctx, "nsenter", "--target", strconv.Itoa(st.InitPID),
		"--mount", "--uts", "--ipc", "--net", "--pid", "--root", "--wd",
		"--", "/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8", "USER=root", "LOGNAME=root"}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return o.Bytes(), e.Bytes(), ee.ExitCode(), nil
	}
	if err != nil {
		return o.Bytes(), e.Bytes(), -1, fmt.Errorf("%s: exec: %w", h.Name, err)
	}
	return o.Bytes(), e.Bytes(), 0, nil
}

// MustExec is Exec for setup steps: a failure (or non-zero exit) is an error
// carrying the script's stderr.
func (h *Host) MustExec(ctx context.Context, script string) (string, error) {
	o, e, code, err := h.Exec(ctx, script)
	if err != nil {
		return string(o), err
	}
	if code != 0 {
		return string(o), fmt.Errorf("%s: %q exited %d: %s", h.Name, script, code, strings.TrimSpace(string(e)))
	}
	return string(o), nil
}

// shTimeout bounds one Sh call: generous, since the machine is shared and
// a slow host is not a failing test; a hung script still ends the test.
const shTimeout = 3 * time.Minute

// Sh runs a setup or assertion script as root on the host and returns its
// stdout; any failure (or non-zero exit) fails the test with the script's
// stderr. It is the one "run this on the host or fail" helper tests use.
func (h *Host) Sh(t testing.TB, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), shTimeout)
	defer cancel()
	out, err := h.MustExec(ctx, script)
	if err != nil {
		t.Fatalf("%s: %v", h.Name, err)
	}
	return out
}

// ShTrim is Sh with surrounding white space (the last newline) removed,
// for comparing one-line answers.
func (h *Host) ShTrim(t testing.TB, script string) string {
	t.Helper()
	return strings.TrimSpace(h.Sh(t, script))
}

// waitReady waits until sshd answers with its banner (and, on firewalld
// hosts, until firewalld answers on D-Bus).
func (h *Host) waitReady(ctx context.Context) error {
	if err := h.waitSSH(ctx); err != nil {
		return err
	}
	if !h.state().Firewalld {
		return nil
	}
	for {
		o, _, code, err := h.Exec(ctx, "firewall-cmd --state 2>&1")
		if err == nil && code == 0 && strings.TrimSpace(string(o)) == "running" {
			return nil
		}
		select {
		case <-ctx.Done():
			log, _ := os.ReadFile(filepath.Join(h.RootDir, "var/log/firewalld.console"))
			return fmt.Errorf("%s: firewalld not running (%s): %w: %s", h.Name, strings.TrimSpace(string(o)), ctx.Err(), log)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (h *Host) waitSSH(ctx context.Context) error {
	addr := net.JoinHostPort(h.Addr, strconv.Itoa(h.Port))
	var last error
	for {
		last = sshBanner(addr)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			log, _ := h.SSHDLog()
			return fmt.Errorf("%s: sshd not answering on %s: %v (%w); sshd log: %s", h.Name, addr, last, ctx.Err(), strings.TrimSpace(string(log)))
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func sshBanner(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "SSH-") {
		return fmt.Errorf("unexpected banner %q", line)
	}
	return nil
}

// SSHDLog returns sshd's log (LogLevel VERBOSE: one "Starting session" line
// per exec request, so callers can count requests per connection).
func (h *Host) SSHDLog() ([]byte, error) {
	return os.ReadFile(filepath.Join(h.RootDir, "var/log/sshd.log"))
}

// CutNetwork takes the host off the lab network (its veth goes down): packets
// are dropped silently, like a pulled cable. RestoreNetwork undoes it.
func (h *Host) CutNetwork() error {
	return run(context.Background(), "ip", "link", "set", h.state().Veth, "down")
}

// RestoreNetwork brings the host back on the lab network.
func (h *Host) RestoreNetwork() error {
	if err := run(context.Background(), "ip", "link", "set", h.state().Veth, "up"); err != nil {
		return err
	}
	return nil
}

// KillSSHD kills the host's sshd listener and all its sessions: new
// connections are refused and existing ones die.
func (h *Host) KillSSHD() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := h.state()
	out, err := h.MustExec(ctx, "cat /run/sshd.pid")
	if err != nil {
		return fmt.Errorf("%s: find sshd: %w", h.Name, err)
	}
	inner, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		return fmt.Errorf("%s: sshd pid file: %q", h.Name, out)
	}
	pid, err := nsPID(st.InitPID, inner)
	if err != nil {
		return fmt.Errorf("%s: sshd: %w", h.Name, err)
	}
	p, err := readProc(pid)
	if err != nil {
		return fmt.Errorf("%s: sshd: %w", h.Name, err)
	}
	if !alive(pid, p.Start) {
		return fmt.Errorf("%s: sshd (pid %d) is not running", h.Name, pid)
	}
	// Gather the session processes first: once the listener dies they are
	// reparented and no longer its descendants.
	victims := append([]int{pid}, descendants(pid)...)
	err = killAll(func() []int {
		var live []int
		for _, v := range victims {
			if alive(v, 0) {
				live = append(live, v)
			}
		}
		return live
	}, 0)
	if err != nil {
		return fmt.Errorf("%s: kill sshd: %w", h.Name, err)
	}
	_, _ = h.MustExec(ctx, "rm -f /run/sshd.pid")
	// Wait until the port really refuses connections.
	addr := net.JoinHostPort(h.Addr, strconv.Itoa(h.Port))
	for sshBanner(addr) == nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: sshd still answering after kill", h.Name)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// StartSSHD starts sshd again (after KillSSHD) and waits until it answers.
func (h *Host) StartSSHD() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The host's supervisor starts sshd on SIGUSR1, keeping it in its tree.
	if _, err := h.MustExec(ctx, "kill -USR1 $(cat /run/goprov-lab-boot.pid)"); err != nil {
		return fmt.Errorf("%s: start sshd: %w", h.Name, err)
	}
	return h.waitSSH(ctx)
}

// FillDir mounts a tiny tmpfs of size (e.g. "16k") over dir inside the host,
// with dir's existing content copied in first (as much as fits), then fills
// it until it is full. restore unmounts it, bringing back the original dir.
func (h *Host) FillDir(dir string, size string) (restore func() error, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	script := fmt.Sprintf(`set -e
d=%s
test -d "$d" || { echo "not a directory: $d" >&2; exit 1; }
tmp=$(mktemp -d /run/goprov-fill.XXXXXX)
cp -a "$d/." "$tmp/"
mode=$(stat -c %%a "$d"); owner=$(stat -c %%u:%%g "$d")
mount -t tmpfs -o size=%s,mode="$mode" goprov-fill "$d"
chown "$owner" "$d"
cp -a "$tmp/." "$d/" 2>/dev/null || true
rm -rf "$tmp"
dd if=/dev/zero of="$d/.goprov-fill" bs=1024 2>/dev/null || true
`, shq(dir), shq(size))
	if _, err := h.MustExec(ctx, script); err != nil {
		return nil, fmt.Errorf("%s: fill %s: %w", h.Name, dir, err)
	}
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := h.MustExec(ctx, fmt.Sprintf("umount %s || umount -l %s", shq(dir), shq(dir))); err != nil {
			return fmt.Errorf("%s: unfill %s: %w", h.Name, dir, err)
		}
		return nil
	}, nil
}

// Restart stops every process of the host and boots it again, keeping its
// disk (upper layer), address and keys. Like a reboot, nothing is re-applied
// at boot (ufw rules, for one, are not).
func (h *Host) Restart(ctx context.Context) error {
	l := h.lab
	l.mu.Lock()
	st := l.state.Hosts[h.Index]
	l.mu.Unlock()
	// Graceful first so daemons flush to disk, like a reboot.
	if err := stopHost(&st, 2*time.Second); err != nil {
		return fmt.Errorf("%s: stop: %w", h.Name, err)
	}
	l.mu.Lock()
	l.state.Hosts[h.Index].PID, l.state.Hosts[h.Index].PIDStart, l.state.Hosts[h.Index].InitPID = 0, 0, 0
	l.mu.Unlock()
	if err := l.boot(ctx, h.Index); err != nil {
		return err
	}
	l.mu.Lock()
	err := l.state.save()
	l.mu.Unlock()
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return h.waitReady(rctx)
}

// NetNS is the host's network namespace (for `ip netns exec`).
func (h *Host) NetNS() string { return h.state().NetNS }

// Veth is the controller-side end of the host's link on the lab bridge.
func (h *Host) Veth() string { return h.state().Veth }

// PID is the root of the host's process tree as seen by the controller.
func (h *Host) PID() int { return h.state().PID }

// Audit reports whether the host shares the machine's kernel audit control.
func (h *Host) Audit() bool { return h.state().Audit }
