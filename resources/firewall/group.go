package firewall

import (
	"context"
	"fmt"

	"github.com/goprov/goprov/resources"
)

// A firewall is one thing per host, but a resource only knows itself. So
// the firewall and firewall_rule resources of a host form one group
// (resources.Group): the planner hands them all to fwGroup at once.
//
//   - Probe: one read of the whole firewall, whatever the number of
//     rules; its digest stands for every member, so a saved plan goes
//     stale when anything of the host's firewall changed.
//   - Diff: the host's plan from the read and every declared resource
//     (purge knows exactly which rules are declared; the lockout guard
//     sees the final state).
//   - Apply: the whole host's change as one transaction.
type fwGroup struct{}

// group is the one value every member returns: it holds no state.
var group resources.Group = fwGroup{}

func (fwGroup) Name() string { return "firewall" }

func (fwGroup) Probe(h *resources.Host, members []resources.Resource) string {
	return probeScript(h, needsOf(declOf(members)))
}

func (fwGroup) Diff(h *resources.Host, members []resources.Resource, probe []byte) ([]resources.Change, []error) {
	changes := make([]resources.Change, len(members))
	errs := make([]error, len(members))
	p, err := planFor(h, members, probe)
	if err != nil {
		errs[0] = err // the first member answers for the read
		return changes, errs
	}
	for i, m := range members {
		addr := address(m)
		changes[i], errs[i] = p.changes[addr], p.errs[addr]
	}
	return changes, errs
}

func (fwGroup) Apply(ctx context.Context, h *resources.Host, members []resources.Resource, changes []resources.Change) error {
	if len(changes) == 0 {
		return nil
	}
	// Planning is pure: the fresh read gives the plan Diff gave.
	p, err := planFor(h, members, changes[0].Current)
	if err != nil {
		return err
	}
	for i, m := range members {
		if err := p.errs[address(m)]; err != nil {
			return fmt.Errorf("%s: %w", address(m), err)
		}
		if got := p.changes[address(m)].Action; got != changes[i].Action {
			return fmt.Errorf("internal: %s planned %s but the firewall now says %s", address(m), changes[i].Action, got)
		}
	}
	return transaction(ctx, h, declOf(members), p)
}

// planFor parses the group's read and plans the host's firewall.
func planFor(h *resources.Host, members []resources.Resource, probe []byte) (*hostPlan, error) {
	st, err := ParseState(probe)
	if err != nil {
		return nil, err
	}
	return planHost(declOf(members), st, env{SSHPort: h.SSHPort, Live: isLive(h)}), nil
}

func declOf(members []resources.Resource) decl {
	d := decl{}
	for _, m := range members {
		switch v := m.(type) {
		case *firewallRes:
			d.Settings = append(d.Settings, v.s)
		case *ruleRes:
			d.Rules = append(d.Rules, v.r)
		}
	}
	return d
}

func address(m resources.Resource) string {
	switch v := m.(type) {
	case *firewallRes:
		return v.s.Address
	case *ruleRes:
		return v.r.Address
	}
	return ""
}

func isLive(h *resources.Host) bool { return h.Root == "" || h.Root == "/" }

// firewallRes and ruleRes are the two kinds' resources. Alone, each is a
// group of one.
type firewallRes struct{ s *Settings }
type ruleRes struct{ r *Rule }

func (f *firewallRes) Group() resources.Group { return group }
func (f *firewallRes) Probe(h *resources.Host) string {
	return group.Probe(h, []resources.Resource{f})
}
func (f *firewallRes) Diff(h *resources.Host, probe []byte) (resources.Change, error) {
	return alone(h, f, probe)
}
func (f *firewallRes) Apply(ctx context.Context, h *resources.Host, ch resources.Change) error {
	return group.Apply(ctx, h, []resources.Resource{f}, []resources.Change{ch})
}

func (r *ruleRes) Group() resources.Group { return group }
func (r *ruleRes) Probe(h *resources.Host) string {
	return group.Probe(h, []resources.Resource{r})
}
func (r *ruleRes) Diff(h *resources.Host, probe []byte) (resources.Change, error) {
	return alone(h, r, probe)
}
func (r *ruleRes) Apply(ctx context.Context, h *resources.Host, ch resources.Change) error {
	return group.Apply(ctx, h, []resources.Resource{r}, []resources.Change{ch})
}

func alone(h *resources.Host, m resources.Resource, probe []byte) (resources.Change, error) {
	chs, errs := group.Diff(h, []resources.Resource{m}, probe)
	return chs[0], errs[0]
}
