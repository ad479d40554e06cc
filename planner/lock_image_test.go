package planner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImageLockExcludesAndNamesHolder: on an image root goprov holds the
// lock itself, inside the root: a second apply is refused naming the
// first; after release the lock is free again.
func TestImageLockExcludesAndNamesHolder(t *testing.T) {
	needRoot(t, "image roots need root")
	h, root := imageHost(t, localRootTransport)
	ctx := context.Background()
	lock, err := lockHost(ctx, h, "first@ci pid 1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, LockDir, "apply.holder")); err != nil || !strings.Contains(string(b), "first@ci") {
		t.Fatalf("holder inside the root: %q %v", b, err)
	}
	_, err = lockHost(ctx, h, "second@ci pid 2", 0)
	var le *LockError
	if !errors.As(err, &le) || le.Holder != "first@ci pid 1" {
		t.Fatalf("second lock: %v, want a LockError naming the first holder", err)
	}
	lock.release()
	lock2, err := lockHost(ctx, h, "second@ci pid 2", 0)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	lock2.release()
}
