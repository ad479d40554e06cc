package profilescript_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/planner"
	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/testinfra"
)

// Kali-like users whose login shell is zsh: one clean, one with a per-user
// `go env -w GOPATH=…` file, one whose ~/.zshrc puts an old go first on
// PATH, one that sets GOPATH in ~/.zshrc and ~/.bashrc. Both go binaries are tiny scripts: the check is about which one a
// user's shell finds, not about Go.
const verifySetup = `set -e
mkdir -p /usr/local/go/bin /opt/old-go/bin
printf '#!/bin/sh\necho go version go1.22.5 linux/amd64\n' > /usr/local/go/bin/go
printf '#!/bin/sh\necho go version go1.19 linux/amd64\n' > /opt/old-go/bin/go
chmod 0755 /usr/local/go/bin/go /opt/old-go/bin/go
for u in kclean kgoenv kpath kenv khang; do
	useradd -m -s /usr/bin/zsh "$u"
	printf 'alias ll="ls -l"\nHISTFILE=~/.zsh_history\n' > /home/$u/.zshrc
done
mkdir -p /home/kgoenv/.config/go
printf 'GOPATH=/home/kgoenv/other\n' > /home/kgoenv/.config/go/env
printf 'export PATH=/opt/old-go/bin:$PATH\n' >> /home/kpath/.zshrc
printf 'export GOPATH=$HOME/go\n' >> /home/kenv/.zshrc
printf 'id -u > /tmp/kclean.uid; env > /tmp/kclean.env\n' >> /home/kclean/.zshrc
printf 'sleep 600\n' >> /home/khang/.zshrc
printf 'export GOPATH=$HOME/go\n' >> /home/kenv/.bashrc
for u in kclean kgoenv kpath kenv khang; do chown -R "$u:$u" /home/$u; done
`

func verifyConfig(users string) string {
	return `
resource "profile_script" "go" {
  name         = "go"
  env          = { GOPATH = "/opt/go" }
  path_prepend = ["/usr/local/go/bin"]
  verify {
    users    = [` + users + `]
    shells   = ["bash", "zsh"]
    commands = { go = "/usr/local/go/bin/go" }
  }
}
`
}

func notesOf(c *planner.ResourceChange) string {
	if c == nil {
		return ""
	}
	return strings.Join(c.Notes, "\n")
}

