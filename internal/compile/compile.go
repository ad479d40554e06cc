// Package compile turns an evaluated configuration (dsl.Config) into the
// planner's targets: it builds every resource (validating it), refuses
// resources that claim the same thing, assigns resources to hosts, and
// lints. It is the one place that reads both the DSL and the planner, so
// the planner never sees the DSL.
package compile

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/goprov/goprov/dsl"
	"github.com/goprov/goprov/planner"
	"github.com/goprov/goprov/resources"
)

// Compile builds every resource of cfg (validating it) and assigns resources
// to hosts. cfg.Resources is already in dependency order. limit is a -limit
// selector ("group.web,host.db1"; "" means every host).
func Compile(cfg *dsl.Config, limit string) ([]*planner.Target, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	var insts []*planner.Instance
	var all []built
	targets := map[string][]string{}
	for _, r := range cfg.Resources {
		res, d := resources.Build(r.Kind, r.Address, r.Value, r.Body)
		for _, dg := range d {
			if dg.Subject == nil {
				dg.Subject = r.DeclRange.Ptr()
			}
		}
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		insts = append(insts, &planner.Instance{Address: r.Address, Kind: r.Kind, Value: r.Value, DependsOn: r.DependsOn, Res: res})
		targets[r.Address] = r.Targets
		all = append(all, built{r, res})
	}
	diags = append(diags, checkOwners(cfg.Hosts, all)...)
	selected, d := selectHosts(cfg.Hosts, limit)
	diags = append(diags, d...)
	if diags.HasErrors() {
		return nil, diags
	}
	byName := map[string]*dsl.Host{}
	for _, h := range cfg.Hosts {
		byName[h.Name] = h
	}
	var out []*planner.Target
	for _, h := range selected {
		spec := specOf(h)
		chain, err := jumpChain(h, byName)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid jump", Detail: err.Error(), Subject: h.DeclRange.Ptr()})
			continue
		}
		spec.JumpChain = chain
		t := &planner.Target{Spec: spec}
		for _, in := range insts {
			if tg := targets[in.Address]; tg == nil || contains(tg, h.Name) {
				t.Resources = append(t.Resources, in)
			}
		}
		out = append(out, t)
	}
	return out, diags
}

// jumpChain resolves `jump = "bastion"` when bastion is a host block (whose
// own jump, if any, comes first). A jump that names no host block is left to
// the transport as a ProxyJump spec (user@host:port,…).
func jumpChain(h *dsl.Host, hosts map[string]*dsl.Host) ([]planner.HostSpec, error) {
	var chain []planner.HostSpec
	seen := map[string]bool{h.Name: true}
	for cur := h; cur.Jump != ""; {
		next, ok := hosts[cur.Jump]
		if !ok {
			if cur == h {
				return nil, nil
			}
			return nil, fmt.Errorf("host %q jumps through %q, which names no host block; write its ProxyJump chain on %q itself", cur.Name, cur.Jump, h.Name)
		}
		if seen[next.Name] {
			return nil, fmt.Errorf("jump hosts of %q form a loop through %q", h.Name, next.Name)
		}
		if next.Connection != dsl.ConnSSH {
			return nil, fmt.Errorf("host %q jumps through %q, which is not an ssh host", cur.Name, next.Name)
		}
		seen[next.Name] = true
		chain = append([]planner.HostSpec{specOf(next)}, chain...)
		cur = next
	}
	return chain, nil
}

func specOf(h *dsl.Host) planner.HostSpec {
	return planner.HostSpec{Name: h.Name, Connection: h.Connection, Root: h.Root, Groups: h.Groups, Address: h.Address,
		Port: h.Port, User: h.User, IdentityFile: h.IdentityFile, KnownHosts: h.KnownHosts,
		HostKeyPolicy: h.HostKeyPolicy, Jump: h.Jump, Become: h.Become}
}

func selectHosts(hosts []*dsl.Host, limit string) ([]*dsl.Host, hcl.Diagnostics) {
	if strings.TrimSpace(limit) == "" {
		return hosts, nil
	}
	want := map[string]bool{}
	for _, sel := range strings.Split(limit, ",") {
		sel = strings.TrimSpace(sel)
		kind, name, ok := strings.Cut(sel, ".")
		matched := false
		for _, h := range hosts {
			if ok && ((kind == "host" && h.Name == name) || (kind == "group" && h.InGroup(name))) {
				want[h.Name] = true
				matched = true
			}
		}
		if !ok || (kind != "host" && kind != "group") {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid -limit",
				Detail: fmt.Sprintf("%q: -limit takes host.NAME and group.NAME, separated by commas.", sel)}}
		}
		if !matched {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid -limit",
				Detail: fmt.Sprintf("%q matches no host of the configuration.", sel)}}
		}
	}
	var out []*dsl.Host
	for _, h := range hosts {
		if want[h.Name] {
			out = append(out, h)
		}
	}
	return out, nil
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func appendNew(xs []string, more ...string) []string {
	for _, m := range more {
		if !contains(xs, m) {
			xs = append(xs, m)
		}
	}
	return xs
}
