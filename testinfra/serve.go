package testinfra

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// Gateway is the controller's address on the lab bridge: the one address
// the (offline) hosts can reach besides each other.
func (l *Lab) Gateway() string { return strings.TrimSuffix(l.Subnet(), "0/24") + "1" }

// ServeDir serves dir over HTTP on the lab bridge, read-only, until t
// ends, and returns its URL ("http://10.x.y.1:PORT"): the fleet's own
// mirror, as locked-down fleets have one. Directory listings are off.
func (l *Lab) ServeDir(t testing.TB, dir string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(l.Gateway(), "0"))
	if err != nil {
		t.Fatalf("serve %s on the lab bridge: %v", dir, err)
	}
	files := http.FileServer(http.Dir(dir))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "read-only", http.StatusMethodNotAllowed)
			return
		}
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("lab mirror: %v", err)
		}
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return "http://" + ln.Addr().String()
}

// AcceptAll listens on the lab bridge at port (0: any free port),
// accepting and closing every connection until t ends, and returns the
// port: a stand-in for a service the hosts must (or must not) reach
// through their firewall.
func (l *Lab) AcceptAll(t testing.TB, port int) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(l.Gateway(), strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("listen on the lab bridge: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}
