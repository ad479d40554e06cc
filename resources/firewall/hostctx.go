package firewall

import (
	"context"
	"fmt"
	"sync"
	"weak"

	"github.com/goprov/goprov/resources"
)

// A firewall is one thing per host, but a resource only knows itself. So
// the firewall resources of a host meet here, keyed by the *resources.Host
// the planner makes for each read (a plan's read, and apply's re-read, each
// get a fresh one). The planner calls every resource's Probe before any
// Diff and every Diff before any Apply (planner/engine.go), which gives:
//
//   - Probe: each resource registers itself; the first one (the "leader")
//     returns the whole firewall read, the others an empty snippet — one
//     read per host whatever the number of rules. The leader's section
//     digest covers the whole firewall, so a saved plan goes stale when
//     any rule on the host changed.
//   - Diff: the leader parses the read; the first Diff computes the host's
//     plan from it and from every declared resource (purge knows exactly
//     which rules are declared; the lockout guard sees the final state).
//   - Apply: the first resource applied carries out the whole host's
//     change as one transaction; the others find it done.
//
// Keys are weak pointers, so a finished read's entry is swept once its
// Host is garbage.
type hostCtx struct {
	mu       sync.Mutex
	leader   any
	settings []*firewallRes
	rules    []*ruleRes
	state    *State
	stateErr error
	plan     *hostPlan
	applied  bool
	applyErr error
}

var (
	regMu sync.Mutex
	reg   = map[weak.Pointer[resources.Host]]*hostCtx{}
)

func ctxFor(h *resources.Host) *hostCtx {
	regMu.Lock()
	defer regMu.Unlock()
	k := weak.Make(h)
	if c, ok := reg[k]; ok {
		return c
	}
	for wk := range reg {
		if wk.Value() == nil {
			delete(reg, wk)
		}
	}
	c := &hostCtx{}
	reg[k] = c
	return c
}

// register records r on h and returns its probe snippet.
func register(h *resources.Host, r any) string {
	c := ctxFor(h)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch v := r.(type) {
	case *firewallRes:
		c.settings = append(c.settings, v)
	case *ruleRes:
		c.rules = append(c.rules, v)
	}
	if c.leader == nil {
		c.leader = r
		return probeScript(h)
	}
	return "true"
}

// change returns r's planned change, computing the host's plan on the
// first call.
func change(h *resources.Host, r any, address string, probe []byte) (resources.Change, error) {
	c := ctxFor(h)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leader == r {
		c.state, c.stateErr = ParseState(probe)
	}
	if c.state == nil && c.stateErr == nil {
		return resources.Change{}, fmt.Errorf("internal: firewall state of %s read out of order", h.Name)
	}
	if c.stateErr != nil {
		if c.leader == r {
			return resources.Change{}, c.stateErr
		}
		return resources.Change{}, fmt.Errorf("firewall state unreadable (see the first firewall resource)")
	}
	if c.plan == nil {
		c.plan = planHost(c.decl(), c.state, env{SSHPort: h.SSHPort, Live: isLive(h)})
	}
	if err := c.plan.errs[address]; err != nil {
		return resources.Change{}, err
	}
	return c.plan.changes[address], nil
}

func (c *hostCtx) decl() decl {
	d := decl{}
	for _, s := range c.settings {
		d.Settings = append(d.Settings, s.s)
	}
	for _, r := range c.rules {
		d.Rules = append(d.Rules, r.r)
	}
	return d
}

// apply runs the host's firewall transaction once.
func apply(ctx context.Context, h *resources.Host) error {
	c := ctxFor(h)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.applied {
		return c.applyErr
	}
	c.applied = true
	if c.plan == nil {
		c.applyErr = fmt.Errorf("internal: firewall of %s applied without a plan", h.Name)
	} else {
		c.applyErr = transaction(ctx, h, c.decl(), c.plan)
	}
	return c.applyErr
}

func isLive(h *resources.Host) bool { return h.Root == "" || h.Root == "/" }

// firewallRes and ruleRes are the two kinds' resources.
type firewallRes struct{ s *Settings }
type ruleRes struct{ r *Rule }

func (f *firewallRes) Probe(h *resources.Host) string { return register(h, f) }
func (f *firewallRes) Diff(h *resources.Host, probe []byte) (resources.Change, error) {
	return change(h, f, f.s.Address, probe)
}
func (f *firewallRes) Apply(ctx context.Context, h *resources.Host, ch resources.Change) error {
	return apply(ctx, h)
}

func (r *ruleRes) Probe(h *resources.Host) string { return register(h, r) }
func (r *ruleRes) Diff(h *resources.Host, probe []byte) (resources.Change, error) {
	return change(h, r, r.r.Address, probe)
}
func (r *ruleRes) Apply(ctx context.Context, h *resources.Host, ch resources.Change) error {
	return apply(ctx, h)
}
