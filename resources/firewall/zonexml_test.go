package firewall

import (
	"reflect"
	"testing"
)

// What firewalld's reader does with the odd corners of a zone file (the
// lab test compares the common ones with firewall-offline-cmd itself).
func TestParseZoneXML(t *testing.T) {
	for _, tc := range []struct {
		name, xml string
		want      Zone
	}{
		{"dropped rules", `<zone>
  <rule><source address="10.0.0.0/8"/><accept/></rule>
  <rule family="ipv4"><service name="ssh"/></rule>
  <rule family="ipv4"><service name="ssh"/><port port="22" protocol="tcp"/><accept/></rule>
  <rule family="ipv4"><service name="https"/><accept/></rule>
  <rule family="ipv4"><service name="https"/><accept/></rule>
  <rule family="ipv4"><port port="22" protocol="tcpx"/><accept/></rule>
  <rule family="ipv4"><service name="dns"/><reject type="icmp6-no-route"/></rule>
</zone>`, Zone{Target: "default", RichRules: []string{`rule family="ipv4" service name="https" accept`}}},
		{"limits and order", `<zone target="ACCEPT">
  <service name="b"/><service name="a"/><service name="b"/>
  <interface name="eth1"/><interface name="eth0"/>
  <rule family="ipv4"><service name="a"/><accept><limit value="2/minute"/></accept></rule>
  <rule priority="-1" family="ipv6"><service name="b"/><log/><drop/></rule>
</zone>`, Zone{Target: "ACCEPT", Services: []string{"a", "b"}, Interfaces: []string{"eth0", "eth1"},
			RichRules: []string{`rule priority="-1" family="ipv6" service name="b" log drop`, `rule family="ipv4" service name="a" accept limit value="2/m"`}}},
		{"ports", `<zone><port port="100" protocol="tcp"/><port port="90:110" protocol="tcp"/><port port="95" protocol="tcp"/><port port="100" protocol="udp"/><port port="120-110" protocol="tcp"/></zone>`,
			Zone{Target: "default", Ports: []string{"100/udp", "90-120/tcp"}}},
		{"sources", `<zone><source address="10.0.0.0/8"/><source ipset="set1"/><source address="1.2.3.4" invert="yes"/><source address="10.0.0.0/8"/></zone>`,
			Zone{Target: "default", Sources: []string{"10.0.0.0/8", "ipset:set1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z, err := parseZoneXML("z", []byte(tc.xml))
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Name = "z"
			if !reflect.DeepEqual(*z, tc.want) {
				t.Errorf("got  %+v\nwant %+v", *z, tc.want)
			}
		})
	}
	// A read cut short (in a zone file, say) is refused, not a smaller
	// state.
	if _, err := ParseState([]byte("=fwd offline\n=zf a.xml\n=f zone a.xml\n <zone>\n")); err == nil {
		t.Error("a truncated read was accepted")
	}
}
