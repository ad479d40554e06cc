package audit

import "github.com/goprov/goprov/resources"

// Owns implements resources.Owner.
func (r *Rules) Owns() []resources.Claim {
	return []resources.Claim{{What: r.Path(), Attr: "name"}}
}
