package planner

import (
	"os"
	"testing"

	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/transport"
)

// needRoot is for tests whose host side runs as root (Sudo on the local
// transport): they fail in CI, which runs as root, and skip elsewhere.
func needRoot(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(why + "; CI runs as root")
	}
	t.Skip("skipped: " + why + "; run as root or in CI")
}

// imageHost is a host "img" whose root is a fresh temp dir, reached
// through the transport tr builds for that root.
func imageHost(t *testing.T, tr func(root string) transport.Transport) (*resources.Host, string) {
	t.Helper()
	root := t.TempDir()
	return &resources.Host{Name: "img", Root: root, T: tr(root)}, root
}

// localTransport and localRootTransport are imageHost's two choices: the
// plain local transport (paths under the root are the caller's to join),
// or one sandboxed in the root.
func localTransport(string) transport.Transport          { return transport.NewLocal() }
func localRootTransport(root string) transport.Transport { return transport.NewLocalRoot(root) }
