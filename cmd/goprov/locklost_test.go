package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/testinfra"
)

// otherController takes a host's apply lock the way goprov does, from
// OpenSSH's client, and holds it until the test ends (or release is called).
func otherController(t *testing.T, lab *testinfra.Lab, h *testinfra.Host, who string) (release func()) {
	t.Helper()
	holder := exec.Command("ssh", "-F", lab.SSHConfigPath, h.Name,
		`mkdir -p /var/lib/goprov && exec flock /var/lib/goprov/apply.lock sh -c 'echo "`+who+`" > /var/lib/goprov/apply.holder; cat >/dev/null'`)
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	done := false
	release = func() {
		if !done {
			done = true
			stdin.Close()
			holder.Wait()
		}
	}
	t.Cleanup(func() { holder.Process.Kill(); release() })
	return release
}

// waitHost polls a host command until its output holds want.
func waitHost(t *testing.T, h *testinfra.Host, script, want, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := h.MustExec(context.Background(), script)
		if strings.Contains(out, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: never happened (last output %q)", what, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// killLockHolders kills, with SIGKILL, every process on the host that has
// the lock file open: the holder shell and its children, i.e. the lock
// session dies the way a suspended laptop's session times out, without
// telling the controller first. All are stopped first, so that none sees
// another die (the holder would end its loop when its timeout(1) does).
// Their parents are continued afterwards: sudo suspends itself when the
// command it runs is stopped, and a suspended sudo would keep the dead
// session open, which a real SIGKILL (no stop first) never does.
const killLockHolders = `pids= parents=
for p in /proc/[0-9]*; do
  for f in "$p"/fd/*; do
    if [ "$(readlink "$f" 2>/dev/null)" = /var/lib/goprov/apply.lock ]; then pids="$pids ${p#/proc/}"; break; fi
  done
done
for p in $pids; do parents="$parents $(ps -o ppid= -p "$p")"; done
kill -STOP $pids 2>/dev/null
kill -9 $pids 2>/dev/null
kill -CONT $parents 2>/dev/null
echo killed`

// giveUpLock makes goprov's holder give the lock up the way it does after
// 45 s without a word from the controller: its timeout(1) gets the alarm
// it would get then (a lab test cannot wait 45 s for it). The holder first
// runs apply's read, queued before it got the lock; its silence starts
// after that, so this waits (up to 10 s) for its timeout(1) to be there.
const giveUpLock = `for i in $(seq 100); do
  n=0
  for p in /proc/[0-9]*; do
    case "$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null)" in
      "timeout 45 sh -c "*) kill -ALRM "${p#/proc/}" && n=1 ;;
    esac
  done
  [ "$n" = 1 ] && break
  sleep 0.1
done
echo alarmed`

// A laptop suspended mid-apply: while goprov is stopped (SIGSTOP), its lock
// session on the host ends (killed, or given up after 45 s of silence) and
// another operator takes the lock. When goprov wakes up it must not write
// anything: it stops before its next write and says it lost the lock.
func TestLostLockStopsApply(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	h := lab.Hosts[0]
	for i, tc := range []struct {
		name, script, why string
	}{
		{"holder killed", killLockHolders, "the holder session on the host ended"},
		{"holder gave up", giveUpLock, "the holder on the host gave it up"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lostLock(t, lab, h, fmt.Sprintf("lost%d", i), tc.script, tc.why)
		})
	}
}

func lostLock(t *testing.T, lab *testinfra.Lab, h *testinfra.Host, name, endHolder, why string) {
	cfg := labtest.Write(t, labtest.Inventory(lab, testinfra.UserDeploy), `
resource "profile_script" "a" {
  name = "`+name+`-a"
  env  = { A = "1" }
}

resource "profile_script" "b" {
  name = "`+name+`-b"
  env  = { B = "2" }
}
`)
	const holderFile = "cat /var/lib/goprov/apply.holder 2>/dev/null"

	// Alice holds the lock, so our apply waits on the host for it.
	releaseAlice := otherController(t, lab, h, "alice@bastion pid 4242")
	waitHost(t, h, holderFile, "alice@bastion", "alice takes the lock")

	var so, se bytes.Buffer
	apply := exec.Command(goprovBin, "apply", "-auto-approve", "-lock-timeout", "60s", cfg)
	apply.Stdout, apply.Stderr = &so, &se
	if err := apply.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { apply.Process.Signal(syscall.SIGCONT); apply.Process.Kill(); apply.Wait() })
	waitHost(t, h, `pgrep -f '^flock -w' >/dev/null && echo waiting`, "waiting", "goprov waits for the lock")

	// The laptop sleeps; alice finishes; goprov's host side takes the lock.
	if err := apply.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	releaseAlice()
	waitHost(t, h, holderFile, "(run ", "goprov's holder takes the lock")
	// It then runs the read queued with the lock and waits for the
	// controller: the lock is lost between read and writes.
	waitHost(t, h, `pgrep -f '^timeout 45 sh -c' >/dev/null && echo reading-stdin`, "reading-stdin", "goprov's holder has read the host")

	// Its lock session ends; bob takes the lock.
	if out, err := h.MustExec(context.Background(), endHolder); err != nil || strings.TrimSpace(out) == "" {
		t.Fatalf("end the holder: %v %s", err, out)
	}
	releaseBob := otherController(t, lab, h, "bob@laptop pid 777")
	defer releaseBob()
	waitHost(t, h, holderFile, "bob@laptop", "bob takes the lock")

	// The laptop wakes up.
	if err := apply.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- apply.Wait() }()
	select {
	case <-waitErr:
	case <-time.After(2 * time.Minute):
		t.Fatalf("apply did not end after waking up\n%s%s", so.String(), se.String())
	}
	out := so.String() + se.String()
	if code := apply.ProcessState.ExitCode(); code != 1 {
		t.Errorf("apply without the lock: want exit 1, got %d", code)
	}
	if !strings.Contains(out, "lost the host lock: "+why) || !strings.Contains(out, "stopped before profile_script.a") {
		t.Errorf("apply does not say it lost the lock (%q) and where it stopped:\n%s", why, out)
	}
	files := "/etc/profile.d/" + name + "-a.sh /etc/profile.d/" + name + "-b.sh"
	if got, _ := h.MustExec(context.Background(), "ls "+files+" 2>&1"); strings.Count(got, "No such file") != 2 {
		t.Errorf("apply wrote while bob held the lock:\n%s", got)
	}
	if got, _ := h.MustExec(context.Background(), holderFile); !strings.Contains(got, "bob@laptop") {
		t.Errorf("the holder file no longer names bob: %q", got)
	}
	if t.Failed() {
		t.Logf("apply output:\n%s", out)
	}
}
