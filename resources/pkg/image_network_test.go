package pkg_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goprov/goprov/internal/ci"
	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/planner"
	"github.com/goprov/goprov/testinfra"
	"github.com/goprov/goprov/testinfra/base"
)

// TestImageRootNetwork: an image root whose apt sources are http: mirrors
// on the lab bridge (the lab's signed minimal mirror, and a signed
// repository of one probe package) cannot install without -root-network:
// apply fails with apt's message and a hint naming the flag, and the
// image's packages stay as they were. With it, apt's download phase
// reaches the mirrors (an APT::Update::Pre-Invoke hook of the image's,
// run by that phase, connects to a listener on the gateway), while the
// probe package's postinst, the image's code run by the offline install
// phase, cannot connect to that same listener. The build machine's
// packages (dpkg -l) never change.
func TestImageRootNetwork(t *testing.T) {
	bc := testinfra.MinimalBaseConfig(base.Bookworm)
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1, Minimal: true})
	port := lab.AcceptAll(t, 0)
	probe := fmt.Sprintf(`if (exec 3<>/dev/tcp/%s/%d) 2>/dev/null; then echo reached; else echo unreachable; fi`, lab.Gateway(), port)
	repo := t.TempDir()
	buildProbeRepo(t, repo, "#!/bin/bash\n"+probe+" > /var/lib/goprov-probe.postinst\n")
	mirrorURL, repoURL := lab.ServeDir(t, bc.MirrorDir()), lab.ServeDir(t, repo)

	root, _ := testinfra.MinimalImageRoot(t, base.Bookworm, map[string]string{
		"etc/apt/keyrings/probe.gpg": readFile(t, filepath.Join(repo, "keyring.gpg")),
		"etc/apt/sources.list.d/goprov-lab.list": "deb [signed-by=" + testinfra.LabKeyring + "] " + mirrorURL + " ./\n" +
			"deb [signed-by=/etc/apt/keyrings/probe.gpg] " + repoURL + " ./\n",
		"etc/apt/apt.conf.d/99probe":  `APT::Update::Pre-Invoke { "/usr/local/sbin/goprov-probe"; };` + "\n",
		"usr/local/sbin/goprov-probe": "#!/bin/bash\n" + probe + " > /var/lib/goprov-probe.update\n",
	})
	imageState := func() string {
		out, err := exec.Command("chroot", root, "sh", "-c", dpkgState).CombinedOutput()
		if err != nil {
			t.Fatalf("image's dpkg-query: %v: %s", err, out)
		}
		return string(out)
	}
	machineBefore, imageBefore := buildMachineDpkg(t), imageState()
	dir := labtest.Write(t, `
host "img" {
  connection = "local"
  root       = "`+root+`"
}

resource "package" "tools" {
  names = ["zsh", "goprov-probe"]
}
`)
	opts := labtest.Options{Timeout: 10 * time.Minute}

	p := labtest.Apply(t, dir, opts)
	hp := labtest.HostPlan(p, "img")
	if hp.Status != planner.StatusFailed || !strings.Contains(hp.Error, "Network is unreachable") || !strings.Contains(hp.Error, "-root-network") {
		t.Errorf("without -root-network: status %s, error %q; want apt's message and a hint naming -root-network", hp.Status, hp.Error)
	}
	if after := imageState(); after != imageBefore {
		t.Fatalf("without -root-network the image's packages changed:\nbefore:\n%s\nafter:\n%s", imageBefore, after)
	}

	opts.RootNetwork = true
	p = labtest.Apply(t, dir, opts)
	labtest.RequireOK(t, p)
	out, err := exec.Command("chroot", root, "dpkg-query", "-W", "-f", "${db:Status-Abbrev}${Package}\n", "zsh", "goprov-probe").CombinedOutput()
	if err != nil || string(out) != "ii goprov-probe\nii zsh\n" && string(out) != "ii zsh\nii goprov-probe\n" {
		t.Errorf("with -root-network: the image's dpkg: %v %q", err, out)
	}
	for file, want := range map[string]string{"update": "reached", "postinst": "unreachable"} {
		if got := strings.TrimSpace(readFile(t, filepath.Join(root, "var/lib/goprov-probe."+file))); got != want {
			t.Errorf("the image's %s probe of the gateway: %q, want %q", file, got, want)
		}
	}
	labtest.RequireEmpty(t, labtest.Plan(t, dir, labtest.Options{}))
	if after := buildMachineDpkg(t); after != machineBefore {
		t.Errorf("the build machine's packages changed:\nbefore:\n%s\nafter:\n%s", machineBefore, after)
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func buildMachineDpkg(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("dpkg", "-l").CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg -l on the build machine: %v: %s", err, out)
	}
	return string(out)
}

// buildProbeRepo builds dir into a flat repository of one package,
// goprov-probe 1.0 with the given postinst, signed (InRelease) with a key
// made for the test, whose public part is dir/keyring.gpg.
func buildProbeRepo(t *testing.T, dir, postinst string) {
	t.Helper()
	ci.LookPath(t, "gpg")
	src := t.TempDir()
	for p, c := range map[string]string{
		"DEBIAN/control":  "Package: goprov-probe\nVersion: 1.0\nArchitecture: all\nMaintainer: goprov tests <goprov@example.invalid>\nDescription: goprov network probe\n",
		"DEBIAN/postinst": postinst,
	} {
		if err := os.MkdirAll(filepath.Join(src, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, p), []byte(c), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	gnupg := t.TempDir()
	script := `set -e
dpkg-deb --root-owner-group -Zgzip --build "$1" "$2/goprov-probe_1.0_all.deb" >/dev/null
cd "$2"
dpkg-scanpackages . /dev/null > Packages 2>/dev/null
{
  printf 'Origin: goprov-test\nLabel: goprov-test\nSuite: probe\nCodename: probe\nArchitectures: amd64 all\nSHA256:\n'
  printf ' %s %s Packages\n' "$(sha256sum < Packages | cut -d' ' -f1)" "$(stat -c %s Packages)"
} > Release
export GNUPGHOME="$3"
gpg --batch --quiet --passphrase '' --quick-gen-key 'goprov test <test@goprov.invalid>' ed25519 sign never
gpg --batch --quiet --export > keyring.gpg
gpg --batch --quiet --clearsign -o InRelease Release
gpgconf --kill gpg-agent 2>/dev/null || true
`
	if out, err := exec.Command("bash", "-c", script, "bash", src, dir, gnupg).CombinedOutput(); err != nil {
		t.Fatalf("build the probe repository: %v: %s", err, out)
	}
}
