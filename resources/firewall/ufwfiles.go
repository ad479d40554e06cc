package firewall

import (
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/goprov/goprov/internal/shell"
	"github.com/goprov/goprov/resources"
)

// ufwChange is a ufw change as data: the tuples found, those to remove,
// those wanted (added, or re-commented where they exist), and the default
// policies that change (direction -> allow, deny, reject).
type ufwChange struct {
	cur    []UFWRule
	remove map[string]bool
	add    []UFWRule
	policy map[string]string
	// enabled: ufw is enabled now (and stays so unless the plan's Enable
	// says otherwise).
	enabled bool
}

// empty reports whether no rule file or policy changes.
func (c *ufwChange) empty() bool {
	return len(c.remove) == 0 && len(c.add) == 0 && len(c.policy) == 0
}

// tuples are the rules of one family after the change, in ufw's order:
// the ones kept where they stand (with a new comment where wanted), then
// the new ones in declaration order, as `ufw allow …` would append them.
func (c *ufwChange) tuples(v6 bool) []UFWRule {
	want := map[string]UFWRule{}
	for _, w := range c.add {
		want[w.Key()] = w
	}
	var out []UFWRule
	kept := map[string]bool{}
	for _, t := range c.cur {
		if t.V6 != v6 || c.remove[t.Key()] {
			continue
		}
		if w, ok := want[t.Key()]; ok {
			t.Comment = w.Comment
		}
		kept[t.Key()] = true
		out = append(out, t)
	}
	for _, w := range c.add {
		if w.V6 == v6 && !kept[w.Key()] {
			kept[w.Key()] = true
			out = append(out, w)
		}
	}
	return out
}

// Tuple is the rule's "### tuple ###" line exactly as ufw's _write_rules
// writes it (backend_iptables.py, ufw 0.36).
func (u UFWRule) Tuple() string {
	action := u.Action
	if u.Log != "" {
		action += "_" + u.Log
	}
	ifaces := u.Direction
	if u.Iface != "" {
		ifaces += "_" + u.Iface
	}
	f := []string{"### tuple ###", action, u.Proto, u.DPort, u.Dst, u.SPort, u.Src}
	if u.DApp != "" || u.SApp != "" {
		app := func(s string) string {
			if s == "" {
				return "-"
			}
			return strings.ReplaceAll(s, " ", "%20")
		}
		f = append(f, app(u.DApp), app(u.SApp))
	}
	f = append(f, ifaces)
	if u.Comment != "" {
		f = append(f, "comment="+hex.EncodeToString([]byte(u.Comment)))
	}
	return strings.Join(f, " ")
}

// ufwRender is run by the host's python3 with ufw's own modules: it sets
// the changed default policies (argv[3:], "incoming=deny"), reads the rules
// from the staged tuple files (argv[1], argv[2]) and has ufw render its
// user.rules and user6.rules from them, iptables lines included, under
// ufw's lock. Nothing is loaded: the one reload (or enable) follows.
const ufwRender = `import gettext, sys
import ufw.common, ufw.frontend, ufw.util
sys.argv[0] = "/usr/sbin/ufw"  # ufw checks its program's owner and mode
gettext.install(ufw.common.programName)
lock = ufw.util.create_lock()
try:
    b = ufw.frontend.UFWFrontend(False).backend
    for a in sys.argv[3:]:
        d, pol = a.split("=", 1)
        b.set_default_policy(pol, d)
    if sys.argv[3:]:
        b = ufw.frontend.UFWFrontend(False).backend
    real = (b.files["rules"], b.files["rules6"])
    b.files["rules"], b.files["rules6"] = sys.argv[1], sys.argv[2]
    b.rules, b.rules6 = [], []
    b._read_rules()
    b.files["rules"], b.files["rules6"] = real
    b._write_rules(False)
    b._write_rules(True)
finally:
    ufw.util.release_lock(lock)
`

// ufwFilesScript is the ufw change: the rule files written in one go by
// ufw's own renderer, then one load — enable, disable or reload — instead
// of one ufw run (a python start, a live iptables change) per rule.
func ufwFilesScript(h *resources.Host, p *hostPlan) string {
	c := p.ufw
	var b strings.Builder
	if !c.empty() {
		b.WriteString("d=/etc/ufw\ns4=$(mktemp \"$d/.goprov.XXXXXXXX\") && s6=$(mktemp \"$d/.goprov.XXXXXXXX\") || exit 1\ntrap 'rm -f -- \"$s4\" \"$s6\"' EXIT\n")
		for _, f := range []struct {
			v6  bool
			dst string
		}{{false, "$s4"}, {true, "$s6"}} {
			fmt.Fprintf(&b, "{ :")
			for _, t := range c.tuples(f.v6) {
				fmt.Fprintf(&b, "\nprintf '%%s\\n' %s", shell.Quote(t.Tuple()))
			}
			fmt.Fprintf(&b, "\n} > \"%s\" || exit 1\n", f.dst)
		}
		args := []string{inRoot(h, "python3"), "-c", shell.Quote(ufwRender), `"$s4"`, `"$s6"`}
		dirs := make([]string, 0, len(c.policy))
		for d := range c.policy {
			dirs = append(dirs, d)
		}
		sort.Strings(dirs)
		for _, d := range dirs {
			args = append(args, shell.Quote(d+"="+c.policy[d]))
		}
		fmt.Fprintf(&b, "%s || { echo 'failed: writing ufw rule files' >&2; exit 1; }\n", strings.Join(args, " "))
	}
	load := p.Enable
	if len(load) == 0 && !c.empty() && c.enabled {
		load = []string{"ufw reload"}
	}
	for _, l := range load {
		fmt.Fprintf(&b, "step %s\n", shell.Quote(inRoot(h, l)))
	}
	return b.String()
}
