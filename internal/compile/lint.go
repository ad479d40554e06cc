package compile

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

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
		k, ok := resources.Lookup(r.Kind)
		if !ok {
			continue
		}
		l, ok := k.(resources.Linter)
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

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// lintEgress warns when a go_toolchain downloads on the host (fetch =
// "host") while that host's firewall denies outgoing traffic without an
// HTTPS allow: the apply would fail at the download.
func lintEgress(cfg *dsl.Config) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, tc := range cfg.Resources {
		if tc.Kind != "go_toolchain" || resources.AttrString(tc.Value, "fetch") != "host" {
			continue
		}
		var blocked []string
		var by string
		for _, h := range cfg.Hosts {
			if !aims(tc, h.Name) {
				continue
			}
			fw := denyingFirewall(cfg, h.Name)
			if fw == nil || httpsOut(cfg, h.Name) {
				continue
			}
			blocked = append(blocked, h.Name)
			by = fw.Address
		}
		if len(blocked) > 0 {
			diags = append(diags, warn(rangeOf(tc.Body, "fetch", tc.DeclRange), "Toolchain download blocked by the firewall",
				fmt.Sprintf(`%s downloads on the host (fetch = "host"), but %s denies outgoing traffic there and no firewall_rule allows HTTPS out (port 443, direction = "out"), on: %s. Add that rule (and DNS), or use fetch = "controller".`,
					tc.Address, by, strings.Join(blocked, ", "))))
		}
	}
	return diags
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

// denyingFirewall returns the firewall of host that denies outgoing
// traffic (ufw: firewalld refuses such a default), or nil.
func denyingFirewall(cfg *dsl.Config, host string) *dsl.Resource {
	for _, r := range cfg.Resources {
		if r.Kind != "firewall" || !aims(r, host) {
			continue
		}
		if on, ok := resources.AttrBool(r.Value, "enabled"); ok && !on {
			continue
		}
		if b := resources.AttrString(r.Value, "backend"); b == "firewalld" {
			continue
		}
		switch resources.AttrString(r.Value, "default_outgoing") {
		case "deny", "reject":
			return r
		}
	}
	return nil
}

// httpsOut reports whether a present firewall_rule of host allows TCP 443
// out.
func httpsOut(cfg *dsl.Config, host string) bool {
	for _, r := range cfg.Resources {
		if r.Kind != "firewall_rule" || !aims(r, host) || !resources.Present(r.Value) {
			continue
		}
		v := r.Value
		if resources.AttrString(v, "direction") != "out" || orDefault(resources.AttrString(v, "action"), "allow") != "allow" {
			continue
		}
		if p := orDefault(resources.AttrString(v, "protocol"), "tcp"); p != "tcp" && p != "any" {
			continue
		}
		if resources.AttrString(v, "service") == "https" || portCovers(v, 443) {
			return true
		}
	}
	return false
}

// portCovers reports whether the rule's port (a number, "443", or a range
// "400-500" / "400:500") includes port.
func portCovers(v cty.Value, port int) bool {
	a, ok := resources.Attr(v, "port")
	if !ok {
		return false
	}
	var s string
	switch a.Type() {
	case cty.Number:
		if !a.AsBigFloat().IsInt() {
			return false
		}
		s = a.AsBigFloat().Text('f', 0)
	case cty.String:
		s = a.AsString()
	default:
		return false
	}
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		lo, hi, isRange = strings.Cut(s, ":")
	}
	if !isRange {
		hi = lo
	}
	l, err1 := strconv.Atoi(strings.TrimSpace(lo))
	h, err2 := strconv.Atoi(strings.TrimSpace(hi))
	return err1 == nil && err2 == nil && l <= port && port <= h
}
