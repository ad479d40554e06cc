package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/testinfra"
)

// loginShellConfig manages a profile script whose values hold every
// character some shell treats specially (csh's `!`, fish's `\'`, `$`,
// quotes, braces, newlines in the script around them) and a sudoers drop-in.
const loginShellConfig = `
resource "profile_script" "shells" {
  name         = "shells"
  env          = {
    BANG  = "a!b !! !$ ^x^y^"
    MONEY = "$HOME $(touch /tmp/pwned) ` + "`touch /tmp/pwned`" + ` {a,b} ~root"
    QUOTE = "it's \"q\" \\' \\\\ back\\slash ; & | < > * ? [x] #c %1"
  }
  path_prepend = ["/opt/shells/bin"]
}

resource "sudoers_dropin" "shells" {
  name = "shells"
  rule {
    users    = ["%adm"]
    nopasswd = true
    commands = ["/usr/bin/id", "/bin/journalctl -u ssh -n 50"]
  }
}
`

// TestAnyLoginShell: sshd hands the exec line to the login user's shell, so
// a plan and apply as a fish, tcsh or zsh user (with NOPASSWD sudo and with
// password sudo) must do exactly what they do as a bash user: one CLI run
// over one host per user, same files everywhere, a second plan empty.
func TestAnyLoginShell(t *testing.T) {
	users := []string{testinfra.UserDeploy, testinfra.UserOps}
	for _, u := range testinfra.ShellUsers {
		users = append(users, u.Name)
	}
	lab := testinfra.Start(t, testinfra.Options{Hosts: len(users)})
	var inv strings.Builder
	for i, h := range lab.Hosts {
		fmt.Fprintf(&inv, "host %q {\n  address       = %q\n  user          = %q\n  identity_file = %q\n  known_hosts   = %q\n  become        = true\n}\n\n",
			h.Name, h.Addr, users[i], lab.KeyPath(users[i]), lab.KnownHostsPath)
	}
	cfg := labtest.Write(t, inv.String(), loginShellConfig)
	env := []string{"GOPROV_BECOME_PASSWORD=" + testinfra.OpsPassword}

	r := goprovEnv(t, env, "apply", "-auto-approve", cfg)
	if r.code != 0 {
		t.Errorf("apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for i, h := range lab.Hosts {
		if !strings.Contains(r.stdout, fmt.Sprintf("  %-20s applied", h.Name)) {
			t.Errorf("%s (login user %s): not applied:\n%s", h.Name, users[i], r.stdout)
		}
	}
	if r := goprovEnv(t, env, "plan", "-detailed-exitcode", cfg); r.code != 0 {
		t.Errorf("second plan: exit %d, want 0 (in sync)\n%s%s", r.code, r.stdout, r.stderr)
	}
	const state = `sha256sum /etc/profile.d/shells.sh /etc/sudoers.d/shells; stat -c '%a %U %G' /etc/profile.d/shells.sh /etc/sudoers.d/shells`
	want := lab.Hosts[0].Sh(t, state)
	if !strings.Contains(want, "/etc/sudoers.d/shells") {
		t.Fatalf("%s (bash): managed files missing:\n%s", lab.Hosts[0].Name, want)
	}
	for i, h := range lab.Hosts[1:] {
		if got := h.Sh(t, state); got != want {
			t.Errorf("%s (login user %s): files differ from the bash user's:\n got %s\nwant %s", h.Name, users[i+1], got, want)
		}
	}
	// The values reach a login shell intact (profile.d through bash -l).
	out := lab.Hosts[len(lab.Hosts)-1].Sh(t, `bash -lc 'printf "%s|" "$BANG" "$MONEY" "$QUOTE"'`)
	if wantEnv := `a!b !! !$ ^x^y^|/root $(touch /tmp/pwned) ` + "`touch /tmp/pwned`" + ` {a,b} ~root|it's "q" \' \\ back\slash ; & | < > * ? [x] #c %1|`; out != wantEnv {
		t.Errorf("profile values in a login shell:\n got %q\nwant %q", out, wantEnv)
	}
	for _, h := range lab.Hosts {
		if got := h.Sh(t, "if [ -e /tmp/pwned ]; then echo yes; fi"); got != "" {
			t.Errorf("%s: /tmp/pwned exists", h.Name)
		}
	}
}
