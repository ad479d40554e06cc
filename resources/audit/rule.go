package audit

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Rule is an audit rule in a canonical form, so that a rule as written in a
// rules file and as `auditctl -l` prints it back compare equal. auditctl
// rewrites rules when it lists them: `-k K` on a syscall rule becomes
// `-F key=K`, `exit,always` becomes `always,exit`, several -S merge into one
// comma list, `-w /dir/` loses its slash, `-p aw` becomes `-p wa`,
// `auid!=unset` becomes `auid!=-1`, `uid=root` becomes `uid=0`, and a
// syscall rule on a path with only a perm field is listed as a watch.
type Rule struct {
	Watch    bool
	Path     string // watch: the path, without a trailing '/'
	Perms    string // watch: permissions in rwxa order
	Action   string // syscall rule: always or never
	List     string // syscall rule: exit, task, user, exclude, filesystem, io_uring
	Syscalls []string
	Fields   []string // "-F name op value" / "-C ...", sorted: they are ANDed
	Keys     []string // in order
}

var (
	actions = map[string]bool{"always": true, "never": true}
	lists   = map[string]bool{"exit": true, "task": true, "user": true, "exclude": true, "filesystem": true, "io_uring": true, "entry": true}
	// Fields whose value may be a user or group name, which auditctl
	// resolves on the host: compared loosely (see match).
	idFields = map[string]bool{"uid": true, "euid": true, "suid": true, "fsuid": true, "auid": true, "loginuid": true, "obj_uid": true,
		"gid": true, "egid": true, "sgid": true, "fsgid": true, "obj_gid": true}
	archAlias = map[string]string{
		"x86_64": "b64", "amd64": "b64", "aarch64": "b64", "arm64": "b64", "ppc64": "b64", "ppc64le": "b64", "s390x": "b64", "riscv64": "b64", "loongarch64": "b64",
		"i386": "b32", "i486": "b32", "i586": "b32", "i686": "b32", "arm": "b32", "armeb": "b32", "armv7l": "b32", "ppc": "b32", "s390": "b32",
	}
	fieldOps = []string{"!=", ">=", "<=", "&=", "=", ">", "<", "&"}
)

// anyName stands for a user or group name the host resolves to an id.
const anyName = "\x00name"

