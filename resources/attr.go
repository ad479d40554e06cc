package resources

import "github.com/hashicorp/hcl/v2"

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
