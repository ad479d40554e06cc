package firewall

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/testinfra"
)

// A read of a host where firewalld is installed but not running starts no
// firewalld tool (a Python program, ~0.3 s of host CPU each), and what it
// reads of firewalld's permanent zones is exactly what
// firewall-offline-cmd reports, for a zone set with every kind of rich
// rule, coalescing ports, bindings and targets.
func TestLabReadStartsNoFirewalldTool(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	inv := labtest.Inventory(lab, testinfra.UserDeploy)
	h := lab.Host("h1")
	const real = "/usr/bin/firewall-offline-cmd.real"
	markFirewalldTools(t, h)
	offline := func(args ...string) {
		t.Helper()
		h.Sh(t, real+" "+strings.Join(args, " "))
	}
	for _, r := range testRichRules {
		offline("--zone=public", "--add-rich-rule='"+r+"'")
	}
	offline("--zone=public", "--add-port=2000-2010/tcp", "--add-port=2005-2020/tcp", "--add-port=53/udp", "--add-port=2030/tcp")
	offline("--zone=internal", "--add-source=10.1.0.0/16")
	offline("--zone=internal", "--set-target=DROP")
	offline("--zone=work", "--add-interface=eth9")
	offline("--zone=work", "--set-target=%%REJECT%%")
	offline("--new-zone=extra")
	offline("--zone=extra", "--add-service=ssh", "--add-service=http")
	h.Sh(t, "rm -f /tmp/firewalld-tool-ran")

	// A whole plan of a ufw host starts no firewalld tool.
	labtest.RequireOK(t, labtest.Plan(t, labtest.Write(t, inv, `
resource "firewall" "main" {
  backend          = "ufw"
  enabled          = true
  default_incoming = "deny"
}
resource "firewall_rule" "ssh_in" {
  port = 22
}
`), labtest.Options{}))
	if out := h.Sh(t, "cat /tmp/firewalld-tool-ran 2>/dev/null || true"); out != "" {
		t.Errorf("the read ran firewalld's tools:\n%s", out)
	}

	// What the probe reads equals what firewalld's own tool reports.
	st, err := ParseState([]byte(h.Sh(t, probeScript(&resources.Host{Name: "h1", SSHPort: 22}, probeNeeds{firewalld: true}))))
	if err != nil {
		t.Fatal(err)
	}
	want := ParseZones(h.Sh(t, real+" --list-all-zones"))
	if len(want) < 10 || want["extra"] == nil || len(want["public"].RichRules) != 7 {
		t.Fatalf("firewall-offline-cmd reports too little: %v", want)
	}
	if got := normZones(st.FWD.Permanent); !reflect.DeepEqual(got, normZones(want)) {
		for name, z := range normZones(want) {
			if g := got[name]; !reflect.DeepEqual(g, z) {
				t.Errorf("zone %s:\n got  %+v\n want %+v", name, g, z)
			}
		}
		t.Errorf("zones: got %d, want %d", len(got), len(want))
	}
	if st.FWD.DefaultZone != "public" {
		t.Errorf("default zone %q", st.FWD.DefaultZone)
	}
}

// testRichRules are rich rules of every kind firewalld's readers treat
// apart.
var testRichRules = []string{
	`rule family="ipv4" source address="10.0.0.0/8" service name="https" accept`,
	`rule family="ipv6" source NOT address="fd00::/8" port port="8080-8090" protocol="tcp" log prefix="web " level="info" limit value="3/m" reject type="icmp6-adm-prohibited"`,
	`rule priority="-5" family="ipv4" destination address="192.0.2.1" protocol value="icmp" audit limit value="2/h" drop`,
	`rule family="ipv4" forward-port port="80" protocol="tcp" to-port="8080"`,
	`rule family="ipv4" source address="198.51.100.0/24" masquerade`,
	`rule icmp-block name="echo-request"`,
	`rule family="ipv4" source-port port="53" protocol="udp" accept limit value="10/s"`,
}

// markFirewalldTools wraps firewalld's tools on the host so that each run
// from now on leaves a line in /tmp/firewalld-tool-ran; the real ones are
// TOOL.real.
func markFirewalldTools(t *testing.T, h *testinfra.Host) {
	t.Helper()
	h.Sh(t, `set -e
for tool in firewall-offline-cmd firewall-cmd; do
  p=$(command -v $tool); mv "$p" "$p.real"
  printf '#!/bin/sh\necho %s >> /tmp/firewalld-tool-ran\nexec %s.real "$@"\n' $tool "$p" > "$p"; chmod 755 "$p"
done`)
}

