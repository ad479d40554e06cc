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

// LabKeyring is where MinimalImageRoot puts the lab mirror's archive key
// in the image, for sources with signed-by=.
const LabKeyring = "/etc/apt/keyrings/goprov-lab.gpg"

// MinimalImageRoot is ImageRootOf the suite's minimal image, made ready for
// an image build that installs with its own apt: the lab mirror's key at
// LabKeyring, no sources but those in files (image-relative path →
// content, written 0755 with their directories), no apt index, and a
// policy-rc.d that starts no service (as debootstrap-based builders do).
// Without the lab's signed mirror it skips (fails in CI).
func MinimalImageRoot(t testing.TB, suite string, files map[string]string) (root, baseDir string) {
	t.Helper()
	bc := MinimalBaseConfig(suite)
	keyring, err := os.ReadFile(filepath.Join(bc.MirrorDir(), "lab-archive-keyring.gpg"))
	if err == nil {
		_, err = os.Stat(filepath.Join(bc.MirrorDir(), "InRelease"))
	}
	if err != nil {
		ci.Skip(t, "the lab's minimal "+suite+" mirror is missing or unsigned: run scripts/lab-deps.sh ("+err.Error()+")")
	}
	root, baseDir = ImageRootOf(t, bc)
	all := map[string]string{
		LabKeyring[1:]:         string(keyring),
		"etc/apt/sources.list": "",
		"usr/sbin/policy-rc.d": "#!/bin/sh\nexit 101\n",
	}
	for rel, data := range files {
		all[rel] = data
	}
	for rel, data := range all {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	lists := filepath.Join(root, "var/lib/apt/lists")
	if err := os.RemoveAll(lists); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(lists, "partial"), 0o755); err != nil {
		t.Fatal(err)
	}
	return root, baseDir
}
