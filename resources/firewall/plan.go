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
}

func (p *hostPlan) fail(addr string, err error) {
	if _, dup := p.errs[addr]; !dup {
		p.errs[addr] = err
	}
}

// planHost is pure: given the declarations, the probed state and the
// host's environment, it says what changes.
func planHost(d decl, st *State, e env) *hostPlan {
	p := &hostPlan{changes: map[string]resources.Change{}, errs: map[string]error{}}
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

// planUFW computes the host's whole ufw change in one pass: the
// lockout guard, the purge of undeclared entries and the plan digest read
// the same local tables (wanted, present, kept) as they are built, so it
// stays one function until those tables become a type of their own that
// named steps can share; splitting it now would thread half a dozen
// slices through every step (issue 15 keeps this open).
func planUFW(p *hostPlan, d decl, set *Settings, st *State, e env, owner string) {
	u := &st.UFW
	uc := &ufwChange{cur: u.Rules, policy: map[string]string{}, enabled: u.Enabled}
	p.ufw = uc
	have := map[string]UFWRule{}
	for _, t := range u.Rules {
		have[t.Key()] = t
	}
	declared := map[string]string{} // tuple key → address of the present rule that wants it
	remove := map[string]bool{}
	uc.remove = remove
	absentWants := map[string]string{} // tuple key → address of the absent rule removing it
	var added []UFWRule
	for _, r := range d.Rules {
		want, err := wantTuples(r, u, st.Services)
		if err != nil {
			p.fail(r.Address, err)
			continue
		}
		if err := refuseSSHBlock(r, e.SSHPort); err != nil {
			p.fail(r.Address, err)
			continue
		}
		var notes []string
		if r.Zone != "" {
			notes = append(notes, "zone is ignored by ufw")
		}
		port, _ := ufwPort(r, st.Services)
		summary := "ufw: " + describeRule(r, port)
		if !r.Present {
			var del []string
			for _, w := range want {
				absentWants[w.Key()] = r.Address
				if t, ok := have[w.Key()]; ok {
					del = append(del, t.String())
					p.Removes = append(p.Removes, ufwDeleteCmd(t))
					remove[t.Key()] = true
				}
			}
			if len(del) == 0 {
				p.changes[r.Address] = resources.Change{Action: resources.NoOp, Summary: summary + " (absent)", Notes: notes}
				continue
			}
			p.changes[r.Address] = resources.Change{Action: resources.Delete, Summary: summary, Notes: append(notes, prefixAll("remove: ", del)...)}
			continue
		}
		var missing, recomment []string
		for _, w := range want {
			if other, dup := declared[w.Key()]; dup {
				p.fail(r.Address, fmt.Errorf("the same ufw rule as %s; ufw holds one rule for both", other))
				break
			}
			declared[w.Key()] = r.Address
			t, ok := have[w.Key()]
			switch {
			case !ok:
				missing = append(missing, w.String())
				added = append(added, w)
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
			continue
		}
		p.Adds = append(p.Adds, ufwAddCmd(r, port))
		uc.add = append(uc.add, want...)
	}

	for k, addr := range absentWants {
		if other, ok := declared[k]; ok {
			p.fail(addr, fmt.Errorf("ensure = \"absent\" removes the rule %s declares present", other))
		}
	}

	enabled, defIn, defOut := u.Enabled, u.DefaultIn, u.DefaultOut
	var setNotes []string
	setChanged := false
	if set != nil {
		if set.Zone != "" {
			setNotes = append(setNotes, "zone is ignored by ufw")
		}
		for _, pol := range []struct{ cur, want, dir string }{{u.DefaultIn, set.DefaultIn, "incoming"}, {u.DefaultOut, set.DefaultOut, "outgoing"}} {
			if pol.cur != pol.want {
				setNotes = append(setNotes, fmt.Sprintf("default %s: %s → %s", pol.dir, pol.cur, pol.want))
				p.Defaults = append(p.Defaults, ufwPolicyCmd(pol.want, pol.dir))
				uc.policy[pol.dir] = pol.want
				setChanged = true
			}
		}
		defIn, defOut = set.DefaultIn, set.DefaultOut
		switch {
		case set.Enabled && !u.Enabled:
			setNotes = append(setNotes, "enable ufw")
			p.Enable = []string{"ufw --force enable"}
			setChanged = true
		case !set.Enabled && u.Enabled:
			setNotes = append(setNotes, "disable ufw")
			p.Enable = []string{"ufw disable"}
			setChanged = true
		case set.Enabled && e.Live && !u.Loaded:
			setNotes = append(setNotes, "ufw is enabled but its rules are not loaded in the kernel: reload")
			p.Enable = []string{"ufw --force enable"}
			setChanged = true
		}
		enabled = set.Enabled
		if set.Purge {
			for _, t := range u.Rules {
				if _, ok := declared[t.Key()]; ok || remove[t.Key()] {
					continue
				}
				setNotes = append(setNotes, "purge: "+t.String())
				p.Removes = append(p.Removes, ufwDeleteCmd(t))
				remove[t.Key()] = true
				setChanged = true
			}
		}
	}
	if why, ok := st.Pending[pendingUFW]; ok && owner != "" {
		setNotes = append(setNotes, "reload pending: "+why)
		if enabled && len(p.Enable) == 0 {
			p.Enable = []string{"ufw reload"}
		}
		setChanged = true
		if set == nil {
			ch := p.changes[owner]
			ch.Notes = append(ch.Notes, setNotes...)
			if ch.Action == resources.NoOp {
				ch.Action = resources.Update
			}
			p.changes[owner] = ch
		}
	}
	if set != nil {
		ch := resources.Change{Action: resources.NoOp, Summary: fmt.Sprintf("ufw: %s, incoming %s, outgoing %s", onOff(set.Enabled), set.DefaultIn, set.DefaultOut), Notes: setNotes}
		if setChanged {
			ch.Action = resources.Update
		}
		p.changes[set.Address] = ch
	}

	// The lockout guard, on the state the host will be in.
	p.Filtering = e.Live && (u.Enabled || enabled)
	if e.SSHPort == 0 || !enabled || owner == "" {
		return
	}
	var final []UFWRule
	var dropped []string // removed rules that let SSH in: the likely culprit
	for _, t := range u.Rules {
		if !remove[t.Key()] {
			final = append(final, t)
		} else if v, _ := ufwSSHVerdict([]UFWRule{t}, t.V6, "deny", e.SSHPort); v != blocked {
			dropped = append(dropped, t.String())
		}
	}
	final = append(final, added...)
	var families []bool
	if st.SSHOverV4 || !st.SSHOverV6 {
		families = append(families, false)
	}
	if u.IPv6 && (st.SSHOverV6 || !st.SSHOverV4) {
		families = append(families, true)
	}
	for _, v6 := range families {
		verdict, note := ufwSSHVerdict(final, v6, defIn, e.SSHPort)
		if verdict == blocked {
			why := fmt.Sprintf("with these rules ufw would drop new connections to port %d/tcp over %s (%s)", e.SSHPort, family(v6), note)
			if len(dropped) > 0 {
				why += "; the change removes " + strings.Join(dropped, ", ")
			}
			p.fail(owner, lockoutError(e.SSHPort, why))
			return
		}
		if note != "" && verdict == maybe {
			addNote(p, owner, note)
		}
	}
	_ = defOut // outgoing policy never affects an incoming SSH session
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
