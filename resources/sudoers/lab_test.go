package sudoers_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/planner"
	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/testinfra"

	_ "github.com/goprov/goprov/resources/sudoers"
)

const devops = `
resource "sudoers_dropin" "devops" {
  name = "devops"
  rule {
    users    = ["%devops"]
    hosts    = ["ALL"]
    runas    = "monitor"
    nopasswd = true
    commands = ["/usr/bin/systemctl status httpd", "/bin/journalctl -u httpd -n 50"]
  }
  rule {
    users    = ["ops"]
    commands = ["/usr/bin/id -u", "/bin/echo a,b c:d #e", "/bin/echo $(touch /tmp/pwned) 'x' ; ` + "`id`" + `"]
  }
}
`

const devopsFile = `# Managed by goprov (sudoers_dropin.devops). Local edits are overwritten on the next apply.
%devops ALL = (monitor) NOPASSWD: /usr/bin/systemctl status httpd, /bin/journalctl -u httpd -n 50
ops ALL = (root) /usr/bin/id -u, /bin/echo a\,b c\:d \#e, /bin/echo $(touch /tmp/pwned) 'x' ; ` + "`id`" + `
`

// sudoHealthy proves sudo still works on h: the whole configuration parses
// and deploy (NOPASSWD) still gets root without a password.
func sudoHealthy(t *testing.T, h *testinfra.Host) {
	t.Helper()
	out := h.Sh(t, `/usr/sbin/visudo -c >/dev/null && runuser -u deploy -- sudo -n id -u`)
	if strings.TrimSpace(out) != "0" {
		t.Fatalf("%s: sudo -n as deploy: %q", h.Name, out)
	}
}

func hostError(p *planner.Plan, host string) string {
	if hp := labtest.HostPlan(p, host); hp != nil {
		return hp.Error
	}
	return ""
}

