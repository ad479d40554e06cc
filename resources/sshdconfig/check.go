package sshdconfig

import (
	"fmt"
	"net"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Login is goprov's own login as the host's sshd sees it.
type Login struct {
	User   string
	Groups []string // primary and supplementary, by name
	Method string   // how sshd authenticated it: "publickey"
	Addr   string   // client address ("" unknown)
	LAddr  string   // server address it connected to ("" unknown)
	Port   int      // server port it connected to (0 unknown)
}

// Lockout lists why sshd, with the effective values eff (`sshd -T`),
// would refuse a new login like l; none means it would let it in as far
// as the configuration can tell.
func Lockout(eff map[string][]string, l Login) []string {
	var why []string
	add := func(f string, a ...any) { why = append(why, fmt.Sprintf(f, a...)) }
	words := func(k string) []string { return strings.Fields(strings.Join(eff[k], " ")) }
	one := func(k string) string { return strings.ToLower(strings.Join(words(k), " ")) }

	if p := firstMatch(words("denyusers"), func(p string) bool { return userMatch(p, l) }); p != "" {
		add("DenyUsers %q matches the login user %s", p, l.User)
	}
	if a := words("allowusers"); len(a) > 0 && firstMatch(a, func(p string) bool { return userMatch(p, l) }) == "" {
		add("AllowUsers (%s) does not let the login user %s in", strings.Join(a, " "), l.User)
	}
	if p := firstMatch(words("denygroups"), func(p string) bool { return groupMatch(p, l.Groups) }); p != "" {
		add("DenyGroups %q matches a group of %s (%s)", p, l.User, strings.Join(l.Groups, " "))
	}
	if a := words("allowgroups"); len(a) > 0 && firstMatch(a, func(p string) bool { return groupMatch(p, l.Groups) }) == "" {
		add("AllowGroups (%s) includes none of %s's groups (%s)", strings.Join(a, " "), l.User, strings.Join(l.Groups, " "))
	}
	switch l.Method {
	case "publickey":
		if one("pubkeyauthentication") == "no" {
			add("PubkeyAuthentication no disables publickey, the method goprov logs in with")
		}
	case "password":
		if one("passwordauthentication") == "no" {
			add("PasswordAuthentication no disables password, the method goprov logs in with")
		}
	}
	if am := words("authenticationmethods"); len(am) > 0 && !(len(am) == 1 && strings.EqualFold(am[0], "any")) {
		ok := false
		for _, alt := range am {
			if alt == l.Method {
				ok = true
			}
		}
		if !ok {
			add("AuthenticationMethods %s has no alternative that is %s alone, the one method goprov logs in with", strings.Join(am, " "), l.Method)
		}
	}
	if l.User == "root" {
		switch prl := one("permitrootlogin"); {
		case prl == "no":
			add("PermitRootLogin no, and goprov logs in as root")
		case prl == "forced-commands-only":
			add("PermitRootLogin forced-commands-only, and goprov logs in as root to run its own commands")
		case l.Method == "password" && prl != "yes" && prl != "":
			add("PermitRootLogin %s refuses root's password, the method goprov logs in with", prl)
		}
	}
	if one("refuseconnection") == "yes" {
		add("RefuseConnection yes refuses every connection")
	}
	if l.Port != 0 && !listens(eff, l) {
		add("sshd would no longer listen on port %d (Port %s; ListenAddress %s), the port goprov is connected to: keep it, e.g. Port = \"%d NEW\"",
			l.Port, strings.Join(words("port"), " "), strings.Join(words("listenaddress"), " "), l.Port)
	}
	return why
}

func firstMatch(patterns []string, match func(string) bool) string {
	for _, p := range patterns {
		if match(p) {
			return p
		}
	}
	return ""
}

// userMatch is sshd's AllowUsers/DenyUsers test: USER or USER@HOST, with
// * and ? wildcards; HOST is matched against the client's address (a
// wildcard or a CIDR block). A host part it cannot decide counts as a
// match, the safe side for DenyUsers; for AllowUsers that means goprov
// may fail to foresee a lockout, which the new-login proof still catches.
func userMatch(p string, l Login) bool {
	u, host, hasHost := strings.Cut(p, "@")
	if !wildcard(u, l.User) {
		return false
	}
	if !hasHost || l.Addr == "" {
		return true
	}
	if _, n, err := net.ParseCIDR(host); err == nil {
		ip := net.ParseIP(l.Addr)
		return ip != nil && n.Contains(ip)
	}
	return wildcard(host, l.Addr)
}

func groupMatch(p string, groups []string) bool {
	for _, g := range groups {
		if wildcard(p, g) {
			return true
		}
	}
	return false
}

// wildcard is sshd's match_pattern: * and ? only, case-sensitive.
func wildcard(p, s string) bool {
	ok, err := path.Match(strings.NewReplacer(`[`, `\[`, `]`, `\]`, `\`, `\\`).Replace(p), s)
	return err == nil && ok
}

// listens tells whether sshd keeps listening where l came in: a
// ListenAddress (sshd -T prints one per address and port) on l's port,
// at l's server address or a wildcard address.
func listens(eff map[string][]string, l Login) bool {
	las := strings.Fields(strings.Join(eff["listenaddress"], " "))
	if len(las) == 0 {
		for _, p := range strings.Fields(strings.Join(eff["port"], " ")) {
			if n, _ := strconv.Atoi(p); n == l.Port {
				return true
			}
		}
		return false
	}
	for _, la := range las {
		host, port, err := net.SplitHostPort(la)
		if err != nil {
			continue
		}
		if n, _ := strconv.Atoi(port); n != l.Port {
			continue
		}
		if host == "0.0.0.0" || host == "::" || l.LAddr == "" || host == l.LAddr {
			return true
		}
		if a, b := net.ParseIP(host), net.ParseIP(l.LAddr); a != nil && b != nil && a.Equal(b) {
			return true
		}
	}
	return false
}

// aliases: keywords `sshd -T` prints under another name.
var aliases = map[string]string{
	"challengeresponseauthentication": "kbdinteractiveauthentication",
	"pubkeyacceptedkeytypes":          "pubkeyacceptedalgorithms",
	"hostbasedacceptedkeytypes":       "hostbasedacceptedalgorithms",
}

// Override is a setting of this file that sshd does not use, because
// something it reads earlier sets the keyword first.
type Override struct {
	Keyword string
	Want    string   // this file's value
	Got     string   // what sshd uses
	By      []string // files that set the keyword too (may be empty: a Match block, the command line…)
}

// Overrides compares, keyword by keyword, the effective values with this
// file in its place (want) and read first (first). setters are (file,
// lower-case keyword) pairs of the other files.
func Overrides(settings []Setting, want, first map[string][]string, setters [][2]string) []Override {
	var out []Override
	for _, s := range settings {
		k := strings.ToLower(s.Keyword)
		if a, ok := aliases[k]; ok {
			k = a
		}
		w, f := sorted(want[k]), sorted(first[k])
		if strings.Join(w, "\n") == strings.Join(f, "\n") {
			continue
		}
		o := Override{Keyword: s.Keyword, Want: s.Value, Got: strings.Join(want[k], " ")}
		for _, st := range setters {
			if st[1] == strings.ToLower(s.Keyword) && (len(o.By) == 0 || o.By[len(o.By)-1] != st[0]) {
				o.By = append(o.By, st[0])
			}
		}
		out = append(out, o)
	}
	return out
}

func sorted(v []string) []string {
	out := append([]string(nil), v...)
	sort.Strings(out)
	return out
}
