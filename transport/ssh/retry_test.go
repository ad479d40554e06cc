package ssh

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/goprov/goprov/transport"
)

// flaky sits in front of a server and mistreats the first attempts the way
// a loaded host does: "drop" closes the connection before the banner (sshd's
// MaxStartups), "stall" accepts and never answers (a handshake that times
// out). Later connections are forwarded.
type flaky struct {
	ln       net.Listener
	attempts atomic.Int32
}

func startFlaky(t *testing.T, to string, bad []string) *flaky {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	f := &flaky{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(f.attempts.Add(1))
			if n <= len(bad) {
				switch bad[n-1] {
				case "drop":
					c.Close()
				case "stall":
					t.Cleanup(func() { c.Close() })
				}
				continue
			}
			u, err := net.Dial("tcp", to)
			if err != nil {
				c.Close()
				continue
			}
			t.Cleanup(func() { c.Close(); u.Close() })
			go pipeConn(c, u)
			go pipeConn(u, c)
		}
	}()
	return f
}

func pipeConn(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			dst.Write(buf[:n])
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

func (f *flaky) config(t *testing.T, s *testServer) Config {
	cfg := s.config("web1", "root")
	cfg.Port = f.ln.Addr().(*net.TCPAddr).Port
	kh := filepath.Join(t.TempDir(), "kh")
	must(t, os.WriteFile(kh, []byte(knownhosts.Line([]string{knownhosts.Normalize(f.ln.Addr().String())}, s.hostKey.PublicKey())+"\n"), 0o600))
	cfg.KnownHosts = []string{kh}
	return cfg
}

// Handshakes that a loaded host drops or lets time out are tried again
// with back-off, within the overall deadline.
func TestDialRetriesUnderLoad(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	cases := []struct {
		name string
		bad  []string
	}{
		{"dropped before the banner twice", []string{"drop", "drop"}},
		{"first handshake times out", []string{"stall"}},
		{"dropped, then times out", []string{"drop", "stall"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, "", nil)
			f := startFlaky(t, s.addr, tc.bad)
			cfg := f.config(t, s)
			cfg.ConnectTimeout = 500 * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, err := Dial(ctx, cfg)
			if err != nil {
				t.Fatalf("Dial after %d attempts: %v", f.attempts.Load(), err)
			}
			defer c.Close()
			runT(t, c, transport.Cmd{Script: "true"})
			if got, want := int(f.attempts.Load()), len(tc.bad)+1; got != want {
				t.Errorf("attempts = %d, want %d", got, want)
			}
		})
	}
}

// Retries stop at the overall deadline and the error says how many were
// made; what no retry can fix (a refused port, a host key or auth
// refusal) is not retried.
func TestDialRetryLimits(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	s := startServer(t, "", nil)
	f := startFlaky(t, s.addr, []string{"stall", "stall", "stall", "stall", "stall", "stall", "stall", "stall"})
	cfg := f.config(t, s)
	cfg.ConnectTimeout = 200 * time.Millisecond
	cfg.DialDeadline = 1500 * time.Millisecond
	_, err := Dial(context.Background(), cfg)
	n := int(f.attempts.Load())
	if err == nil || !strings.Contains(err.Error(), "timed out after 200ms") || !strings.Contains(err.Error(), fmt.Sprintf("%d attempts", n)) || n < 2 {
		t.Errorf("always stalling: err = %v after %d attempts", err, n)
	}

	// An unknown host key is refused at once: one attempt.
	f = startFlaky(t, s.addr, nil)
	cfg = f.config(t, s)
	cfg.KnownHosts = []string{filepath.Join(t.TempDir(), "empty")}
	must(t, os.WriteFile(cfg.KnownHosts[0], nil, 0o600))
	if _, err := Dial(context.Background(), cfg); err == nil || f.attempts.Load() != 1 {
		t.Errorf("unknown host key: err = %v after %d attempts", err, f.attempts.Load())
	}
}
