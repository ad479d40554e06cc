package compile

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/goprov/goprov/dsl"
	"github.com/goprov/goprov/resources"
)

// Lint reports settings that are valid but risky, the ones the hardening
// guides warn about, as warnings at the resource's source: they never fail
// validate or plan. Each kind lints its own resources (resources.Linter);
// the planner only positions the warnings, and adds the one rule that
// spans kinds and hosts (a toolchain download behind a firewall).
func Lint(cfg *dsl.Config) hcl.Diagnostics {
	if cfg == nil {
		return nil
	}
	var diags hcl.Diagnostics
	for _, r := range cfg.Resources {
		l, ok := kindAs[resources.Linter](r.Kind)
		if !ok {
			continue
		}
		for _, w := range l.Lint(r.Address, r.Value) {
			diags = append(diags, position(r, w))
		}
	}
	return append(diags, lintEgress(cfg)...)
}

// position turns a kind's warning into a diagnostic at its attribute (else
// the block's header); inside a module, the detail also says where each
// module block that brought the resource in is.
func position(r *dsl.Resource, w resources.Warning) *hcl.Diagnostic {
	body := r.Body
	if w.Block != "" {
		body = nil
		if bodies := resources.BlockBodies(r.Body, w.Block); w.Index < len(bodies) {
			body = bodies[w.Index]
		}
	}
	subject := r.DeclRange.Ptr()
	if w.Attr != "" {
		subject = rangeOf(body, w.Attr, r.DeclRange)
	}
	detail := w.Detail
	if len(r.ModuleCalls) > 0 {
		calls := make([]string, len(r.ModuleCalls))
		for i, c := range r.ModuleCalls {
			calls[i] = fmt.Sprintf("%s:%d:%d", c.Filename, c.Start.Line, c.Start.Column)
		}
		detail += fmt.Sprintf(" (Brought in by the module block at %s.)", strings.Join(calls, ", then "))
	}
	return warn(subject, w.Summary, detail)
}

func warn(subject *hcl.Range, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: summary, Detail: detail, Subject: subject}
}

// rangeOf is where attribute name is written in body (its value), else the
// block's header.
func rangeOf(body hcl.Body, name string, fallback hcl.Range) *hcl.Range {
	if body != nil {
		c, _, _ := body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: name}}})
		if c != nil {
			if a, ok := c.Attributes[name]; ok {
				return a.Expr.Range().Ptr()
			}
		}
	}
	return fallback.Ptr()
}

// lintEgress warns when a resource needs outgoing traffic on a host
// (resources.EgressNeeder: a toolchain downloaded on the host) that the
// host's firewall blocks (resources.EgressFilter): the apply would fail
// there. The planner only pairs the two by interface; neither kind knows
// the other, and no kind is named here.
func lintEgress(cfg *dsl.Config) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, r := range cfg.Resources {
		needer, ok := kindAs[resources.EgressNeeder](r.Kind)
		if !ok {
			continue
		}
		need, ok := needer.Egress(r.Value)
		if !ok {
			continue
		}
		var blocked []string
		var by, why, fix string
		for _, h := range cfg.Hosts {
			if !aims(r, h.Name) {
				continue
			}
			if b, w, f, ok := egressBlocked(cfg, h.Name, need); ok {
				blocked = append(blocked, h.Name)
				by, why, fix = b, w, f
			}
		}
		if len(blocked) > 0 {
			diags = append(diags, warn(rangeOf(r.Body, need.Attr, r.DeclRange), need.Summary,
				fmt.Sprintf("%s %s, but %s %s, on: %s. %s, or %s.", r.Address, need.What, by, why, strings.Join(blocked, ", "), fix, need.Instead)))
		}
	}
	return diags
}

// egressBlocked asks each filtering kind among host's resources whether
// they block need.
func egressBlocked(cfg *dsl.Config, host string, need resources.EgressNeed) (by, why, fix string, blocked bool) {
	var on []resources.LintResource
	for _, r := range cfg.Resources {
		if aims(r, host) {
			on = append(on, resources.LintResource{Kind: r.Kind, Address: r.Address, Value: r.Value})
		}
	}
	asked := map[string]bool{}
	for _, r := range on {
		if asked[r.Kind] {
			continue
		}
		asked[r.Kind] = true
		if f, ok := kindAs[resources.EgressFilter](r.Kind); ok {
			if by, why, fix, blocked = f.BlocksEgress(on, need); blocked {
				return by, why, fix, true
			}
		}
	}
	return "", "", "", false
}

// kindAs is the registered kind of that name, if it offers the optional
// interface T (a Linter, an EgressNeeder, …).
func kindAs[T any](kind string) (T, bool) {
	var zero T
	k, ok := resources.Lookup(kind)
	if !ok {
		return zero, false
	}
	t, ok := k.(T)
	return t, ok
}

func aims(r *dsl.Resource, host string) bool {
	if r.Targets == nil {
		return true
	}
	for _, t := range r.Targets {
		if t == host {
			return true
		}
	}
	return false
}
