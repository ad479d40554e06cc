package firewall

import (
	"errors"
	"testing"

	"github.com/goprov/goprov/resources"
)

// TestMissingBackendNamesItsPackage: a host with neither ufw nor firewalld
// (or without the backend asked for) fails every firewall resource of the
// host with a missing tool naming its packages, so a package resource
// installing it makes the whole firewall known after apply, re-read as
// one after the package is installed.
func TestMissingBackendNamesItsPackage(t *testing.T) {
	https := mustRule(t, "port = 443")
	https.Address = "firewall_rule.https"
	for _, tc := range []struct {
		backend string
		st      State
		tool    string
		pkgs    []string
	}{
		{"auto", State{}, "ufw or firewalld", []string{"ufw", "firewalld"}},
		{"ufw", State{FirewalldInstalled: true}, "ufw", []string{"ufw"}},
		{"firewalld", State{UFWInstalled: true}, "firewalld", []string{"firewalld"}},
	} {
		set := mustSettings(t, `backend = "`+tc.backend+`"`)
		set.Address = "firewall.main"
		p := planHost(decl{[]*Settings{set}, []*Rule{https}}, &tc.st, env{SSHPort: 22, Live: true})
		for _, addr := range []string{"firewall.main", "firewall_rule.https"} {
			var miss *resources.ToolMissingError
			if err := p.errs[addr]; !errors.As(err, &miss) || miss.Tool != tc.tool || len(miss.Packages) != len(tc.pkgs) || miss.Packages[0] != tc.pkgs[0] {
				t.Errorf("%s: %s: %v (%+v)", tc.backend, addr, err, miss)
			}
		}
	}
}
