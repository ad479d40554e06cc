// Package firewall manages a host's packet filter through ufw or firewalld:
// the "firewall" kind (one per host: backend, enabled, default policies,
// purge) and the "firewall_rule" kind (one rule each).
//
// A firewall is one thing on a host, so the kinds form one resources.Group
// (see group.go): the planner hands the group every firewall resource of a
// host at once; it reads the whole firewall once, computes every resource's
// change from that read together with every declared resource, and carries
// out the host's whole firewall change as one guarded transaction (rules
// allowed before defaults tighten, a dead-man rollback armed, access
// proven with a new SSH login).
package firewall

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/goprov/goprov/resources"
)

// Kind names in HCL.
const (
	KindFirewall = "firewall"
	KindRule     = "firewall_rule"
)

func init() {
	resources.Register(KindFirewall, firewallKind{})
	resources.Register(KindRule, ruleKind{})
}

// TagPrefix starts the comment goprov puts on every ufw rule it manages:
// "goprov:firewall_rule.NAME", then the user's comment if any.
const TagPrefix = "goprov:"

var (
	zoneRe    = regexp.MustCompile(`^[A-Za-z0-9_-]{1,17}$`)
	serviceRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$`)
	commentRe = regexp.MustCompile(`^[A-Za-z0-9 _.,:;/@+=()#-]{0,100}$`)
)

func strAttr(name, def string) hcldec.Spec {
	return &hcldec.DefaultSpec{
		Primary: &hcldec.AttrSpec{Name: name, Type: cty.String},
		Default: &hcldec.LiteralSpec{Value: cty.StringVal(def)},
	}
}

func boolAttr(name string, def bool) hcldec.Spec {
	return &hcldec.DefaultSpec{
		Primary: &hcldec.AttrSpec{Name: name, Type: cty.Bool},
		Default: &hcldec.LiteralSpec{Value: cty.BoolVal(def)},
	}
}

type diagSink struct {
	body  hcl.Body
	diags hcl.Diagnostics
}

func (d *diagSink) bad(attr, summary, detail string) {
	d.diags = append(d.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: resources.AttrRange(d.body, attr)})
}

func (d *diagSink) oneOf(attr, v string, allowed ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	d.bad(attr, "Invalid "+attr, fmt.Sprintf("%s must be one of %s, not %q.", attr, quoteList(allowed), v))
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = strconv.Quote(x)
	}
	return strings.Join(q, ", ")
}

// ---- firewall ----

type firewallKind struct{}

// DefaultRollbackTimeout is how long the dead-man rollback waits, in
// seconds, unless rollback_timeout says otherwise.
const DefaultRollbackTimeout = 120

func (firewallKind) Spec() hcldec.Spec {
	return &hcldec.ObjectSpec{
		"backend":          strAttr("backend", "auto"),
		"enabled":          boolAttr("enabled", true),
		"default_incoming": strAttr("default_incoming", "deny"),
		"default_outgoing": strAttr("default_outgoing", "allow"),
		"purge":            boolAttr("purge", false),
		"zone":             strAttr("zone", ""),
		"rollback_timeout": &hcldec.DefaultSpec{
			Primary: &hcldec.AttrSpec{Name: "rollback_timeout", Type: cty.Number},
			Default: &hcldec.LiteralSpec{Value: cty.NumberIntVal(DefaultRollbackTimeout)},
		},
	}
}

// Settings is a decoded firewall block.
type Settings struct {
	Address         string
	Backend         string // ufw, firewalld, auto
	Enabled         bool
	DefaultIn       string // allow, deny, reject
	DefaultOut      string
	Purge           bool
	Zone            string // firewalld zone for default_incoming and purge; "" = the default zone
	RollbackTimeout int    // seconds
}

