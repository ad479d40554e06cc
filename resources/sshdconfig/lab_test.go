package sshdconfig_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/planner"
	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/testinfra"
	"golang.org/x/crypto/ssh"

	_ "github.com/goprov/goprov/resources/all"
)

// login opens a NEW SSH connection as user and runs `true`: what a
// lockout would stop.
func login(lab *testinfra.Lab, h *testinfra.Host, user string) error {
	cfg := lab.ClientConfig(user)
	cfg.Timeout = 15 * time.Second
	c, err := ssh.Dial("tcp", fmt.Sprintf("%s:%d", h.Addr, h.Port), cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Run("true")
}

func hostError(p *planner.Plan, host string) string {
	if hp := labtest.HostPlan(p, host); hp != nil {
		return hp.Error
	}
	return ""
}

func resource(settings string, ensure string) string {
	return `
resource "sshd_config" "hardening" {
  name     = "50-hardening"
  settings = {` + settings + `}
  ensure   = "` + ensure + `"
}
`
}

const file = "/etc/ssh/sshd_config.d/50-hardening.conf"

// TestSSHDConfigOnLabHosts: goprov logs in as deploy (key, sudo). Each
// subtest works on its own host.
func TestSSHDConfigOnLabHosts(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 4})
	inv := labtest.Inventory(lab, testinfra.UserDeploy)
	t.Run("apply reloads sshd, the next plan is empty, absent removes it", func(t *testing.T) {
		t.Parallel()
		testApply(t, lab, inv, lab.Hosts[0])
	})
	t.Run("lockouts and syntax errors are refused at plan, nothing written", func(t *testing.T) {
		t.Parallel()
		testRefusals(t, lab, inv, lab.Hosts[1])
	})
	t.Run("a failed new login rolls the file back and reloads", func(t *testing.T) {
		t.Parallel()
		testRollback(t, lab, inv, lab.Hosts[2])
	})
	t.Run("image root: checked with the image's sshd, no reload", func(t *testing.T) {
		t.Parallel()
		testImage(t, lab.Hosts[3])
	})
}

