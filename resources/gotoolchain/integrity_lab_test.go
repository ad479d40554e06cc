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
	h1.ShTrim(t, "printf '#!/bin/sh\\necho pwned\\n' > /usr/local/go-1.22.5/bin/gofmt")
	p := labtest.Plan(t, cfg, labOpts)
	labtest.RequireOK(t, p)
	c := labtest.Change(p, "h1", addr)
	if c.Action != resources.Update || !strings.Contains(c.Summary, "reinstall: bin/gofmt differs") {
		t.Fatalf("plan after tampering bin/gofmt: %s %q, want an update naming bin/gofmt", c.Action, c.Summary)
	}
	t.Logf("tampered: %s; notes %q", c.Summary, c.Notes)
	labtest.RequireOK(t, labtest.Apply(t, cfg, labOpts))
	labtest.RequireEmpty(t, labtest.Plan(t, cfg, labOpts))
	if got := h1.ShTrim(t, "echo 'package x' | /usr/local/go/bin/gofmt >/dev/null && echo gofmt-ok; ls -A /usr/local | grep go"); got != "gofmt-ok\ngo\ngo-1.22.5" {
		t.Errorf("after the reinstall: %q", got)
	}

	// A missing executable is an update too.
	h1.ShTrim(t, "rm /usr/local/go-1.22.5/pkg/tool/linux_amd64/vet")
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

	// The records are in the tree, root-owned, and what go ignores.
	if got := h1.ShTrim(t, "cd /usr/local/go-1.22.5 && stat -c '%a %U %n' .goprov-* && sha256sum -c --quiet .goprov-manifest.sha256 && echo manifest-ok && grep -c '\"source\": \"proxy\"' .goprov-provenance.json"); got != "644 root .goprov-manifest.sha256\n644 root .goprov-provenance.json\nmanifest-ok\n1" {
		t.Errorf("records: %q", got)
	}

	// verify = "all": a changed source file is not an executable, so the
	// default plan does not see it; the full check does.
	h1.ShTrim(t, "echo '// planted' >> /usr/local/go-1.22.5/src/fmt/print.go")
	if c := labtest.Change(labtest.Plan(t, cfg, labOpts), "h1", addr); c.Action != resources.NoOp {
		t.Errorf("verify = executables sees a source edit: %s", c.Summary)
	}
	all := labtest.Write(t, inv, strings.Replace(proxyConfig(labVersion, 1), "keep    = 1", "keep    = 1\n  verify  = \"all\"", 1))
	p = labtest.Plan(t, all, labOpts)
	c = labtest.Change(p, "h1", addr)
	if c.Action != resources.Update || !strings.Contains(c.Summary, "reinstall: src/fmt/print.go differs") {
		t.Errorf("verify = all after a source edit: %s %q", c.Action, c.Summary)
	}
	labtest.RequireOK(t, labtest.Apply(t, all, labOpts))
	p = labtest.Plan(t, all, labOpts)
	labtest.RequireEmpty(t, p)
	readAll := labtest.HostPlan(p, "h1").Timings.ReadMS
	p = labtest.Plan(t, cfg, labOpts)
	labtest.RequireEmpty(t, p)
	t.Logf("plan read of h1 (9,500-file tree): verify = executables %d ms, verify = all %d ms", labtest.HostPlan(p, "h1").Timings.ReadMS, readAll)

	// A tree without records (installed by an older goprov) is an update.
	h1.ShTrim(t, "rm /usr/local/go-1.22.5/.goprov-provenance.json /usr/local/go-1.22.5/.goprov-manifest.sha256")
	c = labtest.Change(labtest.Plan(t, cfg, labOpts), "h1", addr)
	if c.Action != resources.Update || c.Summary != "go1.22.5 at /usr/local/go (linux/amd64): reinstall: no provenance record" || !strings.Contains(strings.Join(c.Notes, " "), "older goprov") {
		t.Errorf("plan without records: %s %q %q", c.Action, c.Summary, c.Notes)
	}
}
