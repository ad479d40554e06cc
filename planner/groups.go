package planner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/goprov/goprov/resources"
)

// work is the engine's working record of one change while it reads and
// applies a host: the change (plain data, in the plan) and what only the
// engine needs, which the plan never carries.
type work struct {
	*ResourceChange
	res     resources.Resource
	current []byte // probe output of the latest read
	reread  bool   // known after apply, and read again (deps.go)
}

// worksOf pairs a host's changes with their resources.
func worksOf(changes []*ResourceChange, res []resources.Resource) []*work {
	ws := make([]*work, len(changes))
	for i, c := range changes {
		ws[i] = &work{ResourceChange: c, res: res[i]}
	}
	return ws
}

// unit is what one section of a host's batched read covers: one resource
// standing alone, or every member of a resources.Group on the host.
type unit struct {
	group resources.Group // nil for a resource standing alone
	idx   []int           // indexes into the host's changes, in apply order
}

// unitsOf splits a host's changes into units, in apply order: a group sits
// at the place of its first member.
func unitsOf(changes []*work) []*unit {
	var units []*unit
	byName := map[string]*unit{}
	for i, c := range changes {
		g := resources.GroupOf(c.res)
		if g == nil {
			units = append(units, &unit{idx: []int{i}})
			continue
		}
		if u, ok := byName[g.Name()]; ok {
			u.idx = append(u.idx, i)
			continue
		}
		u := &unit{group: g, idx: []int{i}}
		byName[g.Name()] = u
		units = append(units, u)
	}
	return units
}

func (u *unit) members(changes []*work) []resources.Resource {
	out := make([]resources.Resource, len(u.idx))
	for k, i := range u.idx {
		out[k] = changes[i].res
	}
	return out
}

func (u *unit) addresses(changes []*work) string {
	addrs := make([]string, len(u.idx))
	for k, i := range u.idx {
		addrs[k] = changes[i].Address
	}
	return strings.Join(addrs, ", ")
}

func (u *unit) probe(h *resources.Host, changes []*work) string {
	if u.group == nil {
		return changes[u.idx[0]].res.Probe(h)
	}
	return u.group.Probe(h, u.members(changes))
}

// diff returns one change and one error per member.
func (u *unit) diff(h *resources.Host, changes []*work, out []byte) ([]resources.Change, []error) {
	if u.group == nil {
		ch, err := changes[u.idx[0]].res.Diff(h, out)
		return []resources.Change{ch}, []error{err}
	}
	chs, errs := u.group.Diff(h, u.members(changes), out)
	if len(chs) != len(u.idx) || len(errs) != len(u.idx) {
		err := fmt.Errorf("internal: group %s answered %d changes for %d members", u.group.Name(), len(chs), len(u.idx))
		return make([]resources.Change, len(u.idx)), append([]error{err}, make([]error, len(u.idx)-1)...)
	}
	return chs, errs
}

// apply carries out the unit's changes: a group's in one call.
func (u *unit) apply(ctx context.Context, h *resources.Host, changes []*work) error {
	if u.group == nil {
		i := u.idx[0]
		return changes[i].res.Apply(ctx, h, changeOf(changes[i]))
	}
	chs := make([]resources.Change, len(u.idx))
	for k, i := range u.idx {
		chs[k] = changeOf(changes[i])
	}
	return u.group.Apply(ctx, h, u.members(changes), chs)
}

func changeOf(c *work) resources.Change {
	return resources.Change{Action: c.Action, Summary: c.Summary, Diff: c.Diff, Notes: c.Notes, Current: c.current}
}

// diffUnits hands every unit its section of the read (secs[k] is units[k]'s)
// and records each change's action, diff and digest, and its probe output
// (work.current). A digest that differs
// from the one a saved plan recorded is a StaleError at once.
func diffUnits(h *resources.Host, ws []*work, units []*unit, secs []section) error {
	var errs []error
	var waiting []waitingRead // tool missing: maybe known after apply (deps.go)
	for k, u := range units {
		s := secs[k]
		sum := sha256.Sum256(s.raw)
		digest := hex.EncodeToString(sum[:])
		if s.code != 0 {
			errs = append(errs, fmt.Errorf("%s: read state: exit %d: %s", u.addresses(ws), s.code, strings.TrimSpace(string(s.stderr))))
			continue
		}
		chs, cerrs := u.diff(h, ws, s.out)
		for m, i := range u.idx {
			c := ws[i]
			if miss := toolMissing(chs[m], cerrs[m]); miss != nil {
				waiting = append(waiting, waitingRead{c: c, ch: chs[m], err: cerrs[m], miss: miss, out: s.out, digest: digest})
				continue
			}
			if cerrs[m] != nil {
				errs = append(errs, fmt.Errorf("%s: %w", c.Address, cerrs[m]))
				continue
			}
			if err := c.take(chs[m], s.out, digest); err != nil {
				return err
			}
		}
	}
	if err := resolveWaiting(ws, waiting, &errs); err != nil {
		return err
	}
	return errors.Join(errs...)
}
