package sudoers

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goprov/goprov/internal/ci"

	"github.com/zclconf/go-cty/cty"
)

// FuzzRule: whatever a rule's fields hold, validation either rejects them or
// they render as exactly one sudoers line for the rule — which visudo
// accepts, where visudo is installed (CI installs it).
func FuzzRule(f *testing.F) {
	f.Add("%devops", "monitor", "/usr/bin/systemctl status httpd")
	f.Add("deploy", "root", "/bin/journalctl -u httpd -n 50")
	f.Add("deploy\nALL", "root", "/usr/bin/true")
	f.Add("a,b", "x:y", "/usr/bin/echo a=b,c:d #e")
	f.Add("#1000", "ALL", "sudoedit /etc/hosts")
	visudo, _ := exec.LookPath("visudo")
	if visudo == "" {
		if _, err := os.Stat("/usr/sbin/visudo"); err == nil {
			visudo = "/usr/sbin/visudo"
		}
	}
	if visudo == "" && ci.Enabled() {
		f.Fatal("visudo is not installed (CI): scripts/test.sh installs sudo")
	}
	f.Fuzz(func(t *testing.T, user, runas, command string) {
		v := cty.ObjectVal(map[string]cty.Value{
			"users":    cty.ListVal([]cty.Value{cty.StringVal(user)}),
			"hosts":    cty.ListVal([]cty.Value{cty.StringVal("ALL")}),
			"runas":    cty.StringVal(runas),
			"nopasswd": cty.True,
			"commands": cty.ListVal([]cty.Value{cty.StringVal(command)}),
		})
		r, diags := decodeRule(v, nil)
		if diags.HasErrors() {
			return
		}
		d := &Dropin{Address: "sudoers_dropin.f", Name: "f", Rules: []Rule{r}}
		text := d.Render()
		if n := strings.Count(text, "\n"); n != 2 || !strings.HasSuffix(text, "\n") {
			t.Fatalf("rule rendered as %d lines:\n%s", n, text)
		}
		if visudo == "" {
			return
		}
		p := filepath.Join(t.TempDir(), "f")
		os.WriteFile(p, []byte(text), 0o440)
		if out, err := exec.Command(visudo, "-c", "-f", p).CombinedOutput(); err != nil {
			t.Fatalf("validated rule rejected by visudo: %v\n%s\n%s", err, text, out)
		}
	})
}
