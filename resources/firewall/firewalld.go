package firewall

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/goprov/goprov/internal/shell"
	"github.com/goprov/goprov/resources"
)

// fwdItem is one entry of a firewalld zone.
type fwdItem struct {
	Kind  string // port, service, rich-rule
	Value string // "443/tcp", "https", `rule family="ipv4" …`
}

func (it fwdItem) in(z *Zone) bool {
	if z == nil {
		return false
	}
	var list []string
	switch it.Kind {
	case "port":
		list = z.Ports
	case "service":
		list = z.Services
	default:
		list = z.RichRules
	}
	for _, v := range list {
		if v == it.Value {
			return true
		}
	}
	return false
}

func (it fwdItem) String() string { return it.Kind + " " + it.Value }

// fwdWant is how r is written in a firewalld zone: a plain port or service
// for an unrestricted allow, else a rich rule in the canonical form that
// firewalld prints back (so a second plan compares equal).
func fwdWant(r *Rule) (fwdItem, error) {
	if r.Direction == "out" {
		return fwdItem{}, errors.New(`direction = "out" is not supported on firewalld (it filters outgoing traffic only through policies, which goprov does not manage yet); use ufw for outgoing rules`)
	}
	if r.Action == "limit" {
		return fwdItem{}, errors.New(`action = "limit" is ufw-only; on firewalld use allow`)
	}
	if r.Service == "" && r.Protocol == "any" {
		return fwdItem{}, errors.New(`firewalld ports need protocol = "tcp" or "udp"`)
	}
	port := portRange(r, "-")
	if r.Action == "allow" && r.Source == "" && r.Destination == "" {
		if r.Service != "" {
			return fwdItem{"service", r.Service}, nil
		}
		return fwdItem{"port", port + "/" + r.Protocol}, nil
	}
	var b strings.Builder
	b.WriteString("rule")
	if f := r.family(); f != "" {
		fmt.Fprintf(&b, ` family=%q`, f)
	}
	if r.Source != "" {
		fmt.Fprintf(&b, ` source address=%q`, r.Source)
	}
	if r.Destination != "" {
		fmt.Fprintf(&b, ` destination address=%q`, r.Destination)
	}
	if r.Service != "" {
		fmt.Fprintf(&b, ` service name=%q`, r.Service)
	} else {
		fmt.Fprintf(&b, ` port port=%q protocol=%q`, port, r.Protocol)
	}
	b.WriteString(" " + map[string]string{"allow": "accept", "deny": "drop", "reject": "reject"}[r.Action])
	return fwdItem{"rich-rule", b.String()}, nil
}

// fwdCmd is the command changing item in zone: `op` is add or remove.
func fwdCmd(tool []string, zone, op string, it fwdItem) string {
	return shell.Join(append(append([]string{}, tool...), "--zone="+zone, "--"+op+"-"+it.Kind+"="+it.Value)...)
}

var (
	toolPermanent = []string{"firewall-cmd", "--permanent"}
	toolRuntime   = []string{"firewall-cmd"}
	toolOffline   = []string{"firewall-offline-cmd"}
)

func targetFor(policy string) string {
	return map[string]string{"allow": "ACCEPT", "deny": "DROP", "reject": "%%REJECT%%"}[policy]
}

// sameTarget treats firewalld's "default" target as the reject it is.
func sameTarget(a, b string) bool {
	norm := func(t string) string {
		if t == "default" {
			return "%%REJECT%%"
		}
		return t
	}
	return norm(a) == norm(b)
}

