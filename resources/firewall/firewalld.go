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

// planFirewalld computes the host's whole firewalld change. Its steps
// share the tables of fwdPlan: the declared rules' changes, conflicts
// between rules, the firewall resource's settings (target, enabled,
// purge), a pending reload, what a reload drops and, last, the lockout
// guard on the zones' final permanent content.
func planFirewalld(p *hostPlan, d decl, set *Settings, st *State, e env, owner string) {
	f := &st.FWD
	fp := &fwdPlan{
		p: p, set: set, st: st, e: e, owner: owner, f: f,
		running:     st.FirewalldRunning && e.Live,
		perm:        toolOffline,
		z0:          f.DefaultZone,
		final:       map[string]map[fwdItem]bool{},
		declared:    map[string]map[fwdItem]string{},
		absentWants: map[zoneItem]string{},
	}
	if fp.running {
		fp.perm = toolPermanent
	}
	if set != nil && set.Zone != "" {
		fp.z0 = set.Zone
	}
	if pz := f.Permanent[fp.z0]; pz != nil {
		fp.target = pz.Target
	}
	fp.runningAfter = fp.running
	for _, r := range d.Rules {
		fp.rule(r)
	}
	fp.conflicts()
	if set != nil {
		fp.settings()
	}
	fp.pending()
	if p.Reload && fp.running {
		fp.reloadDrops()
	}
	p.Filtering = e.Live && (st.FirewalldRunning || fp.runningAfter)
	if e.SSHPort == 0 || !fp.runningAfter || owner == "" || !e.Live {
		return
	}
	fp.guard()
}

type zoneItem struct {
	zone string
	it   fwdItem
}

// fwdPlan is what planFirewalld's steps share.
type fwdPlan struct {
	p     *hostPlan
	set   *Settings
	st    *State
	e     env
	owner string
	f     *FirewalldState

	running bool     // firewalld runs now (and the host is live)
	perm    []string // the tool changing the permanent config
	z0      string   // the zone rules without one go to
	target  string   // z0's target after the change

	final       map[string]map[fwdItem]bool   // zone → its permanent entries after the change (for the guard)
	declared    map[string]map[fwdItem]string // zone → entry → address of the present rule that wants it
	absentWants map[zoneItem]string           // entry → address of the absent rule removing it

	runningAfter bool // firewalld runs after the change
}

// zoneOK fails addr when firewalld has no zone z.
func (fp *fwdPlan) zoneOK(addr, z string) bool {
	if fp.f.Permanent[z] == nil {
		fp.p.fail(addr, fmt.Errorf("firewalld has no zone %q", z))
		return false
	}
	return true
}

// finalOf is zone z's permanent entries after the change, first filled
// from the permanent config.
func (fp *fwdPlan) finalOf(z string) map[fwdItem]bool {
	if fp.final[z] == nil {
		fp.final[z] = map[fwdItem]bool{}
		if pz := fp.f.Permanent[z]; pz != nil {
			for _, it := range zoneItems(pz) {
				fp.final[z][it] = true
			}
		}
	}
	return fp.final[z]
}

// rule plans one firewall_rule.
func (fp *fwdPlan) rule(r *Rule) {
	p := fp.p
	it, err := fwdWant(r)
	if err != nil {
		p.fail(r.Address, err)
		return
	}
	if err := refuseSSHBlock(r, fp.e.SSHPort); err != nil {
		p.fail(r.Address, err)
		return
	}
	z := r.Zone
	if z == "" {
		z = fp.z0
	}
	if !fp.zoneOK(r.Address, z) {
		return
	}
	summary := fmt.Sprintf("firewalld zone %s: %s", z, it)
	if !r.Present {
		fp.absentWants[zoneItem{z, it}] = r.Address
		fp.ruleAbsent(r, z, it, summary)
		return
	}
	fp.rulePresent(r, z, it, summary)
}

