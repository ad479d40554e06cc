package sysctl

import "github.com/goprov/goprov/resources"

// Owns implements resources.Owner: the file, and each kernel key it sets —
// two files setting one key would flip the live value on every apply (the
// later one wins only at boot).
func (f *File) Owns() []resources.Claim {
	claims := []resources.Claim{{What: f.Path(), Attr: "name"}}
	if !f.Present {
		return claims
	}
	for _, s := range f.Settings {
		claims = append(claims, resources.Claim{What: "the kernel setting " + s.Key, Attr: "values"})
	}
	return claims
}
