package audit

import (
	"fmt"
	"strings"
)

// Rule is one audit rule as written: a watch (-w PATH -p PERMS -k KEY) or
// a syscall rule (-a/-A ACTION,LIST with -S, -F and -C in their order).
// The order matters: auditctl hands fields to the kernel in the order
// written, and `auditctl -l` lists them back in that order (see Listing).
type Rule struct {
	Watch  bool
	Path   string // watch: the path as written
	Perms  string // watch: -p as written ("" when absent)
	Action string // syscall rule: always or never
	List   string // syscall rule: exit, task, user, exclude, filesystem, io_uring
	Items  []Item // syscall rule: -S, -F and -C in order (keys excluded)
	Keys   []string
}

// Item is one -S, -F or -C of a syscall rule.
type Item struct {
	Opt   string // "-S", "-F" or "-C"
	Name  string // -S: the comma list; -F/-C: the field name
	Op    string // -F/-C: the operator
	Value string
}

var (
	actions = map[string]bool{"always": true, "never": true}
	lists   = map[string]bool{"exit": true, "task": true, "user": true, "exclude": true, "filesystem": true, "io_uring": true}
	// auditctl looks for two-character operators first, then one-character
	// ones, each anywhere in the pair (libaudit's audit_rule_fieldpair_data).
	fieldOps = []string{"!=", ">=", "<=", "&=", "=", ">", "<", "&"}
)

// ParseRule parses one rule line (-w … or -a/-A …). It checks the syntax
// only; what a host's auditctl and kernel make of it is Listing's job.
func ParseRule(line string) (Rule, error) {
	var r Rule
	words := strings.Fields(line)
	kind := ""
	hasPerms := false
	for i := 0; i < len(words); i++ {
		opt := words[i]
		switch opt {
		case "-w", "-a", "-A", "-p", "-k", "-S", "-F", "-C":
		default:
			return Rule{}, fmt.Errorf("unexpected %q (rules take -w, -p, -k, -a/-A, -S, -F, -C)", opt)
		}
		if i+1 >= len(words) {
			return Rule{}, fmt.Errorf("%s needs a value", opt)
		}
		i++
		v := words[i]
		switch opt {
		case "-w", "-a", "-A":
			if kind != "" {
				return Rule{}, fmt.Errorf("one rule is either a watch (-w) or a syscall rule (-a/-A), not both")
			}
			if opt == "-w" {
				kind, r.Watch, r.Path = "w", true, v
				continue
			}
			kind = "a"
			x, y, ok := strings.Cut(v, ",")
			if actions[y] && lists[x] {
				x, y = y, x
			}
			if !ok || !actions[x] || !lists[y] {
				return Rule{}, fmt.Errorf("%s %s: want action,list such as always,exit", opt, v)
			}
			r.Action, r.List = x, y
		case "-p":
			r.Perms, hasPerms = v, true
		case "-k":
			r.Keys = append(r.Keys, v)
		case "-S":
			for _, s := range strings.Split(v, ",") {
				if s == "" {
					return Rule{}, fmt.Errorf("-S %s: empty syscall name", v)
				}
			}
			r.Items = append(r.Items, Item{Opt: opt, Name: v})
		case "-F", "-C":
			name, op, val, ok := splitField(v)
			if !ok {
				return Rule{}, fmt.Errorf("%s %s: want name, operator (=, !=, <, >, <=, >=, &, &=) and value", opt, v)
			}
			if opt == "-F" && name == "key" {
				r.Keys = append(r.Keys, val)
				continue
			}
			r.Items = append(r.Items, Item{Opt: opt, Name: name, Op: op, Value: val})
		}
	}
	switch kind {
	case "":
		return Rule{}, fmt.Errorf("a rule starts with -w (watch) or -a/-A (syscall rule)")
	case "w":
		if len(r.Items) > 0 {
			return Rule{}, fmt.Errorf("a watch (-w) takes only -p and -k")
		}
		if !strings.HasPrefix(r.Path, "/") {
			return Rule{}, fmt.Errorf("-w %s: watch an absolute path", r.Path)
		}
		if hasPerms {
			if _, ok := normPerms(r.Perms); !ok {
				return Rule{}, fmt.Errorf("-p %s: permissions are some of r, w, x, a", r.Perms)
			}
		}
	case "a":
		if hasPerms {
			return Rule{}, fmt.Errorf("-p belongs to watches; in a syscall rule write -F perm=…")
		}
	}
	return r, nil
}

func splitField(s string) (name, op, val string, ok bool) {
	for _, o := range fieldOps {
		if i := strings.Index(s, o); i >= 0 {
			if i == 0 || i+len(o) == len(s) {
				return "", "", "", false
			}
			return s[:i], o, s[i+len(o):], true
		}
	}
	return "", "", "", false
}

// normPerms writes permissions in the order auditctl lists them (rwxa).
func normPerms(p string) (string, bool) {
	lp := strings.ToLower(p)
	if p == "" || len(p) > 4 || strings.Trim(lp, "rwxa") != "" {
		return "", false
	}
	var out strings.Builder
	for _, c := range "rwxa" {
		if strings.ContainsRune(lp, c) {
			out.WriteRune(c)
		}
	}
	return out.String(), true
}

// String is the rule in one normalised line, as written (used to name a
// rule and to find duplicates before any host is known).
func (r Rule) String() string {
	var b strings.Builder
	if r.Watch {
		b.WriteString("-w " + r.Path)
		if r.Perms != "" {
			b.WriteString(" -p " + r.Perms)
		}
	} else {
		b.WriteString("-a " + r.Action + "," + r.List)
		for _, it := range r.Items {
			if it.Opt == "-S" {
				b.WriteString(" -S " + it.Name)
				continue
			}
			b.WriteString(" " + it.Opt + " " + it.Name + it.Op + it.Value)
		}
	}
	for _, k := range r.Keys {
		b.WriteString(" -k " + k)
	}
	return b.String()
}

// Paths are the paths a rule depends on: a watch's path (its parent must
// exist), -F dir= (must exist) and -F path= (its parent must exist).
func (r Rule) Paths() (dirs, parents []string) {
	if r.Watch {
		return nil, []string{trimSlash(r.Path)}
	}
	for _, it := range r.Items {
		if it.Opt != "-F" || it.Op != "=" {
			continue
		}
		switch it.Name {
		case "dir":
			dirs = append(dirs, it.Value)
		case "path":
			parents = append(parents, it.Value)
		}
	}
	return dirs, parents
}

// trimSlash drops trailing slashes as auditctl does for -w (only for
// paths longer than two characters).
func trimSlash(p string) string {
	if len(p) > 2 {
		for len(p) > 1 && strings.HasSuffix(p, "/") {
			p = strings.TrimSuffix(p, "/")
		}
	}
	return p
}
