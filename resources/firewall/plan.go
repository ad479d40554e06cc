package firewall

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/goprov/goprov/resources"
)

// decl is what the configuration declares for one host.
type decl struct {
	Settings []*Settings // at most one is valid
	Rules    []*Rule
}

// env is what planning needs to know of the host besides its state.
type env struct {
	SSHPort int  // the port goprov is connected through; 0 for local hosts
	Live    bool // "/" of a running system, not an image root
}

// hostPlan is a host's firewall change: per-resource changes for the plan,
// and the ordered commands apply runs.
type hostPlan struct {
	Backend string
	changes map[string]resources.Change
	errs    map[string]error

	// Commands in apply order. Adds come before removals and removals
	// before default policies, so SSH is allowed before anything tightens;
	// Enable comes last ("--force enable only after SSH is allowed").
	Adds, Removes, Defaults []string
	Runtime                 []string // firewalld: the same changes on the running daemon
	Enable                  []string
	Reload                  bool // firewalld: permanent-only change (target) or pending reload; ufw: reload
	Changed                 bool
	// ufw writes its rule files instead of running Adds, Removes and
	// Defaults one by one (ufwfiles.go).
	ufw *ufwChange
	// Filtering: the firewall filters live traffic before or after the
	// change. Only then can the change lock anyone out, so only then does
	// apply arm the rollback and prove access with a new login.
	Filtering bool
	// needs: what the read-back after the change reads (what the plan's
	// read read).
	needs probeNeeds
}

func (p *hostPlan) fail(addr string, err error) {
	if _, dup := p.errs[addr]; !dup {
		p.errs[addr] = err
	}
}

// planHost is pure: given the declarations, the probed state and the
// host's environment, it says what changes.
func planHost(d decl, st *State, e env) *hostPlan {
	p := &hostPlan{changes: map[string]resources.Change{}, errs: map[string]error{}, needs: needsOf(d)}
	var set *Settings
	for i, s := range d.Settings {
		if i == 0 {
			set = s
			continue
		}
		p.fail(s.Address, fmt.Errorf("a host has one firewall; %s is declared for it too", d.Settings[0].Address))
	}
	// The resource that answers for host-wide problems.
	owner := ""
	if set != nil {
		owner = set.Address
	} else if len(d.Rules) > 0 {
		owner = d.Rules[0].Address
	}
	if st.RollbackArmed != "" && owner != "" {
		// A previous change was never confirmed: its timer will put the
		// old firewall back, whatever this run would do.
		p.fail(owner, fmt.Errorf("a firewall rollback is armed on the host (pid %s under %s): an earlier goprov change was not confirmed and will be undone when the timer fires; plan again after that", st.RollbackArmed, rollbackDir))
		return p
	}
	backend, err := chooseBackend(st, set)
	var miss *resources.ToolMissingError
	if errors.As(err, &miss) {
		// Every resource of the host waits for the package that brings
		// the backend: the planner re-reads them together after it.
		for _, s := range d.Settings {
			p.fail(s.Address, err)
		}
		for _, r := range d.Rules {
			p.fail(r.Address, err)
		}
		return p
	}
	if err != nil {
		p.fail(owner, err)
		return p
	}
	p.Backend = backend
	if backend == "ufw" {
		planUFW(p, d, set, st, e, owner)
	} else {
		planFirewalld(p, d, set, st, e, owner)
	}
	if st.RollbackStale && owner != "" {
		addNote(p, owner, "an earlier goprov firewall change was never confirmed and its rollback timer is gone (did the host restart?): the rules stay as they are now; "+rollbackDir+" holds the config from before it until the next change")
	}
	for _, ch := range p.changes {
		if ch.Action != resources.NoOp {
			p.Changed = true
		}
	}
	return p
}

