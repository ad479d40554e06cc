package firewall

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/goprov/goprov/resources"
)

var ufwCall = regexp.MustCompile(`\bufw (allow|deny|reject|limit|delete|default|reload|--force enable|enable|disable)\b`)

// A ufw change is written as rule files (the tuples ufw stores, from which
// ufw's own code renders the iptables lines) and loaded with ONE reload or
// enable, not one ufw run per rule.
func TestUFWChangeOneReload(t *testing.T) {
	ssh := mustRule(t, "port = 22")
	ssh.Address = "firewall_rule.ssh_in"
	app := mustRule(t, "port = 2222\ncomment = \"app\"")
	app.Address = "firewall_rule.app"
	out := mustRule(t, "port = 443\ndirection = \"out\"")
	out.Address = "firewall_rule.https_out"
	set := mustSettings(t, "")
	set.Address = "firewall.main"
	purge := mustSettings(t, "purge = true\ndefault_outgoing = \"deny\"")
	purge.Address = "firewall.main"
	sshTuple := "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in comment=" + hexOf("goprov:firewall_rule.ssh_in")
	appTuple := "### tuple ### allow tcp 2222 0.0.0.0/0 any 0.0.0.0/0 in comment=" + hexOf("goprov:firewall_rule.app app")
	outTuple := "### tuple ### allow tcp 443 0.0.0.0/0 any 0.0.0.0/0 out comment=" + hexOf("goprov:firewall_rule.https_out")
	hand := "### tuple ### allow tcp 8080 0.0.0.0/0 any 0.0.0.0/0 in"
	h := &resources.Host{Name: "h", Root: "/", SSHPort: 22}
	e := env{SSHPort: 22, Live: true}
	cases := []struct {
		name      string
		d         decl
		st        *State
		load      string   // the one load command
		tuples    []string // user.rules' tuples after the change, in order
		policyArg string   // a default policy ufw's renderer sets
	}{
		{"fresh host", decl{[]*Settings{set}, []*Rule{ssh, app, out}}, ufwState(false, "deny", ""),
			"ufw --force enable", []string{sshTuple, appTuple, outTuple}, ""},
		{"add to a running firewall", decl{[]*Settings{set}, []*Rule{ssh, app}}, ufwState(true, "deny", hand+"\n"+sshTuple+"\n"),
			"ufw reload", []string{hand, sshTuple, appTuple}, ""},
		{"purge and policy", decl{[]*Settings{purge}, []*Rule{ssh}}, ufwState(true, "deny", hand+"\n"+sshTuple+"\n"),
			"ufw reload", []string{sshTuple}, "outgoing=deny"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := planHost(c.d, c.st, e)
			if len(p.errs) > 0 {
				t.Fatal(p.errs)
			}
			s := script(h, p)
			calls := ufwCall.FindAllString(s, -1)
			if len(calls) != 1 || calls[0] != c.load {
				t.Errorf("ufw runs %q, want exactly [%s]\n%s", calls, c.load, s)
			}
			last := -1
			for _, tu := range c.tuples {
				i := strings.Index(s, tu)
				if i < 0 || i < last {
					t.Errorf("tuple %q missing or out of order\n%s", tu, s)
				}
				last = i
			}
			if strings.Count(s, "### tuple ###") != len(c.tuples) {
				t.Errorf("want exactly %d tuples written\n%s", len(c.tuples), s)
			}
			if c.policyArg != "" && !strings.Contains(s, c.policyArg) {
				t.Errorf("policy %s not written\n%s", c.policyArg, s)
			}
			if out, err := exec.Command("sh", "-n", "-c", s).CombinedOutput(); err != nil {
				t.Errorf("sh -n: %v %s", err, out)
			}
		})
	}
}
