package ssh

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/goprov/goprov/testinfra"
	"github.com/goprov/goprov/transport"
)

// TestLabLoginShells: real sshd hands the exec line to fish, tcsh and zsh
// login shells (and bash). For each, with NOPASSWD and with password sudo:
// a script holding every character some shell treats specially runs
// exactly, a 200 KiB script too, and 1 MB of stdin after it arrives byte
// for byte, as the login user and as root.
func TestLabLoginShells(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	h := lab.Hosts[0]
	users := []string{testinfra.UserDeploy, testinfra.UserOps}
	for _, u := range testinfra.ShellUsers {
		users = append(users, u.Name)
	}
	script := `printf '%s|' 'a!b !! !$' "it's" '\\ \' "$(printf x)" '{a,b}' '~' '#c' "$0"; echo; id -un; wc -c | tr -d ' '`
	payload := binaryPayload(1 << 20)
	for _, u := range users {
		t.Run(u, func(t *testing.T) {
			cfg := labConfig(lab, h, u)
			cfg.Become, cfg.BecomePassword = true, testinfra.OpsPassword
			c := dialT(t, cfg)
			wantShell := "/bin/bash\n"
			if sh, _, ok := strings.Cut(u, "-"); ok {
				wantShell = "/usr/bin/" + sh + "\n"
			}
			if got := h.Sh(t, "getent passwd "+u+" | cut -d: -f7"); got != wantShell {
				t.Fatalf("%s: login shell %q, want %q", u, got, wantShell)
			}
			for _, sudo := range []bool{false, true} {
				who := u
				if sudo {
					who = "root"
				}
				res := runT(t, c, transport.Cmd{Script: script, Stdin: bytes.NewReader(payload), Sudo: sudo})
				want := fmt.Sprintf("a!b !! !$|it's|\\\\ \\|x|{a,b}|~|#c|/bin/sh|\n%s\n%d\n", who, len(payload))
				if got := string(res.Stdout); got != want || res.ExitCode != 0 || len(res.Stderr) != 0 {
					t.Errorf("sudo=%t: stdout %q exit %d stderr %q, want %q", sudo, got, res.ExitCode, res.Stderr, want)
				}
				res = runT(t, c, transport.Cmd{Script: bigScript(), Stdin: bytes.NewReader(payload), Sudo: sudo})
				if got, want := string(res.Stdout), fmt.Sprintf("big\n%d\n", len(payload)); got != want {
					t.Errorf("sudo=%t, 200 KiB script: stdout %q, want %q (stderr %q)", sudo, got, want, res.Stderr)
				}
			}
		})
	}
	assertNoPwned(t, h)
}
