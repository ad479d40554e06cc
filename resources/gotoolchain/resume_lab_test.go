package gotoolchain

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/planner"
	"github.com/goprov/goprov/testinfra"
)

// txBytes is what the controller has sent to h (its veth, bridge side).
func txBytes(t *testing.T, h *testinfra.Host) int64 {
	t.Helper()
	b, err := os.ReadFile("/sys/class/net/" + h.Veth() + "/statistics/tx_bytes")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A toolchain sent from the controller survives a link that drops: the
// network is cut half-way through the transfer (and the host's side of the
// connection dies); the next apply resumes from what was staged instead of
// starting from zero, and the result is verified.
func TestLabTransferResumes(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	inv := labtest.Inventory(lab, testinfra.UserDeploy)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	h := lab.Hosts[0]
	cfg := labtest.Write(t, inv, fmt.Sprintf(`
resource "go_toolchain" "go" {
  version      = %q
  install_root = "/opt/resume"
  link         = "/opt/resume/go"
}
`, labVersion))
	opts := labtest.Options{Timeout: labOpts.Timeout}
	// Download and verify the archive on the controller first (a plan of
	// an install prepares nothing; an apply on another root does), so the
	// cut below falls in the transfer.
	before := txBytes(t, h)
	done := make(chan *planner.Plan, 1)
	go func() { done <- labtest.Apply(t, cfg, opts) }()
	const half = 110 << 20 // about half of go1.22.5's 230 MB tree
	deadline := time.Now().Add(4 * time.Minute)
	for txBytes(t, h)-before < half {
		if time.Now().After(deadline) {
			t.Fatal("the transfer never got half-way")
		}
		select {
		case p := <-done:
			t.Fatalf("apply ended before the cut: %v", labtest.HostPlan(p, "h1"))
		default:
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := h.CutNetwork(); err != nil {
		t.Fatal(err)
	}
	cutAt := txBytes(t, h) - before
	time.Sleep(time.Second)
	// The host's end is gone too (as after a reboot of the link's far
	// side): once the link is back, the controller's retransmission meets
	// a reset instead of waiting for keepalives.
	if err := h.KillSSHD(); err != nil {
		t.Fatal(err)
	}
	if err := h.RestoreNetwork(); err != nil {
		t.Fatal(err)
	}
	p := <-done
	if err := h.StartSSHD(); err != nil {
		t.Fatal(err)
	}
	first := txBytes(t, h) - before
	hp := labtest.HostPlan(p, "h1")
	if hp.Status != planner.StatusFailed {
		t.Fatalf("apply with the link cut after %d MB: %s", cutAt>>20, hp.Status)
	}
	t.Logf("cut after %d MiB sent: %s", cutAt>>20, hp.Error)
	if got := h.ShTrim(t, "readlink /opt/resume/go || echo no-link"); got != "no-link" {
		t.Fatalf("after the cut the link exists: %s", got)
	}
	staged := h.ShTrim(t, "stat -c %s /home/deploy/.cache/goprov/stage/*.tar 2>/dev/null || echo 0")
	if n, _ := strconv.ParseInt(staged, 10, 64); n <= 0 {
		t.Errorf("staged size at restart = %q, want > 0 (the next apply would start from zero)", staged)
	}

	start := txBytes(t, h)
	labtest.RequireOK(t, labtest.Apply(t, cfg, opts))
	second := txBytes(t, h) - start
	tree, err := strconv.ParseInt(h.ShTrim(t, "du -sb --apparent-size /opt/resume/go-"+labVersion+" | cut -f1"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sent %d MiB before the cut (%d MiB counted), %d MiB after; the tree is %d MiB", cutAt>>20, first>>20, second>>20, tree>>20)
	if second >= tree {
		t.Errorf("the retry sent %d bytes, a whole tree (%d): it started from zero", second, tree)
	}
	if first+second >= 2*tree {
		t.Errorf("sent %d bytes in all, ≥ 2× the tree (%d)", first+second, tree)
	}
	labtest.RequireEmpty(t, labtest.Plan(t, cfg, opts))
	if got := h.ShTrim(t, "/opt/resume/go/bin/go version; ls -A /home/deploy/.cache/goprov/stage"); got != "go version go"+labVersion+" linux/amd64" {
		t.Errorf("after the resumed apply: %q (want the toolchain, and no staged file left)", got)
	}
}
