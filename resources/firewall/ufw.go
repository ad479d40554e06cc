package firewall

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/goprov/goprov/internal/shell"
)

// UFWRule is one "### tuple ###" line of user.rules or user6.rules: the
// exact form in which ufw stores each rule (and from which `ufw show added`
// prints it), one per address family.
type UFWRule struct {
	Action    string // allow, deny, reject, limit
	Log       string // "", "log", "log-all"
	Proto     string // tcp, udp, any, …
	DPort     string // "22", "8000:8100", "any"
	Dst       string // "0.0.0.0/0", "::/0", an address or prefix
	SPort     string
	Src       string
	Direction string // in, out
	Iface     string
	DApp      string // application profile names ("" when none)
	SApp      string
	Comment   string
	V6        bool
}

// ParseUFWTuples reads the tuples of a user.rules (v6=false) or
// user6.rules (v6=true) file.
func ParseUFWTuples(content string, v6 bool) ([]UFWRule, error) {
	var out []UFWRule
	for _, l := range strings.Split(content, "\n") {
		rest, ok := strings.CutPrefix(l, "### tuple ### ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		r := UFWRule{V6: v6}
		if n := len(f); n > 0 && strings.HasPrefix(f[n-1], "comment=") {
			b, err := hex.DecodeString(strings.TrimPrefix(f[n-1], "comment="))
			if err != nil {
				return nil, fmt.Errorf("ufw tuple %q: bad comment: %w", l, err)
			}
			r.Comment = string(b)
			f = f[:n-1]
		}
		if len(f) != 7 && len(f) != 9 {
			return nil, fmt.Errorf("ufw tuple %q: unexpected form", l)
		}
		r.Action, r.Log, _ = strings.Cut(f[0], "_")
		r.Proto, r.DPort, r.Dst, r.SPort, r.Src = f[1], f[2], f[3], f[4], f[5]
		dir := f[6]
		if len(f) == 9 { // application profiles: "… DAPP SAPP DIRECTION"
			r.DApp, r.SApp, dir = appName(f[6]), appName(f[7]), f[8]
		}
		r.Direction, r.Iface, _ = strings.Cut(dir, "_")
		out = append(out, r)
	}
	return out, nil
}

func appName(s string) string {
	if s == "-" {
		return ""
	}
	return strings.ReplaceAll(s, "%20", " ")
}

// Key identifies a tuple regardless of its comment.
func (u UFWRule) Key() string {
	return strings.Join([]string{u.Action, u.Log, u.Proto, u.DPort, u.Dst, u.SPort, u.Src, u.Direction, u.Iface, u.DApp, u.SApp, strconv.FormatBool(u.V6)}, " ")
}

// String is a short human form for plans: "allow in tcp 22 (v6)".
func (u UFWRule) String() string {
	var b strings.Builder
	b.WriteString(u.Action)
	if u.Log != "" {
		b.WriteString(" " + u.Log)
	}
	b.WriteString(" " + u.Direction)
	if u.Iface != "" {
		b.WriteString(" on " + u.Iface)
	}
	if u.Proto != "any" {
		b.WriteString(" " + u.Proto)
	}
	if u.DApp != "" {
		b.WriteString(" app " + strconv.Quote(u.DApp))
	} else if u.DPort != "any" {
		b.WriteString(" port " + u.DPort)
	}
	if !isAny(u.Src) || u.SPort != "any" || u.SApp != "" {
		b.WriteString(" from " + u.Src)
		if u.SApp != "" {
			b.WriteString(" app " + strconv.Quote(u.SApp))
		} else if u.SPort != "any" {
			b.WriteString(" port " + u.SPort)
		}
	}
	if !isAny(u.Dst) {
		b.WriteString(" to " + u.Dst)
	}
	if u.V6 {
		b.WriteString(" (v6)")
	}
	if u.Comment != "" {
		b.WriteString(" # " + u.Comment)
	}
	return b.String()
}

func isAny(addr string) bool { return addr == "0.0.0.0/0" || addr == "::/0" || addr == "any" }

// ufwPort is the port of a rule as ufw writes it ("22", "8000:8100"),
// resolving a service name through the host's /etc/services as ufw does.
func ufwPort(r *Rule, services map[string]int) (string, error) {
	if r.Service == "" {
		if r.PortLo == r.PortHi {
			return strconv.Itoa(r.PortLo), nil
		}
		return fmt.Sprintf("%d:%d", r.PortLo, r.PortHi), nil
	}
	protos := []string{r.Protocol}
	if r.Protocol == "any" {
		protos = []string{"tcp", "udp"}
	}
	for _, p := range protos {
		if n, ok := services[r.Service+"/"+p]; ok {
			return strconv.Itoa(n), nil
		}
	}
	return "", fmt.Errorf("service %q is not in the host's /etc/services (ufw resolves service names there); use port", r.Service)
}

// wantTuples are the tuples ufw stores for r: one per address family it
// applies to.
func wantTuples(r *Rule, st *UFWState, services map[string]int) ([]UFWRule, error) {
	port, err := ufwPort(r, services)
	if err != nil {
		return nil, err
	}
	var out []UFWRule
	for _, v6 := range []bool{false, true} {
		fam := r.family()
		if (fam == "ipv4" && v6) || (fam == "ipv6" && !v6) || (fam == "" && v6 && !st.IPv6) {
			continue
		}
		anyAddr := "0.0.0.0/0"
		if v6 {
			anyAddr = "::/0"
		}
		src, dst := anyAddr, anyAddr
		if r.Source != "" {
			src = r.Source
		}
		if r.Destination != "" {
			dst = r.Destination
		}
		out = append(out, UFWRule{Action: r.Action, Proto: r.Protocol, DPort: port, Dst: dst, SPort: "any", Src: src,
			Direction: r.Direction, Comment: r.Tag(), V6: v6})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("IPv6 rule but IPV6=no in /etc/default/ufw")
	}
	return out, nil
}

// ufwAddCmd adds (or re-comments) r on every family it applies to; ufw
// skips the tuples that already exist.
func ufwAddCmd(r *Rule, port string) string {
	args := []string{"ufw", r.Action, r.Direction}
	if r.Protocol != "any" {
		args = append(args, "proto", r.Protocol)
	}
	args = append(args, "from", orAny(r.Source), "to", orAny(r.Destination), "port", port, "comment", r.Tag())
	return shell.Join(args...)
}

func orAny(a string) string {
	if a == "" {
		return "any"
	}
	return a
}

// ufwDeleteCmd deletes exactly one tuple: its addresses are written out
// (0.0.0.0/0 or ::/0, never "any"), so only that family's entry goes. ufw
// exits 0 even when nothing matched, so apply verifies by reading back.
func ufwDeleteCmd(u UFWRule) string {
	args := []string{"ufw", "delete", u.Action}
	if u.Log != "" {
		args = append(args, u.Log)
	}
	args = append(args, u.Direction)
	if u.Iface != "" {
		args = append(args, "on", u.Iface)
	}
	if u.Proto != "any" && u.DApp == "" && u.SApp == "" {
		args = append(args, "proto", u.Proto)
	}
	args = append(args, "from", u.Src)
	if u.SApp != "" {
		args = append(args, "app", u.SApp)
	} else if u.SPort != "any" {
		args = append(args, "port", u.SPort)
	}
	args = append(args, "to", u.Dst)
	if u.DApp != "" {
		args = append(args, "app", u.DApp)
	} else if u.DPort != "any" {
		args = append(args, "port", u.DPort)
	}
	return shell.Join(args...)
}

func ufwPolicyCmd(policy, dir string) string {
	return shell.Join("ufw", "default", policy, dir)
}

// portIn reports whether a ufw port field ("22", "8000:8100", "22,80",
// "any") covers port.
func portIn(field string, port int) bool {
	if field == "any" {
		return true
	}
	for _, p := range strings.Split(field, ",") {
		a, b, isRange := strings.Cut(p, ":")
		lo, err1 := strconv.Atoi(a)
		hi := lo
		var err2 error
		if isRange {
			hi, err2 = strconv.Atoi(b)
		}
		if err1 == nil && err2 == nil && port >= lo && port <= hi {
			return true
		}
	}
	return false
}
