package sshdconfig

import (
	"strings"

	"github.com/goprov/goprov/resources"
)

// Owns implements resources.Owner: the file, and each keyword it sets —
// two drop-ins setting one keyword would leave one of them ignored (sshd
// keeps the first value it reads).
func (f *File) Owns() []resources.Claim {
	claims := []resources.Claim{{What: f.Path(), Attr: "name"}}
	if !f.Present {
		return claims
	}
	for _, s := range f.Settings {
		claims = append(claims, resources.Claim{What: "the sshd setting " + strings.ToLower(s.Keyword), Attr: "settings"})
	}
	return claims
}
