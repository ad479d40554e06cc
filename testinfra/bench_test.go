package testinfra

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/goprov/goprov/internal/ci"

	"golang.org/x/crypto/ssh"
)

// upAndAnswer starts n hosts and runs one command over a fresh, strictly
// verified SSH connection on each; it returns the wall time of both.
func upAndAnswer(ctx context.Context, n int) (*Lab, time.Duration, error) {
	start := time.Now()
	l, err := StartLab(ctx, "", Options{Hosts: n})
	if err != nil {
		return nil, 0, err
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, h := range l.Hosts {
		wg.Add(1)
		go func(i int, h *Host) {
			defer wg.Done()
			c, err := ssh.Dial("tcp", net.JoinHostPort(h.Addr, "22"), l.ClientConfig(UserRoot))
			if err != nil {
				errs[i] = err
				return
			}
			defer c.Close()
			s, err := c.NewSession()
			if err != nil {
				errs[i] = err
				return
			}
			defer s.Close()
			out, err := s.Output("hostname")
			if err == nil && strings.TrimSpace(string(out)) != h.Name {
				err = fmt.Errorf("%s answered %q", h.Name, out)
			}
			errs[i] = err
		}(i, h)
	}
	wg.Wait()
	took := time.Since(start)
	for _, err := range errs {
		if err != nil {
			l.Close()
			return nil, took, err
		}
	}
	return l, took, nil
}

// TestTwentyHostsAnswer logs how long 20 hosts take to come up and answer
// SSH (the figure, not a timed assertion: the machine may be busy).
func TestTwentyHostsAnswer(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	if why := Missing(); why != "" {
		ci.Skip(t, why)
	}
	l, took, err := upAndAnswer(context.Background(), 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("20 hosts up and answering SSH in %v", took.Round(time.Millisecond))
	start := time.Now()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("20 hosts torn down in %v", time.Since(start).Round(time.Millisecond))
}

// BenchmarkUp20 measures a 20-host lab from nothing to every host answering
// a command over SSH (go test -bench Up20 -run '^$' ./testinfra).
func BenchmarkUp20(b *testing.B) {
	if why := Missing(); why != "" {
		ci.Skip(b, why)
	}
	var total time.Duration
	for i := 0; i < b.N; i++ {
		l, took, err := upAndAnswer(context.Background(), 20)
		if err != nil {
			b.Fatal(err)
		}
		total += took
		b.StopTimer()
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/20hosts")
}

// TestStaleLabIsSwept kills a test process that owns a lab (as a crash or a
// test timeout would) and checks the next sweep removes the lab.
func TestStaleLabIsSwept(t *testing.T) {
	if os.Getenv("GOPROV_LAB_STALE_HELPER") == "1" {
		l, err := StartLab(context.Background(), "", Options{Hosts: 1})
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		fmt.Println("LAB", l.Name, l.Hosts[0].NetNS(), l.Bridge())
		time.Sleep(time.Minute) // killed by the parent
		os.Exit(1)
	}
	if why := Missing(); why != "" {
		ci.Skip(t, why)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestStaleLabIsSwept$")
	cmd.Env = append(os.Environ(), "GOPROV_LAB_STALE_HELPER=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	f := strings.Fields(line)
	if len(f) != 4 || f[0] != "LAB" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("helper: %q", line)
	}
	name, ns, bridge := f[1], f[2], f[3]
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if labAlive(name) {
		t.Fatalf("lab %s still held after its owner died", name)
	}
	if err := SweepStale(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(RunRoot + "/" + name); !os.IsNotExist(err) {
		t.Errorf("stale lab dir left: %v", err)
	}
	if _, err := os.Stat("/run/netns/" + ns); !os.IsNotExist(err) {
		t.Errorf("stale netns left: %v", err)
	}
	if linkExists(bridge) {
		t.Errorf("stale bridge %s left", bridge)
	}
}