// ruleAbsent removes an ensure = "absent" entry from the permanent and
// the running config, where it is.
func (fp *fwdPlan) ruleAbsent(r *Rule, z string, it fwdItem, summary string) {
	p, f := fp.p, fp.f
	inPerm := it.in(f.Permanent[z])
	inRun := fp.running && it.in(f.Runtime[z])
	if !inPerm && !inRun {
		p.changes[r.Address] = resources.Change{Action: resources.NoOp, Summary: summary + " (absent)"}
		return
	}
	if inPerm {
		p.Removes = append(p.Removes, fwdCmd(fp.perm, z, "remove", it))
	}
	if inRun {
		p.Runtime = append(p.Runtime, fwdCmd(toolRuntime, z, "remove", it))
	}
	delete(fp.finalOf(z), it)
	p.changes[r.Address] = resources.Change{Action: resources.Delete, Summary: summary}
}

// rulePresent adds a present entry where it is missing: the permanent
// config, the running one, or both.
func (fp *fwdPlan) rulePresent(r *Rule, z string, it fwdItem, summary string) {
	p, f := fp.p, fp.f
	inPerm := it.in(f.Permanent[z])
	inRun := !fp.running || it.in(f.Runtime[z])
	if fp.declared[z] == nil {
		fp.declared[z] = map[fwdItem]string{}
	}
	if other, dup := fp.declared[z][it]; dup {
		p.fail(r.Address, fmt.Errorf("the same firewalld entry as %s", other))
		return
	}
	fp.declared[z][it] = r.Address
	fp.finalOf(z)[it] = true
	if !inPerm {
		p.Adds = append(p.Adds, fwdCmd(fp.perm, z, "add", it))
	}
	if !inRun {
		p.Runtime = append(p.Runtime, fwdCmd(toolRuntime, z, "add", it))
	}
	ch := resources.Change{Action: resources.Update, Summary: summary}
	switch {
	case inPerm && inRun:
		ch.Action = resources.NoOp
	case !inPerm && !inRun:
		ch.Action = resources.Create
	case !inPerm:
		ch.Notes = []string{"in the runtime only (a reload would drop it): add to the permanent config"}
	default:
		ch.Notes = []string{"in the permanent config only: add to the running firewall"}
	}
	p.changes[r.Address] = ch
}

// conflicts refuses an absent rule that removes what a present one wants.
func (fp *fwdPlan) conflicts() {
	for zi, addr := range fp.absentWants {
		if other, ok := fp.declared[zi.zone][zi.it]; ok {
			fp.p.fail(addr, fmt.Errorf("ensure = \"absent\" removes the entry %s declares present", other))
		}
	}
}

// settings plans the firewall resource: z0's target, whether firewalld
// runs, and purge.
func (fp *fwdPlan) settings() {
	p, set := fp.p, fp.set
	var notes []string
	changed := false
	if set.DefaultOut != "allow" {
		p.fail(set.Address, errors.New(`default_outgoing other than "allow" is not supported on firewalld (outgoing filtering needs firewalld policies, which goprov does not manage yet)`))
	}
	if fp.zoneOK(set.Address, fp.z0) {
		n, c := fp.target0()
		notes, changed = append(notes, n...), c
	}
	n, c := fp.enabled()
	notes, changed = append(notes, n...), changed || c
	if set.Purge {
		n, c := fp.purge()
		notes, changed = append(notes, n...), changed || c
	}
	ch := resources.Change{Action: resources.NoOp, Summary: fmt.Sprintf("firewalld zone %s: %s, incoming %s", fp.z0, onOff(set.Enabled), set.DefaultIn), Notes: notes}
	if changed {
		ch.Action = resources.Update
	}
	p.changes[set.Address] = ch
}

// target0 sets z0's target from default_incoming, permanent and running.
func (fp *fwdPlan) target0() (notes []string, changed bool) {
	p, f, set, z0 := fp.p, fp.f, fp.set, fp.z0
	want := targetFor(set.DefaultIn)
	if !sameTarget(fp.target, want) {
		notes = append(notes, fmt.Sprintf("zone %s target: %s → %s (default_incoming = %q; takes a reload)", z0, fp.target, want, set.DefaultIn))
		p.Defaults = append(p.Defaults, shell.Join(append(append([]string{}, fp.perm...), "--zone="+z0, "--set-target="+want)...))
		p.Reload = fp.running
		changed = true
	} else if fp.running && f.Runtime[z0] != nil && !sameTarget(f.Runtime[z0].Target, want) {
		notes = append(notes, fmt.Sprintf("zone %s runtime target %s differs from the permanent %s: reload", z0, f.Runtime[z0].Target, fp.target))
		p.Reload = true
		changed = true
	}
	fp.target = want
	return notes, changed
}

