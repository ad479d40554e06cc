package pkg_test

import (
	"fmt"
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
	"github.com/goprov/goprov/testinfra/base"

	_ "github.com/goprov/goprov/resources/all"
)

// demoDeb is one binary package of the lab's local repository.
type demoDeb struct {
	name, version, depends, recommends string
	postinst                           string // "" for none
}

// demoDebs: a package with a dependency and a recommendation, in two
// versions (to pin one); and one whose postinst fails, leaving it
// half-configured, as a broken maintainer script does.
var demoDebs = []demoDeb{
	{name: "goprov-demo-lib", version: "1.0"},
	{name: "goprov-demo-rec", version: "1.0"},
	{name: "goprov-demo-a", version: "1.0", depends: "goprov-demo-lib", recommends: "goprov-demo-rec"},
	{name: "goprov-demo-a", version: "2.0", depends: "goprov-demo-lib", recommends: "goprov-demo-rec"},
	{name: "goprov-demo-broken", version: "1.0", postinst: "#!/bin/sh\necho 'goprov-demo-broken: postinst fails on purpose' >&2\nexit 1\n"},
}

// buildRepo builds the .debs with dpkg-deb and indexes them with
// dpkg-scanpackages (Debian's own tools, on the controller) into dir: a
// flat repository apt reads as `deb [trusted=yes] file:DIR ./`.
func buildRepo(t *testing.T, dir string) {
	t.Helper()
	ci.LookPath(t, "dpkg-deb")
	ci.LookPath(t, "dpkg-scanpackages") // dpkg-dev: scripts/lab-deps.sh installs it
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range demoDebs {
		src := filepath.Join(t.TempDir(), "src")
		control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: goprov tests <goprov@example.invalid>\nDescription: goprov lab test package\n", d.name, d.version)
		if d.depends != "" {
			control += "Depends: " + d.depends + "\n"
		}
		if d.recommends != "" {
			control += "Recommends: " + d.recommends + "\n"
		}
		files := map[string]string{
			"DEBIAN/control":                  control,
			"usr/share/doc/" + d.name + "/ok": d.version + "\n",
		}
		if d.postinst != "" {
			files["DEBIAN/postinst"] = d.postinst
		}
		for p, c := range files {
			full := filepath.Join(src, p)
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			mode := os.FileMode(0o644)
			if strings.HasSuffix(p, "postinst") {
				mode = 0o755
			}
			if err := os.WriteFile(full, []byte(c), mode); err != nil {
				t.Fatal(err)
			}
		}
		deb := filepath.Join(dir, fmt.Sprintf("%s_%s_all.deb", d.name, d.version))
		if out, err := exec.Command("dpkg-deb", "--root-owner-group", "-Zgzip", "--build", src, deb).CombinedOutput(); err != nil {
			t.Fatalf("dpkg-deb: %v: %s", err, out)
		}
	}
	cmd := exec.Command("dpkg-scanpackages", "--multiversion", ".", "/dev/null")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dpkg-scanpackages: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Packages"), out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func change(t *testing.T, p *planner.Plan, addr string) *planner.ResourceChange {
	t.Helper()
	c := labtest.Change(p, "h1", addr)
	if c == nil {
		msg := ""
		if hp := labtest.HostPlan(p, "h1"); hp != nil {
			msg = hp.Error
		}
		t.Fatalf("no change for %s (host error: %s)", addr, msg)
	}
	return c
}

const dpkgState = `dpkg-query -W -f '${Package} ${Version} ${Status}\n' | sort`

// TestPackagesOnLabHosts installs, pins, removes and fails to install
// packages from a local file: repository, the only apt source of a lab
// host (the lab is offline, like a locked-down fleet), on bookworm and
// trixie.
func TestPackagesOnLabHosts(t *testing.T) {
	for _, suite := range []string{base.Bookworm, base.Trixie} {
		t.Run(suite, func(t *testing.T) { testPackages(t, suite) })
	}
}

