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
