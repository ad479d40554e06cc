package sysctl_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/goprov/goprov/resources/sysctl"
)

var safePath = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$`)

// FuzzSettings: whatever key and value validation accepts stays under
// /proc/sys (no "..", no shell or file syntax in the path), renders as
// exactly one "key = value" line, and the key written in the file names
// the same /proc/sys path when sysctl reads it back.
func FuzzSettings(f *testing.F) {
	for _, s := range [][2]string{
		{"kernel.kptr_restrict", "2"}, {"net/ipv4/conf/eth0.100/rp_filter", "1"}, {"net.ipv4.conf.eth0/100.rp_filter", "1"},
		{"net.ipv4.ip_local_port_range", "32768\t60999"}, {"kernel/../../etc/shadow", "x"}, {"a..b", "1"}, {"a.b/c.d", "1"},
		{"kernel.x", "1\nkernel.modules_disabled = 1"}, {"kernel.x", "$(touch /tmp/pwned)"}, {"-kernel.x", "1"}, {"k.*", "1"},
	} {
		f.Add(s[0], s[1])
	}
	k := kind(f)
	f.Fuzz(func(t *testing.T, key, value string) {
		v := cty.ObjectVal(map[string]cty.Value{
			"name":   cty.StringVal("60-x"),
			"values": cty.MapVal(map[string]cty.Value{key: cty.StringVal(value)}),
			"ensure": cty.StringVal("present"),
		})
		r, diags := k.New("sysctl.x", v, nil)
		if diags.HasErrors() {
			return
		}
		s := r.(*sysctl.File).Settings[0]
		if !safePath.MatchString(s.Path) {
			t.Fatalf("key %q accepted as path %q", key, s.Path)
		}
		if back, err := sysctl.KeyPath(s.Key); err != nil || back != s.Path {
			t.Fatalf("key %q: the file's spelling %q reads back as %q (%v), not %q", key, s.Key, back, err, s.Path)
		}
		lines := strings.Split(strings.TrimSuffix(r.(*sysctl.File).Render(), "\n"), "\n")
		if len(lines) != 2 || lines[1] != s.Key+" = "+s.Value || s.Value != strings.TrimSpace(s.Value) || s.Value == "" {
			t.Fatalf("key %q value %q rendered as %q", key, value, lines)
		}
		for _, r := range s.Value {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("value %q kept control character %q", value, r)
			}
		}
	})
}