func chooseBackend(st *State, set *Settings) (string, error) {
	want := "auto"
	if set != nil {
		want = set.Backend
	}
	switch want {
	case "ufw":
		if !st.UFWInstalled {
			return "", &resources.ToolMissingError{Tool: "ufw", Packages: []string{"ufw"}, Then: thenFirewall,
				Msg: `backend = "ufw" but ufw is not installed on the host (/usr/sbin/ufw)`}
		}
		return "ufw", nil
	case "firewalld":
		if !st.FirewalldInstalled {
			return "", &resources.ToolMissingError{Tool: "firewalld", Packages: []string{"firewalld"}, Then: thenFirewall,
				Msg: `backend = "firewalld" but firewalld is not installed on the host (/usr/sbin/firewalld)`}
		}
		return "firewalld", nil
	}
	switch {
	case st.FirewalldRunning && st.UFWInstalled && st.UFW.Enabled:
		return "", errors.New(`both ufw (enabled) and firewalld (running) are active on the host; set backend = "ufw" or "firewalld" on the firewall resource`)
	case st.FirewalldRunning:
		return "firewalld", nil
	case st.UFWInstalled:
		return "ufw", nil
	case st.FirewalldInstalled:
		return "firewalld", nil
	}
	return "", &resources.ToolMissingError{Tool: "ufw or firewalld", Packages: []string{"ufw", "firewalld"}, Then: thenFirewall,
		Msg: "neither ufw nor firewalld is installed on the host"}
}

// thenFirewall is the plan's note for a firewall that waits for its
// backend's package.
const thenFirewall = "the firewall will be read, planned (lockout guard included) and changed"

// ---- ufw ----

// planUFW computes the host's whole ufw change. Its steps share the tables
// of ufwPlan: the declared rules' changes, conflicts between rules, the
// firewall resource's settings, a pending reload and, last, the lockout
// guard on the state the host will be in.
func planUFW(p *hostPlan, d decl, set *Settings, st *State, e env, owner string) {
	u := &st.UFW
	up := &ufwPlan{
		p: p, set: set, st: st, e: e, owner: owner, u: u,
		uc:          &ufwChange{cur: u.Rules, remove: map[string]bool{}, policy: map[string]string{}, enabled: u.Enabled},
		have:        map[string]UFWRule{},
		declared:    map[string]string{},
		absentWants: map[string]string{},
		enabled:     u.Enabled,
		defIn:       u.DefaultIn,
	}
	p.ufw = up.uc
	for _, t := range u.Rules {
		up.have[t.Key()] = t
	}
	for _, r := range d.Rules {
		up.rule(r)
	}
	up.conflicts()
	if set != nil {
		up.settings()
	}
	up.pending()
	if set != nil {
		ch := resources.Change{Action: resources.NoOp, Summary: fmt.Sprintf("ufw: %s, incoming %s, outgoing %s", onOff(set.Enabled), set.DefaultIn, set.DefaultOut), Notes: up.setNotes}
		if up.setChanged {
			ch.Action = resources.Update
		}
		p.changes[set.Address] = ch
	}
	p.Filtering = e.Live && (u.Enabled || up.enabled)
	up.guard()
}

// ufwPlan is what planUFW's steps share.
type ufwPlan struct {
	p     *hostPlan
	set   *Settings
	st    *State
	e     env
	owner string
	u     *UFWState
	uc    *ufwChange

	have        map[string]UFWRule // tuple key → the tuple on the host
	declared    map[string]string  // tuple key → address of the present rule that wants it
	absentWants map[string]string  // tuple key → address of the absent rule removing it
	added       []UFWRule          // tuples the change adds, for the guard

	// The state after the change: enabled, default incoming policy; and
	// the firewall resource's notes.
	enabled    bool
	defIn      string
	setNotes   []string
	setChanged bool
}

