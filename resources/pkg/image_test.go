package pkg_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/goprov/goprov/internal/ci"
	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/planner"
	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/testinfra"
	"github.com/goprov/goprov/testinfra/base"
)

// TestPackagesIntoImageRoot: for each way the drop-in can depend on the
// package resource (inferred from its tool, or a reference to the package
// resource), an image root (an overlay of the lab's minimal
// bookworm image) whose only apt source is a signed file: repository
// inside the image (the lab's mirror, copied in; the image's sandbox has
// no network) gets zsh and sudo installed by its own apt and dpkg, and a
// sudoers drop-in checked by the visudo that sudo brings (known after
// apply); the next plan is empty, the base image untouched, and the build
// machine's package state (dpkg -l) identical before and after.
func TestPackagesIntoImageRoot(t *testing.T) {
	for _, tc := range []struct {
		name, dropin, note string
		dependsOn          []string
	}{
		{"inferred from visudo", `"ops"`, "after package.tools (dependency inferred: visudo comes from the package sudo)", nil},
		// Only the reference links them: no "inferred" in the note.
		{"a reference to package.tools", `"ops-${package.tools.names[1]}"`, "after package.tools", []string{"package.tools"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testPackagesIntoImageRoot(t, tc.dropin, tc.note, tc.dependsOn)
		})
	}
}

func testPackagesIntoImageRoot(t *testing.T, dropin, note string, dependsOn []string) {
	bc := testinfra.MinimalBaseConfig(base.Bookworm)
	if _, err := os.Stat(filepath.Join(bc.MirrorDir(), "InRelease")); err != nil {
		ci.Skip(t, "the lab's minimal bookworm mirror is missing or unsigned: run scripts/lab-deps.sh ("+err.Error()+")")
	}
	root, baseDir := testinfra.ImageRootOf(t, bc)
	if out, err := exec.Command("cp", "-a", bc.MirrorDir()+"/.", filepath.Join(root, "srv/goprov-mirror")).CombinedOutput(); err != nil {
		t.Fatalf("copy the mirror into the image: %v: %s", err, out)
	}
	files := map[string]string{
		"etc/apt/sources.list.d/goprov-lab.list": "deb [signed-by=/srv/goprov-mirror/lab-archive-keyring.gpg] file:/srv/goprov-mirror ./\n",
		"etc/apt/sources.list":                   "",
		// An image build starts no services (as debootstrap-based builders do).
		"usr/sbin/policy-rc.d": "#!/bin/sh\nexit 101\n",
	}
	for rel, data := range files {
		if err := os.WriteFile(filepath.Join(root, rel), []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dpkgL := func() string {
		out, err := exec.Command("dpkg", "-l").CombinedOutput()
		if err != nil {
			t.Fatalf("dpkg -l on the build machine: %v: %s", err, out)
		}
		return string(out)
	}
	before := dpkgL()
	dir := labtest.Write(t, `
host "img" {
  connection = "local"
  root       = "`+root+`"
}

resource "sudoers_dropin" "ops" {
  name = `+dropin+`
  rule {
    users    = ["ops"]
    commands = ["/usr/bin/journalctl -n 50"]
  }
}

resource "package" "tools" {
  names = ["zsh", "sudo"]
}
`)
	s := labtest.Load(t, dir, labtest.Options{Timeout: 10 * time.Minute})
	p := s.Plan()
	labtest.RequireOK(t, p)
	c := labtest.Change(p, "img", "sudoers_dropin.ops")
	if c == nil {
		t.Fatal("plan: no sudoers_dropin.ops")
	}
	if c.KnownAfterApply != "package.tools" || !cmp.Equal(c.DependsOn, dependsOn, cmpopts.EquateEmpty()) {
		t.Fatalf("plan: sudoers_dropin.ops: %s %q known after %q, depends on %q, want %q", c.Action, c.Summary, c.KnownAfterApply, c.DependsOn, dependsOn)
	}
	if notes := strings.Join(c.Notes, "; "); !strings.HasSuffix(notes, note) {
		t.Fatalf("plan: sudoers_dropin.ops notes %q, want them to end %q", notes, note)
	}
	s.Apply(p)
	labtest.RequireOK(t, p)
	for _, c := range labtest.HostPlan(p, "img").Changes {
		if c.Action != resources.NoOp && c.Outcome != planner.OutcomeApplied {
			t.Errorf("%s: %s outcome %q %s", c.Address, c.Action, c.Outcome, c.Error)
		}
	}
	out, err := exec.Command("chroot", root, "dpkg-query", "-W", "-f", "${Package} ${db:Status-Abbrev}\n", "zsh", "sudo").CombinedOutput()
	if err != nil || string(out) != "sudo ii \nzsh ii \n" && string(out) != "zsh ii \nsudo ii \n" {
		t.Fatalf("image's dpkg: %v %q", err, out)
	}
	if out, err := exec.Command("chroot", root, "/usr/sbin/visudo", "-c").CombinedOutput(); err != nil || !strings.Contains(string(out), "/etc/sudoers.d/ops") {
		t.Fatalf("visudo -c in the image: %v %s", err, out)
	}
	labtest.RequireEmpty(t, labtest.Plan(t, dir, labtest.Options{}))
	if _, err := os.Stat(filepath.Join(baseDir, "usr/bin/zsh")); err == nil {
		t.Error("zsh went through to the base image")
	}
	if after := dpkgL(); after != before {
		t.Errorf("the build machine's packages changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