func TestVerifyLoginEnvironmentsOnLabHost(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	h := lab.Hosts[0]
	if _, err := h.MustExec(context.Background(), verifySetup); err != nil {
		t.Fatal(err)
	}
	inv := labtest.Inventory(lab, testinfra.UserDeploy)

	// A clean user converges: apply checks the shells, the next plan is empty.
	clean := labtest.Write(t, inv, verifyConfig(`"kclean"`))
	labtest.RequireOK(t, labtest.Apply(t, clean, labtest.Options{}))
	labtest.RequireEmpty(t, labtest.Plan(t, clean, labtest.Options{}))
	// The check ran kclean's own ~/.zshrc as kclean, with a minimal
	// environment (nothing of goprov's SSH session or sudo).
	ran, err := h.MustExec(context.Background(), "echo $(cat /tmp/kclean.uid) $(id -u kclean); cat /tmp/kclean.env")
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(ran); len(f) < 2 || f[0] != f[1] || strings.Contains(ran, "SUDO_") || strings.Contains(ran, "SSH_") || !strings.Contains(ran, "HOME=/home/kclean") {
		t.Errorf("kclean's zsh did not run as kclean with a minimal environment:\n%s", ran)
	}

	// With the file in place, users whose own files override it are drift,
	// each named with the shell and the file.
	drift := labtest.Write(t, inv, verifyConfig(`"kclean", "kgoenv", "kpath", "kenv"`))
	p := labtest.Plan(t, drift, labtest.Options{})
	labtest.RequireOK(t, p)
	// The same read carried the host's facts (over SSH, through sudo): lab
	// hosts share this machine's kernel and have no SELinux.
	uname, err := exec.Command("uname", "-r").Output()
	if err != nil {
		t.Fatal(err)
	}
	if f := labtest.HostPlan(p, h.Name).Facts; f == nil || f.Kernel != strings.TrimSpace(string(uname)) || f.SELinux != "disabled" || f.AppArmor == "" {
		t.Errorf("facts %+v, want kernel %q, SELinux disabled, an AppArmor state", f, uname)
	}
	c := labtest.Change(p, h.Name, "profile_script.go")
	notes := notesOf(c)
	t.Logf("plan notes:\n%s", notes)
	if c == nil || c.Action != resources.Update {
		t.Fatalf("want an update for the users' drift, got %+v", c)
	}
	for _, want := range []string{"kgoenv", "~/.config/go/env", "GOPATH", "kpath zsh", "~/.zshrc:3", "/opt/old-go/bin/go",
		"kenv zsh: GOPATH is /home/kenv/go, profile_script sets /opt/go (GOPATH is set in ~/.zshrc:3)",
		"kenv bash: GOPATH is /home/kenv/go, profile_script sets /opt/go (GOPATH is set in ~/.bashrc:"} {
		if !strings.Contains(notes, want) {
			t.Errorf("plan notes lack %q:\n%s", want, notes)
		}
	}
	for _, bad := range []string{"kclean", "kpath bash"} {
		if strings.Contains(notes, bad) {
			t.Errorf("plan notes report %q, which gets what the script sets:\n%s", bad, notes)
		}
	}

	// Apply runs the same check and fails with the evidence; the script
	// (which is right) stays written, the users' files are not touched.
	before, _ := h.MustExec(context.Background(), "cat /etc/profile.d/go.sh /home/kpath/.zshrc /home/kgoenv/.config/go/env")
	ap := labtest.Apply(t, drift, labtest.Options{})
	hp := labtest.HostPlan(ap, h.Name)
	t.Logf("apply: %s", hp.Error)
	if hp.Status != planner.StatusFailed || !strings.Contains(hp.Error, "~/.zshrc") || !strings.Contains(hp.Error, "kgoenv") {
		t.Fatalf("apply: want failed with the evidence, got %s: %s", hp.Status, hp.Error)
	}
	after, _ := h.MustExec(context.Background(), "cat /etc/profile.d/go.sh /home/kpath/.zshrc /home/kgoenv/.config/go/env")
	if before != after || !strings.Contains(after, "GOPATH") {
		t.Errorf("apply changed files it must leave alone:\nbefore %q\nafter  %q", before, after)
	}

	// A startup file that never returns costs a bounded time and leaves
	// nothing running; the plan says what was not checked.
	hang := labtest.Write(t, inv, verifyConfig(`"khang"`))
	hp2 := labtest.Plan(t, hang, labtest.Options{Timeout: 3 * time.Minute})
	labtest.RequireOK(t, hp2)
	hc := labtest.Change(hp2, h.Name, "profile_script.go")
	if hc.Action != resources.Update || !strings.Contains(notesOf(hc), "khang zsh: the login shell gave no result") || strings.Contains(notesOf(hc), "khang bash") {
		t.Errorf("hanging zshrc: want an update saying zsh gave no result, got %s:\n%s", hc.Action, notesOf(hc))
	}
	if ps, _ := h.MustExec(context.Background(), "ps -u khang -o pid=,args= || true"); strings.TrimSpace(ps) != "" {
		t.Errorf("khang's processes outlived the check:\n%s", ps)
	}

	// A user that does not exist is a plan error naming the user.
	missing := labtest.Write(t, inv, verifyConfig(`"kclean", "nosuchuser"`))
	mp := labtest.HostPlan(labtest.Plan(t, missing, labtest.Options{}), h.Name)
	t.Logf("missing user: %s", mp.Error)
	if mp.Status != planner.StatusFailed || !strings.Contains(mp.Error, `"nosuchuser"`) {
		t.Fatalf("missing user: want a plan error naming it, got %s: %s", mp.Status, mp.Error)
	}
}