// enabled starts or stops firewalld as declared (live hosts only).
func (fp *fwdPlan) enabled() (notes []string, changed bool) {
	p, set, st := fp.p, fp.set, fp.st
	switch {
	case !fp.e.Live:
		notes = append(notes, "enabled: not managed for firewalld on an image root (enable the service in the image)")
	case set.Enabled && !st.FirewalldRunning:
		notes = append(notes, "start firewalld")
		p.Enable = []string{"systemctl enable --now firewalld"}
		changed = true
		fp.runningAfter = true
	case !set.Enabled && st.FirewalldRunning:
		notes = append(notes, "stop firewalld")
		p.Enable = []string{"systemctl disable --now firewalld"}
		changed = true
		fp.runningAfter = false
	}
	return notes, changed
}

// purge removes the entries no rule declares from z0 and the declared
// zones, permanent and running.
func (fp *fwdPlan) purge() (notes []string, changed bool) {
	p, f := fp.p, fp.f
	zones := map[string]bool{fp.z0: true}
	for z := range fp.declared {
		zones[z] = true
	}
	for _, z := range sortedKeys(zones) {
		for _, src := range []struct {
			zone *Zone
			tool []string
			perm bool
		}{{f.Permanent[z], fp.perm, true}, {f.Runtime[z], toolRuntime, false}} {
			if src.zone == nil || (!src.perm && !fp.running) {
				continue
			}
			for _, it := range zoneItems(src.zone) {
				if _, ok := fp.declared[z][it]; ok {
					continue
				}
				if src.perm {
					notes = append(notes, fmt.Sprintf("purge: zone %s %s", z, it))
					p.Removes = append(p.Removes, fwdCmd(src.tool, z, "remove", it))
					delete(fp.finalOf(z), it)
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
	return notes, changed
}

// pending reloads firewalld when an earlier apply left a reload undone.
func (fp *fwdPlan) pending() {
	p := fp.p
	why, ok := fp.st.Pending[pendingFirewalld]
	if !ok || fp.owner == "" {
		return
	}
	ch := p.changes[fp.owner]
	ch.Notes = append(ch.Notes, "reload pending: "+why)
	if ch.Action == resources.NoOp {
		ch.Action = resources.Update
	}
	p.changes[fp.owner] = ch
	p.Reload = fp.running
}

// reloadDrops says which runtime-only entries a reload drops (ANCHORS).
func (fp *fwdPlan) reloadDrops() {
	f := fp.f
	var lost []string
	for _, z := range sortedKeys(f.Runtime) {
		for _, it := range zoneItems(f.Runtime[z]) {
			if !it.in(f.Permanent[z]) && fp.declared[z][it] == "" {
				lost = append(lost, fmt.Sprintf("zone %s %s", z, it))
			}
		}
	}
	if len(lost) > 0 && fp.owner != "" {
		addNote(fp.p, fp.owner, "the firewalld reload drops runtime-only entries: "+strings.Join(lost, ", "))
	}
}

// guard is the lockout guard. The SSH session arrives in the zone its
// interface or source is bound to, else in the default zone: it judges
// each candidate on its final permanent content.
func (fp *fwdPlan) guard() {
	p, f, e, owner := fp.p, fp.f, fp.e, fp.owner
	bound := f.Runtime
	if bound == nil {
		bound = f.Permanent
	}
	cands := map[string]bool{f.DefaultZone: true, fp.z0: fp.z0 == f.DefaultZone}
	for name, z := range bound {
		if len(z.Interfaces)+len(z.Sources) > 0 {
			cands[name] = true
		}
	}
	var ok, blockedIn, notes []string
	for _, z := range sortedKeys(cands) {
		if !cands[z] {
			continue
		}
		tg := fp.target
		if z != fp.z0 {
			tg = ""
			if pz := f.Permanent[z]; pz != nil {
				tg = pz.Target
			}
		}
		verdict, note := fwdSSHVerdict(fp.finalOf(z), tg, fp.st.Services, e.SSHPort)
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
