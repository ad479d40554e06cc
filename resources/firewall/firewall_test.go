package firewall

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/transport"
)

func build(t *testing.T, kind, src string) (resources.Resource, hcl.Diagnostics) {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "t.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	k, _ := resources.Lookup(kind)
	v, diags := hcldec.Decode(f.Body, k.Spec(), nil)
	if diags.HasErrors() {
		return nil, diags
	}
	return k.New(kind+".x", v, f.Body)
}

func mustRule(t *testing.T, src string) *Rule {
	t.Helper()
	r, diags := build(t, KindRule, src)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	rr := r.(*ruleRes).r
	return rr
}

func mustSettings(t *testing.T, src string) *Settings {
	t.Helper()
	r, diags := build(t, KindFirewall, src)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return r.(*firewallRes).s
}

func mustSettingsAddr(t *testing.T, src string) *Settings {
	s := mustSettings(t, src)
	s.Address = "firewall.main"
	return s
}

func TestValidation(t *testing.T) {
	cases := []struct {
		kind, src, want string // want: "" or a substring of the diagnostic summary
		line            int
	}{
		{KindRule, `port = 22`, "", 0},
		{KindRule, "port = \"8000-8100\"\nprotocol = \"udp\"", "", 0},
		{KindRule, `service = "https"` + "\nsource = \"10.1.2.3/8\"\nzone = \"internal\"", "", 0},
		{KindRule, `comment = "x"`, "Missing port or service", 1},
		{KindRule, "port = 22\nservice = \"ssh\"", "Both port and service", 2},
		{KindRule, `port = 0`, "Invalid port", 1},
		{KindRule, `port = 65536`, "Invalid port", 1},
		{KindRule, `port = "22; reboot"`, "Invalid port", 1},
		{KindRule, `port = "100-10"`, "Invalid port", 1},
		{KindRule, "port = \"1-2\"\nprotocol = \"any\"", "Port range needs a protocol", 2},
		{KindRule, `service = "https$(id)"`, "Invalid service", 1},
		{KindRule, "port = 1\nprotocol = \"icmp\"", "Invalid protocol", 2},
		{KindRule, "port = 1\ndirection = \"both\"", "Invalid direction", 2},
		{KindRule, "port = 1\naction = \"accept\"", "Invalid action", 2},
		{KindRule, "port = 1\nsource = \"10.0.0.0/8 ; id\"", "Invalid source", 2},
		{KindRule, "port = 1\nsource = \"../etc\"", "Invalid source", 2},
		{KindRule, "port = 1\nsource = \"10.0.0.1\"\ndestination = \"::1\"", "Mixed address families", 3},
		{KindRule, "port = 1\nzone = \"a b\"", "Invalid zone", 2},
		{KindRule, "port = 1\nzone = \"internal\"\ndirection = \"out\"", "Zone on an outgoing rule", 2},
		{KindRule, "port = 1\ncomment = \"it's\"", "Invalid comment", 2},
		{KindRule, "port = 1\ncomment = \"a\\nb\"", "Invalid comment", 2},
		{KindRule, "port = 1\ncomment = \"a\\u0000b\"", "Invalid comment", 2},
		{KindRule, "port = 1\nensure = \"gone\"", "Invalid ensure", 2},
		{KindFirewall, ``, "", 0},
		{KindFirewall, `backend = "iptables"`, "Invalid backend", 1},
		{KindFirewall, `default_incoming = "drop"`, "Invalid default_incoming", 1},
		{KindFirewall, `default_outgoing = "block"`, "Invalid default_outgoing", 1},
		{KindFirewall, `rollback_timeout = 5`, "Invalid rollback_timeout", 1},
		{KindFirewall, `rollback_timeout = 10.5`, "Invalid rollback_timeout", 1},
		{KindFirewall, `zone = "x/../y"`, "Invalid zone", 1},
	}
	for _, c := range cases {
		_, diags := build(t, c.kind, c.src)
		if c.want == "" {
			if diags.HasErrors() {
				t.Errorf("%s %q: %v", c.kind, c.src, diags)
			}
			continue
		}
		if !diags.HasErrors() || !strings.Contains(diags[0].Summary, c.want) {
			t.Errorf("%s %q: got %v, want %q", c.kind, c.src, diags, c.want)
			continue
		}
		if s := diags[0].Subject; s == nil || s.Start.Line != c.line {
			t.Errorf("%s %q: diagnostic at %v, want line %d", c.kind, c.src, s, c.line)
		}
	}
	r := mustRule(t, "service = \"https\"\nsource = \"10.1.2.3/8\"\ndestination = \"10.0.0.1/32\"")
	if r.Source != "10.0.0.0/8" || r.Destination != "10.0.0.1" || r.Protocol != "tcp" || r.Direction != "in" || r.Action != "allow" || !r.Present {
		t.Errorf("normalised: %+v", r)
	}
}