// planFirewalld computes the host's whole firewalld change in one pass: the
// lockout guard, the purge of undeclared entries and the plan digest read
// the same local tables (wanted, present, kept) as they are built, so it
// stays one function until those tables become a type of their own that
// named steps can share; splitting it now would thread half a dozen
// slices through every step (issue 15 keeps this open).
func planFirewalld(p *hostPlan, d decl, set *Settings, st *State, e env, owner string) {
	f := &st.FWD
	running := st.FirewalldRunning && e.Live
	perm := toolOffline
	if running {
		perm = toolPermanent
	}
	z0 := f.DefaultZone
	if set != nil && set.Zone != "" {
		z0 = set.Zone
	}
	zoneOK := func(addr, z string) bool {
		if f.Permanent[z] == nil {
			p.fail(addr, fmt.Errorf("firewalld has no zone %q", z))
			return false
		}
		return true
	}
	// Final permanent content of the zones touched, for the guard.
	final := map[string]map[fwdItem]bool{}
	finalOf := func(z string) map[fwdItem]bool {
		if final[z] == nil {
			final[z] = map[fwdItem]bool{}
			if pz := f.Permanent[z]; pz != nil {
				for _, v := range pz.Services {
					final[z][fwdItem{"service", v}] = true
				}
				for _, v := range pz.Ports {
					final[z][fwdItem{"port", v}] = true
				}
				for _, v := range pz.RichRules {
					final[z][fwdItem{"rich-rule", v}] = true
				}
			}
		}
		return final[z]
	}
	declared := map[string]map[fwdItem]string{}
	type zoneItem struct {
		zone string
		it   fwdItem
	}
	absentWants := map[zoneItem]string{}
	for _, r := range d.Rules {
		it, err := fwdWant(r)
		if err != nil {
			p.fail(r.Address, err)
			continue
		}
		if err := refuseSSHBlock(r, e.SSHPort); err != nil {
			p.fail(r.Address, err)
			continue
		}
		z := r.Zone
		if z == "" {
			z = z0
		}
		if !zoneOK(r.Address, z) {
			continue
		}
		summary := fmt.Sprintf("firewalld zone %s: %s", z, it)
		if !r.Present {
			absentWants[zoneItem{z, it}] = r.Address
		}
		inPerm := it.in(f.Permanent[z])
		inRun := !running || it.in(f.Runtime[z])
		if !r.Present {
			if !inPerm && !(running && it.in(f.Runtime[z])) {
				p.changes[r.Address] = resources.Change{Action: resources.NoOp, Summary: summary + " (absent)"}
				continue
			}
			if inPerm {
				p.Removes = append(p.Removes, fwdCmd(perm, z, "remove", it))
			}
			if running && it.in(f.Runtime[z]) {
				p.Runtime = append(p.Runtime, fwdCmd(toolRuntime, z, "remove", it))
			}
			delete(finalOf(z), it)
			p.changes[r.Address] = resources.Change{Action: resources.Delete, Summary: summary}
			continue
		}
		if declared[z] == nil {
			declared[z] = map[fwdItem]string{}
		}
		if other, dup := declared[z][it]; dup {
			p.fail(r.Address, fmt.Errorf("the same firewalld entry as %s", other))
			continue
		}
		declared[z][it] = r.Address
		finalOf(z)[it] = true
		var notes []string
		if !inPerm {
			p.Adds = append(p.Adds, fwdCmd(perm, z, "add", it))
		}
		if !inRun {
			p.Runtime = append(p.Runtime, fwdCmd(toolRuntime, z, "add", it))
		}
		switch {
		case inPerm && inRun:
			p.changes[r.Address] = resources.Change{Action: resources.NoOp, Summary: summary}
			continue
		case !inPerm && !inRun:
			p.changes[r.Address] = resources.Change{Action: resources.Create, Summary: summary}
			continue
		case !inPerm:
			notes = append(notes, "in the runtime only (a reload would drop it): add to the permanent config")
		default:
			notes = append(notes, "in the permanent config only: add to the running firewall")
		}
		p.changes[r.Address] = resources.Change{Action: resources.Update, Summary: summary, Notes: notes}
	}

	for zi, addr := range absentWants {
		if other, ok := declared[zi.zone][zi.it]; ok {
			p.fail(addr, fmt.Errorf("ensure = \"absent\" removes the entry %s declares present", other))
		}
	}

	target := ""
	if pz := f.Permanent[z0]; pz != nil {
		target = pz.Target
	}
	isRunningAfter := running
	if set != nil {
		var notes []string
		changed := false
		if set.DefaultOut != "allow" {
			p.fail(set.Address, errors.New(`default_outgoing other than "allow" is not supported on firewalld (outgoing filtering needs firewalld policies, which goprov does not manage yet)`))
		}
		if zoneOK(set.Address, z0) {
			want := targetFor(set.DefaultIn)
			if !sameTarget(target, want) {
				notes = append(notes, fmt.Sprintf("zone %s target: %s → %s (default_incoming = %q; takes a reload)", z0, target, want, set.DefaultIn))
				p.Defaults = append(p.Defaults, shell.Join(append(append([]string{}, perm...), "--zone="+z0, "--set-target="+want)...))
				p.Reload = running
				changed = true
			} else if running && f.Runtime[z0] != nil && !sameTarget(f.Runtime[z0].Target, want) {
				notes = append(notes, fmt.Sprintf("zone %s runtime target %s differs from the permanent %s: reload", z0, f.Runtime[z0].Target, target))
				p.Reload = true
				changed = true
			}
			target = want
		}
		switch {
		case !e.Live:
			notes = append(notes, "enabled: not managed for firewalld on an image root (enable the service in the image)")
		case set.Enabled && !st.FirewalldRunning:
			notes = append(notes, "start firewalld")
			p.Enable = []string{"systemctl enable --now firewalld"}
			changed = true
			isRunningAfter = true
		case !set.Enabled && st.FirewalldRunning:
			notes = append(notes, "stop firewalld")
			p.Enable = []string{"systemctl disable --now firewalld"}
			changed = true
			isRunningAfter = false
		}
		if set.Purge {
			zones := map[string]bool{z0: true}
			for z := range declared {
				zones[z] = true
			}
			for _, z := range sortedKeys(zones) {
				for _, src := range []struct {
					zone *Zone
					tool []string
					perm bool
				}{{f.Permanent[z], perm, true}, {f.Runtime[z], toolRuntime, false}} {
					if src.zone == nil || (!src.perm && !running) {
						continue
					}
					for _, it := range zoneItems(src.zone) {
						if _, ok := declared[z][it]; ok {
							continue
						}
						if src.perm {
							notes = append(notes, fmt.Sprintf("purge: zone %s %s", z, it))
							p.Removes = append(p.Removes, fwdCmd(src.tool, z, "remove", it))
							delete(finalOf(z), it)
						} else {
							p.Runtime = append(p.Runtime, fwdCmd(src.tool, z, "remove", it))
							if !it.in(f.Permanent[z]) {
								notes = append(notes, fmt.Sprintf("purge: zone %s %s (runtime only)", z, it))
							}
						}
						changed = true
					}
				}
			}
		}
		ch := resources.Change{Action: resources.NoOp, Summary: fmt.Sprintf("firewalld zone %s: %s, incoming %s", z0, onOff(set.Enabled), set.DefaultIn), Notes: notes}
		if changed {
			ch.Action = resources.Update
		}
		p.changes[set.Address] = ch
	}
	if why, ok := st.Pending[pendingFirewalld]; ok && owner != "" {
		ch := p.changes[owner]
		ch.Notes = append(ch.Notes, "reload pending: "+why)
		if ch.Action == resources.NoOp {
			ch.Action = resources.Update
		}
		p.changes[owner] = ch
		p.Reload = running
	}

	if p.Reload && running {
		// ANCHORS: a reload drops runtime-only entries; say which.
		var lost []string
		for _, z := range sortedKeys(f.Runtime) {
			for _, it := range zoneItems(f.Runtime[z]) {
				if !it.in(f.Permanent[z]) && declared[z][it] == "" {
					lost = append(lost, fmt.Sprintf("zone %s %s", z, it))
				}
			}
		}
		if len(lost) > 0 && owner != "" {
			addNote(p, owner, "the firewalld reload drops runtime-only entries: "+strings.Join(lost, ", "))
		}
	}
	p.Filtering = e.Live && (st.FirewalldRunning || isRunningAfter)
	if e.SSHPort == 0 || !isRunningAfter || owner == "" || !e.Live {
		return
	}
	// The SSH session arrives in the zone its interface or source is bound
	// to, else in the default zone: judge each candidate.
	bound := f.Runtime
	if bound == nil {
		bound = f.Permanent
	}
	cands := map[string]bool{f.DefaultZone: true, z0: z0 == f.DefaultZone}
	for name, z := range bound {
		if len(z.Interfaces)+len(z.Sources) > 0 {
			cands[name] = true
		}
	}
	var ok, blockedIn []string
	var notes []string
	for _, z := range sortedKeys(cands) {
		if !cands[z] {
			continue
		}
		tg := target
		if z != z0 {
			tg = ""
			if pz := f.Permanent[z]; pz != nil {
				tg = pz.Target
			}
		}
		verdict, note := fwdSSHVerdict(finalOf(z), tg, st.Services, e.SSHPort)
		switch verdict {
		case blocked:
			blockedIn = append(blockedIn, fmt.Sprintf("zone %s: %s", z, note))
		case maybe:
			ok = append(ok, z)
			notes = append(notes, fmt.Sprintf("zone %s: %s", z, note))
		default:
			ok = append(ok, z)
		}
	}
	switch {
	case len(ok) == 0:
		p.fail(owner, lockoutError(e.SSHPort, fmt.Sprintf("firewalld would not accept new connections to port %d/tcp (%s)", e.SSHPort, strings.Join(blockedIn, "; "))))
		return
	case len(blockedIn) > 0:
		notes = append(notes, fmt.Sprintf("SSH port %d is accepted in zone %s but not in %s: goprov cannot tell which zone its session arrives in; the new-login check after apply will (and rolls back if needed)", e.SSHPort, strings.Join(ok, ", "), strings.Join(blockedIn, "; ")))
	}
	for _, n := range notes {
		addNote(p, owner, n)
	}
}

