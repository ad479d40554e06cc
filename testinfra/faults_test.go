package testinfra

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goprov/goprov/internal/ci"
)

// TestFaults stays whole: its named subtests share one lab, each fault on its own host.
func TestFaults(t *testing.T) {
	l := Start(t, Options{Hosts: 2})
	h, other := l.Hosts[0], l.Hosts[1]
	ctx := context.Background()

	t.Run("CutNetwork", func(t *testing.T) {
		if err := h.CutNetwork(); err != nil {
			t.Fatal(err)
		}
		if reachable(h, 22) {
			t.Error("cut host still reachable")
		}
		if !reachable(other, 22) {
			t.Error("cutting h1 cut h2 too")
		}
		if err := h.RestoreNetwork(); err != nil {
			t.Fatal(err)
		}
		if err := h.waitSSH(ctx); err != nil {
			t.Fatal(err)
		}
		dial(t, l, h, UserRoot)
	})

	t.Run("KillSSHD", func(t *testing.T) {
		existing := dial(t, l, h, UserRoot)
		sess, err := existing.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- sess.Run("sleep 60") }()
		time.Sleep(200 * time.Millisecond) // let the command start
		if err := h.KillSSHD(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err == nil {
				t.Error("session survived KillSSHD")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("existing session still running after KillSSHD")
		}
		_, err = net.DialTimeout("tcp", net.JoinHostPort(h.Addr, "22"), time.Second)
		if err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("new connection: %v, want refused", err)
		}
		if err := h.StartSSHD(); err != nil {
			t.Fatal(err)
		}
		c := dial(t, l, h, UserDeploy)
		if o, _, code := sshRun(t, c, "id -un", ""); code != 0 || o != "deploy\n" {
			t.Fatalf("after StartSSHD: %q %d", o, code)
		}
	})

	t.Run("FillDir", func(t *testing.T) {
		h.Sh(t, "mkdir -p /srv/data && echo keep > /srv/data/existing")
		restore, err := h.FillDir("/srv/data", "16k")
		if err != nil {
			t.Fatal(err)
		}
		c := dial(t, l, h, UserRoot)
		if o, _, _ := sshRun(t, c, "cat /srv/data/existing", ""); o != "keep\n" {
			t.Errorf("existing content not carried over: %q", o)
		}
		if _, e, code := sshRun(t, c, "head -c 8192 /dev/zero > /srv/data/new", ""); code == 0 || !strings.Contains(e, "No space left") {
			t.Errorf("write to full dir: exit %d %q, want ENOSPC", code, e)
		}
		if err := restore(); err != nil {
			t.Fatal(err)
		}
		if o, e, code := sshRun(t, c, "head -c 8192 /dev/zero > /srv/data/new && cat /srv/data/existing", ""); code != 0 || o != "keep\n" {
			t.Errorf("after restore: %d %q %q", code, o, e)
		}
	})

	t.Run("Restart", func(t *testing.T) {
		h.Sh(t, "echo survives > /etc/goprov-restart; echo gone > /tmp/goprov-restart")
		before := h.PID()
		if err := h.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		if h.PID() == before {
			t.Error("PID unchanged: host did not restart")
		}
		// Same host keys: the strict callback still accepts it.
		c := dial(t, l, h, UserRoot)
		o, _, _ := sshRun(t, c, "cat /etc/goprov-restart; test -e /tmp/goprov-restart && echo tmp-kept || echo tmp-fresh; hostname", "")
		if o != "survives\ntmp-fresh\nh1\n" {
			t.Errorf("after restart: %q", o)
		}
	})

	t.Run("SSHDLogCountsExecRequests", func(t *testing.T) {
		c := dial(t, l, other, UserRoot)
		for i := 0; i < 3; i++ {
			sshRun(t, c, "true", "")
		}
		log, err := other.SSHDLog()
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(log), "Starting session: command"); n < 3 {
			t.Errorf("sshd log has %d exec sessions, want >= 3:\n%s", n, log)
		}
	})
}

