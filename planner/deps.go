package planner

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/transport"
)

// Dependent resources whose tool is not installed yet. On a bare host
// audit_rules cannot read `auditctl -l` before package.hardening installs
// auditd. When a resource's read finds its tool missing
// (resources.ToolMissingError) and a package resource on the same host
// will install it, the plan shows the resource as "known after apply",
// and apply reads, diffs and applies it right after that package resource
// is applied, in the same run. The package resource is the one the
// resource depends on (depends_on or a reference), else one that installs
// a package the tool comes from (an inferred dependency: the kind names
// its tool's packages).

// waitingRead is a resource whose read found its tool missing.
type waitingRead struct {
	c      *work
	ch     resources.Change
	err    error
	miss   *resources.ToolMissingError
	out    []byte
	digest string
}

// toolMissing returns the missing tool a Diff reported, if any.
func toolMissing(ch resources.Change, err error) *resources.ToolMissingError {
	var miss *resources.ToolMissingError
	if err != nil && errors.As(err, &miss) {
		return miss
	}
	return ch.ToolMissing
}

// take records a diffed change (and the read it came from); a digest
// that differs from a saved plan's is a stale host.
func (c *work) take(ch resources.Change, out []byte, digest string) error {
	c.Action, c.Summary, c.Diff, c.Notes = ch.Action, ch.Summary, ch.Diff, ch.Notes
	c.BeforeSHA256, c.AfterSHA256 = ch.BeforeSHA256, ch.AfterSHA256
	c.KnownAfterApply = ""
	c.current = out
	if c.BeforeDigest != "" && c.BeforeDigest != digest {
		return &StaleError{Address: c.Address}
	}
	c.BeforeDigest = digest
	return nil
}

// resolveWaiting plans each waiting resource as known after apply when a
// package resource of the host will install its tool; otherwise it is
// what its Diff said (an error fails the host's read, as before).
func resolveWaiting(ws []*work, waiting []waitingRead, errs *[]error) error {
	for _, w := range waiting {
		prov, inferred := providerOf(ws, w.c, w.miss)
		if prov == nil {
			if w.err != nil {
				*errs = append(*errs, fmt.Errorf("%s: %w", w.c.Address, w.err))
				continue
			}
			if err := w.c.take(w.ch, w.out, w.digest); err != nil {
				return err
			}
			continue
		}
		then := w.miss.Then
		if then == "" {
			then = "it will be read, planned and applied"
		}
		note := fmt.Sprintf("%s not installed yet: %s after %s", w.miss.Tool, then, prov.Address)
		if inferred {
			note += fmt.Sprintf(" (dependency inferred: %s comes from the package %s)", w.miss.Tool, strings.Join(w.miss.Packages, " or "))
		}
		ch := resources.Change{Action: resources.Create, Summary: "known after apply", Notes: []string{note}}
		if err := w.c.take(ch, w.out, w.digest); err != nil {
			return err
		}
		w.c.KnownAfterApply = prov.Address
	}
	return nil
}

// providerOf finds the package resource with a pending change that c
// waits for: one c depends on, else one installing a package of miss.
func providerOf(ws []*work, c *work, miss *resources.ToolMissingError) (prov *work, inferred bool) {
	for _, o := range ws {
		pp, ok := o.res.(resources.PackageProvider)
		if !ok || o == c || o.Action == resources.NoOp || o.KnownAfterApply != "" {
			continue
		}
		if contains(c.DependsOn, o.Address) {
			return o, false
		}
		for _, p := range pp.ProvidesPackages() {
			if prov == nil && contains(miss.Packages, p) {
				prov, inferred = o, true
			}
		}
	}
	return prov, inferred
}

