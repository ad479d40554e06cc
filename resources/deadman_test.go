package resources

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goprov/goprov/internal/ci"
	"github.com/goprov/goprov/transport"
)

// okTransport answers `true` with exit 0.
type okTransport struct{}

func (okTransport) Run(context.Context, transport.Cmd) (transport.Result, error) {
	return transport.Result{}, nil
}
func (okTransport) Close() error { return nil }

// The new-login proof retries what a loaded host or a reloading sshd does
// to a handshake (refused, dropped, timed out) within its window, and gives
// up at once on what no retry fixes.
func TestProveAccessRetries(t *testing.T) {
	timeout := &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}
	cases := []struct {
		name     string
		failures []error
		wantErr  string
		wantN    int
	}{
		{"refused twice", []error{syscall.ECONNREFUSED, syscall.ECONNREFUSED}, "", 3},
		{"handshake dropped (EOF)", []error{fmt.Errorf("h: ssh: connect 10.0.0.1:22: handshake: ssh: handshake failed: %w", io.EOF)}, "", 2},
		{"handshake reset", []error{fmt.Errorf("h: ssh: connect: %w", syscall.ECONNRESET)}, "", 2},
		{"handshake timed out", []error{fmt.Errorf("h: ssh: connect 10.0.0.1:22: %w", timeout), fmt.Errorf("h: ssh: connect 10.0.0.1:22: %w", transport.ErrConnectTimeout)}, "", 3},
		{"auth refused is final", []error{errors.New("h: ssh: auth as deploy at 10.0.0.1:22: server accepted none of the keys"), nil}, "accepted none", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			reconnect := func(context.Context) (transport.Transport, error) {
				n++
				if n <= len(tc.failures) && tc.failures[n-1] != nil {
					return nil, tc.failures[n-1]
				}
				return okTransport{}, nil
			}
			err := proveAccessBackoff(context.Background(), reconnect, 10*time.Second, time.Millisecond)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
			if n != tc.wantN {
				t.Errorf("attempts = %d, want %d", n, tc.wantN)
			}
		})
	}
}

// The proof's window ends before the dead-man timer fires, leaving time to
// disarm or roll back.
func TestAccessWindow(t *testing.T) {
	armed := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		rollback int
		now      time.Duration // since armed
		want     time.Duration
	}{
		{120, 5 * time.Second, 100 * time.Second}, // 120 - 15 margin - 5
		{10, time.Second, 10*time.Second - 2500*time.Millisecond - time.Second},
		{30, 40 * time.Second, minAccessWindow}, // already late: still one short try
	}
	for _, tc := range cases {
		if got := AccessWindow(armed, tc.rollback, armed.Add(tc.now)); got != tc.want {
			t.Errorf("AccessWindow(%d s, +%s) = %s, want %s", tc.rollback, tc.now, got, tc.want)
		}
	}
}

// Rearm replaces the timer by a fresh one (never leaving the host without
// one) and keeps the saved state; Disarm then ends it.
func TestDeadManRearm(t *testing.T) {
	ci.RequireRoot(t, "the dead-man scripts write under a temp dir as root and start setsid timers")
	dir := t.TempDir()
	d := DeadMan{Tag: "test" + strconv.Itoa(os.Getpid()), Dir: dir + "/state", Lock: dir + "/lock", Save: `echo saved >"$d/what"`, Restore: `echo restored >"$d/../restored"`}
	h := &Host{Name: "local", T: transport.NewLocal()}
	ctx := context.Background()
	if err := d.Arm(ctx, h, 3600); err != nil {
		t.Fatal(err)
	}
	pid := func() string {
		b, err := os.ReadFile(d.Dir + "/pid")
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	alive := func(p string) bool {
		b, err := os.ReadFile("/proc/" + p + "/cmdline")
		return err == nil && strings.Contains(string(b), d.Process())
	}
	old := pid()
	if err := d.Rearm(ctx, h, 3600); err != nil {
		t.Fatal(err)
	}
	now := pid()
	if now == old || !alive(now) {
		t.Errorf("after Rearm: timer %s (was %s), alive %v", now, old, alive(now))
	}
	for i := 0; alive(old) && i < 1500; i++ {
		time.Sleep(20 * time.Millisecond) // SIGTERM delivery
	}
	if alive(old) {
		t.Errorf("the old timer %s still runs", old)
	}
	if _, err := os.Stat(d.Dir + "/saved"); err != nil {
		t.Errorf("saved state lost: %v", err)
	}
	if err := d.Disarm(ctx, h); err != nil {
		t.Fatal(err)
	}
	if alive(now) {
		t.Errorf("timer %s survives Disarm", now)
	}
	if _, err := os.Stat(dir + "/restored"); err == nil {
		t.Error("the rollback ran")
	}
	// Once the rollback ran (state gone), Rearm refuses: nothing to guard.
	if err := d.Rearm(ctx, h, 3600); err == nil {
		t.Error("Rearm after Disarm succeeded")
	}
}