// rule plans one firewall_rule.
func (up *ufwPlan) rule(r *Rule) {
	p := up.p
	want, err := wantTuples(r, up.u, up.st.Services)
	if err != nil {
		p.fail(r.Address, err)
		return
	}
	if err := refuseSSHBlock(r, up.e.SSHPort); err != nil {
		p.fail(r.Address, err)
		return
	}
	var notes []string
	if r.Zone != "" {
		notes = append(notes, "zone is ignored by ufw")
	}
	port, _ := ufwPort(r, up.st.Services)
	summary := "ufw: " + describeRule(r, port)
	if !r.Present {
		up.ruleAbsent(r, want, summary, notes)
		return
	}
	up.rulePresent(r, want, port, summary, notes)
}

// ruleAbsent removes the tuples of an ensure = "absent" rule that exist.
func (up *ufwPlan) ruleAbsent(r *Rule, want []UFWRule, summary string, notes []string) {
	p := up.p
	var del []string
	for _, w := range want {
		up.absentWants[w.Key()] = r.Address
		if t, ok := up.have[w.Key()]; ok {
			del = append(del, t.String())
			p.Removes = append(p.Removes, ufwDeleteCmd(t))
			up.uc.remove[t.Key()] = true
		}
	}
	if len(del) == 0 {
		p.changes[r.Address] = resources.Change{Action: resources.NoOp, Summary: summary + " (absent)", Notes: notes}
		return
	}
	p.changes[r.Address] = resources.Change{Action: resources.Delete, Summary: summary, Notes: append(notes, prefixAll("remove: ", del)...)}
}

// rulePresent adds the tuples of a present rule that are missing and
// re-comments those whose comment differs.
func (up *ufwPlan) rulePresent(r *Rule, want []UFWRule, port, summary string, notes []string) {
	p := up.p
	var missing, recomment []string
	for _, w := range want {
		if other, dup := up.declared[w.Key()]; dup {
			p.fail(r.Address, fmt.Errorf("the same ufw rule as %s; ufw holds one rule for both", other))
			break
		}
		up.declared[w.Key()] = r.Address
		t, ok := up.have[w.Key()]
		switch {
		case !ok:
			missing = append(missing, w.String())
			up.added = append(up.added, w)
		case t.Comment != w.Comment:
			recomment = append(recomment, fmt.Sprintf("comment of %s: %q → %q", family(w.V6), t.Comment, w.Comment))
		}
	}
	switch {
	case len(missing) == len(want):
		p.changes[r.Address] = resources.Change{Action: resources.Create, Summary: summary, Notes: notes}
	case len(missing)+len(recomment) > 0:
		notes = append(notes, prefixAll("add: ", missing)...)
		notes = append(notes, recomment...)
		p.changes[r.Address] = resources.Change{Action: resources.Update, Summary: summary, Notes: notes}
	default:
		p.changes[r.Address] = resources.Change{Action: resources.NoOp, Summary: summary, Notes: notes}
		return
	}
	p.Adds = append(p.Adds, ufwAddCmd(r, port))
	up.uc.add = append(up.uc.add, want...)
}

// conflicts refuses an absent rule that removes what a present one wants.
func (up *ufwPlan) conflicts() {
	for k, addr := range up.absentWants {
		if other, ok := up.declared[k]; ok {
			up.p.fail(addr, fmt.Errorf("ensure = \"absent\" removes the rule %s declares present", other))
		}
	}
}

