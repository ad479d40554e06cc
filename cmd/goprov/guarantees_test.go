package main

import (
	"context"
	"io/fs"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/testinfra"
)

// snapshot lists every path in a lab host's overlay upper layer with its
// size and mtime: every write to the host's disk lands there.
func snapshot(t *testing.T, lab *testinfra.Lab, h *testinfra.Host) []string {
	t.Helper()
	upper := filepath.Join(lab.DataDir(), h.Name, "upper")
	var out []string
	err := filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(upper, p)
		if rel == "var/log/sshd.log" {
			return nil // the lab's sshd logs each login itself (LogLevel VERBOSE)
		}
		out = append(out, rel+" "+info.ModTime().String()+" "+string(rune('0'+info.Size()%10)))
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", upper, err)
	}
	sort.Strings(out)
	return out
}

// Two applies never interleave: while another controller holds a host's
// lock, apply waits -lock-timeout and fails naming the holder; plan takes no
// lock and writes nothing; a holder that dies releases the lock.
func TestHostLockAndReadOnlyPlan(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	h := lab.Hosts[0]
	cfg := labtest.Write(t, labtest.Inventory(lab, testinfra.UserDeploy), goScript)

	// Another controller (OpenSSH's client here) takes the lock the way
	// goprov does, and keeps its session open.
	holder := exec.Command("ssh", "-F", lab.SSHConfigPath, h.Name,
		`mkdir -p /var/lib/goprov && exec flock /var/lib/goprov/apply.lock sh -c 'echo "alice@bastion pid 4242 since 2026-11-24T08:00:00Z" > /var/lib/goprov/apply.holder; cat >/dev/null'`)
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); holder.Process.Kill(); holder.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := h.MustExec(context.Background(), "cat /var/lib/goprov/apply.holder 2>/dev/null")
		if strings.Contains(out, "alice") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the other controller never took the lock")
		}
		time.Sleep(50 * time.Millisecond)
	}

	before := snapshot(t, lab, h)
	if r := goprov(t, "plan", cfg, "-detailed-exitcode"); r.code != 2 {
		t.Fatalf("plan while locked: want exit 2 (it takes no lock), got %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if d := cmp.Diff(before, snapshot(t, lab, h)); d != "" {
		t.Fatalf("plan wrote to the host's disk (-before +after):\n%s", d)
	}

	start := time.Now()
	r := goprov(t, "apply", "-auto-approve", "-lock-timeout", "2s", cfg)
	waited := time.Since(start)
	if r.code != 1 || !strings.Contains(r.stdout, "h1: lock: host is locked by another apply: alice@bastion pid 4242") {
		t.Fatalf("apply on a locked host: want exit 1 naming the holder, got %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if waited < 2*time.Second {
		t.Errorf("apply gave up after %s, before -lock-timeout 2s", waited)
	}
	if out, _ := h.MustExec(context.Background(), "ls /etc/profile.d/go.sh 2>&1"); !strings.Contains(out, "No such file") {
		t.Fatal("apply changed a locked host")
	}

	// The other controller dies without releasing: the lock dies with its session.
	holder.Process.Kill()
	holder.Wait()
	if r := goprov(t, "apply", "-auto-approve", "-lock-timeout", "10s", cfg); r.code != 0 {
		t.Fatalf("apply after the holder died: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Our own lock is gone after apply: a second apply finds it free at once.
	start = time.Now()
	if r := goprov(t, "apply", "-auto-approve", "-lock-timeout", "0s", cfg); r.code != 0 {
		t.Fatalf("apply right after an apply: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
