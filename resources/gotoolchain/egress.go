package gotoolchain

import (
	"github.com/zclconf/go-cty/cty"

	"github.com/goprov/goprov/resources"
)

// Egress implements resources.EgressNeeder: fetch = "host" downloads over
// HTTPS on the host, which a firewall may block.
func (kind) Egress(v cty.Value) (resources.EgressNeed, bool) {
	if resources.AttrString(v, "fetch") != "host" {
		return resources.EgressNeed{}, false
	}
	return resources.EgressNeed{
		Name: "HTTPS", Port: 443, Protocol: "tcp", Attr: "fetch",
		Summary: "Toolchain download blocked by the firewall",
		What:    `downloads on the host (fetch = "host")`,
		Instead: `use fetch = "controller"`,
	}, true
}