// TestSudoersDropinOnLabHosts runs as the NOPASSWD user deploy.
//
// It stays whole: its named subtests share one lab (starting one costs minutes)
// and run in order, each on the host state the one before left.
func TestSudoersDropinOnLabHosts(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 3})
	inv := labtest.Inventory(lab, testinfra.UserDeploy)
	h1 := lab.Hosts[0]

	t.Run("good drop-in on 3 hosts, then an empty plan", func(t *testing.T) {
		cfg := labtest.Write(t, inv, devops)
		p := labtest.Plan(t, cfg, labtest.Options{})
		labtest.RequireOK(t, p)
		if s := p.Summary(); s.Add != 3 {
			t.Fatalf("want 3 to add, got %+v", s)
		}
		c := labtest.Change(p, "h2", "sudoers_dropin.devops")
		if !strings.Contains(c.Diff, "+++ /etc/sudoers.d/devops") || !strings.Contains(c.Diff, "+%devops ALL = (monitor) NOPASSWD: /usr/bin/systemctl status httpd") {
			t.Fatalf("plan shows no unified diff:\n%s", c.Diff)
		}
		labtest.RequireOK(t, labtest.Apply(t, cfg, labtest.Options{}))
		labtest.RequireEmpty(t, labtest.Plan(t, cfg, labtest.Options{}))
		for _, h := range lab.Hosts {
			if got := h.Sh(t, "stat -c '%a %U %G' /etc/sudoers.d/devops; cat /etc/sudoers.d/devops"); got != "440 root root\n"+devopsFile {
				t.Errorf("%s: got %q", h.Name, got)
			}
			sudoHealthy(t, h)
			// The escaped arguments mean what they say to sudo.
			if got := h.Sh(t, `sudo -l -U ops /bin/echo 'a,b' 'c:d' '#e'`); got != "/bin/echo a,b c:d #e\n" {
				t.Errorf("%s: sudo -l for the escaped command: %q", h.Name, got)
			}
			if got := h.Sh(t, "ls /tmp/pwned 2>&1 || true"); !strings.Contains(got, "No such file") {
				t.Errorf("%s: a command value was executed: %q", h.Name, got)
			}
		}
		if got := h1.Sh(t, "ls -A /etc/sudoers.d"); strings.Contains(got, ".goprov") {
			t.Errorf("temp files left behind: %q", got)
		}
	})

	t.Run("syntax error is refused at plan with visudo's message", func(t *testing.T) {
		cfg := labtest.Write(t, inv, `
resource "sudoers_dropin" "bad" {
  name    = "bad"
  content = "this is not sudoers\n"
}`)
		p := labtest.Apply(t, cfg, labtest.Options{Limit: "host.h1"})
		msg := hostError(p, "h1")
		if !strings.Contains(msg, "visudo rejects the content for /etc/sudoers.d/bad") || !strings.Contains(msg, "syntax error") {
			t.Fatalf("want visudo's message, got %q", msg)
		}
		if got := h1.Sh(t, "ls -A /etc/sudoers.d"); strings.Contains(got, "bad") || strings.Contains(got, ".goprov") {
			t.Fatalf("something was created: %q", got)
		}
		sudoHealthy(t, h1)

		// Where visudo cannot check at plan time (sudo-rs), the apply's
		// visudo -cf on the temp file refuses it: called directly here.
		s := labtest.Load(t, cfg, labtest.Options{Limit: "host.h1"})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		tr, err := s.Engine.Connector.Connect(ctx, s.Targets[0].Spec)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		h := &resources.Host{Name: "h1", Root: "/", T: tr}
		err = s.Targets[0].Resources[0].Res.Apply(ctx, h, resources.Change{Action: resources.Create})
		var verr *resources.ErrValidation
		if !errors.As(err, &verr) || !strings.Contains(err.Error(), "syntax error") {
			t.Fatalf("apply: want visudo's refusal, got %v", err)
		}
		if got := h1.Sh(t, "ls -A /etc/sudoers.d"); strings.Contains(got, "bad") || strings.Contains(got, ".goprov") {
			t.Fatalf("something was created: %q", got)
		}
		sudoHealthy(t, h1)
	})

	t.Run("cross-file alias clash is rolled back", func(t *testing.T) {
		// Another file (not goprov's) already defines ADMINS; visudo -cf on
		// the new file alone passes, only the whole configuration fails.
		h1.Sh(t, `printf 'User_Alias ADMINS = deploy\nADMINS ALL = (root) NOPASSWD: /usr/bin/true\n' > /etc/sudoers.d/local && chmod 0440 /etc/sudoers.d/local`)
		t.Cleanup(func() { h1.Sh(t, "rm -f /etc/sudoers.d/local") })
		cfg := labtest.Write(t, inv, `
resource "sudoers_dropin" "devops" {
  name    = "devops"
  content = "User_Alias ADMINS = ops\nADMINS ALL = (root) /usr/bin/whoami\n"
}`)
		p := labtest.Plan(t, cfg, labtest.Options{Limit: "host.h1"})
		labtest.RequireOK(t, p) // the content alone is fine
		p = labtest.Load(t, cfg, labtest.Options{Limit: "host.h1"}).Apply(p)
		msg := hostError(p, "h1")
		if !strings.Contains(msg, `Alias "ADMINS" already defined`) || !strings.Contains(msg, "previous content restored") {
			t.Fatalf("want the clash rolled back, got %q", msg)
		}
		if got := h1.Sh(t, "stat -c '%a %U %G' /etc/sudoers.d/devops; cat /etc/sudoers.d/devops"); got != "440 root root\n"+devopsFile {
			t.Fatalf("previous content not intact: %q", got)
		}
		sudoHealthy(t, h1)
	})

	t.Run("a file that would lock goprov out is rolled back", func(t *testing.T) {
		// Valid sudoers, and it parses with the rest, but it is read after
		// the lab's "deploy" file and so takes NOPASSWD away from deploy.
		cfg := labtest.Write(t, inv, `
resource "sudoers_dropin" "zz" {
  name    = "zz"
  content = "deploy ALL = (ALL) PASSWD: ALL\n"
}`)
		p := labtest.Apply(t, cfg, labtest.Options{Limit: "host.h1"})
		if msg := hostError(p, "h1"); !strings.Contains(msg, "would need a password for sudo") {
			t.Fatalf("want the lockout refused, got %q", msg)
		}
		if got := h1.Sh(t, "ls -A /etc/sudoers.d"); strings.Contains(got, "zz") {
			t.Fatalf("lockout file left in place: %q", got)
		}
		sudoHealthy(t, h1)
	})

	t.Run("root login: a drop-in sudo would not read is refused", func(t *testing.T) {
		// Logged in as root there is no login user's sudo to protect, but
		// visudo -c still runs, and it must list the new file as parsed.
		h3 := lab.Hosts[2]
		h3.Sh(t, `cp -p /etc/sudoers /root/sudoers.orig && sed -i '/includedir/d' /etc/sudoers`)
		t.Cleanup(func() { h3.Sh(t, "cp -p /root/sudoers.orig /etc/sudoers") })
		cfg := labtest.Write(t, labtest.Inventory(lab, testinfra.UserRoot), strings.ReplaceAll(devops, `"devops"`, `"viaroot"`))
		s := labtest.Load(t, cfg, labtest.Options{Limit: "host.h3"})
		p := s.Plan()
		labtest.RequireOK(t, p)
		if c := labtest.Change(p, "h3", "sudoers_dropin.viaroot"); !strings.Contains(strings.Join(c.Notes, ";"), "no @includedir /etc/sudoers.d") {
			t.Errorf("plan notes: %q", c.Notes)
		}
		p = s.Apply(p)
		if msg := hostError(p, "h3"); !strings.Contains(msg, "sudo does not read /etc/sudoers.d/viaroot") {
			t.Fatalf("want the ignored drop-in refused, got %q", msg)
		}
		if got := h3.Sh(t, "ls -A /etc/sudoers.d"); strings.Contains(got, "viaroot") || strings.Contains(got, ".goprov") {
			t.Fatalf("left behind: %q", got)
		}
	})

	t.Run("ensure absent, and a removal that would lock goprov out", func(t *testing.T) {
		cfg := labtest.Write(t, inv, `
resource "sudoers_dropin" "devops" {
  name   = "devops"
  ensure = "absent"
}
resource "sudoers_dropin" "deploy" {
  name   = "deploy" # the lab's own grant of sudo to deploy
  ensure = "absent"
}`)
		p := labtest.Apply(t, cfg, labtest.Options{Limit: "host.h2"})
		if msg := hostError(p, "h2"); !strings.Contains(msg, "refused, the file is kept") || !strings.Contains(msg, "may no longer run commands as root") {
			t.Fatalf("want the removal of deploy's grant refused, got %q", msg)
		}
		if c := labtest.Change(p, "h2", "sudoers_dropin.devops"); c.Outcome != planner.OutcomeApplied || !strings.Contains(c.Diff, "-%devops ALL") {
			t.Fatalf("devops: outcome %q, diff %q", c.Outcome, c.Diff)
		}
		h2 := lab.Hosts[1]
		if got := h2.Sh(t, "ls -A /etc/sudoers.d"); strings.Contains(got, "devops") || !strings.Contains(got, "deploy") || strings.Contains(got, ".goprov") {
			t.Fatalf("sudoers.d now: %q", got)
		}
		sudoHealthy(t, h2)
		only := labtest.Write(t, inv, `
resource "sudoers_dropin" "devops" {
  name   = "devops"
  ensure = "absent"
}`)
		labtest.RequireEmpty(t, labtest.Plan(t, only, labtest.Options{Limit: "host.h2"}))
	})
}