func testPackages(t *testing.T, suite string) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1, Suite: suite})
	h := lab.Hosts[0]
	buildRepo(t, filepath.Join(h.RootDir, "srv/goprov-repo"))
	h.Sh(t, `rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*
echo 'deb [trusted=yes] file:/srv/goprov-repo ./' > /etc/apt/sources.list.d/goprov-lab.list
rm -rf /var/lib/apt/lists/*`)
	inv := labtest.Inventory(lab, testinfra.UserDeploy)
	cfg := func(body string) string { return labtest.Write(t, inv, body) }
	const addr = "package.demo"
	demo := func(extra string) string {
		return cfg(`resource "package" "demo" {
  names = ["goprov-demo-a"]
` + extra + `}
`)
	}

	t.Run("plan reads without writing, apply installs without recommends, next plan empty", func(t *testing.T) {
		dir := demo("")
		p := labtest.Plan(t, dir, labtest.Options{})
		labtest.RequireOK(t, p)
		if c := change(t, p, addr); c.Action != resources.Create || !strings.Contains(c.Summary, "install goprov-demo-a") {
			t.Fatalf("plan: %s %q %v", c.Action, c.Summary, c.Notes)
		}
		if got := h.Sh(t, "ls -A /var/lib/apt/lists"); got != "" {
			t.Fatalf("plan wrote the apt index: %q", got)
		}
		labtest.RequireOK(t, labtest.Apply(t, dir, labtest.Options{}))
		got := h.Sh(t, dpkgState+" | grep goprov-demo || true")
		want := "goprov-demo-a 2.0 install ok installed\ngoprov-demo-lib 1.0 install ok installed\n"
		if got != want {
			t.Fatalf("installed:\n%s\nwant:\n%s", got, want)
		}
		labtest.RequireEmpty(t, labtest.Plan(t, dir, labtest.Options{}))
	})

	t.Run("a pinned version is planned and installed", func(t *testing.T) {
		dir := demo(`  version = "1.0"` + "\n")
		p := labtest.Plan(t, dir, labtest.Options{})
		labtest.RequireOK(t, p)
		if c := change(t, p, addr); c.Action != resources.Update || !strings.Contains(c.Summary, "goprov-demo-a 2.0 → 1.0") {
			t.Fatalf("plan: %s %q", c.Action, c.Summary)
		}
		labtest.RequireOK(t, labtest.Apply(t, dir, labtest.Options{}))
		if got := h.Sh(t, "dpkg-query -W -f '${Version}' goprov-demo-a"); got != "1.0" {
			t.Fatalf("version %q", got)
		}
		labtest.RequireEmpty(t, labtest.Plan(t, dir, labtest.Options{}))
	})

	t.Run("absent removes the package and nothing else", func(t *testing.T) {
		dir := demo(`  ensure = "absent"` + "\n")
		p := labtest.Plan(t, dir, labtest.Options{})
		labtest.RequireOK(t, p)
		if c := change(t, p, addr); c.Action != resources.Delete || !strings.Contains(c.Summary, "remove goprov-demo-a") {
			t.Fatalf("plan: %s %q", c.Action, c.Summary)
		}
		labtest.RequireOK(t, labtest.Apply(t, dir, labtest.Options{}))
		if got := h.Sh(t, dpkgState+" | grep goprov-demo || true"); got != "goprov-demo-lib 1.0 install ok installed\n" {
			t.Fatalf("after remove:\n%s", got)
		}
		labtest.RequireEmpty(t, labtest.Plan(t, dir, labtest.Options{}))
	})

	t.Run("a package the mirror lacks fails with apt's message and changes no package", func(t *testing.T) {
		dir := cfg(`resource "package" "missing" {
  names = ["goprov-demo-rec", "goprov-no-such-package"]
}
`)
		before := h.Sh(t, dpkgState)
		p := labtest.Apply(t, dir, labtest.Options{})
		hp := labtest.HostPlan(p, "h1")
		if hp.Status != planner.StatusFailed || !strings.Contains(hp.Error, "Unable to locate package goprov-no-such-package") {
			t.Fatalf("status %s: %s", hp.Status, hp.Error)
		}
		if after := h.Sh(t, dpkgState); after != before {
			t.Fatalf("package state changed:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})

	t.Run("a failed maintainer script is reported at apply and by the next plan", func(t *testing.T) {
		dir := cfg(`resource "package" "broken" {
  names = ["goprov-demo-broken"]
}
`)
		p := labtest.Apply(t, dir, labtest.Options{})
		hp := labtest.HostPlan(p, "h1")
		if hp.Status != planner.StatusFailed || !strings.Contains(hp.Error, "postinst fails on purpose") {
			t.Fatalf("status %s: %s", hp.Status, hp.Error)
		}
		p = labtest.Plan(t, dir, labtest.Options{})
		labtest.RequireOK(t, p)
		c := change(t, p, "package.broken")
		if c.Action != resources.Update || !strings.Contains(strings.Join(c.Notes, "; "), "goprov-demo-broken is half-configured") {
			t.Fatalf("plan after: %s %q %v", c.Action, c.Summary, c.Notes)
		}
	})
}