// settings plans the firewall resource: default policies, enabled state
// and purge.
func (up *ufwPlan) settings() {
	p, u, set := up.p, up.u, up.set
	if set.Zone != "" {
		up.setNotes = append(up.setNotes, "zone is ignored by ufw")
	}
	for _, pol := range []struct{ cur, want, dir string }{{u.DefaultIn, set.DefaultIn, "incoming"}, {u.DefaultOut, set.DefaultOut, "outgoing"}} {
		if pol.cur != pol.want {
			up.setNotes = append(up.setNotes, fmt.Sprintf("default %s: %s → %s", pol.dir, pol.cur, pol.want))
			p.Defaults = append(p.Defaults, ufwPolicyCmd(pol.want, pol.dir))
			up.uc.policy[pol.dir] = pol.want
			up.setChanged = true
		}
	}
	// The outgoing policy never affects an incoming SSH session: only
	// the incoming one matters to the guard.
	up.defIn = set.DefaultIn
	switch {
	case set.Enabled && !u.Enabled:
		up.setNotes = append(up.setNotes, "enable ufw")
		p.Enable = []string{"ufw --force enable"}
		up.setChanged = true
	case !set.Enabled && u.Enabled:
		up.setNotes = append(up.setNotes, "disable ufw")
		p.Enable = []string{"ufw disable"}
		up.setChanged = true
	case set.Enabled && up.e.Live && !u.Loaded:
		up.setNotes = append(up.setNotes, "ufw is enabled but its rules are not loaded in the kernel: reload")
		p.Enable = []string{"ufw --force enable"}
		up.setChanged = true
	}
	up.enabled = set.Enabled
	if set.Purge {
		up.purge()
	}
}

// purge removes the tuples no rule declares.
func (up *ufwPlan) purge() {
	for _, t := range up.u.Rules {
		if _, ok := up.declared[t.Key()]; ok || up.uc.remove[t.Key()] {
			continue
		}
		up.setNotes = append(up.setNotes, "purge: "+t.String())
		up.p.Removes = append(up.p.Removes, ufwDeleteCmd(t))
		up.uc.remove[t.Key()] = true
		up.setChanged = true
	}
}

// pending reloads ufw when an earlier apply left a reload undone; without
// a firewall resource, the owner rule carries the note.
func (up *ufwPlan) pending() {
	p := up.p
	why, ok := up.st.Pending[pendingUFW]
	if !ok || up.owner == "" {
		return
	}
	up.setNotes = append(up.setNotes, "reload pending: "+why)
	if up.enabled && len(p.Enable) == 0 {
		p.Enable = []string{"ufw reload"}
	}
	up.setChanged = true
	if up.set == nil {
		ch := p.changes[up.owner]
		ch.Notes = append(ch.Notes, up.setNotes...)
		if ch.Action == resources.NoOp {
			ch.Action = resources.Update
		}
		p.changes[up.owner] = ch
	}
}

// guard is the lockout guard, on the state the host will be in.
func (up *ufwPlan) guard() {
	p, u, e := up.p, up.u, up.e
	if e.SSHPort == 0 || !up.enabled || up.owner == "" {
		return
	}
	var final []UFWRule
	var dropped []string // removed rules that let SSH in: the likely culprit
	for _, t := range u.Rules {
		if !up.uc.remove[t.Key()] {
			final = append(final, t)
		} else if v, _ := ufwSSHVerdict([]UFWRule{t}, t.V6, "deny", e.SSHPort); v != blocked {
			dropped = append(dropped, t.String())
		}
	}
	final = append(final, up.added...)
	var families []bool
	if up.st.SSHOverV4 || !up.st.SSHOverV6 {
		families = append(families, false)
	}
	if u.IPv6 && (up.st.SSHOverV6 || !up.st.SSHOverV4) {
		families = append(families, true)
	}
	for _, v6 := range families {
		verdict, note := ufwSSHVerdict(final, v6, up.defIn, e.SSHPort)
		if verdict == blocked {
			why := fmt.Sprintf("with these rules ufw would drop new connections to port %d/tcp over %s (%s)", e.SSHPort, family(v6), note)
			if len(dropped) > 0 {
				why += "; the change removes " + strings.Join(dropped, ", ")
			}
			p.fail(up.owner, lockoutError(e.SSHPort, why))
			return
		}
		if note != "" && verdict == maybe {
			addNote(p, up.owner, note)
		}
	}
}

type sshVerdict int

const (
	allowed sshVerdict = iota
	maybe              // allowed only from some sources: the access check after apply decides
	blocked
)

