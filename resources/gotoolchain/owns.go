package gotoolchain

import "github.com/goprov/goprov/resources"

// Owns implements resources.Owner: the link it switches, and the install
// root it installs versioned trees into and prunes down to keep (a second
// toolchain there would see its own versions pruned).
func (tc *Toolchain) Owns() []resources.Claim {
	return []resources.Claim{{What: tc.Link, Attr: "link"}, {What: tc.InstallRoot, Attr: "install_root"}}
}