// TestSudoersDropinAsPasswordUser runs as ops, whose sudo needs a password:
// the NOPASSWD check is skipped (ops never had it) but ops must still be
// allowed to run commands as root after the change.
func TestSudoersDropinAsPasswordUser(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	opts := labtest.Options{BecomePassword: testinfra.OpsPassword}
	cfg := labtest.Write(t, labtest.Inventory(lab, testinfra.UserOps), devops)
	labtest.RequireOK(t, labtest.Apply(t, cfg, opts))
	labtest.RequireEmpty(t, labtest.Plan(t, cfg, opts))
	h := lab.Hosts[0]
	if got := h.Sh(t, "cat /etc/sudoers.d/devops"); got != devopsFile {
		t.Fatalf("got %q", got)
	}
	// A drop-in that takes ops' root access away is refused.
	lock := labtest.Write(t, labtest.Inventory(lab, testinfra.UserOps), `
resource "sudoers_dropin" "zz" {
  name    = "zz"
  content = "ops ALL = (ALL) !ALL\n"
}`)
	p := labtest.Apply(t, lock, opts)
	if msg := hostError(p, "h1"); !strings.Contains(msg, "ops (goprov's login user) may no longer run commands as root") {
		t.Fatalf("want the lockout refused, got %q", msg)
	}
	if got := h.Sh(t, "ls -A /etc/sudoers.d"); strings.Contains(got, "zz") {
		t.Fatalf("lockout file left in place: %q", got)
	}
	sudoHealthy(t, h)
}

