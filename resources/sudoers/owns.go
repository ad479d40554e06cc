package sudoers

import "github.com/goprov/goprov/resources"

// Owns implements resources.Owner.
func (d *Dropin) Owns() []resources.Claim {
	return []resources.Claim{{What: d.Path(), Attr: "name"}}
}
