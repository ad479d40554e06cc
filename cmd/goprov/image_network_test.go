package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goprov/goprov/internal/ci"
	"github.com/goprov/goprov/testinfra"
	"github.com/goprov/goprov/testinfra/base"
)

// TestImageRootNetworkFlag: `goprov apply -root DIR` into an image whose
// only apt source is the lab's signed mirror over HTTP (on this machine's
// loopback) fails with apt's message and a hint naming -root-network, and
// installs nothing; the same apply with -root-network installs zsh into
// the image.
func TestImageRootNetworkFlag(t *testing.T) {
	bc := testinfra.MinimalBaseConfig(base.Bookworm)
	if _, err := os.Stat(filepath.Join(bc.MirrorDir(), "InRelease")); err != nil {
		ci.Skip(t, "the lab's minimal bookworm mirror is missing or unsigned: run scripts/lab-deps.sh ("+err.Error()+")")
	}
	mirror := httptest.NewServer(http.FileServer(http.Dir(bc.MirrorDir())))
	defer mirror.Close()
	root, _ := testinfra.ImageRootOf(t, bc)
	keyring, err := os.ReadFile(filepath.Join(bc.MirrorDir(), "lab-archive-keyring.gpg"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"etc/apt/keyrings/lab.gpg":               string(keyring),
		"etc/apt/sources.list":                   "",
		"etc/apt/sources.list.d/goprov-lab.list": "deb [signed-by=/etc/apt/keyrings/lab.gpg] " + mirror.URL + " ./\n",
		"usr/sbin/policy-rc.d":                   "#!/bin/sh\nexit 101\n",
	}
	for rel, data := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, rel), []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("sh", "-c", `rm -rf "$1"/var/lib/apt/lists/*`, "sh", root).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
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
