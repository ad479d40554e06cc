package gotoolchain

import (
	"fmt"
	"strings"
	"testing"

	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/testinfra"
)

// TestLabIntegrity: the plan checks the tree it relies on, not just that
// a directory of the right name exists. One host, one install of the
// proxy toolchain, reused: tamper bin/gofmt → the plan is an update naming
// it → apply reinstalls → the next plan is empty; then a declared pin the
// recorded provenance does not satisfy is an update too.
func TestLabIntegrity(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	inv := labtest.Inventory(lab, testinfra.UserDeploy)
	h1 := lab.Hosts[0]
	const addr = "go_toolchain.go"
	cfg := labtest.Write(t, inv, proxyConfig(labVersion, 1))
	labtest.RequireOK(t, labtest.Apply(t, cfg, labOpts))
	labtest.RequireEmpty(t, labtest.Plan(t, cfg, labOpts))

	// Tamper with an executable the way an intruder or a stray
	// `cp` over GOROOT would: same name, other bytes.
	exec1(t, h1, "printf '#!/bin/sh\\necho pwned\\n' > /usr/local/go-1.22.5/bin/gofmt")
	p := labtest.Plan(t, cfg, labOpts)
	labtest.RequireOK(t, p)
	c := labtest.Change(p, "h1", addr)
	if c.Action != resources.Update || !strings.Contains(c.Summary, "reinstall: bin/gofmt differs") {
		t.Fatalf("plan after tampering bin/gofmt: %s %q, want an update naming bin/gofmt", c.Action, c.Summary)
	}
	t.Logf("tampered: %s; notes %q", c.Summary, c.Notes)
	labtest.RequireOK(t, labtest.Apply(t, cfg, labOpts))
	labtest.RequireEmpty(t, labtest.Plan(t, cfg, labOpts))
	if got := exec1(t, h1, "/usr/local/go/bin/gofmt -l /dev/null >/dev/null && echo gofmt-ok; ls -A /usr/local | grep go"); got != "gofmt-ok\ngo\ngo-1.22.5" {
		t.Errorf("after the reinstall: %q", got)
	}

	// A missing executable is an update too.
	exec1(t, h1, "rm /usr/local/go-1.22.5/pkg/tool/linux_amd64/vet")
	c = labtest.Change(labtest.Plan(t, cfg, labOpts), "h1", addr)
	if c.Action != resources.Update || !strings.Contains(c.Summary, "reinstall: pkg/tool/linux_amd64/vet missing") {
		t.Errorf("plan after removing vet: %s %q", c.Action, c.Summary)
	}
	labtest.RequireOK(t, labtest.Apply(t, cfg, labOpts))
	labtest.RequireEmpty(t, labtest.Plan(t, cfg, labOpts))

	// The same version declared from another source (the official
	// archive layout, pinned by sha256): what is installed came from the
	// module proxy, so the pin is not satisfied: update.
	file := fmt.Sprintf(`
resource "go_toolchain" "go" {
  version = %q
  source  = "file"
  path    = "/nonexistent/go%s.linux-amd64.tar.gz"
  sha256  = %q
  keep    = 1
  env     = %s
}
`, labVersion, labVersion, sumA, labEnv)
	c = labtest.Change(labtest.Plan(t, labtest.Write(t, inv, file), labOpts), "h1", addr)
	if c.Action != resources.Update || !strings.Contains(c.Summary, "reinstall: installed from source \"proxy\", declared \"file\"") {
		t.Errorf("plan with another source: %s %q", c.Action, c.Summary)
	}
}