func testApply(t *testing.T, lab *testinfra.Lab, inv string, h *testinfra.Host) {
	limit := labtest.Options{Limit: "host." + h.Name}
	pid := h.Sh(t, "cat /run/sshd.pid")
	if err := login(lab, h, testinfra.UserOps); err != nil {
		t.Fatalf("ops cannot log in before: %v", err)
	}
	cfg := labtest.Write(t, inv, resource(`
    PasswordAuthentication = "no"
    PermitRootLogin        = "prohibit-password"
    MaxAuthTries           = 3
    DenyUsers              = "ops"
    AllowGroups            = "deploy root ops sudo"`, "present"))
	p := labtest.Plan(t, cfg, limit)
	labtest.RequireOK(t, p)
	c := labtest.Change(p, h.Name, "sshd_config.hardening")
	if c == nil || c.Action != resources.Create || !strings.Contains(c.Diff, "+MaxAuthTries 3") {
		t.Fatalf("plan: %+v", c)
	}
	labtest.RequireOK(t, labtest.Load(t, cfg, limit).Apply(p))
	got := h.Sh(t, "stat -c '%a %U %G' "+file+"; cat "+file+"; ls -A /etc/ssh/sshd_config.d")
	if !strings.HasPrefix(got, "644 root root\n") || !strings.Contains(got, "\nDenyUsers ops\n") || strings.Contains(got, ".goprov") {
		t.Errorf("file: %s", got)
	}
	// The running sshd took it (reloaded, same listener): ops is denied
	// now, deploy still gets in.
	if err := login(lab, h, testinfra.UserOps); err == nil {
		t.Error("ops still logs in: sshd was not reloaded")
	}
	if err := login(lab, h, testinfra.UserDeploy); err != nil {
		t.Errorf("deploy cannot log in: %v", err)
	}
	if now := h.Sh(t, "cat /run/sshd.pid"); now != pid {
		t.Errorf("sshd listener changed: %s → %s", pid, now)
	}
	labtest.RequireEmpty(t, labtest.Plan(t, cfg, limit))

	// A reload that never ran (the mark an apply leaves when it loses the
	// host between the write and the reload) is an update, and the next
	// apply reloads: the listener opens new sockets.
	h.Sh(t, "mkdir -p /var/lib/goprov/pending && echo 'sshd change started earlier' > /var/lib/goprov/pending/sshd-reload")
	socks := "ls -l /proc/$(cat /run/sshd.pid)/fd | grep -o 'socket:.*' | sort"
	before := h.Sh(t, socks)
	p = labtest.Plan(t, cfg, limit)
	labtest.RequireOK(t, p)
	c = labtest.Change(p, h.Name, "sshd_config.hardening")
	if n := strings.Join(c.Notes, "; "); c.Action != resources.Update || c.Diff != "" || !strings.Contains(n, "reload pending") {
		t.Fatalf("pending reload: %s %q %q", c.Action, n, c.Diff)
	}
	labtest.RequireOK(t, labtest.Load(t, cfg, limit).Apply(p))
	if after := h.Sh(t, socks); after == before {
		t.Errorf("sshd not reloaded: listener sockets unchanged %q", after)
	}
	labtest.RequireEmpty(t, labtest.Plan(t, cfg, limit))

	// A setting that an earlier file sets first is noted, not silently ignored.
	h.Sh(t, "printf 'MaxAuthTries 5\\n' > /etc/ssh/sshd_config.d/10-early.conf")
	p = labtest.Plan(t, cfg, limit)
	labtest.RequireOK(t, p)
	c = labtest.Change(p, h.Name, "sshd_config.hardening")
	if n := strings.Join(c.Notes, "; "); !strings.Contains(n, "MaxAuthTries") || !strings.Contains(n, "10-early.conf") || !strings.Contains(n, "5") {
		t.Errorf("override not noted: %s %q", c.Action, n)
	}
	h.Sh(t, "rm /etc/ssh/sshd_config.d/10-early.conf")

	absent := labtest.Write(t, inv, resource(`MaxAuthTries = 3`, "absent"))
	labtest.RequireOK(t, labtest.Apply(t, absent, limit))
	if got := h.Sh(t, "ls -A /etc/ssh/sshd_config.d"); strings.Contains(got, "50-hardening") {
		t.Errorf("after absent: %s", got)
	}
	if err := login(lab, h, testinfra.UserOps); err != nil {
		t.Errorf("ops cannot log in after the file was removed (not reloaded?): %v", err)
	}
	labtest.RequireEmpty(t, labtest.Plan(t, absent, limit))
}

func testRefusals(t *testing.T, lab *testinfra.Lab, inv string, h *testinfra.Host) {
	limit := labtest.Options{Limit: "host." + h.Name}
	for _, c := range []struct{ name, settings, want string }{
		{"AllowUsers without the login user", `AllowUsers = "ops root"`, "deploy"},
		{"DenyUsers with a pattern matching it", `DenyUsers = "dep*"`, "deploy"},
		{"AllowGroups without its groups", `AllowGroups = "sudo"`, "deploy"},
		{"public keys off", `PubkeyAuthentication = "no"`, "publickey"},
		{"AuthenticationMethods without publickey alone", `AuthenticationMethods = "publickey,password"`, "publickey"},
		{"Port moved", `Port = 2222`, "22"},
		{"sshd -t rejects the value", `MaxAuthTries = "lots"`, "sshd -t"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := h.Sh(t, "ls -A /etc/ssh/sshd_config.d; md5sum /etc/ssh/sshd_config")
			p := labtest.Apply(t, labtest.Write(t, inv, resource(c.settings, "present")), limit)
			hp := labtest.HostPlan(p, h.Name)
			if hp.Status != planner.StatusFailed || !strings.Contains(hostError(p, h.Name), c.want) {
				t.Fatalf("want a refusal naming %q; got %s: %s", c.want, hp.Status, hp.Error)
			}
			if after := h.Sh(t, "ls -A /etc/ssh/sshd_config.d; md5sum /etc/ssh/sshd_config"); after != before {
				t.Errorf("files changed: %s → %s", before, after)
			}
			if err := login(lab, h, testinfra.UserDeploy); err != nil {
				t.Errorf("new login: %v", err)
			}
		})
	}
	// A main config that does not include sshd_config.d: the drop-in
	// would be ignored, so the plan says so and writes nothing.
	t.Run("main config without the drop-in include", func(t *testing.T) {
		h.Sh(t, "cp -p /etc/ssh/sshd_config /root/sshd_config.orig && sed -i 's/^Include /#Include /' /etc/ssh/sshd_config")
		t.Cleanup(func() { h.Sh(t, "mv -f /root/sshd_config.orig /etc/ssh/sshd_config") })
		p := labtest.Apply(t, labtest.Write(t, inv, resource(`MaxAuthTries = 3`, "present")), limit)
		if e := hostError(p, h.Name); !strings.Contains(e, "does not include /etc/ssh/sshd_config.d/*.conf") {
			t.Errorf("want the missing include named, got %q", e)
		}
		if got := h.Sh(t, "ls -A /etc/ssh/sshd_config.d"); strings.Contains(got, "50-hardening") {
			t.Errorf("written: %s", got)
		}
	})
}