func (firewallKind) New(address string, v cty.Value, body hcl.Body) (resources.Resource, hcl.Diagnostics) {
	d := &diagSink{body: body}
	s := &Settings{
		Address:    address,
		Backend:    v.GetAttr("backend").AsString(),
		Enabled:    v.GetAttr("enabled").True(),
		DefaultIn:  v.GetAttr("default_incoming").AsString(),
		DefaultOut: v.GetAttr("default_outgoing").AsString(),
		Purge:      v.GetAttr("purge").True(),
		Zone:       v.GetAttr("zone").AsString(),
	}
	d.oneOf("backend", s.Backend, "auto", "ufw", "firewalld")
	d.oneOf("default_incoming", s.DefaultIn, "allow", "deny", "reject")
	d.oneOf("default_outgoing", s.DefaultOut, "allow", "deny", "reject")
	if s.Zone != "" && !zoneRe.MatchString(s.Zone) {
		d.bad("zone", "Invalid zone", fmt.Sprintf("%q is not a firewalld zone name (letters, digits, '-', '_', at most 17).", s.Zone))
	}
	bf := v.GetAttr("rollback_timeout").AsBigFloat()
	n, acc := bf.Int64()
	if !bf.IsInt() || acc != 0 || n < 10 || n > 3600 {
		d.bad("rollback_timeout", "Invalid rollback_timeout", "rollback_timeout is a whole number of seconds between 10 and 3600.")
	}
	s.RollbackTimeout = int(n)
	return &firewallRes{s: s}, d.diags
}

// ---- firewall_rule ----

type ruleKind struct{}

func (ruleKind) Spec() hcldec.Spec {
	return &hcldec.ObjectSpec{
		"port":        strAttr("port", ""),
		"service":     strAttr("service", ""),
		"protocol":    strAttr("protocol", "tcp"),
		"direction":   strAttr("direction", "in"),
		"action":      strAttr("action", "allow"),
		"source":      strAttr("source", ""),
		"destination": strAttr("destination", ""),
		"zone":        strAttr("zone", ""),
		"comment":     strAttr("comment", ""),
		"ensure":      strAttr("ensure", "present"),
	}
}

// Rule is a decoded firewall_rule block.
type Rule struct {
	Address     string
	PortLo      int // 0 when service is used
	PortHi      int // == PortLo for a single port
	Service     string
	Protocol    string // tcp, udp, any
	Direction   string // in, out
	Action      string // allow, deny, reject, limit
	Source      string // normalised address or prefix; "" = anywhere
	Destination string
	Zone        string
	Comment     string
	Present     bool
}

// Tag is the comment goprov writes on the rule's ufw entries.
func (r *Rule) Tag() string {
	t := TagPrefix + r.Address
	if r.Comment != "" {
		t += " " + r.Comment
	}
	return t
}