// Recorded from ufw 0.36.2 (Debian 12) in the lab.
const userRules = `*filter
:ufw-user-input - [0:0]
### RULES ###

### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in comment=676f70726f763a6669726577616c6c5f72756c652e7373685f696e
-A ufw-user-input -p tcp --dport 22 -j ACCEPT

### tuple ### allow tcp 443 0.0.0.0/0 any 0.0.0.0/0 out
### tuple ### allow tcp 443 0.0.0.0/0 any 10.0.0.0/8 in
### tuple ### allow_log-all any 443 0.0.0.0/0 any 0.0.0.0/0 in
### tuple ### deny udp any 0.0.0.0/0 53 10.9.0.0/16 in_eth0
### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 OpenSSH - in_eth0
### END RULES ###
`

func TestParseUFWTuples(t *testing.T) {
	got, err := ParseUFWTuples(userRules, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []UFWRule{
		{Action: "allow", Proto: "tcp", DPort: "22", Dst: "0.0.0.0/0", SPort: "any", Src: "0.0.0.0/0", Direction: "in", Comment: "goprov:firewall_rule.ssh_in"},
		{Action: "allow", Proto: "tcp", DPort: "443", Dst: "0.0.0.0/0", SPort: "any", Src: "0.0.0.0/0", Direction: "out"},
		{Action: "allow", Proto: "tcp", DPort: "443", Dst: "0.0.0.0/0", SPort: "any", Src: "10.0.0.0/8", Direction: "in"},
		{Action: "allow", Log: "log-all", Proto: "any", DPort: "443", Dst: "0.0.0.0/0", SPort: "any", Src: "0.0.0.0/0", Direction: "in"},
		{Action: "deny", Proto: "udp", DPort: "any", Dst: "0.0.0.0/0", SPort: "53", Src: "10.9.0.0/16", Direction: "in", Iface: "eth0"},
		{Action: "allow", Proto: "tcp", DPort: "22", Dst: "0.0.0.0/0", SPort: "any", Src: "0.0.0.0/0", Direction: "in", Iface: "eth0", DApp: "OpenSSH"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatal(d)
	}
	del := []string{}
	for _, u := range got {
		del = append(del, ufwDeleteCmd(u))
	}
	wantDel := []string{
		"ufw delete allow in proto tcp from 0.0.0.0/0 to 0.0.0.0/0 port 22",
		"ufw delete allow out proto tcp from 0.0.0.0/0 to 0.0.0.0/0 port 443",
		"ufw delete allow in proto tcp from 10.0.0.0/8 to 0.0.0.0/0 port 443",
		"ufw delete allow log-all in from 0.0.0.0/0 to 0.0.0.0/0 port 443",
		"ufw delete deny in on eth0 proto udp from 10.9.0.0/16 port 53 to 0.0.0.0/0",
		"ufw delete allow in on eth0 from 0.0.0.0/0 to 0.0.0.0/0 app OpenSSH",
	}
	if d := cmp.Diff(wantDel, del); d != "" {
		t.Error(d)
	}
	if _, err := ParseUFWTuples("### tuple ### allow tcp 22\n", false); err == nil {
		t.Error("short tuple accepted")
	}
}

// Recorded from firewalld 1.3.3 (`firewall-cmd --list-all-zones`).
const zonesOut = `block
  target: %%REJECT%%
  icmp-block-inversion: no
  interfaces: 
  sources: 
  services: 
  ports: 
  protocols: 
  forward: yes
  masquerade: no
  forward-ports: 
  source-ports: 
  icmp-blocks: 
  rich rules: 

public (active)
  target: default
  icmp-block-inversion: no
  interfaces: eth0
  sources: 
  services: dhcpv6-client ssh
  ports: 443/tcp 8000-8100/udp
  protocols: 
  forward: yes
  masquerade: no
  forward-ports: 
  source-ports: 
  icmp-blocks: 
  rich rules: 
	rule family="ipv4" source address="10.0.0.0/8" service name="https" accept
	rule port port="2223" protocol="tcp" drop

`

func TestParseZones(t *testing.T) {
	z := ParseZones(zonesOut)
	want := map[string]*Zone{
		"block":  {Name: "block", Target: "%%REJECT%%"},
		"public": {Name: "public", Target: "default", Interfaces: []string{"eth0"}, Services: []string{"dhcpv6-client", "ssh"}, Ports: []string{"443/tcp", "8000-8100/udp"}, RichRules: []string{`rule family="ipv4" source address="10.0.0.0/8" service name="https" accept`, `rule port port="2223" protocol="tcp" drop`}},
	}
	if d := cmp.Diff(want, z, cmpopts.EquateEmpty()); d != "" {
		t.Fatal(d)
	}
}

func TestFwdWant(t *testing.T) {
	cases := map[string]string{
		`port = 443`: "port 443/tcp",
		"port = \"8000-8100\"\nprotocol = \"udp\"":     "port 8000-8100/udp",
		`service = "https"`:                            "service https",
		"service = \"https\"\nsource = \"10.0.0.0/8\"": `rich-rule rule family="ipv4" source address="10.0.0.0/8" service name="https" accept`,
		"port = 443\nsource = \"10.1.0.0/16\"":         `rich-rule rule family="ipv4" source address="10.1.0.0/16" port port="443" protocol="tcp" accept`,
		"port = 2223\naction = \"deny\"":               `rich-rule rule port port="2223" protocol="tcp" drop`,
		"port = 53\nprotocol = \"udp\"\naction = \"reject\"\nsource = \"2001:db8::/32\"\ndestination = \"2001:db8::1\"": `rich-rule rule family="ipv6" source address="2001:db8::/32" destination address="2001:db8::1" port port="53" protocol="udp" reject`,
	}
	for src, want := range cases {
		it, err := fwdWant(mustRule(t, src))
		if err != nil || it.String() != want {
			t.Errorf("%q: %v %q, want %q", src, err, it, want)
		}
	}
	for _, src := range []string{"port = 1\ndirection = \"out\"", "port = 1\naction = \"limit\"", "port = 1\nprotocol = \"any\""} {
		if _, err := fwdWant(mustRule(t, src)); err == nil {
			t.Errorf("%q accepted on firewalld", src)
		}
	}
}

func ufwState(enabled bool, defIn string, tuples string) *State {
	r4, _ := ParseUFWTuples(tuples, false)
	st := &State{UFWInstalled: true, Services: map[string]int{"https/tcp": 443, "ssh/tcp": 22}, Pending: map[string]string{}}
	st.UFW = UFWState{Enabled: enabled, Loaded: enabled, IPv6: false, DefaultIn: defIn, DefaultOut: "allow", Rules: r4}
	return st
}

// TestPlanUFW stays whole: the rules it builds first are shared by every
// row of its one table of host states and expected plans.
func TestPlanUFW(t *testing.T) {
	ssh := mustRule(t, "port = 22")
	ssh.Address = "firewall_rule.ssh_in"
	app := mustRule(t, "port = 2222\ncomment = \"app\"")
	app.Address = "firewall_rule.app"
	appGone := mustRule(t, "port = 2222\nensure = \"absent\"")
	appGone.Address = "firewall_rule.app"
	set := mustSettings(t, "")
	set.Address = "firewall.main"
	purge := mustSettings(t, "purge = true")
	purge.Address = "firewall.main"
	sshTuple := "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in comment=" + hexOf("goprov:firewall_rule.ssh_in") + "\n"
	appTuple := "### tuple ### allow tcp 2222 0.0.0.0/0 any 0.0.0.0/0 in comment=" + hexOf("goprov:firewall_rule.app app") + "\n"
	hand := "### tuple ### allow tcp 8080 0.0.0.0/0 any 0.0.0.0/0 in\n"
	e := env{SSHPort: 22, Live: true}

	type want struct {
		actions map[string]resources.Action
		err     string // substring of an error, "" for none
		cmds    []string
		notes   string // substring of the notes of all changes
	}
	cases := []struct {
		name string
		d    decl
		st   *State
		want want
	}{
		{"fresh host", decl{[]*Settings{set}, []*Rule{ssh, app}}, ufwState(false, "deny", ""), want{
			actions: map[string]resources.Action{"firewall.main": resources.Update, ssh.Address: resources.Create, app.Address: resources.Create},
			cmds: []string{
				"ufw allow in proto tcp from any to any port 22 comment goprov:firewall_rule.ssh_in",
				"ufw allow in proto tcp from any to any port 2222 comment 'goprov:firewall_rule.app app'",
				"ufw --force enable"}}},
		{"converged", decl{[]*Settings{set}, []*Rule{ssh, app}}, ufwState(true, "deny", sshTuple+appTuple+hand), want{
			actions: map[string]resources.Action{"firewall.main": resources.NoOp, ssh.Address: resources.NoOp, app.Address: resources.NoOp}}},
		{"comment changed", decl{nil, []*Rule{app}}, ufwState(true, "deny", sshTuple+strings.Replace(appTuple, hexOf("goprov:firewall_rule.app app"), hexOf("old"), 1)), want{
			actions: map[string]resources.Action{app.Address: resources.Update},
			cmds:    []string{"ufw allow in proto tcp from any to any port 2222 comment 'goprov:firewall_rule.app app'"}}},
		{"loaded lost", decl{[]*Settings{set}, []*Rule{ssh}}, func() *State { s := ufwState(true, "deny", sshTuple); s.UFW.Loaded = false; return s }(), want{
			actions: map[string]resources.Action{"firewall.main": resources.Update, ssh.Address: resources.NoOp},
			cmds:    []string{"ufw --force enable"}}},
		{"absent", decl{[]*Settings{set}, []*Rule{ssh, appGone}}, ufwState(true, "deny", sshTuple+appTuple), want{
			actions: map[string]resources.Action{"firewall.main": resources.NoOp, ssh.Address: resources.NoOp, appGone.Address: resources.Delete},
			cmds:    []string{"ufw delete allow in proto tcp from 0.0.0.0/0 to 0.0.0.0/0 port 2222"}}},
		{"purge", decl{[]*Settings{purge}, []*Rule{ssh}}, ufwState(true, "deny", sshTuple+hand), want{
			actions: map[string]resources.Action{"firewall.main": resources.Update, ssh.Address: resources.NoOp},
			cmds:    []string{"ufw delete allow in proto tcp from 0.0.0.0/0 to 0.0.0.0/0 port 8080"}}},
		{"lockout: default deny, no ssh rule", decl{[]*Settings{set}, []*Rule{app}}, ufwState(false, "allow", ""), want{err: "lock goprov out"}},
		{"lockout: purge removes the ssh rule", decl{[]*Settings{purge}, []*Rule{app}}, ufwState(true, "deny", sshTuple), want{err: "lock goprov out"}},
		{"lockout: deny rule on 22", decl{nil, []*Rule{mustRule(t, "port = 22\naction = \"deny\"")}}, ufwState(true, "allow", ""), want{err: "would deny port 22/tcp"}},
		{"lockout: ssh allow removed", decl{nil, []*Rule{func() *Rule { r := *ssh; r.Present = false; return &r }()}}, ufwState(true, "deny", sshTuple), want{err: "lock goprov out"}},
		{"absent and present at once", decl{nil, []*Rule{ssh, app, appGone}}, ufwState(true, "deny", sshTuple), want{err: "removes the rule firewall_rule.app declares present"}},
		{"reload pending", decl{[]*Settings{set}, []*Rule{ssh}}, func() *State { s := ufwState(true, "deny", sshTuple); s.Pending[pendingUFW] = "crashed"; return s }(), want{
			actions: map[string]resources.Action{"firewall.main": resources.Update, ssh.Address: resources.NoOp},
			cmds:    []string{"ufw reload"}}},
		{"reload pending, rules only", decl{nil, []*Rule{ssh}}, func() *State { s := ufwState(true, "deny", sshTuple); s.Pending[pendingUFW] = "crashed"; return s }(), want{
			actions: map[string]resources.Action{ssh.Address: resources.Update},
			cmds:    []string{"ufw reload"}}},
		{"disable", decl{[]*Settings{mustSettingsAddr(t, "enabled = false")}, []*Rule{ssh}}, ufwState(true, "deny", sshTuple), want{
			actions: map[string]resources.Action{"firewall.main": resources.Update, ssh.Address: resources.NoOp},
			cmds:    []string{"ufw disable"}}},
		{"disabled stays disabled: no guard", decl{[]*Settings{mustSettingsAddr(t, "enabled = false")}, nil}, ufwState(false, "deny", ""), want{
			actions: map[string]resources.Action{"firewall.main": resources.NoOp}}},
		{"stale rollback", decl{[]*Settings{set}, []*Rule{ssh}}, func() *State { s := ufwState(true, "deny", sshTuple); s.RollbackStale = true; return s }(), want{
			actions: map[string]resources.Action{"firewall.main": resources.NoOp, ssh.Address: resources.NoOp}, notes: "never confirmed"}},
		{"rollback armed", decl{[]*Settings{set}, []*Rule{ssh}}, func() *State { s := ufwState(true, "deny", sshTuple); s.RollbackArmed = "4242"; return s }(), want{err: "rollback is armed"}},
		{"no lockout check for local hosts", decl{[]*Settings{set}, nil}, ufwState(false, "allow", ""), want{
			actions: map[string]resources.Action{"firewall.main": resources.Update}, cmds: []string{"ufw default deny incoming", "ufw --force enable"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ee := e
			if strings.HasPrefix(c.name, "no lockout") {
				ee.SSHPort = 0
			}
			p := planHost(c.d, c.st, ee)
			var errs []string
			for a, err := range p.errs {
				errs = append(errs, a+": "+err.Error())
			}
			if c.want.err != "" {
				if !strings.Contains(strings.Join(errs, "\n"), c.want.err) {
					t.Fatalf("errors %q, want %q", errs, c.want.err)
				}
				return
			}
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			got := map[string]resources.Action{}
			var notes []string
			for a, ch := range p.changes {
				got[a] = ch.Action
				notes = append(notes, ch.Notes...)
			}
			if !strings.Contains(strings.Join(notes, "\n"), c.want.notes) {
				t.Errorf("notes %q, want %q", notes, c.want.notes)
			}
			if d := cmp.Diff(c.want.actions, got); d != "" {
				t.Error(d)
			}
			cmds := append(append(append(append([]string{}, p.Adds...), p.Removes...), p.Defaults...), p.Enable...)
			if len(cmds) == 0 {
				cmds = nil
			}
			if d := cmp.Diff(c.want.cmds, cmds); d != "" {
				t.Error(d)
			}
		})
	}
}

func hexOf(s string) string {
	const digits = "0123456789abcdef"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(digits[s[i]>>4])
		b.WriteByte(digits[s[i]&15])
	}
	return b.String()
}

func TestUFWSSHVerdict(t *testing.T) {
	parse := func(s string) []UFWRule { r, _ := ParseUFWTuples(s, false); return r }
	cases := []struct {
		tuples, def string
		want        sshVerdict
	}{
		{"", "allow", allowed},
		{"", "deny", blocked},
		{"### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n", "deny", allowed},
		{"### tuple ### limit tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n", "deny", allowed},
		{"### tuple ### allow tcp 20:30 0.0.0.0/0 any 0.0.0.0/0 in\n", "deny", allowed},
		{"### tuple ### allow udp 22 0.0.0.0/0 any 0.0.0.0/0 in\n", "deny", blocked},
		{"### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 out\n", "deny", blocked},
		{"### tuple ### deny tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n", "allow", blocked},
		{"### tuple ### allow tcp 22 0.0.0.0/0 any 10.0.0.0/8 in\n", "deny", maybe},
		{"### tuple ### allow tcp 22 0.0.0.0/0 any 10.0.0.0/8 in\n### tuple ### deny tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n", "allow", maybe},
		{"### tuple ### deny tcp 22 0.0.0.0/0 any 10.0.0.0/8 in\n", "allow", allowed},
		{"### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 OpenSSH - in\n", "deny", allowed},
		{"### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 OpenSSH - in_eth0\n", "deny", maybe},
	}
	for _, c := range cases {
		if got, _ := ufwSSHVerdict(parse(c.tuples), false, c.def, 22); got != c.want {
			t.Errorf("%q default %s: %v, want %v", c.tuples, c.def, got, c.want)
		}
	}
}

func TestPlanFirewalld(t *testing.T) {
	zones := ParseZones(zonesOut)
	st := &State{FirewalldInstalled: true, FirewalldRunning: true, Services: map[string]int{"ssh/tcp": 22, "https/tcp": 443}, Pending: map[string]string{},
		FWD: FirewalldState{DefaultZone: "public", Permanent: zones, Runtime: ParseZones(strings.Replace(zonesOut, " 443/tcp", "", 1))}}
	set := mustSettings(t, `default_incoming = "deny"`)
	set.Address = "firewall.main"
	https := mustRule(t, "port = 443")
	https.Address = "firewall_rule.https"
	p := planHost(decl{[]*Settings{set}, []*Rule{https}}, st, env{SSHPort: 22, Live: true})
	if len(p.errs) > 0 {
		t.Fatal(p.errs)
	}
	if p.Backend != "firewalld" || p.changes[https.Address].Action != resources.Update || p.changes[set.Address].Action != resources.Update || !p.Reload {
		t.Fatalf("%+v", p)
	}
	want := []string{"firewall-cmd '--zone=public' '--add-port=443/tcp'"}
	if d := cmp.Diff(want, p.Runtime); d != "" || len(p.Adds) != 0 {
		t.Errorf("runtime %s adds %q", d, p.Adds)
	}
	if d := cmp.Diff([]string{"firewall-cmd --permanent '--zone=public' '--set-target=DROP'"}, p.Defaults); d != "" {
		t.Error(d)
	}
	// Purge would remove the ssh service: refused.
	purge := mustSettings(t, "purge = true")
	purge.Address = "firewall.main"
	p = planHost(decl{[]*Settings{purge}, []*Rule{https}}, st, env{SSHPort: 22, Live: true})
	if err := p.errs["firewall.main"]; err == nil || !strings.Contains(err.Error(), "lock goprov out") {
		t.Errorf("purge without ssh: %v", err)
	}
	// The session may arrive in any zone with bound interfaces or sources
	// (or the default zone): blocked in all → refused; in some → a note.
	noSSH := strings.Replace(zonesOut, "dhcpv6-client ssh", "dhcpv6-client", 1)
	internal := "internal\n  target: default\n  interfaces: eth1\n  services: ssh\n\n"
	for _, c := range []struct {
		zones, want string
	}{
		{noSSH, "error"},
		{noSSH + internal, "note"},
		{zonesOut + internal, "ok"},
	} {
		s2 := *st
		s2.FWD = FirewalldState{DefaultZone: "public", Permanent: ParseZones(c.zones), Runtime: ParseZones(c.zones)}
		p = planHost(decl{nil, []*Rule{https}}, &s2, env{SSHPort: 22, Live: true})
		got := "ok"
		if p.errs[https.Address] != nil {
			got = "error"
		} else if strings.Contains(strings.Join(p.changes[https.Address].Notes, " "), "cannot tell which zone") {
			got = "note"
		}
		if got != c.want {
			t.Errorf("zones %q: %s, want %s (%v %q)", c.zones, got, c.want, p.errs, p.changes[https.Address].Notes)
		}
	}

	// Offline (image root): firewall-offline-cmd, no runtime, no guard.
	off := *st
	off.FirewalldRunning = false
	off.FWD.Runtime = nil
	p = planHost(decl{[]*Settings{set}, []*Rule{https}}, &off, env{})
	if len(p.errs) > 0 || len(p.Runtime) != 0 || p.Reload {
		t.Fatalf("%+v %v", p, p.errs)
	}
	if d := cmp.Diff([]string{"firewall-offline-cmd '--zone=public' '--set-target=DROP'"}, p.Defaults); d != "" {
		t.Error(d)
	}
}

func TestChooseBackend(t *testing.T) {
	auto := &Settings{Backend: "auto"}
	cases := []struct {
		st   State
		set  *Settings
		want string
	}{
		{State{UFWInstalled: true, FirewalldInstalled: true}, nil, "ufw"},
		{State{UFWInstalled: true, FirewalldInstalled: true, FirewalldRunning: true}, auto, "firewalld"},
		{State{FirewalldInstalled: true}, auto, "firewalld"},
		{State{UFWInstalled: true, FirewalldInstalled: true, FirewalldRunning: true, UFW: UFWState{Enabled: true}}, auto, "error"},
		{State{}, auto, "error"},
		{State{FirewalldInstalled: true}, &Settings{Backend: "ufw"}, "error"},
	}
	for i, c := range cases {
		got, err := chooseBackend(&c.st, c.set)
		if err != nil {
			got = "error"
		}
		if got != c.want {
			t.Errorf("case %d: %s, want %s", i, got, c.want)
		}
	}
}

// The scripts goprov generates are valid sh, and a hostile root path
// stays one inert word.
func TestScriptsParse(t *testing.T) {
	h := &resources.Host{Name: "img", Root: "/tmp/it's $(reboot) dir", SSHPort: 0}
	p := &hostPlan{Backend: "ufw", Adds: []string{"ufw allow in proto tcp from any to any port 22 comment 'goprov:x'"}, Enable: []string{"ufw --force enable"}, Changed: true}
	for name, s := range map[string]string{
		"probe":     probeScript(h, probeNeeds{}),
		"probe-ssh": probeScript(&resources.Host{Root: "/", SSHPort: 2222}, probeNeeds{firewalld: true, services: true, loaded: true}),
		"change":    script(h, p),
		"restore":   restoreScript("ufw"),
		"restore2":  restoreScript("firewalld"),
	} {
		if out, err := exec.Command("sh", "-n", "-c", s).CombinedOutput(); err != nil {
			t.Errorf("%s: sh -n: %v %s\n%s", name, err, out, s)
		}
		if strings.HasPrefix(name, "probe") && strings.Contains(s, "$(reboot)") && !strings.Contains(s, `'/tmp/it'\''s $(reboot) dir`) {
			t.Errorf("%s: root not quoted:\n%s", name, s)
		}
	}
	// An image's tools run only in the local transport's sandbox (the
	// image as "/"); without it they never run on this machine.
	if got := inRoot(h, "ufw status"); got != "false" {
		t.Errorf("image command without the sandbox: %q, want it refused", got)
	}
	sb := &resources.Host{Name: "img", Root: h.Root, T: transport.NewLocalRoot(h.Root)}
	if got := inRoot(sb, "ufw status"); got != "ufw status" {
		t.Errorf("image command in the sandbox: %q", got)
	}
}

// The reference docs list exactly the attributes of each schema.
func TestDocsMatchSpec(t *testing.T) {
	for kind, doc := range map[string]string{KindFirewall: "firewall.md", KindRule: "firewall_rule.md"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "docs", "resources", doc))
		if err != nil {
			t.Fatal(err)
		}
		documented := map[string]bool{}
		for _, l := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(l, "| `"); ok {
				name, _, _ := strings.Cut(rest, "`")
				documented[name] = true
			}
		}
		k, _ := resources.Lookup(kind)
		for name := range *k.Spec().(*hcldec.ObjectSpec) {
			if !documented[name] {
				t.Errorf("%s: attribute %q not documented in %s", kind, name, doc)
			}
			delete(documented, name)
		}
		for name := range documented {
			t.Errorf("%s documents %q, which %s does not have", doc, name, kind)
		}
	}
}
