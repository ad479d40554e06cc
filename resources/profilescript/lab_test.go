package profilescript_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/testinfra"

	_ "github.com/goprov/goprov/resources/profilescript"
)

const hostile = `
resource "profile_script" "go" {
  name = "go"
  env = {
    GOPATH  = "/opt/go"
    GOFLAGS = "-mod=readonly"
    EVIL    = "$(touch /tmp/pwned) ` + "`touch /tmp/pwned`" + ` ; touch /tmp/pwned"
  }
  path_prepend = ["/usr/local/go/bin", "/opt/go/bin", "$HOME/go/bin"]
}
`

// loginEnv runs a real login shell on the host as root and prints what it sees.
func loginEnv(t *testing.T, h *testinfra.Host, shell string) string {
	t.Helper()
	out, err := h.MustExec(context.Background(), shell+` -lc 'printf "%s|%s|%s\n" "$PATH" "$GOPATH" "$EVIL"'`)
	if err != nil {
		t.Fatalf("%s: %s -lc: %v", h.Name, shell, err)
	}
	return strings.TrimSpace(out)
}

func TestProfileScriptOnLabHosts(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 3})
	for _, user := range []string{testinfra.UserDeploy, testinfra.UserOps} {
		t.Run(user, func(t *testing.T) {
			opts := labtest.Options{}
			if user == testinfra.UserOps {
				opts.BecomePassword = testinfra.OpsPassword // hostile on purpose
			}
			cfg := labtest.Write(t, labtest.Inventory(lab, user), strings.ReplaceAll(hostile, `"go"`, `"go_`+user+`"`))
			p := labtest.Plan(t, cfg, opts)
			labtest.RequireOK(t, p)
			if s := p.Summary(); s.Add != 3 {
				t.Fatalf("first plan: want 3 to add, got %+v", s)
			}
			labtest.RequireOK(t, labtest.Apply(t, cfg, opts))
			labtest.RequireEmpty(t, labtest.Plan(t, cfg, opts))

			for _, h := range lab.Hosts {
				for _, sh := range []string{"bash", "zsh"} {
					got := loginEnv(t, h, sh)
					want := "/usr/local/go/bin:/opt/go/bin:/root/go/bin:"
					if !strings.HasPrefix(got, want) || !strings.Contains(got, "|/opt/go|$(touch /tmp/pwned) `touch /tmp/pwned` ; touch /tmp/pwned") {
						t.Errorf("%s %s -lc: got %q, want PATH starting %q, GOPATH and the literal EVIL value", h.Name, sh, got, want)
					}
				}
				if out, _ := h.MustExec(context.Background(), "ls /tmp/pwned 2>/dev/null; stat -c '%a %U %G' /etc/profile.d/go_"+user+".sh"); strings.Contains(out, "pwned") || !strings.Contains(out, "644 root root") {
					t.Errorf("%s: /tmp/pwned exists or bad mode/owner: %q", h.Name, out)
				}
			}
			if _, err := os.Stat("/tmp/pwned"); err == nil {
				t.Fatal("/tmp/pwned on the controller: the sudo password or a value was executed")
			}
		})
	}
}

// TestGoldenImageChroot applies into a directory that is a whole Debian
// root (an overlay over the lab's base image) and proves the effect with
// login shells run inside it through chroot.
func TestGoldenImageChroot(t *testing.T) {
	merged, base := testinfra.ImageRoot(t)

	cfg := labtest.Write(t, `
host "img" {
  connection = "local"
  root       = "`+merged+`"
}
`, hostile)
	labtest.RequireOK(t, labtest.Apply(t, cfg, labtest.Options{}))
	labtest.RequireEmpty(t, labtest.Plan(t, cfg, labtest.Options{}))
	for _, sh := range []string{"bash", "zsh"} {
		out, err := exec.Command("chroot", merged, "/usr/bin/env", "-i", "HOME=/root", "PATH=/usr/bin:/bin", sh, "-lc", `printf '%s|%s' "$PATH" "$GOPATH"`).CombinedOutput()
		if err != nil {
			t.Fatalf("chroot %s -lc: %v %s", sh, err, out)
		}
		if !strings.HasPrefix(string(out), "/usr/local/go/bin:/opt/go/bin:/root/go/bin:") || !strings.HasSuffix(string(out), "|/opt/go") {
			t.Errorf("chroot %s -lc sees %q", sh, out)
		}
	}
	if _, err := os.Stat(filepath.Join(merged, "tmp/pwned")); err == nil {
		t.Fatal("a value was executed inside the image")
	}
	if _, err := os.Stat(filepath.Join(base, "etc/profile.d/go.sh")); err == nil {
		t.Fatal("the write went through to the base image")
	}
}
