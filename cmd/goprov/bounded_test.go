package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/testinfra"
)

// A compromised host cannot fill the controller's memory. h1's head (which
// the batched read runs for a managed file over 1 KiB, its output going
// straight to the controller) prints 600 MiB; h2 holds a 20 MB
// managed file; h3 is honest. The plan fails h1 ("host printed more than …",
// its command stopped) and h2 (the file is refused unread), plans h3, and
// the CLI's peak memory stays far below what the hosts offered.
func TestHostileOutputIsBounded(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 3})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	flood := "#!/bin/sh\n# goprov-flood: a compromised host's head\ndd if=/dev/zero bs=1M count=600 2>/dev/null | tr '\\0' y\n"
	h1.Sh(t, "head -c 2048 /dev/zero | tr '\\0' x > /etc/profile.d/big.sh")
	if err := os.WriteFile(filepath.Join(h1.RootDir, "usr/bin/head"), []byte(flood), 0o755); err != nil {
		t.Fatal(err)
	}
	h2.Sh(t, "truncate -s 20M /etc/profile.d/big.sh")
	cfg := labtest.Write(t, labtest.Inventory(lab, testinfra.UserDeploy), `
resource "profile_script" "big" {
  name = "big"
  env  = { A = "1" }
}
`)
	cmd := exec.Command(goprovBin, "plan", "-json", cfg)
	r := runCmd(t, cmd, []string{"plan"})
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	peak := ru.Maxrss << 10 // KiB on Linux
	t.Logf("controller peak RSS: %d MiB", peak>>20)
	if r.code != 1 {
		t.Errorf("plan: exit %d, want 1 (two hosts failed)\n%s", r.code, r.stderr)
	}
	var doc struct {
		Hosts []struct{ Name, Status, Error string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("plan -json: %v\n%.2000s", err, r.stdout)
	}
	want := map[string]struct{ status, err string }{
		"h1": {"failed", "host printed more than 67108864 bytes in one command"},
		"h2": {"failed", "larger than 16777216 bytes"},
		"h3": {"planned", ""},
	}
	for _, h := range doc.Hosts {
		w := want[h.Name]
		if h.Status != w.status || !strings.Contains(h.Error, w.err) || (w.err == "" && h.Error != "") {
			t.Errorf("%s: status %s, error %.300q; want %s with %q", h.Name, h.Status, h.Error, w.status, w.err)
		}
	}
	if len(doc.Hosts) != 3 {
		t.Errorf("plan has %d hosts, want 3", len(doc.Hosts))
	}
	// The cap is 64 MiB; the hosts offered 600 MiB and 20 MB.
	if peak > 400<<20 {
		t.Errorf("controller peak RSS %d MiB, want under 400 MiB", peak>>20)
	}
	// The flooding command was stopped on the host, not left running.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := h1.Sh(t, "ps -eo args | grep -c '^/bin/sh /usr/bin/head\\|^dd if=/dev/zero' || :")
		if strings.TrimSpace(out) == "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("the flooding command still runs on h1 10 s after the plan: %s", out)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
}
