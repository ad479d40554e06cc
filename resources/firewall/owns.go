package firewall

import "github.com/goprov/goprov/resources"

// Owns implements resources.Owner: a host has one firewall (backend,
// enabled, default policies, purge). Rules are owned by their address (the
// tag goprov puts on them), so firewall_rule claims nothing.
func (f *firewallRes) Owns() []resources.Claim {
	return []resources.Claim{{What: "the host's firewall"}}
}