func (ruleKind) New(address string, v cty.Value, body hcl.Body) (resources.Resource, hcl.Diagnostics) {
	d := &diagSink{body: body}
	r := &Rule{
		Address:   address,
		Service:   v.GetAttr("service").AsString(),
		Protocol:  v.GetAttr("protocol").AsString(),
		Direction: v.GetAttr("direction").AsString(),
		Action:    v.GetAttr("action").AsString(),
		Zone:      v.GetAttr("zone").AsString(),
		Comment:   v.GetAttr("comment").AsString(),
	}
	port := v.GetAttr("port").AsString()
	switch {
	case port == "" && r.Service == "":
		d.bad("port", "Missing port or service", `A firewall_rule needs port (22, "8000-8100") or service ("https").`)
	case port != "" && r.Service != "":
		d.bad("service", "Both port and service", "Set either port or service, not both.")
	case port != "":
		lo, hi, err := parsePort(port)
		if err != nil {
			d.bad("port", "Invalid port", err.Error())
		}
		r.PortLo, r.PortHi = lo, hi
	default:
		if !serviceRe.MatchString(r.Service) {
			d.bad("service", "Invalid service", fmt.Sprintf("%q is not a service name (letters, digits, '.', '_', '+', '-').", r.Service))
		}
	}
	d.oneOf("protocol", r.Protocol, "tcp", "udp", "any")
	if r.PortLo != r.PortHi && r.Protocol == "any" {
		d.bad("protocol", "Port range needs a protocol", `A port range needs protocol = "tcp" or "udp".`)
	}
	d.oneOf("direction", r.Direction, "in", "out")
	d.oneOf("action", r.Action, "allow", "deny", "reject", "limit")
	var fam [2]string
	for i, attr := range []string{"source", "destination"} {
		a := v.GetAttr(attr).AsString()
		if a == "" || a == "any" {
			continue
		}
		norm, f, err := parseAddr(a)
		if err != nil {
			d.bad(attr, "Invalid "+attr, err.Error())
			continue
		}
		fam[i] = f
		if i == 0 {
			r.Source = norm
		} else {
			r.Destination = norm
		}
	}
	if fam[0] != "" && fam[1] != "" && fam[0] != fam[1] {
		d.bad("destination", "Mixed address families", "source and destination must both be IPv4 or both IPv6.")
	}
	if r.Zone != "" {
		if !zoneRe.MatchString(r.Zone) {
			d.bad("zone", "Invalid zone", fmt.Sprintf("%q is not a firewalld zone name (letters, digits, '-', '_', at most 17).", r.Zone))
		} else if r.Direction == "out" {
			d.bad("zone", "Zone on an outgoing rule", "zone selects the firewalld zone of incoming traffic; outgoing rules have none.")
		}
	}
	if !commentRe.MatchString(r.Comment) {
		d.bad("comment", "Invalid comment", "A comment is at most 100 characters: letters, digits, spaces and _ . , : ; / @ + = ( ) # - (no quotes or control characters).")
	}
	present, dg := resources.Ensure(v, body)
	r.Present = present
	if dg != nil {
		d.diags = append(d.diags, dg)
	}
	return &ruleRes{r: r}, d.diags
}

// parsePort reads "22" or "8000-8100" (or ufw's "8000:8100").
func parsePort(s string) (int, int, error) {
	a, b, isRange := strings.Cut(s, "-")
	if !isRange {
		a, b, isRange = strings.Cut(s, ":")
	}
	lo, err := portNum(a)
	if err != nil {
		return 0, 0, fmt.Errorf("%q: %v", s, err)
	}
	if !isRange {
		return lo, lo, nil
	}
	hi, err := portNum(b)
	if err != nil {
		return 0, 0, fmt.Errorf("%q: %v", s, err)
	}
	if hi <= lo {
		return 0, 0, fmt.Errorf("%q: a range goes from a lower to a higher port", s)
	}
	return lo, hi, nil
}

func portNum(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != s {
		return 0, fmt.Errorf("a port is a whole number from 1 to 65535, or a range like \"8000-8100\"")
	}
	return n, nil
}

// parseAddr normalises an address or prefix the way ufw and firewalld
// print it back: a prefix in its network form, a single address bare.
func parseAddr(s string) (norm, family string, err error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return "", "", fmt.Errorf("%q is not an IP address or prefix (10.0.0.0/8, 2001:db8::/32)", s)
		}
		p = p.Masked()
		if p.Bits() == p.Addr().BitLen() {
			return addrFamily(p.Addr())
		}
		_, f, _ := addrFamily(p.Addr())
		return p.String(), f, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return "", "", fmt.Errorf("%q is not an IP address or prefix (10.0.0.0/8, 2001:db8::/32)", s)
	}
	return addrFamily(a)
}

func addrFamily(a netip.Addr) (string, string, error) {
	a = a.Unmap()
	if a.Is4() {
		return a.String(), "ipv4", nil
	}
	return a.String(), "ipv6", nil
}

func (r *Rule) family() string {
	for _, a := range []string{r.Source, r.Destination} {
		if a != "" {
			if strings.Contains(a, ":") {
				return "ipv6"
			}
			return "ipv4"
		}
	}
	return ""
}