// TestTeardownLeavesNothing starts a lab, records everything it made, closes
// it and checks that nothing is left: processes, namespaces, links, mounts,
// directories.
func TestTeardownLeavesNothing(t *testing.T) {
	l := Start(t, Options{Hosts: 2, FirewalldHosts: []int{1}})
	// Something extra inside each host: a daemon started over SSH.
	for _, h := range l.Hosts {
		c := dial(t, l, h, UserRoot)
		sshRun(t, c, "setsid sleep 1000 </dev/null >/dev/null 2>&1 &", "")
	}
	type proc struct {
		pid   int
		start uint64
	}
	var procs []proc
	var netns, links []string
	for _, h := range l.Hosts {
		pids := append([]int{h.PID()}, descendants(h.PID())...)
		pids = append(pids, netnsPIDs(h.NetNS())...)
		for _, p := range dedup(pids) {
			if info, err := readProc(p); err == nil {
				procs = append(procs, proc{p, info.Start})
			}
		}
		netns = append(netns, h.NetNS())
		links = append(links, h.Veth())
	}
	links = append(links, l.Bridge())
	if len(procs) < 2*4 {
		t.Fatalf("only %d lab processes found before teardown", len(procs))
	}
	dirs := []string{l.Dir, l.DataDir()}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for _, p := range procs {
		if alive(p.pid, p.start) {
			t.Errorf("process %d still alive", p.pid)
		}
	}
	for _, ns := range netns {
		if _, err := os.Stat(filepath.Join("/run/netns", ns)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("netns %s left: %v", ns, err)
		}
	}
	for _, link := range links {
		if linkExists(link) {
			t.Errorf("link %s left", link)
		}
	}
	for _, d := range dirs {
		if m := mountsUnder(d); len(m) > 0 {
			t.Errorf("mounts left under %s: %v", d, m)
		}
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("dir %s left: %v", d, err)
		}
	}
}

// TestParallelLabs starts labs at the same time and checks their names and
// subnets do not collide (the allocation lock is machine-wide, so the same
// holds across test processes).
func TestParallelLabs(t *testing.T) {
	if why := Missing(); why != "" {
		ci.Skip(t, why)
	}
	labs := make([]*Lab, 3)
	errs := make([]error, 3)
	done := make(chan int)
	for i := range labs {
		go func(i int) {
			labs[i], errs[i] = StartLab(context.Background(), "", Options{Hosts: 2})
			done <- i
		}(i)
	}
	for range labs {
		<-done
	}
	seen := map[string]bool{}
	for i, l := range labs {
		if errs[i] != nil {
			t.Errorf("lab %d: %v", i, errs[i])
			continue
		}
		defer l.Close()
		for _, k := range []string{"name " + l.Name, "bridge " + l.Bridge(), "subnet " + l.Subnet(), "netns " + l.Hosts[0].NetNS()} {
			if seen[k] {
				t.Errorf("%s used twice", k)
			}
			seen[k] = true
		}
		c := dial(t, l, l.Hosts[1], UserRoot)
		if o, _, _ := sshRun(t, c, "hostname", ""); o != "h2\n" {
			t.Errorf("lab %s h2: %q", l.Name, o)
		}
	}
}

func TestExtraUsers(t *testing.T) {
	l := Start(t, Options{Hosts: 2, Users: []string{"app", "alice"}})
	for _, h := range l.Hosts {
		for _, u := range []string{"app", "alice"} {
			c := dial(t, l, h, u)
			if o, _, code := sshRun(t, c, "id -un; sudo -n true 2>/dev/null || echo no-sudo", ""); code != 0 || o != u+"\nno-sudo\n" {
				t.Errorf("%s@%s: %q exit %d", u, h.Name, o, code)
			}
		}
	}
	if _, err := StartLab(context.Background(), "", Options{Hosts: 1, Users: []string{"deploy"}}); err == nil {
		t.Error("a user named deploy was accepted twice")
	}
}
