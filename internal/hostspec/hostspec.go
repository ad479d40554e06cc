// Package hostspec holds how to reach a host: the connection settings of a
// host block, without secrets. It is a leaf: the planner records it in
// plans, and the connector dials from it, without knowing each other.
package hostspec

// Spec is how to reach a host: everything of a host block but secrets.
type Spec struct {
	Name          string   `json:"name"`
	Connection    string   `json:"connection"`
	Root          string   `json:"root,omitempty"`
	Groups        []string `json:"groups,omitempty"`
	Address       string   `json:"address,omitempty"`
	Port          int      `json:"port,omitempty"`
	User          string   `json:"user,omitempty"`
	IdentityFile  string   `json:"identity_file,omitempty"`
	KnownHosts    string   `json:"known_hosts,omitempty"`
	HostKeyPolicy string   `json:"host_key_policy,omitempty"`
	Jump          string   `json:"jump,omitempty"`
	Become        bool     `json:"become,omitempty"`
	// JumpChain resolves Jump when it names other host blocks: the hops,
	// outermost first, with their own settings.
	JumpChain []Spec `json:"jump_chain,omitempty"`
}
