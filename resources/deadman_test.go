package resources

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

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
		{"handshake timed out", []error{fmt.Errorf("h: ssh: connect 10.0.0.1:22: %w", timeout)}, "", 2},
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
			err := ProveAccess(context.Background(), reconnect, 10*time.Second)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
			if n != tc.wantN {
				t.Errorf("attempts = %d, want %d", n, tc.wantN)
			}
		})
	}
}
