package resources

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// AttrRange returns the source range of an attribute's value in body, for
// diagnostics. With no body (a resource rebuilt from a saved plan), nil.
func AttrRange(body hcl.Body, name string) *hcl.Range {
	if body == nil {
		return nil
	}
	c, _, _ := body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: name}}})
	if c != nil {
		if a, ok := c.Attributes[name]; ok {
			return a.Expr.Range().Ptr()
		}
	}
	r := body.MissingItemRange()
	return &r
}

// ElemRange is the range of element i of a list attribute when it is
// written as a literal list, else the attribute's; nil without a body.
func ElemRange(body hcl.Body, attr string, i int) *hcl.Range {
	if body == nil {
		return nil
	}
	c, _, _ := body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: attr}}})
	if c != nil {
		if a, ok := c.Attributes[attr]; ok {
			if t, ok := a.Expr.(*hclsyntax.TupleConsExpr); ok && i < len(t.Exprs) {
				return t.Exprs[i].Range().Ptr()
			}
		}
	}
	return AttrRange(body, attr)
}

// BlockBodies returns the bodies of body's nested blocks of type typ, in
// order (the order of the decoded list), for diagnostics inside them; nil
// without a body (a resource rebuilt from a saved plan).
func BlockBodies(body hcl.Body, typ string) []hcl.Body {
	if body == nil {
		return nil
	}
	c, _, _ := body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: typ}}})
	if c == nil {
		return nil
	}
	var out []hcl.Body
	for _, b := range c.Blocks {
		out = append(out, b.Body)
	}
	return out
}

// Ensure reads a kind's `ensure` attribute: true for "present", false for
// "absent", and a diagnostic at the attribute for anything else.
func Ensure(v cty.Value, body hcl.Body) (bool, *hcl.Diagnostic) {
	switch e := v.GetAttr("ensure").AsString(); e {
	case "present":
		return true, nil
	case "absent":
		return false, nil
	default:
		return false, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid ensure",
			Detail: fmt.Sprintf(`ensure must be "present" or "absent", not %q.`, e), Subject: AttrRange(body, "ensure")}
	}
}
