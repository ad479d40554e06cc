package firewall

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/goprov/goprov/resources"
)

// BlocksEgress implements resources.EgressFilter: an enabled ufw firewall
// (firewalld refuses such a default) whose default_outgoing denies, with
// no present firewall_rule allowing need's port out.
func (firewallKind) BlocksEgress(host []resources.LintResource, need resources.EgressNeed) (by, why, fix string, blocked bool) {
	fw := denyingFirewall(host)
	if fw == nil || allowsOut(host, need) {
		return "", "", "", false
	}
	why = fmt.Sprintf("denies outgoing traffic there and no %s allows %s out (port %d, direction = \"out\")", KindRule, need.Name, need.Port)
	return fw.Address, why, "Add that rule (and DNS)", true
}

// denyingFirewall returns the host's firewall that denies outgoing
// traffic, or nil.
func denyingFirewall(host []resources.LintResource) *resources.LintResource {
	for i, r := range host {
		if r.Kind != KindFirewall {
			continue
		}
		if on, ok := resources.AttrBool(r.Value, "enabled"); ok && !on {
			continue
		}
		if resources.AttrString(r.Value, "backend") == "firewalld" {
			continue
		}
		switch resources.AttrString(r.Value, "default_outgoing") {
		case "deny", "reject":
			return &host[i]
		}
	}
	return nil
}

// allowsOut reports whether a present firewall_rule of the host allows
// need out.
func allowsOut(host []resources.LintResource, need resources.EgressNeed) bool {
	for _, r := range host {
		if r.Kind != KindRule || !resources.Present(r.Value) {
			continue
		}
		v := r.Value
		if resources.AttrString(v, "direction") != "out" || orDefault(resources.AttrString(v, "action"), "allow") != "allow" {
			continue
		}
		if p := orDefault(resources.AttrString(v, "protocol"), "tcp"); p != need.Protocol && p != "any" {
			continue
		}
		if resources.AttrString(v, "service") == strings.ToLower(need.Name) || portCovers(v, need.Port) {
			return true
		}
	}
	return false
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// portCovers reports whether the rule's port (a number, "443", or a range
// "400-500" / "400:500") includes port.
func portCovers(v cty.Value, port int) bool {
	a, ok := resources.Attr(v, "port")
	if !ok {
		return false
	}
	var s string
	switch a.Type() {
	case cty.Number:
		if !a.AsBigFloat().IsInt() {
			return false
		}
		s = a.AsBigFloat().Text('f', 0)
	case cty.String:
		s = a.AsString()
	default:
		return false
	}
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		lo, hi, isRange = strings.Cut(s, ":")
	}
	if !isRange {
		hi = lo
	}
	l, err1 := strconv.Atoi(strings.TrimSpace(lo))
	h, err2 := strconv.Atoi(strings.TrimSpace(hi))
	return err1 == nil && err2 == nil && l <= port && port <= h
}