// TestSudoersDropinGoldenImage builds into a directory holding a whole
// Debian root (an overlay over the lab's base image): the image's own
// visudo checks the file, at plan and at apply, in the image's sandbox.
func TestSudoersDropinGoldenImage(t *testing.T) {
	merged, base := testinfra.ImageRoot(t)
	img := `
host "img" {
  connection = "local"
  root       = "` + merged + `"
}
`
	cfg := labtest.Write(t, img, devops)
	labtest.RequireOK(t, labtest.Apply(t, cfg, labtest.Options{}))
	labtest.RequireEmpty(t, labtest.Plan(t, cfg, labtest.Options{}))
	if got, err := os.ReadFile(filepath.Join(merged, "etc/sudoers.d/devops")); err != nil || string(got) != devopsFile {
		t.Fatalf("image file: %q %v", got, err)
	}
	if out, err := exec.Command("chroot", merged, "/usr/sbin/visudo", "-c").CombinedOutput(); err != nil || !strings.Contains(string(out), "/etc/sudoers.d/devops: parsed OK") {
		t.Fatalf("visudo -c in the image: %v %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(base, "etc/sudoers.d/devops")); err == nil {
		t.Fatal("the write went through to the base image")
	}
	// A syntax error is caught at plan by the image's visudo.
	bad := labtest.Write(t, img, `
resource "sudoers_dropin" "bad" {
  name    = "bad"
  content = "this is not sudoers\n"
}`)
	if msg := hostError(labtest.Plan(t, bad, labtest.Options{}), "img"); !strings.Contains(msg, "syntax error") {
		t.Fatalf("want visudo's message at plan, got %q", msg)
	}
	// A clash with the image's own files is caught by the image's visudo -c.
	if err := os.WriteFile(filepath.Join(merged, "etc/sudoers.d/local"), []byte("User_Alias ADMINS = deploy\n"), 0o440); err != nil {
		t.Fatal(err)
	}
	clash := labtest.Write(t, img, `
resource "sudoers_dropin" "clash" {
  name    = "clash"
  content = "User_Alias ADMINS = ops\n"
}`)
	if msg := hostError(labtest.Apply(t, clash, labtest.Options{}), "img"); !strings.Contains(msg, `Alias "ADMINS" already defined`) {
		t.Fatalf("want the clash refused, got %q", msg)
	}
	if _, err := os.Stat(filepath.Join(merged, "etc/sudoers.d/clash")); err == nil {
		t.Fatal("clashing file left in the image")
	}
}
