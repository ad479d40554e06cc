package testinfra

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goprov/goprov/internal/ci"
	"github.com/goprov/goprov/testinfra/base"
)

// TestMinimalHosts: a minimal lab host (either suite) answers SSH for root,
// deploy and ops, lacks every tool the baselines install (and their
// dependencies python3 and iptables), and its suite's mirror holds each of
// those tools and only packages the image does not have.
func TestMinimalHosts(t *testing.T) {
	for _, suite := range []string{base.Bookworm, base.Trixie} {
		t.Run(suite, func(t *testing.T) {
			bc := MinimalBaseConfig(suite)
			if !bc.Ready() {
				ci.Skip(t, "the lab's minimal "+suite+" image is missing: run scripts/lab-deps.sh")
			}
			l := Start(t, Options{Hosts: 1, Suite: suite, Minimal: true})
			h := l.Hosts[0]
			for _, user := range []string{UserRoot, UserDeploy, UserOps} {
				c := dial(t, l, h, user)
				if out, _, code := sshRun(t, c, "id -un", ""); code != 0 || out != user+"\n" {
					t.Errorf("%s: id -un: %q exit %d", user, out, code)
				}
			}
			if out := h.Sh(t, `for t in sudo visudo auditctl ufw firewalld zsh fish tcsh python3 iptables; do command -v $t || true; done
for u in zsh-deploy fish-ops; do id "$u" 2>/dev/null || true; done`); out != "" {
				t.Errorf("not minimal: %q", out)
			}
			debs, err := filepath.Glob(filepath.Join(bc.MirrorDir(), "*.deb"))
			if err != nil || len(debs) == 0 {
				t.Fatalf("mirror %s: %v %v", bc.MirrorDir(), debs, err)
			}
			have := map[string]bool{}
			for _, d := range debs {
				name, _, _ := strings.Cut(filepath.Base(d), "_")
				have[name] = true
				// Only what the image lacks: dpkg of the image does not know it.
				if out, err := exec.Command("dpkg-query", "--admindir="+filepath.Join(bc.Dir(), "var/lib/dpkg"), "-W", "-f", "${db:Status-Abbrev}", name).Output(); err == nil && strings.HasPrefix(string(out), "ii") {
					t.Errorf("mirror holds %s, which the image has", name)
				}
			}
			for _, p := range base.MirrorPackages {
				if !have[p] {
					t.Errorf("mirror lacks %s", p)
				}
			}
			if _, err := os.Stat(filepath.Join(h.RootDir, "var/cache/apt/archives")); err == nil {
				if left, _ := filepath.Glob(filepath.Join(h.RootDir, "var/cache/apt/archives/*.deb")); len(left) > 0 {
					t.Errorf("the image keeps .debs in apt's cache: %v", left)
				}
			}
		})
	}
}

// TestMinimalLabRefusesFirewalldHosts: firewalld is not there.
func TestMinimalLabRefusesFirewalldHosts(t *testing.T) {
	if why := Missing(); why != "" {
		ci.Skip(t, "testinfra: cannot start a lab: "+why)
	}
	for _, o := range []Options{{Hosts: 1, Minimal: true, FirewalldHosts: []int{0}}} {
		if _, err := StartLab(context.Background(), "", o); err == nil || !strings.Contains(err.Error(), "minimal lab") {
			t.Errorf("%+v: got %v", o, err)
		}
	}
}
