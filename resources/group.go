package resources

import "context"

// Grouped is a Resource whose kind shares one host-wide thing with the
// resources of other kinds (a host has one firewall, whatever the number of
// firewall_rule blocks). The planner never calls a Grouped resource's own
// Probe, Diff or Apply: it gathers every resource of the host whose Group
// has the same Name and hands them, in apply order, to that Group in one
// call per step. The resource's own methods behave as a group of one (for
// tests and tools that look at one resource alone).
type Grouped interface {
	Resource
	Group() Group
}

// Group reads, diffs and applies all its members on one host together. It
// keeps no state between calls: Apply derives what it needs from its
// members and the fresh read again (Diff is pure, so that gives the same
// answer as the plan's).
type Group interface {
	// Name identifies the group; members whose groups share it are one
	// group on a host.
	Name() string
	// Probe is the group's one read-only, deterministic read (see
	// Resource.Probe). Its output's digest stands for every member's.
	Probe(h *Host, members []Resource) string
	// Diff returns one Change and one error per member, in members'
	// order. A failure of the whole group is reported on the member that
	// answers for it (the others' errors may be nil).
	Diff(h *Host, members []Resource, probe []byte) ([]Change, []error)
	// Apply carries out the whole group's change as one step: changes[i]
	// is members[i]'s, each with Current set to the group's fresh read.
	// The planner calls it once, at the first member (in apply order)
	// whose action is not NoOp; it must leave the host as it was on any
	// failure.
	Apply(ctx context.Context, h *Host, members []Resource, changes []Change) error
}

// GroupOf returns r's group, or nil when r stands alone.
func GroupOf(r Resource) Group {
	if g, ok := r.(Grouped); ok {
		return g.Group()
	}
	return nil
}
