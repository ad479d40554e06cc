package main

import (
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"

	"github.com/goprov/goprov/testinfra"
	"github.com/goprov/goprov/testinfra/base"
)

// TestImageRootNetworkFlag: `goprov apply -root DIR` into an image whose
// only apt source is the lab's signed mirror over HTTP (on this machine's
// loopback) fails with apt's message and a hint naming -root-network, and
// installs nothing; the same apply with -root-network installs zsh into
// the image.
func TestImageRootNetworkFlag(t *testing.T) {
	mirror := httptest.NewServer(http.FileServer(http.Dir(testinfra.MinimalBaseConfig(base.Bookworm).MirrorDir())))
	defer mirror.Close()
	root, _ := testinfra.MinimalImageRoot(t, base.Bookworm, map[string]string{
		"etc/apt/sources.list.d/goprov-lab.list": "deb [signed-by=" + testinfra.LabKeyring + "] " + mirror.URL + " ./\n",
	})
	dir := writeConfig(t, `
host "img" {
  connection = "local"
}

resource "package" "shell" {
  names = ["zsh"]
}
`)
	zsh := func() string {
		out, _ := exec.Command("chroot", root, "dpkg-query", "-W", "-f", "${db:Status-Abbrev}", "zsh").CombinedOutput()
		return strings.TrimSpace(string(out))
	}

	r := goprov(t, "apply", "-auto-approve", "-root", root, dir)
	if all := r.stdout + r.stderr; r.code != exitError || !strings.Contains(all, "Network is unreachable") || !strings.Contains(all, "-root-network") {
		t.Fatalf("apply without -root-network: exit %d, want %d with apt's message and the hint\nstdout:\n%s\nstderr:\n%s", r.code, exitError, r.stdout, r.stderr)
	}
	if got := zsh(); got == "ii" {
		t.Fatal("zsh installed without -root-network")
	}
	r = goprov(t, "apply", "-auto-approve", "-root", root, "-root-network", dir)
	if r.code != exitOK || zsh() != "ii" {
		t.Fatalf("apply -root-network: exit %d, zsh %q\nstdout:\n%s\nstderr:\n%s", r.code, zsh(), r.stdout, r.stderr)
	}
}
