package planner

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goprov/goprov/internal/shell"
	"github.com/goprov/goprov/transport"
)

// The lock's liveness check, on a real holder (this machine's sh under an
// image root): answered while the holder lives, a LostLockError once it is
// killed.
func TestLockCheckSeesDeadHolder(t *testing.T) {
	needRoot(t, "the lock holder runs as root (Sudo)")
	h, root := imageHost(t, localTransport)
	ctx := context.Background()
	lock, err := lockHost(ctx, h, "test holder", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.release()
	for i := 0; i < 3; i++ {
		if err := lock.check(ctx, time.Minute); err != nil {
			t.Fatalf("check %d with a live holder: %v", i, err)
		}
	}

	// Kill every process that has the lock file open: the holder is gone.
	if killHolders(filepath.Join(root, LockDir, "apply.lock")) == 0 {
		t.Fatal("found no holder process to kill")
	}
	err = lock.check(ctx, time.Minute)
	var lost *LostLockError
	if !errors.As(err, &lost) {
		t.Fatalf("check after the holder died: want a LostLockError, got %v", err)
	}
	t.Log(err)
}

// killHolders kills every process that has lockFile open; it returns how
// many it killed.
func killHolders(lockFile string) int {
	pids, _ := filepath.Glob("/proc/[0-9]*")
	killed := 0
	for _, p := range pids {
		fds, _ := filepath.Glob(p + "/fd/*")
		for _, fd := range fds {
			if target, _ := os.Readlink(fd); target == lockFile {
				pid, _ := strconv.Atoi(filepath.Base(p))
				if syscall.Kill(pid, syscall.SIGKILL) == nil {
					killed++
				}
				break
			}
		}
	}
	return killed
}

// The lock holder (a real sh, on this machine) runs the read queued with
// the lock and then the apply's commands in its own session: stdout,
// stderr, exit code and stdin travel intact (binary too, and a command that
// leaves its stdin unread keeps the stream in step); a detached child never
// keeps the lock; once the holder is dead a command is refused with a
// LostLockError and never runs.
func TestHolderRunsCommands(t *testing.T) {
	needRoot(t, "the lock holder runs as root (Sudo)")
	h, root := imageHost(t, localTransport)
	ctx := context.Background()
	first := transport.Cmd{Script: "echo first; echo oops >&2; exit 3", Sudo: true}
	lock, res, err := lockAndRun(ctx, h, "test holder", 5*time.Second, &first, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.release()
	if res.err != nil || string(res.res.Stdout) != "first\n" || string(res.res.Stderr) != "oops\n" || res.res.ExitCode != 3 {
		t.Fatalf("first command: %+v %v", res.res, res.err)
	}
	ht := held(h.T, lock)
	binary := []byte("a\x00b\nc\xff\r\n\x1e")
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<14)
	for _, tc := range []struct {
		name   string
		cmd    transport.Cmd
		out    []byte
		stderr string
		code   int
	}{
		{"binary stdin back on stdout", transport.Cmd{Script: "cat", Stdin: bytes.NewReader(binary), Sudo: true}, binary, "", 0},
		{"stdin left unread", transport.Cmd{Script: "true", Stdin: bytes.NewReader(big), Sudo: true}, nil, "", 0},
		{"large output", transport.Cmd{Script: "cat", Stdin: bytes.NewReader(big), Sudo: true}, big, "", 0},
		{"exit code and stderr", transport.Cmd{Script: "echo no >&2; exit 7", Sudo: true}, nil, "no\n", 7},
		{"no stdin is empty stdin", transport.Cmd{Script: "wc -c", Sudo: true}, []byte("0\n"), "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ht.Run(ctx, tc.cmd)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(r.Stdout, tc.out) || string(r.Stderr) != tc.stderr || r.ExitCode != tc.code {
				t.Fatalf("got stdout %d bytes (want %d), stderr %q, exit %d; want stderr %q, exit %d",
					len(r.Stdout), len(tc.out), r.Stderr, r.ExitCode, tc.stderr, tc.code)
			}
		})
	}

	// A detached child (a dead-man timer) outlives the command: it must
	// not hold the lock once the holder has given it up.
	r, err := ht.Run(ctx, transport.Cmd{Script: "setsid sleep 60 </dev/null >/dev/null 2>&1 & echo $!", Sudo: true})
	if err != nil || r.ExitCode != 0 {
		t.Fatalf("start a detached child: %v %+v", err, r)
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(r.Stdout))); err == nil {
		defer syscall.Kill(pid, syscall.SIGKILL)
	}
	lockFile := filepath.Join(root, LockDir, "apply.lock")
	if killHolders(lockFile) == 0 {
		t.Fatal("found no holder process to kill")
	}
	marker := filepath.Join(root, "ran")
	_, err = ht.Run(ctx, transport.Cmd{Script: "touch " + shell.Quote(marker), Sudo: true})
	var lost *LostLockError
	if !errors.As(err, &lost) {
		t.Fatalf("command after the holder died: want a LostLockError, got %v", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a command ran after the holder died")
	}
	lock2, err := lockHost(ctx, h, "second holder", 0)
	if err != nil {
		t.Fatalf("lock again after the holder died (a detached child of a command kept it?): %v", err)
	}
	lock2.release()
}
