package pkg_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goprov/goprov/internal/ci"
	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/planner"
	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/testinfra"
)

// labDebs is the lab's cache of Debian's own .debs (scripts/lab-deps.sh).
const labDebs = "/var/cache/goprov-lab/debs/bookworm"

// TestToolInstalledInTheSameApply: on a host without sudo, a
// sudoers_dropin whose visudo a package resource installs is planned
// "known after apply" (inferred: visudo comes from sudo), and one apply
// installs sudo, then reads, checks with visudo and writes the drop-in;
// the next plan is empty. The dependent comes first in the configuration:
// nothing but the inferred dependency orders it after the package.
func TestToolInstalledInTheSameApply(t *testing.T) {
	if _, err := os.Stat(filepath.Join(labDebs, ".packages")); err != nil {
		ci.Skip(t, "the lab's package cache is missing: run scripts/lab-deps.sh ("+err.Error()+")")
	}
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	h := lab.Hosts[0]
	repo := filepath.Join(h.RootDir, "srv/goprov-repo")
	if out, err := exec.Command("cp", "-a", labDebs+"/.", repo).CombinedOutput(); err != nil {
		t.Fatalf("copy the package cache: %v: %s", err, out)
	}
	// No init system in a lab host: services are not started or stopped
	// by maintainer scripts (policy-rc.d, as in containers).
	h.Sh(t, `printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*
echo 'deb [trusted=yes] file:/srv/goprov-repo ./' > /etc/apt/sources.list.d/goprov-lab.list
rm -rf /var/lib/apt/lists/*
rm -f /var/lib/dpkg/info/sudo.prerm  # it stops a sudo service through invoke-rc.d, which fails without an init system
dpkg --purge sudo >/dev/null
test ! -e /usr/sbin/visudo`)
	dir := labtest.Write(t, labtest.Inventory(lab, testinfra.UserRoot), `
resource "sudoers_dropin" "ops" {
  name = "ops"
  rule {
    users    = ["ops"]
    commands = ["/usr/bin/journalctl -n 50"]
  }
}

resource "package" "base" {
  names = ["sudo"]
}
`)
	s := labtest.Load(t, dir, labtest.Options{})
	p := s.Plan()
	labtest.RequireOK(t, p)
	c := change(t, p, "sudoers_dropin.ops")
	notes := strings.Join(c.Notes, "; ")
	if c.Action != resources.Create || c.KnownAfterApply != "package.base" || c.Summary != "known after apply" ||
		!strings.Contains(notes, "visudo not installed yet: the drop-in will be checked by visudo and written after package.base (dependency inferred: visudo comes from the package sudo)") {
		t.Fatalf("plan: %s after %q: %q; notes %q", c.Action, c.KnownAfterApply, c.Summary, notes)
	}
	s.Apply(p)
	labtest.RequireOK(t, p)
	for _, c := range labtest.HostPlan(p, "h1").Changes {
		if c.Outcome != planner.OutcomeApplied {
			t.Fatalf("%s: outcome %q %s", c.Address, c.Outcome, c.Error)
		}
	}
	if got := h.Sh(t, "stat -c '%a %U' /etc/sudoers.d/ops && /usr/sbin/visudo -c >/dev/null && echo checked"); got != "440 root\nchecked\n" {
		t.Fatalf("after apply: %q", got)
	}
	labtest.RequireEmpty(t, labtest.Plan(t, dir, labtest.Options{}))
}