func testRollback(t *testing.T, lab *testinfra.Lab, inv string, h *testinfra.Host) {
	limit := labtest.Options{Limit: "host." + h.Name}
	good := labtest.Write(t, inv, resource(`MaxAuthTries = 4`, "present"))
	labtest.RequireOK(t, labtest.Apply(t, good, limit))
	before := h.Sh(t, "cat "+file)
	// Passes sshd -t and every plan check, yet no key is found at login:
	// only the new-login proof can catch it.
	bad := labtest.Write(t, inv, resource(`
    MaxAuthTries       = 4
    AuthorizedKeysFile = "/nonexistent/%u"`, "present"))
	p := labtest.Apply(t, bad, limit)
	hp := labtest.HostPlan(p, h.Name)
	if hp.Status != planner.StatusFailed || !strings.Contains(hp.Error, "new SSH login") || !strings.Contains(hp.Error, "restored") {
		t.Fatalf("apply: %s: %s", hp.Status, hp.Error)
	}
	if after := h.Sh(t, "cat "+file+"; ls -A /etc/ssh/sshd_config.d"); !strings.HasPrefix(after, before) || strings.Contains(after, ".goprov") {
		t.Errorf("file not restored: %q, was %q", after, before)
	}
	if err := login(lab, h, testinfra.UserDeploy); err != nil {
		t.Errorf("new login after the rollback: %v", err)
	}
	labtest.RequireEmpty(t, labtest.Plan(t, good, limit))
}

// testImage uses a lab host's root directory as an image root: a real
// Debian tree with its own sshd, built by the local transport.
func testImage(t *testing.T, h *testinfra.Host) {
	root := h.RootDir
	cfg := func(settings string) string {
		return labtest.Write(t, `
host "img" {
  connection = "local"
  root       = "`+root+`"
}
`+resource(settings, "present"))
	}
	pid := h.Sh(t, "cat /run/sshd.pid")
	ok := cfg(`MaxAuthTries = 2`)
	labtest.RequireOK(t, labtest.Apply(t, ok, labtest.Options{}))
	got, err := os.ReadFile(filepath.Join(root, file))
	if err != nil || !strings.Contains(string(got), "\nMaxAuthTries 2\n") {
		t.Fatalf("image file: %q %v", got, err)
	}
	if now := h.Sh(t, "cat /run/sshd.pid"); now != pid {
		t.Errorf("sshd of the image root's host restarted: %s → %s", pid, now)
	}
	labtest.RequireEmpty(t, labtest.Plan(t, ok, labtest.Options{}))
	p := labtest.Apply(t, cfg(`MaxAuthTries = "lots"`), labtest.Options{})
	if e := hostError(p, "img"); !strings.Contains(e, "sshd -t") {
		t.Errorf("bad value in an image: %q", e)
	}
	if again, _ := os.ReadFile(filepath.Join(root, file)); string(again) != string(got) {
		t.Errorf("image file changed by a refused change: %q", again)
	}
}
