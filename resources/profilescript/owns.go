package profilescript

import "github.com/goprov/goprov/resources"

// Owns implements resources.Owner. The script's zprofile block is keyed by
// the same name, so claiming the file also claims the block.
func (s *Script) Owns() []resources.Claim {
	return []resources.Claim{{What: s.Path(), Attr: "name"}}
}