func zoneItems(z *Zone) []fwdItem {
	var out []fwdItem
	for _, v := range z.Services {
		out = append(out, fwdItem{"service", v})
	}
	for _, v := range z.Ports {
		out = append(out, fwdItem{"port", v})
	}
	for _, v := range z.RichRules {
		out = append(out, fwdItem{"rich-rule", v})
	}
	return out
}

// fwdSSHVerdict says whether a zone with these entries accepts a new TCP
// connection to port from an unknown source. firewalld evaluates deny rich
// rules before allow rich rules, services and ports; the zone's target
// applies last. The SSH interface is assumed to be in the zone checked
// (the default zone unless the firewall's zone says otherwise).
func fwdSSHVerdict(items map[fwdItem]bool, target string, services map[string]int, port int) (sshVerdict, string) {
	if target == "ACCEPT" {
		return allowed, ""
	}
	var maybeFrom []string
	ok := false
	for it := range items {
		switch it.Kind {
		case "service":
			if services[it.Value+"/tcp"] == port {
				ok = true
			}
		case "port":
			pr, proto, _ := strings.Cut(it.Value, "/")
			if proto == "tcp" && portIn(strings.Replace(pr, "-", ":", 1), port) {
				ok = true
			}
		case "rich-rule":
			v := it.Value
			hits := strings.Contains(v, `protocol="tcp"`) && richPortCovers(v, port) ||
				svcIn(v, services, port)
			if !hits {
				continue
			}
			restricted := strings.Contains(v, " source ") || strings.Contains(v, " destination ")
			accept := strings.HasSuffix(v, " accept")
			switch {
			case !accept && !restricted:
				return blocked, "rich rule " + v + " drops it"
			case accept && !restricted:
				ok = true
			case accept:
				maybeFrom = append(maybeFrom, "rich rule "+v)
			}
		}
	}
	if ok {
		return allowed, ""
	}
	if len(maybeFrom) > 0 {
		sort.Strings(maybeFrom)
		return maybe, sshMaybeNote(port, maybeFrom)
	}
	return blocked, "no service, port or rich rule accepts it and the zone's target is " + target
}

func richPortCovers(rule string, port int) bool {
	_, rest, ok := strings.Cut(rule, ` port port="`)
	if !ok {
		return false
	}
	pr, _, _ := strings.Cut(rest, `"`)
	return portIn(strings.Replace(pr, "-", ":", 1), port)
}

func svcIn(rule string, services map[string]int, port int) bool {
	_, rest, ok := strings.Cut(rule, ` service name="`)
	if !ok {
		return false
	}
	name, _, _ := strings.Cut(rest, `"`)
	n, known := services[name+"/tcp"]
	return known && n == port
}