// normZones makes empty lists nil, so parsers that differ only there
// compare equal.
func normZones(m map[string]*Zone) map[string]Zone {
	out := map[string]Zone{}
	for k, z := range m {
		c := *z
		for _, l := range []*[]string{&c.Interfaces, &c.Sources, &c.Services, &c.Ports, &c.RichRules} {
			if len(*l) == 0 {
				*l = nil
			}
		}
		out[k] = c
	}
	return out
}

// The firewall's read forks a handful of processes, not one tool per file
// (issue 17: the read's process count, not any one program, is what costs
// the host CPU). Counted in the lab host's own PID namespace: the growth
// of ns_last_pid across one read is the number of processes it started.
// The figures logged are the read's user+sys CPU (`times`), for the bench.
func TestLabReadForksAHandful(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	h := lab.Host("h1")
	h.Sh(t, "ufw allow 22/tcp >/dev/null && ufw --force enable >/dev/null")
	rh := &resources.Host{Name: "h1", SSHPort: 22}
	ufwHost := []resources.Resource{
		&firewallRes{&Settings{Address: "firewall.main", Backend: "ufw", Enabled: true, DefaultIn: "deny", DefaultOut: "allow"}},
		&ruleRes{&Rule{Address: "firewall_rule.ssh", PortLo: 22, PortHi: 22, Protocol: "tcp", Direction: "in", Action: "allow", Present: true}},
	}
	fwdHost := []resources.Resource{
		&firewallRes{&Settings{Address: "firewall.main", Backend: "firewalld", Enabled: true, DefaultIn: "deny", DefaultOut: "allow"}},
		&ruleRes{&Rule{Address: "firewall_rule.ssh", Service: "ssh", Protocol: "tcp", Direction: "in", Action: "allow", Present: true}},
	}
	for _, c := range []struct {
		name    string
		members []resources.Resource
		max     int
	}{
		{"ufw host, firewalld installed", ufwHost, 6},
		{"firewalld declared, not running", fwdHost, 6},
	} {
		script := group.Probe(rh, c.members)
		// The read still says what the plan needs: ufw loaded and its
		// rules; firewalld's zones and default zone.
		st, err := ParseState([]byte(h.Sh(t, script)))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if c.members[0].(*firewallRes).s.Backend == "ufw" && (!st.UFW.Loaded || len(st.UFW.Rules) != 2) {
			t.Errorf("%s: read %+v", c.name, st.UFW)
		}
		if c.members[0].(*firewallRes).s.Backend == "firewalld" && (st.FWD.Permanent["public"] == nil || st.FWD.DefaultZone != "public") {
			t.Errorf("%s: read %+v", c.name, st.FWD)
		}
		forks, cpu := readCost(t, h, script)
		if forks > c.max {
			t.Errorf("%s: the firewall read started %d processes, want at most %d", c.name, forks, c.max)
		}
		t.Logf("%s: %d processes; 5 reads, shell and children user/sys:\n%s", c.name, forks, cpu)
	}
}

// readCost runs a read on the host: the number of processes it starts, and
// `times` after five more runs (user and sys of the shell, then of its
// children).
func readCost(t *testing.T, h *testinfra.Host, script string) (int, string) {
	t.Helper()
	// ns_last_pid is read with cat: a sysctl file answers only a read at
	// offset 0, and sh's read builtin reads byte by byte. Each cat is a
	// process of its own: a is the first cat's PID, b the second's; the
	// subshell the read runs in is one more.
	forks, err := strconv.Atoi(h.ShTrim(t, "a=$(cat /proc/sys/kernel/ns_last_pid); (\n"+script+"\n) >/dev/null 2>&1; b=$(cat /proc/sys/kernel/ns_last_pid); echo $((b - a - 2))"))
	if err != nil {
		t.Fatal(err)
	}
	return forks, h.ShTrim(t, "for i in 1 2 3 4 5; do (\n"+script+"\n) >/dev/null 2>&1; done; times")
}

