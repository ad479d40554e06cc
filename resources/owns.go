package resources

// Claim is something on a host that one resource alone may manage: a file,
// a link, a directory goprov installs into and prunes, or a host-wide
// setting. Two resources on one host with the same claim would undo each
// other's change on every apply, so validate refuses them.
type Claim struct {
	// What is claimed, as the operator reads it and as claims are compared:
	// a clean absolute path ("/etc/sudoers.d/ops") or a description ("the
	// host's firewall").
	What string
	// Attr is the attribute whose value makes the claim, to point the
	// diagnostic at it; "" (or an attribute left at its default) points at
	// the block.
	Attr string
}

// Owner is implemented by a Resource that claims things on its hosts.
type Owner interface {
	Owns() []Claim
}
