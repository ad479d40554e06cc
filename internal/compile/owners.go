package compile

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/goprov/goprov/dsl"
	"github.com/goprov/goprov/resources"
)

// built is a resource block's instance with the Resource made of it.
type built struct {
	r   *dsl.Resource
	res resources.Resource
}

// ownerConflict is two resources claiming the same things on some hosts.
type ownerConflict struct {
	first, second int    // indexes into the built list, first < second
	attr, attrA   string // the attributes making the second's and the first's claim
	whats, hosts  []string
}

// checkOwners refuses two resources that claim the same thing (a file, a
// link, a toolchain root, the firewall) on one host: every apply would
// undo the other's change, and the plan would never settle. It looks at
// every host of the configuration, whatever -limit selects: the
// configuration contradicts itself either way.
func checkOwners(hosts []*dsl.Host, all []built) hcl.Diagnostics {
	var found []*ownerConflict
	byPair := map[[2]int]*ownerConflict{}
	for _, h := range hosts {
		type owner struct {
			i    int
			attr string
		}
		seen := map[string]owner{}
		for i, b := range all {
			o, ok := b.res.(resources.Owner)
			if !ok || !aims(b.r, h.Name) {
				continue
			}
			for _, c := range o.Owns() {
				prev, dup := seen[c.What]
				if !dup {
					seen[c.What] = owner{i, c.Attr}
					continue
				}
				if prev.i == i {
					continue
				}
				k := [2]int{prev.i, i}
				oc := byPair[k]
				if oc == nil {
					oc = &ownerConflict{first: prev.i, second: i, attr: c.Attr, attrA: prev.attr}
					byPair[k] = oc
					found = append(found, oc)
				}
				oc.whats = appendNew(oc.whats, c.What)
				oc.hosts = appendNew(oc.hosts, h.Name)
			}
		}
	}
	var diags hcl.Diagnostics
	for _, oc := range found {
		a, b := all[oc.first].r, all[oc.second].r
		fix := "Keep one of them, or target them to different hosts."
		what := strings.Join(oc.whats, " and ")
		if oc.attr != "" {
			fix = fmt.Sprintf("Keep one of them, change %s's %s, or target them to different hosts.", b.Address, oc.attr)
			if oc.attrA == oc.attr {
				what = fmt.Sprintf("%s (by their %s)", what, oc.attr)
			} else {
				what = fmt.Sprintf("%s (%s's %s, %s's %s)", what, b.Address, oc.attr, a.Address, oc.attrA)
			}
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Two resources manage " + oc.whats[0],
			Detail: fmt.Sprintf("%s (%s) and %s (%s) both manage %s on %s: each apply would undo the other's change, so the plan would never settle. %s",
				b.Address, pos(b.DeclRange), a.Address, pos(a.DeclRange), what, hostList(oc.hosts), fix),
			Subject: ownerSubject(b, oc.attr),
		})
	}
	return diags
}

// ownerSubject is where the claim is written in r's block: the attribute,
// or the block's header when the attribute is left at its default.
func ownerSubject(r *dsl.Resource, attr string) *hcl.Range {
	if attr == "" {
		return r.DeclRange.Ptr()
	}
	return rangeOf(r.Body, attr, r.DeclRange)
}

func pos(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

func hostList(hosts []string) string {
	sort.Strings(hosts)
	q := make([]string, len(hosts))
	for i, h := range hosts {
		q[i] = fmt.Sprintf("%q", h)
	}
	if len(q) > 5 {
		q = append(q[:5], fmt.Sprintf("%d more", len(hosts)-5))
	}
	if len(hosts) == 1 {
		return "host " + q[0]
	}
	return "hosts " + strings.Join(q, ", ")
}
