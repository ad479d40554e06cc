package resources

import (
	"fmt"

	"github.com/zclconf/go-cty/cty"
)

// Warning is a risky but valid setting a kind's lint found. It says where
// by attribute: the planner turns that into a source position (the body
// may be gone, as for a saved plan, so a kind never sees positions).
type Warning struct {
	// Block and Index, when Block is set, name the Index'th nested block
	// of that type ("rule", 0); Attr is then that block's attribute.
	Block string
	Index int
	// Attr is the attribute the warning is about ("" for the block itself).
	Attr            string
	Summary, Detail string
}

// Linter is a Kind that warns about risky settings of its resources (the
// ones hardening guides warn about). Warnings never fail validate or plan.
// Lint sees the evaluated value by the kind's own schema; attributes that
// are unknown or null are skipped.
type Linter interface {
	Lint(address string, v cty.Value) []Warning
}

// Attr returns v's attribute name when v is a known, non-null object that
// has it, and the attribute is known and not null. An object whose type
// lacks name is a lint out of step with its kind's schema (a renamed
// attribute): it panics, naming it, rather than read as "not set" and
// silently stop linting it.
func Attr(v cty.Value, name string) (cty.Value, bool) {
	if v == cty.NilVal || !v.IsKnown() || v.IsNull() || !v.Type().IsObjectType() {
		return cty.NilVal, false
	}
	if !v.Type().HasAttribute(name) {
		panic(fmt.Sprintf("lint: attribute %q is not in the value's schema (renamed?)", name))
	}
	a := v.GetAttr(name)
	if !a.IsKnown() || a.IsNull() {
		return cty.NilVal, false
	}
	return a, true
}

// AttrString is v's string attribute name, "" when it has none.
func AttrString(v cty.Value, name string) string {
	a, ok := Attr(v, name)
	if !ok || a.Type() != cty.String {
		return ""
	}
	return a.AsString()
}

// AttrBool is v's bool attribute name; ok is false when it has none.
func AttrBool(v cty.Value, name string) (val, ok bool) {
	a, ok := Attr(v, name)
	if !ok || a.Type() != cty.Bool {
		return false, false
	}
	return a.True(), true
}

// AttrStrings is v's list (or set, or tuple) attribute name's known strings.
func AttrStrings(v cty.Value, name string) []string {
	a, ok := Attr(v, name)
	if !ok || !(a.Type().IsListType() || a.Type().IsTupleType() || a.Type().IsSetType()) {
		return nil
	}
	var out []string
	for it := a.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsKnown() && !e.IsNull() && e.Type() == cty.String {
			out = append(out, e.AsString())
		}
	}
	return out
}

// AttrMap is v's map (or object) attribute name's known string entries.
func AttrMap(v cty.Value, name string) map[string]string {
	a, ok := Attr(v, name)
	if !ok || !(a.Type().IsMapType() || a.Type().IsObjectType()) {
		return nil
	}
	out := map[string]string{}
	for it := a.ElementIterator(); it.Next(); {
		k, e := it.Element()
		if e.IsKnown() && !e.IsNull() && e.Type() == cty.String {
			out[k.AsString()] = e.AsString()
		}
	}
	return out
}

// Present reports whether v's ensure is "present" (or not set).
func Present(v cty.Value) bool {
	e := AttrString(v, "ensure")
	return e == "" || e == "present"
}

// LintResource is one declared resource as a lint across kinds sees it.
type LintResource struct {
	Kind, Address string
	Value         cty.Value
}

// EgressNeed is outgoing traffic a resource needs on its host to apply
// (a download on the host, say).
type EgressNeed struct {
	Name     string // "HTTPS"
	Port     int
	Protocol string
	Attr     string // the attribute that asks for it: the warning points there
	Summary  string // the warning's summary
	What     string // what the resource does: `downloads on the host (fetch = "host")`
	Instead  string // the way around it: `use fetch = "controller"`
}

// EgressNeeder is a Kind whose resources may need outgoing traffic on
// their host. The planner asks every EgressFilter kind among the host's
// resources whether it blocks that traffic, and warns if so: neither kind
// knows the other.
type EgressNeeder interface {
	Egress(v cty.Value) (EgressNeed, bool)
}

// EgressFilter is a Kind whose resources may block outgoing traffic on a
// host. BlocksEgress sees every resource aimed at the host; when they
// block need it returns the resource that does, why ("denies outgoing
// traffic there and no …") and the fix ("Add that rule").
type EgressFilter interface {
	BlocksEgress(host []LintResource, need EgressNeed) (by, why, fix string, blocked bool)
}
