package main

import (
	"context"
	"fmt"
	"math/rand"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/planner"
	"github.com/goprov/goprov/testinfra"
)

// faultConfig manages 8 profile scripts and a sudoers drop-in; variant
// changes every file's content.
func faultConfig(variant int) string {
	var b strings.Builder
	for i := 0; i < 8; i++ {
		fmt.Fprintf(&b, "resource \"profile_script\" \"f%d\" {\n  name = \"f%d\"\n  env = {\n    V = \"%d-%s\"\n  }\n}\n", i, i, variant, strings.Repeat("x", 2000*i))
	}
	fmt.Fprintf(&b, `resource "sudoers_dropin" "faults" {
  name = "faults"
  rule {
    users    = ["%%adm"]
    runas    = "root"
    nopasswd = true
    commands = ["/usr/bin/true %d"]
  }
}
`, variant)
	return b.String()
}

// managedState returns the managed files' contents, read inside the host
// (not over SSH, which the faults break).
func managedState(t *testing.T, h *testinfra.Host) string {
	t.Helper()
	out, err := h.MustExec(context.Background(), `for f in /etc/profile.d/f?.sh /etc/sudoers.d/faults; do printf '== %s\n' "$f"; cat "$f" 2>&1; done`)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestApplyInterruptedAtRandom cuts a host's network or kills its sshd at
// random moments during apply, 20 times. Every managed file must hold its
// old or its new content (never partial, never missing), sudo must still
// parse and work, the interrupted host is reported failed, and the next
// apply converges to an empty plan.
func TestApplyInterruptedAtRandom(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	h := lab.Hosts[0]
	inv := labtest.Inventory(lab, testinfra.UserDeploy)
	states := map[int]string{}
	apply := func(variant int, timeout time.Duration) *planner.Plan {
		cfg := labtest.Write(t, inv, faultConfig(variant))
		return labtest.Apply(t, cfg, labtest.Options{Timeout: timeout})
	}
	// Learn what each variant looks like on the host, and how long an apply takes.
	var full time.Duration
	for v := 0; v < 2; v++ {
		start := time.Now()
		labtest.RequireOK(t, apply(v, 0))
		full = time.Since(start)
		states[v] = managedState(t, h)
	}
	t.Logf("a full apply of 9 changed resources takes %s", full.Round(time.Millisecond))

	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	failed := 0
	cur := 1
	const trials = 20
	for i := 0; i < trials; i++ {
		next := 1 - cur
		delay := time.Duration(rng.Int63n(int64(full)))
		cutNet := i%2 == 0
		done := make(chan *planner.Plan, 1)
		go func() { done <- apply(next, 4*time.Second) }()
		time.Sleep(delay)
		var err error
		if cutNet {
			err = h.CutNetwork()
		} else {
			err = h.KillSSHD()
		}
		if err != nil {
			t.Fatalf("trial %d: fault: %v", i, err)
		}
		p := <-done
		if cutNet {
			err = h.RestoreNetwork()
		} else {
			err = h.StartSSHD()
		}
		if err != nil {
			t.Fatalf("trial %d: restore: %v", i, err)
		}
		// After a cut the controller's neighbour entry for the host may
		// still be FAILED for a moment ("no route to host"): wait until the
		// host answers again, as an operator would before re-running.
		waitReachable(t, h)
		hp := labtest.HostPlan(p, h.Name)
		if hp.Status == planner.StatusFailed {
			failed++
		}

		got := managedState(t, h)
		// File by file: each is old or new, whatever mix of the two.
		oldF, newF, gotF := split(states[cur]), split(states[next]), split(got)
		for name, content := range gotF {
			if content != oldF[name] && content != newF[name] {
				t.Fatalf("trial %d (%s after %s, host %s): %s is neither old nor new:\n%s", i, map[bool]string{true: "network cut", false: "sshd killed"}[cutNet], delay, hp.Status, name, content)
			}
		}
		if len(gotF) != len(oldF) {
			t.Fatalf("trial %d: managed files missing: %v", i, gotF)
		}
		if out, err := h.MustExec(context.Background(), `/usr/sbin/visudo -c >/dev/null && su deploy -s /bin/sh -c 'sudo -n true' && echo sudo-ok; ls /etc/sudoers.d`); err != nil || !strings.Contains(out, "sudo-ok") {
			t.Fatalf("trial %d: sudo broken after the fault: %v %s", i, err, out)
		} else if strings.Contains(out, "goprov") {
			t.Fatalf("trial %d: a temp file sudo would read: %s", i, out)
		}

		// Converge: the next apply (a fresh run) must succeed, the plan after it be empty.
		labtest.RequireOK(t, apply(next, time.Minute))
		labtest.RequireEmpty(t, labtest.Plan(t, labtest.Write(t, inv, faultConfig(next)), labtest.Options{}))
		cur = next
	}
	t.Logf("%d of %d interrupted applies were cut before they finished", failed, trials)
	if failed < trials/4 {
		t.Fatalf("only %d of %d trials interrupted an apply: the faults came too late to test anything", failed, trials)
	}
	// Writes killed outright (the sshd kill takes every session with it,
	// like a power cut) cannot run their cleanup: what they leave is a
	// dot-file that sudo, augenrules and profile.d ignore, removed by the
	// next write to that directory once it is a minute old.
	out, _ := h.MustExec(context.Background(), `ls -A /etc/profile.d /etc/sudoers.d /etc/zsh`)
	for _, name := range strings.Fields(out) {
		if strings.HasPrefix(name, ".") && !strings.HasPrefix(name, ".goprov.") {
			t.Errorf("unexpected hidden file %s", name)
		}
	}
	if _, err := h.MustExec(context.Background(), `for f in $(ls -A /etc/profile.d /etc/sudoers.d 2>/dev/null | grep '^\.goprov'); do :; done; touch -d '-2 min' /etc/profile.d/.goprov.* /etc/sudoers.d/.goprov.* 2>/dev/null; true`); err != nil {
		t.Fatal(err)
	}
	labtest.RequireOK(t, apply(1-cur, time.Minute))
	if out, _ := h.MustExec(context.Background(), `ls -A /etc/profile.d /etc/sudoers.d | grep '^\.goprov' || true`); strings.TrimSpace(out) != "" {
		t.Fatalf("orphaned temp files not cleaned by the next apply:\n%s", out)
	}
}

func waitReachable(t *testing.T, h *testinfra.Host) {
	t.Helper()
	addr := net.JoinHostPort(h.Addr, strconv.Itoa(h.Port))
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s unreachable 30 s after the fault was undone: %v", h.Name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func split(state string) map[string]string {
	out := map[string]string{}
	for _, part := range strings.Split(state, "== ")[1:] {
		name, content, _ := strings.Cut(part, "\n")
		out[name] = content
	}
	return out
}