// ufwSSHVerdict walks rules in ufw's first-match order for an incoming TCP
// connection to port from a source goprov cannot know. Rules limited to a
// source, destination or interface may or may not match it.
func ufwSSHVerdict(rules []UFWRule, v6 bool, defIn string, port int) (sshVerdict, string) {
	var maybeFrom []string
	for _, t := range rules {
		// An application-profile rule ("allow OpenSSH") carries its
		// resolved ports in DPort, so it is judged like any other.
		if t.V6 != v6 || t.Direction != "in" || (t.Proto != "tcp" && t.Proto != "any") || !portIn(t.DPort, port) {
			continue
		}
		certain := isAny(t.Src) && t.SPort == "any" && t.SApp == "" && isAny(t.Dst) && t.Iface == ""
		allow := t.Action == "allow" || t.Action == "limit"
		switch {
		case allow && certain:
			return allowed, ""
		case allow:
			maybeFrom = append(maybeFrom, t.String())
		case certain:
			if len(maybeFrom) > 0 {
				return maybe, sshMaybeNote(port, maybeFrom)
			}
			return blocked, "rule " + t.String() + " drops it"
		}
	}
	if defIn == "allow" {
		return allowed, ""
	}
	if len(maybeFrom) > 0 {
		return maybe, sshMaybeNote(port, maybeFrom)
	}
	return blocked, "no rule allows it and the default incoming policy is " + defIn
}

func sshMaybeNote(port int, from []string) string {
	return fmt.Sprintf("SSH port %d is allowed only by %s: goprov cannot tell whether that includes this controller; the new-login check after apply will (and rolls back if not)", port, strings.Join(from, "; "))
}

func lockoutError(port int, why string) error {
	return fmt.Errorf("refused: this would lock goprov out of the host — %s. Allow the SSH port first: a firewall_rule with port = %d and protocol = \"tcp\"", why, port)
}

// refuseSSHBlock refuses a rule that itself drops the SSH session's port
// from everywhere.
func refuseSSHBlock(r *Rule, sshPort int) error {
	if sshPort == 0 || !r.Present || r.Direction != "in" || r.Action == "allow" || r.Action == "limit" || r.Source != "" || r.Destination != "" || r.Protocol == "udp" {
		return nil
	}
	if r.Service == "" && sshPort >= r.PortLo && sshPort <= r.PortHi || r.Service == "ssh" && sshPort == 22 {
		return lockoutError(sshPort, fmt.Sprintf("this rule would %s port %d/tcp, the SSH port goprov is connected through", r.Action, sshPort))
	}
	return nil
}

func addNote(p *hostPlan, addr, note string) {
	ch := p.changes[addr]
	ch.Notes = append(ch.Notes, note)
	p.changes[addr] = ch
}

func describeRule(r *Rule, port string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Action, r.Direction)
	if r.Protocol != "any" {
		b.WriteString(" " + r.Protocol)
	}
	if r.Service != "" {
		fmt.Fprintf(&b, " service %s", r.Service)
		if port != "" && port != r.Service {
			fmt.Fprintf(&b, " (%s)", port)
		}
	} else {
		b.WriteString(" port " + portRange(r, "-"))
	}
	if r.Source != "" {
		b.WriteString(" from " + r.Source)
	}
	if r.Destination != "" {
		b.WriteString(" to " + r.Destination)
	}
	if r.Zone != "" {
		b.WriteString(" zone " + r.Zone)
	}
	return b.String()
}

func portRange(r *Rule, sep string) string {
	if r.PortLo == r.PortHi {
		return strconv.Itoa(r.PortLo)
	}
	return fmt.Sprintf("%d%s%d", r.PortLo, sep, r.PortHi)
}

func family(v6 bool) string {
	if v6 {
		return "IPv6"
	}
	return "IPv4"
}

func onOff(b bool) string {
	if b {
		return "enabled"
	}
	return "disabled"
}

func prefixAll(prefix string, xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = prefix + x
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
