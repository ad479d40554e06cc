package planner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/transport"
)

// TestImageLockExcludesAndNamesHolder: on an image root goprov holds the
// lock itself, inside the root: a second apply is refused naming the
// first; after release the lock is free again.
func TestImageLockExcludesAndNamesHolder(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("image roots need root; CI runs as root")
		}
		t.Skip("image roots need root")
	}
	root := t.TempDir()
	h := &resources.Host{Name: "img", Root: root, T: transport.NewLocalRoot(root)}
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