// applyReady applies the waiting changes whose package resource is
// applied and whose positions in the apply order all lie before upto:
// the order keeps their other dependencies (depends_on, references)
// first. Changes waiting for one package resource go together, so a kind
// with a host-wide view (the firewall) is re-read whole.
func applyReady(ctx context.Context, h *resources.Host, all []*work, upto int, check func() error) error {
	last := map[string]int{}
	for i, c := range all {
		if c.KnownAfterApply != "" && !c.reread && c.Outcome == "" {
			last[c.KnownAfterApply] = i
		}
	}
	for _, p := range all {
		if i, ok := last[p.Address]; ok && i < upto && p.Outcome == OutcomeApplied {
			if err := applyWaiting(ctx, h, all, p, check); err != nil {
				return err
			}
		}
	}
	return nil
}

// applyWaiting reads, diffs and applies the resources that waited for
// done, now applied: one batched read of all of them (a kind whose
// resources share a host-wide view, such as the firewall, sees them
// together), on a fresh Host handle so nothing of the first read is
// reused; then each is applied in order. check proves the host lock is
// still held.
func applyWaiting(ctx context.Context, h *resources.Host, all []*work, done *work, check func() error) error {
	var ws []*work
	for _, w := range all {
		if w.KnownAfterApply == done.Address && !w.reread && w.Outcome == "" {
			w.reread = true
			ws = append(ws, w)
		}
	}
	if len(ws) == 0 {
		return nil
	}
	fresh := *h
	units := unitsOf(ws) // a group's members are read and applied together
	if err := rereadWaiting(ctx, &fresh, ws, units, done); err != nil {
		return err
	}
	for _, u := range units {
		if allNoOp(ws, u) {
			continue
		}
		if err := check(); err != nil {
			return err
		}
		notes := fresh.CollectNotes()
		err := u.apply(ctx, &fresh, ws)
		first := ws[u.idx[0]]
		first.Notes = appendNew(first.Notes, notes()...)
		for _, i := range u.idx {
			if w := ws[i]; err != nil {
				w.Outcome, w.Error = OutcomeFailed, err.Error()
			} else if w.Action != resources.NoOp {
				w.Outcome = OutcomeApplied
			}
		}
		if err != nil {
			return fmt.Errorf("%s: %w", u.addresses(ws), err)
		}
	}
	return nil
}

// rereadWaiting reads the waiting changes ws (one batched read, a section
// per unit) and diffs them again.
func rereadWaiting(ctx context.Context, h *resources.Host, ws []*work, units []*unit, done *work) error {
	b := newBatch()
	for _, u := range units {
		b.add(u.probe(h, ws))
	}
	res, err := h.T.Run(ctx, transport.Cmd{Script: b.script(), Sudo: true, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("read after %s: %w", done.Address, err)
	}
	secs, err := b.parse(res.Stdout)
	if err != nil {
		return fmt.Errorf("read after %s: %w", done.Address, err)
	}
	for k, u := range units {
		s := secs[k]
		var chs []resources.Change
		errs := make([]error, len(u.idx))
		if s.code != 0 {
			errs[0] = fmt.Errorf("read state after %s: exit %d: %s", done.Address, s.code, strings.TrimSpace(string(s.stderr)))
		} else {
			chs, errs = u.diff(h, ws, s.out)
		}
		for m, i := range u.idx {
			w := ws[i]
			if errs[m] != nil {
				w.Outcome, w.Error = OutcomeFailed, errs[m].Error()
				return fmt.Errorf("%s: %w", w.Address, errs[m])
			}
			ch := chs[m]
			w.Action, w.Summary, w.Diff = ch.Action, ch.Summary, ch.Diff
			w.Notes = append([]string{"read after " + done.Address + " was applied"}, ch.Notes...)
			w.BeforeSHA256, w.AfterSHA256, w.current = ch.BeforeSHA256, ch.AfterSHA256, s.out
		}
	}
	return nil
}

func allNoOp(ws []*work, u *unit) bool {
	for _, i := range u.idx {
		if ws[i].Action != resources.NoOp {
			return false
		}
	}
	return true
}

// skipWaiting marks the resources whose package resource never got
// applied (it failed, or the host stopped before it).
func skipWaiting(hp *HostPlan) {
	for _, c := range hp.Changes {
		if c.KnownAfterApply != "" && c.Outcome == "" && c.Action != resources.NoOp {
			c.Outcome = OutcomeSkipped
		}
	}
}
