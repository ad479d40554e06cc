package resources

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
)

// KeyValueFile is what New checks alike for the kinds whose resource is
// one named drop-in file of key = value lines (sysctl, sshd_config): the
// name, ensure, and a map attribute whose keys have a canonical form (two
// spellings of one key are refused) and whose values are checked.
type KeyValueFile struct {
	Kind  string // in summaries: "Invalid sysctl name"
	Dir   string // the drop-ins' directory, named in the name's message
	Name  func(string) bool
	Attr  string // the map attribute: "values"
	Key   string // a key's noun: "sysctl key" → "Invalid sysctl key", "Duplicate sysctl key"
	Value string // a value's noun: "sysctl value" → "Invalid sysctl value"
	Empty string // the summary when a present resource has none: "No values"
	// EmptyDetail says what a present resource needs.
	EmptyDetail string
	// Canon checks a key as written and returns its canonical form.
	Canon func(key string) (string, error)
	// Same ends "%q and %q …" for two spellings of canonical key c.
	Same func(c string) string
	// CheckValue checks a value and returns it normalised.
	CheckValue func(string) (string, error)
	// ValueLabel names the key in a value's error (written or canonical).
	ValueLabel func(written, canon string) string
}

// Spec is the kind's schema: name, the map (empty by default) and ensure.
func (s KeyValueFile) Spec() hcldec.Spec {
	return &hcldec.ObjectSpec{
		"name": &hcldec.AttrSpec{Name: "name", Type: cty.String, Required: true},
		s.Attr: &hcldec.DefaultSpec{
			Primary: &hcldec.AttrSpec{Name: s.Attr, Type: cty.Map(cty.String)},
			Default: &hcldec.LiteralSpec{Value: cty.MapValEmpty(cty.String)},
		},
		"ensure": &hcldec.DefaultSpec{
			Primary: &hcldec.AttrSpec{Name: "ensure", Type: cty.String},
			Default: &hcldec.LiteralSpec{Value: cty.StringVal("present")},
		},
	}
}

// KeyValue is one checked entry.
type KeyValue struct {
	Canon, Value string
}

// Decode reads name, ensure and the map, reporting each problem at its
// attribute. Entries come in no set order: the kind sorts its own form.
func (s KeyValueFile) Decode(v cty.Value, body hcl.Body) (name string, present bool, kvs []KeyValue, diags hcl.Diagnostics) {
	bad := func(attr, summary, detail string) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: AttrRange(body, attr)})
	}
	name = v.GetAttr("name").AsString()
	if !s.Name(name) {
		bad("name", "Invalid "+s.Kind+" name", fmt.Sprintf("%q: use letters, digits, '-' and '_' only (it becomes %s/NAME.conf).", name, s.Dir))
	}
	present, dg := Ensure(v, body)
	if dg != nil {
		diags = append(diags, dg)
	}
	entries := v.GetAttr(s.Attr).AsValueMap()
	seen := map[string]string{} // canonical key -> key as written
	for k, ev := range entries {
		c, err := s.Canon(k)
		if err != nil {
			bad(s.Attr, "Invalid "+s.Key, fmt.Sprintf("%q: %v.", k, err))
			continue
		}
		if other, dup := seen[c]; dup {
			a, b := min(other, k), max(other, k)
			bad(s.Attr, "Duplicate "+s.Key, fmt.Sprintf("%q and %q %s; write it once.", a, b, s.Same(c)))
			continue
		}
		seen[c] = k
		val, err := s.CheckValue(ev.AsString())
		if err != nil {
			bad(s.Attr, "Invalid "+s.Value, fmt.Sprintf("%s: %v.", s.ValueLabel(k, c), err))
			continue
		}
		kvs = append(kvs, KeyValue{Canon: c, Value: val})
	}
	if present && len(entries) == 0 {
		bad(s.Attr, s.Empty, s.EmptyDetail)
	}
	return name, present, kvs, diags
}
