package planner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
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
	lockFile := filepath.Join(root, LockDir, "apply.lock")
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
	if killed == 0 {
		t.Fatal("found no holder process to kill")
	}
	err = lock.check(ctx, time.Minute)
	var lost *LostLockError
	if !errors.As(err, &lost) {
		t.Fatalf("check after the holder died: want a LostLockError, got %v", err)
	}
	t.Log(err)
}