// A running firewalld is read over D-Bus (busctl, no Python start-up) and
// from its zone files, exactly: the runtime zones equal what
// `firewall-cmd --list-all-zones` prints, the permanent ones what
// `firewall-cmd --permanent --list-all-zones` prints, with rich rules of
// every kind, coalesced ports, services, sources, interfaces, targets, a
// zone of its own and runtime-only entries.
func TestLabFirewalldReadOverDBus(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1, FirewalldHosts: []int{0}})
	h := lab.Host("h1")
	rich := ""
	for _, r := range testRichRules {
		rich += " --add-rich-rule='" + r + "'"
	}
	h.Sh(t, `set -e
fc() { firewall-cmd "$@" >/dev/null; }
fc --permanent --zone=public`+rich+`
fc --permanent --zone=public --add-port=2000-2010/tcp --add-port=2005-2020/tcp --add-port=53/udp
fc --permanent --zone=public --add-service=http
fc --permanent --zone=internal --add-source=10.1.0.0/16
fc --permanent --zone=internal --set-target=DROP
fc --permanent --zone=work --add-interface=eth9
fc --permanent --zone=work --set-target=%%REJECT%%
fc --permanent --new-zone=extra
fc --permanent --zone=extra --add-service=ssh --add-service=dns
fc --reload
# Runtime only: what a reload would drop.
fc --zone=public --add-port=3000/tcp
fc --zone=public --add-service=ftp
fc --zone=public --add-rich-rule='rule priority="-3" family="ipv4" source address="192.0.2.0/24" drop'
fc --zone=home --add-source=198.51.100.7
fc --zone=home --add-interface=eth8`)
	markFirewalldTools(t, h)
	members := []resources.Resource{
		&firewallRes{&Settings{Address: "firewall.main", Backend: "firewalld", Enabled: true, DefaultIn: "deny", DefaultOut: "allow"}},
		&ruleRes{&Rule{Address: "firewall_rule.ssh", Service: "ssh", Protocol: "tcp", Direction: "in", Action: "allow", Present: true}},
	}
	script := group.Probe(&resources.Host{Name: "h1", SSHPort: 22}, members)
	st, err := ParseState([]byte(h.Sh(t, script)))
	if err != nil {
		t.Fatal(err)
	}
	if out := h.Sh(t, "cat /tmp/firewalld-tool-ran 2>/dev/null || true"); out != "" {
		t.Errorf("the read of a running firewalld started firewalld's tools:\n%s", out)
	}
	forks, cpu := readCost(t, h, script)
	t.Logf("running firewalld: %d processes; 5 reads, shell and children user/sys:\n%s", forks, cpu)
	if !st.FirewalldRunning {
		t.Fatal("firewalld not seen running")
	}
	const cmd = "/usr/bin/firewall-cmd.real"
	if z := h.ShTrim(t, cmd+" --get-default-zone"); st.FWD.DefaultZone != z {
		t.Errorf("default zone %q, firewall-cmd says %q", st.FWD.DefaultZone, z)
	}
	for _, c := range []struct {
		name string
		got  map[string]*Zone
		args string
	}{
		{"runtime", st.FWD.Runtime, " --list-all-zones"},
		{"permanent", st.FWD.Permanent, " --permanent --list-all-zones"},
	} {
		want := ParseZones(h.Sh(t, cmd+c.args))
		if len(want) < 10 || want["extra"] == nil || len(want["public"].RichRules) < 7 {
			t.Fatalf("%s: firewall-cmd reports too little: %v", c.name, want)
		}
		got, w := normZones(c.got), normZones(want)
		for name, z := range w {
			if g, ok := got[name]; !ok || !reflect.DeepEqual(g, z) {
				t.Errorf("%s zone %s:\n got  %+v\n want %+v", c.name, name, g, z)
			}
		}
		if len(got) != len(w) {
			t.Errorf("%s: %d zones, firewall-cmd lists %d", c.name, len(got), len(w))
		}
	}
	if pub := st.FWD.Runtime["public"]; pub == nil || !slices.Contains(pub.Ports, "3000/tcp") || slices.Contains(st.FWD.Permanent["public"].Ports, "3000/tcp") {
		t.Errorf("runtime-only port: runtime %+v, permanent %+v", pub, st.FWD.Permanent["public"])
	}
}