// ParseRule parses one rule line (-w … or -a/-A …) into its canonical form.
func ParseRule(line string) (Rule, error) {
	var r Rule
	words := strings.Fields(line)
	perms, hasPerms := "", false
	next := func(i int, opt string) (string, error) {
		if i+1 >= len(words) {
			return "", fmt.Errorf("%s needs a value", opt)
		}
		return words[i+1], nil
	}
	kind := ""
	for i := 0; i < len(words); i++ {
		opt := words[i]
		switch opt {
		case "-w", "-a", "-A", "-p", "-k", "-S", "-F", "-C":
		default:
			return Rule{}, fmt.Errorf("unexpected %q (rules take -w, -p, -k, -a/-A, -S, -F, -C)", opt)
		}
		v, err := next(i, opt)
		if err != nil {
			return Rule{}, err
		}
		i++
		switch opt {
		case "-w":
			if kind != "" {
				return Rule{}, fmt.Errorf("one rule is either a watch (-w) or a syscall rule (-a/-A), not both")
			}
			kind, r.Watch, r.Path = "w", true, cleanPath(v)
		case "-a", "-A":
			if kind != "" {
				return Rule{}, fmt.Errorf("one rule is either a watch (-w) or a syscall rule (-a/-A), not both")
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
			perms, hasPerms = v, true
		case "-k":
			r.Keys = append(r.Keys, v)
		case "-S":
			for _, s := range strings.Split(v, ",") {
				if s == "" {
					return Rule{}, fmt.Errorf("-S %s: empty syscall name", v)
				}
				r.Syscalls = append(r.Syscalls, s)
			}
		case "-F", "-C":
			name, op, val, ok := splitField(v)
			if !ok {
				return Rule{}, fmt.Errorf("%s %s: want name, operator (=, !=, <, >, <=, >=, &, &=) and value", opt, v)
			}
			if opt == "-F" && name == "key" {
				r.Keys = append(r.Keys, val)
				continue
			}
			if opt == "-F" {
				val = normField(name, val)
			}
			r.Fields = append(r.Fields, opt+" "+name+op+val)
		}
	}
	switch kind {
	case "":
		return Rule{}, fmt.Errorf("a rule starts with -w (watch) or -a/-A (syscall rule)")
	case "w":
		if len(r.Syscalls) > 0 || len(r.Fields) > 0 {
			return Rule{}, fmt.Errorf("a watch (-w) takes only -p and -k")
		}
		if !strings.HasPrefix(r.Path, "/") {
			return Rule{}, fmt.Errorf("-w %s: watch an absolute path", r.Path)
		}
		r.Perms = "rwxa"
		if hasPerms {
			if r.Perms, _ = normPerms(perms); r.Perms == "" {
				return Rule{}, fmt.Errorf("-p %s: permissions are some of r, w, x, a", perms)
			}
		}
	case "a":
		if hasPerms {
			return Rule{}, fmt.Errorf("-p belongs to watches; in a syscall rule write -F perm=…")
		}
	}
	sort.Strings(r.Syscalls)
	if r.List == "exit" && len(r.Syscalls) == 0 {
		r.Syscalls = []string{"all"}
	}
	sort.Strings(r.Fields)
	r.asWatch()
	return r, nil
}

// asWatch turns `-a always,exit -F path|dir=P -F perm=X` into the watch
// auditctl lists it as.
func (r *Rule) asWatch() {
	if r.Watch || r.Action != "always" || r.List != "exit" || len(r.Fields) != 2 ||
		len(r.Syscalls) != 1 || r.Syscalls[0] != "all" {
		return
	}
	var p, perm string
	for _, f := range r.Fields {
		switch {
		case strings.HasPrefix(f, "-F dir="), strings.HasPrefix(f, "-F path="):
			_, p, _ = strings.Cut(f, "=")
		case strings.HasPrefix(f, "-F perm="):
			perm = strings.TrimPrefix(f, "-F perm=")
		}
	}
	if p == "" || perm == "" {
		return
	}
	*r = Rule{Watch: true, Path: cleanPath(p), Perms: perm, Keys: r.Keys}
}

func splitField(s string) (name, op, val string, ok bool) {
	best := -1
	for _, o := range fieldOps {
		if i := strings.Index(s, o); i > 0 && (best < 0 || i < best || i == best && len(o) > len(op)) {
			best, op = i, o
		}
	}
	if best <= 0 {
		return "", "", "", false
	}
	return s[:best], op, s[best+len(op):], true
}

func normField(name, val string) string {
	switch {
	case name == "arch":
		if a, ok := archAlias[val]; ok {
			return a
		}
	case name == "perm":
		if p, ok := normPerms(val); ok {
			return p
		}
	case name == "dir" || name == "path":
		return cleanPath(val)
	case idFields[name]:
		if val == "unset" || val == "4294967295" {
			return "-1"
		}
		if _, err := strconv.Atoi(val); err != nil {
			return anyName
		}
	}
	return val
}

func normPerms(p string) (string, bool) {
	var out strings.Builder
	for _, c := range "rwxa" {
		if strings.ContainsRune(p, c) {
			out.WriteRune(c)
		}
	}
	if p == "" || strings.Trim(p, "rwxa") != "" {
		return "", false
	}
	return out.String(), true
}

func cleanPath(p string) string {
	for len(p) > 1 && strings.HasSuffix(p, "/") {
		p = strings.TrimSuffix(p, "/")
	}
	return p
}

// String renders the canonical form (as auditctl -l would, roughly).
func (r Rule) String() string {
	if r.Watch {
		s := "-w " + r.Path + " -p " + r.Perms
		for _, k := range r.Keys {
			s += " -k " + k
		}
		return s
	}
	s := "-a " + r.Action + "," + r.List
	if len(r.Syscalls) > 0 {
		s += " -S " + strings.Join(r.Syscalls, ",")
	}
	for _, f := range r.Fields {
		s += " " + strings.ReplaceAll(f, anyName, "NAME")
	}
	for _, k := range r.Keys {
		s += " -F key=" + k
	}
	return s
}

// match reports whether want (from the config) is the loaded rule got.
// A user or group name in want matches any id: the host resolved it.
func match(want, got Rule) bool {
	if want.Watch != got.Watch || want.Path != got.Path || want.Perms != got.Perms ||
		want.Action != got.Action || want.List != got.List ||
		strings.Join(want.Syscalls, ",") != strings.Join(got.Syscalls, ",") ||
		strings.Join(want.Keys, "\x00") != strings.Join(got.Keys, "\x00") || len(want.Fields) != len(got.Fields) {
		return false
	}
	if strings.Join(want.Fields, "\x00") == strings.Join(got.Fields, "\x00") {
		return true
	}
	// Names: match field by field, in the order of got (sorted ids may sort
	// differently than names, so try every pairing greedily).
	used := make([]bool, len(got.Fields))
	for _, wf := range want.Fields {
		found := false
		for j, gf := range got.Fields {
			if used[j] {
				continue
			}
			if wf == gf || fieldMatch(wf, gf) {
				used[j], found = true, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func fieldMatch(want, got string) bool {
	prefix, ok := strings.CutSuffix(want, anyName)
	if !ok || !strings.HasPrefix(got, prefix) {
		return false
	}
	_, err := strconv.Atoi(strings.TrimPrefix(got, prefix))
	return err == nil
}

// ParseLoaded reads `auditctl -l` output; lines it cannot parse are kept
// out (they match nothing).
func ParseLoaded(out string) []Rule {
	var rules []Rule
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line == "No rules" {
			continue
		}
		if r, err := ParseRule(line); err == nil {
			rules = append(rules, r)
		}
	}
	return rules
}

// Missing returns the rules of want that are not loaded.
func Missing(want, loaded []Rule) []Rule {
	var out []Rule
	for _, w := range want {
		found := false
		for _, g := range loaded {
			if match(w, g) {
				found = true
				break
			}
		}
		if !found {
			out = append(out, w)
		}
	}
	return out
}
