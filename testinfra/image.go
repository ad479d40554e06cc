package testinfra

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/goprov/goprov/internal/ci"
	"github.com/goprov/goprov/testinfra/base"
)

// ImageRoot mounts a writable overlay of the lab's Debian base image (built
// first if needed) and returns its root: a whole Debian root to apply into
// as an image host. Writes land in a per-test upper layer, never in base
// (returned so tests can check that); the overlay is unmounted at cleanup.
// It needs root (skipped, or failed under CI, otherwise).
func ImageRoot(t testing.TB) (root, baseDir string) {
	t.Helper()
	return ImageRootOf(t, BaseConfig())
}

// ImageRootOf is ImageRoot over the image c describes (MinimalBaseConfig,
// SuiteBaseConfig).
func ImageRootOf(t testing.TB, c base.Config) (root, baseDir string) {
	t.Helper()
	ci.RequireRoot(t, "mounts an overlay of the lab's base image")
	baseDir, err := base.Ensure(context.Background(), c)
	if err != nil {
		t.Fatalf("lab base image: %v", err)
	}
	work := t.TempDir()
	upper, wdir, root := filepath.Join(work, "upper"), filepath.Join(work, "work"), filepath.Join(work, "root")
	for _, d := range []string{upper, wdir, root} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := mountOverlay(root, fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", baseDir, upper, wdir)); err != nil {
		t.Fatalf("mount overlay: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(root, syscall.MNT_DETACH) })
	return root, baseDir
}
