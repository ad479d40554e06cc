package profilescript

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/goprov/goprov/transport"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/goprov/goprov/internal/shell"
	"github.com/goprov/goprov/resources"
)

// Verify is the optional check that listed users really get what the
// script sets: their login shells are started as them, startup files and
// all, and what they end up with is compared with the script.
type Verify struct {
	Users    []string
	Shells   []string
	Commands map[string]string // command name -> where `command -v` must find it
}

// verifyShellTimeout bounds each login shell (seconds): a startup file that
// waits for input or loops must not hang the plan.
const verifyShellTimeout = 20

var (
	userRe    = regexp.MustCompile(`^[a-z_][a-z0-9_.-]{0,31}$`)
	commandRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.+-]*$`)
	// plainValue is a value shown in evidence as it is; anything else (a
	// token in GOPROXY, say) is never echoed.
	plainValue = regexp.MustCompile(`^[A-Za-z0-9_./:+=,-]{0,200}$`)
	secretName = regexp.MustCompile(`(?i)TOKEN|SECRET|PASS|KEY|AUTH|CRED|NETRC|COOKIE`)
	shellNames = map[string]bool{"bash": true, "zsh": true, "sh": true}
)

func verifySpec() hcldec.Spec {
	return &hcldec.BlockSpec{TypeName: "verify", Nested: &hcldec.ObjectSpec{
		"users": &hcldec.AttrSpec{Name: "users", Type: cty.List(cty.String), Required: true},
		"shells": &hcldec.DefaultSpec{
			Primary: &hcldec.AttrSpec{Name: "shells", Type: cty.List(cty.String)},
			Default: &hcldec.LiteralSpec{Value: cty.ListVal([]cty.Value{cty.StringVal("bash")})},
		},
		"commands": &hcldec.DefaultSpec{
			Primary: &hcldec.AttrSpec{Name: "commands", Type: cty.Map(cty.String)},
			Default: &hcldec.LiteralSpec{Value: cty.MapValEmpty(cty.String)},
		},
	}}
}

// newVerify decodes and validates the verify block (nil when absent).
func newVerify(v cty.Value, body hcl.Body, present bool) (*Verify, hcl.Diagnostics) {
	if v.IsNull() {
		return nil, nil
	}
	var vbody hcl.Body
	if bodies := resources.BlockBodies(body, "verify"); len(bodies) > 0 {
		vbody = bodies[0]
	}
	var diags hcl.Diagnostics
	bad := func(attr, summary, detail string) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: resources.AttrRange(vbody, attr)})
	}
	vf := &Verify{Commands: map[string]string{}}
	seen := map[string]bool{}
	for _, u := range v.GetAttr("users").AsValueSlice() {
		name := u.AsString()
		if !userRe.MatchString(name) {
			bad("users", "Invalid user name", fmt.Sprintf("%q is not a user name (lower-case letters, digits, '_', '-', '.'; starting with a letter or '_').", name))
		} else if seen[name] {
			bad("users", "Duplicate user", fmt.Sprintf("%q is listed twice.", name))
		}
		seen[name] = true
		vf.Users = append(vf.Users, name)
	}
	seen = map[string]bool{}
	for _, sv := range v.GetAttr("shells").AsValueSlice() {
		sh := sv.AsString()
		if !shellNames[sh] || seen[sh] {
			bad("shells", "Invalid shell", fmt.Sprintf("%q: shells are \"bash\", \"zsh\" or \"sh\", each once.", sh))
		}
		seen[sh] = true
		vf.Shells = append(vf.Shells, sh)
	}
	if len(vf.Shells) == 0 {
		bad("shells", "No shells to verify", `List the login shells to start: "bash", "zsh", "sh".`)
	}
	for name, pv := range v.GetAttr("commands").AsValueMap() {
		p := pv.AsString()
		switch {
		case !commandRe.MatchString(name):
			bad("commands", "Invalid command name", fmt.Sprintf("%q is not a command name.", name))
		case !strings.HasPrefix(p, "/") || path.Clean(p) != p || strings.ContainsAny(p, "\n\r\x00"):
			bad("commands", "Invalid command path", fmt.Sprintf("%s = %q: write the absolute, clean path where `command -v %s` must find it.", name, p, name))
		}
		vf.Commands[name] = p
	}
	if !present && len(vf.Users) > 0 {
		bad("users", "verify with ensure = \"absent\"", "There is nothing to verify once the script is removed: drop the verify block.")
	}
	if len(vf.Users) == 0 {
		return nil, diags // checks nobody: lets a module make the check optional
	}
	return vf, diags
}

// verifyActive says whether the check runs on h: never on image roots,
// whose users' shells would run this machine's programs, not the image's.
func (s *Script) verifyActive(h *resources.Host) bool {
	return s.Verify != nil && s.Present && (h.Root == "" || h.Root == "/")
}

// envKeys are the declared variables, sorted.
func (s *Script) envKeys() []string {
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (v *Verify) commandNames() []string {
	names := make([]string, 0, len(v.Commands))
	for k := range v.Commands {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// userFiles are the startup files of a user, by shell, that are searched
// for a line setting a variable; "~" is the user's home.
var userFiles = map[string][]string{
	"bash": {"~/.bash_profile", "~/.bash_login", "~/.profile", "~/.bashrc", "~/.bash_aliases"},
	"zsh":  {"~/.zshenv", "~/.zprofile", "~/.zshrc", "~/.zlogin"},
	"sh":   {"~/.profile"},
}

// systemFiles are searched too: another /etc/profile.d script or a system
// rc file can override the script as well.
var systemFiles = map[string][]string{
	"bash": {"/etc/environment", "/etc/profile", "/etc/bash.bashrc"},
	"zsh":  {"/etc/environment", "/etc/zsh/zshenv", "/etc/zsh/zprofile", "/etc/zsh/zshrc", "/etc/zsh/zlogin"},
	"sh":   {"/etc/environment", "/etc/profile"},
}

// setterPattern is an ERE matching a line that assigns name (also zsh's
// path array for PATH).
func setterPattern(name string) string {
	p := `(^|[^A-Za-z0-9_])` + name + `\+?=`
	if name == "PATH" {
		p += `|(^|[^A-Za-z0-9_])path\+?=`
	}
	return p
}

// keepOf is the filter for a variable's grep hits: file:line only, except
// for PATH, whose lines are kept (cut short) to find the entry that
// shadows a command. Other variables' lines may hold secrets.
func keepOf(v string) string {
	if v == "PATH" {
		return "cut -c1-512"
	}
	return "cut -d: -f1,2"
}

// innerScript runs inside the user's login shell, after all its startup
// files: it prints, NUL-separated between marker lines, PATH, each
// declared variable, where each command resolves, and the user's go env
// file. Valid in bash, zsh and sh alike.
func (s *Script) innerScript() string {
	var b strings.Builder
	b.WriteString(`printf '\n@@goprov-begin\n'; printf 'path\0%s\0' "$PATH"` + "\n")
	for _, k := range s.envKeys() {
		fmt.Fprintf(&b, "printf 'env\\0%s\\0%%s\\0%%s\\0' \"${%s+set}\" \"${%s-}\"\n", k, k, k)
	}
	for _, c := range s.Verify.commandNames() {
		fmt.Fprintf(&b, "printf 'cmd\\0%s\\0%%s\\0' \"$(command -v %s 2>/dev/null)\"\n", c, c)
	}
	// Where go reads `go env -w` settings: $GOENV, else os.UserConfigDir.
	b.WriteString(`__goprov_f=${GOENV:-${XDG_CONFIG_HOME:-$HOME/.config}/go/env}
printf 'goenvfile\0%s\0' "$__goprov_f"
if [ "$__goprov_f" != off ] && [ -f "$__goprov_f" ] && [ -r "$__goprov_f" ]; then
printf 'goenv\0'; while IFS= read -r __goprov_l || [ -n "$__goprov_l" ]; do printf '%s\n' "$__goprov_l"; done < "$__goprov_f"; printf '\0'
fi
printf '\n@@goprov-end\n'
`)
	return b.String()
}

// verifyProbe is the read-only check, run as root: per user, the home, the
// startup-file lines that set a checked variable (file:line only, never
// the line), and each login shell's result, started as the user with a
// minimal environment, no terminal and a time limit.
func (s *Script) verifyProbe() string {
	vars := append([]string{"PATH"}, s.envKeys()...)
	inner := shell.Quote(s.innerScript())
	var b strings.Builder
	b.WriteString("b64() { base64 | tr -d '\\n'; }\n")
	// runuser and timeout are util-linux and coreutils: say so when absent
	// rather than report every shell as giving no result.
	b.WriteString("for c in runuser timeout getent base64; do command -v $c >/dev/null 2>&1 || printf '@notool %s\\n' $c; done\n")
	files := map[string]bool{}
	for _, sh := range s.Verify.Shells {
		for _, f := range systemFiles[sh] {
			files[f] = true
		}
	}
	var sys []string
	for f := range files {
		sys = append(sys, f)
	}
	sort.Strings(sys)
	for _, v := range vars {
		fmt.Fprintf(&b, "printf '@grep - %s %%s\\n' \"$(timeout 10 grep -D skip -HnE -- %s %s /etc/profile.d/*.sh 2>/dev/null | %s | b64)\"\n",
			v, shell.Quote(setterPattern(v)), strings.Join(sys, " "), keepOf(v))
	}
	for _, u := range s.Verify.Users {
		q := shell.Quote(u)
		fmt.Fprintf(&b, "if pw=$(getent passwd %s); then\nhome=$(printf '%%s\\n' \"$pw\" | cut -d: -f6)\nprintf '@user %s %%s\\n' \"$home\"\n", q, u)
		var ufiles []string
		for _, f := range []string{"~/.bash_profile", "~/.bash_login", "~/.profile", "~/.bashrc", "~/.bash_aliases", "~/.zshenv", "~/.zprofile", "~/.zshrc", "~/.zlogin"} {
			ufiles = append(ufiles, `"$home"/`+strings.TrimPrefix(f, "~/"))
		}
		for _, v := range vars {
			fmt.Fprintf(&b, "printf '@grep %s %s %%s\\n' \"$(timeout 10 grep -D skip -HnE -- %s %s 2>/dev/null | %s | b64)\"\n",
				u, v, shell.Quote(setterPattern(v)), strings.Join(ufiles, " "), keepOf(v))
		}
		for _, sh := range s.Verify.Shells {
			fmt.Fprintf(&b, `if sp=$(command -v %s); then
out=$(cd -- "$home" 2>/dev/null || cd /; timeout -s KILL %d runuser -u %s -- env -i HOME="$home" USER=%s LOGNAME=%s SHELL="$sp" PATH=/usr/local/bin:/usr/bin:/bin:/usr/games TERM=dumb "$sp" -l -i -c %s </dev/null 2>/dev/null | head -c 262144 | b64)
printf '@shell %s %s %%s\n' "$out"
else printf '@noshell %s %s\n'; fi
`, sh, verifyShellTimeout, q, q, q, inner, u, sh, u, sh)
		}
		fmt.Fprintf(&b, "else printf '@nouser %s\\n'; fi\n", u)
	}
	return b.String()
}

// shellResult is what one login shell of one user ended up with.
type shellResult struct {
	complete  bool
	path      string
	env       map[string]*string // nil: unset
	cmds      map[string]string
	goenvFile string
	goenv     map[string]string
	hasGoenv  bool
}

// verifyState is the parsed verifyProbe output.
type verifyState struct {
	home   map[string]string
	greps  map[string]map[string][]string // user ("-" for system files) -> var -> file:line
	shells map[string]map[string]*shellResult
}

func parseVerify(out []byte) (*verifyState, error) {
	st := &verifyState{home: map[string]string{}, greps: map[string]map[string][]string{}, shells: map[string]map[string]*shellResult{}}
	var errs []string
	noShell, nNoShell := map[string]bool{}, 0
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		f := strings.SplitN(line, " ", 4)
		switch {
		case len(f) >= 3 && f[0] == "@user":
			st.home[f[1]] = strings.SplitN(line, " ", 3)[2]
		case len(f) == 2 && f[0] == "@notool":
			errs = append(errs, fmt.Sprintf("%s is not installed, which the check needs to start users' login shells", f[1]))
		case len(f) == 2 && f[0] == "@nouser":
			errs = append(errs, fmt.Sprintf("user %q does not exist on this host", f[1]))
		case len(f) == 3 && f[0] == "@noshell":
			noShell[f[2]], nNoShell = true, nNoShell+1
			errs = append(errs, fmt.Sprintf("%s is not installed, so user %q's %s login shell cannot be checked", f[2], f[1], f[2]))
		case len(f) >= 3 && f[0] == "@grep":
			raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(strings.Join(f[3:], "")))
			if err != nil {
				return nil, fmt.Errorf("verify: %w", err)
			}
			if st.greps[f[1]] == nil {
				st.greps[f[1]] = map[string][]string{}
			}
			for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
				if l != "" {
					st.greps[f[1]][f[2]] = append(st.greps[f[1]][f[2]], l)
				}
			}
		case len(f) >= 3 && f[0] == "@shell":
			raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(strings.Join(f[3:], "")))
			if err != nil {
				return nil, fmt.Errorf("verify: %w", err)
			}
			if st.shells[f[1]] == nil {
				st.shells[f[1]] = map[string]*shellResult{}
			}
			st.shells[f[1]][f[2]] = parseShell(raw)
		case line == "":
		default:
			return nil, fmt.Errorf("verify: unexpected line %q", line)
		}
	}
	if len(errs) > 0 {
		msg := "verify: " + strings.Join(errs, "; ")
		if pkg, ok := shellPackages[onlyKey(noShell)]; ok && len(noShell) == 1 && len(errs) == nNoShell {
			// Only one shell is missing: a package resource installing
			// it makes the check known after apply.
			return st, &resources.ToolMissingError{Tool: onlyKey(noShell), Packages: []string{pkg}, Then: "users' login shells will be checked", Msg: msg}
		}
		return st, errors.New(msg)
	}
	return st, nil
}

// shellPackages are the Debian packages of the shells verify starts.
var shellPackages = map[string]string{"zsh": "zsh", "bash": "bash", "sh": "dash"}

func onlyKey(m map[string]bool) string {
	for k := range m {
		return k
	}
	return ""
}

// parseShell reads one shell's output: the last complete block between the
// markers (a startup file may print anything before it).
func parseShell(raw []byte) *shellResult {
	r := &shellResult{env: map[string]*string{}, cmds: map[string]string{}, goenv: map[string]string{}}
	end := bytes.LastIndex(raw, []byte("\n@@goprov-end\n"))
	if end < 0 {
		return r
	}
	begin := bytes.LastIndex(raw[:end], []byte("\n@@goprov-begin\n"))
	if begin < 0 {
		return r
	}
	fields := strings.Split(string(raw[begin+len("\n@@goprov-begin\n"):end]), "\x00")
	for i := 0; i < len(fields); {
		switch fields[i] {
		case "path":
			if i+1 >= len(fields) {
				return r
			}
			r.path = fields[i+1]
			i += 2
		case "env":
			if i+3 >= len(fields) {
				return r
			}
			if fields[i+2] == "set" {
				v := fields[i+3]
				r.env[fields[i+1]] = &v
			} else {
				r.env[fields[i+1]] = nil
			}
			i += 4
		case "cmd":
			if i+2 >= len(fields) {
				return r
			}
			r.cmds[fields[i+1]] = fields[i+2]
			i += 3
		case "goenvfile":
			if i+1 >= len(fields) {
				return r
			}
			r.goenvFile = fields[i+1]
			i += 2
		case "goenv":
			if i+1 >= len(fields) {
				return r
			}
			r.hasGoenv = true
			for _, l := range strings.Split(fields[i+1], "\n") {
				if k, v, ok := strings.Cut(l, "="); ok {
					r.goenv[strings.TrimSpace(k)] = v
				}
			}
			i += 2
		case "":
			i++
		default:
			return r
		}
	}
	r.complete = true
	return r
}

// expandFor resolves $NAME/${NAME} in a value for one user, as the script
// does at login; ok is false when it names a variable other than HOME,
// USER or LOGNAME, whose value goprov cannot know in advance.
func expandFor(v, user, home string) (string, bool) {
	known := map[string]string{"HOME": home, "USER": user, "LOGNAME": user}
	var b strings.Builder
	ok := eachPart(v, func(c byte) { b.WriteByte(c) }, func(name string) bool {
		val, ok := known[name]
		b.WriteString(val)
		return ok
	})
	if !ok {
		return "", false
	}
	return b.String(), true
}

// show is a user's value of key as evidence: plain values as they are;
// never one that may hold a secret (a URL with user:password@, a variable
// named like a token).
func show(key, v string) string {
	if plainValue.MatchString(v) && !secretName.MatchString(key) {
		return v
	}
	return "(a value not shown)"
}

// verifyFindings compares what each user's shells got with what the
// script sets. With pending set (the script is not in place yet) only what
// does not depend on the script is reported: the users' go env files.
func (s *Script) verifyFindings(st *verifyState, pending bool) []string {
	var out []string
	for _, u := range s.Verify.Users {
		home := st.home[u]
		tilde := func(f string) string {
			if home != "" && home != "/" && strings.HasPrefix(f, home+"/") {
				return "~/" + strings.TrimPrefix(f, home+"/")
			}
			return f
		}
		ev := evidence{st: st, user: u, tilde: tilde, script: s.Path()}
		where := ev.where
		goenvSeen := map[string]bool{}
		for _, sh := range s.Verify.Shells {
			r := st.shells[u][sh]
			if r == nil || !r.complete {
				if !pending {
					out = append(out, fmt.Sprintf("verify: %s %s: the login shell gave no result within %ds (a startup file that waits, loops, exits or execs another program): nothing was checked", u, sh, verifyShellTimeout))
				}
				continue
			}
			out = append(out, s.goenvFindings(u, home, r, tilde, goenvSeen)...)
			if pending {
				continue
			}
			out = append(out, s.envFindings(u, sh, home, r, where)...)
			out = append(out, s.pathFindings(u, sh, home, r, where)...)
		}
	}
	return out
}

// evidence finds the startup-file lines that set a variable for a user.
type evidence struct {
	st     *verifyState
	user   string
	tilde  func(string) string
	script string
}

// where names the lines of sh's startup files that set v, as
// " (v is set in ~/.zshrc:3)"; for PATH, lines naming needle (the entry
// that shadows a command) when there are any.
func (e evidence) where(sh, v, needle string) string {
	var hits, named []string
	add := func(h string) {
		parts := strings.SplitN(h, ":", 3)
		at := strings.Join(parts[:min(2, len(parts))], ":")
		hits = append(hits, at)
		if needle != "" && len(parts) == 3 && strings.Contains(parts[2], needle) {
			named = append(named, at)
		}
	}
	for _, h := range e.st.greps[e.user][v] {
		file, _, _ := strings.Cut(e.tilde(h), ":")
		if contains(userFiles[sh], file) {
			add(e.tilde(h))
		}
	}
	for _, h := range e.st.greps["-"][v] {
		file, _, _ := strings.Cut(h, ":")
		// Another /etc/profile.d script is read before or after this one.
		if file != e.script && (contains(systemFiles[sh], file) || strings.HasPrefix(file, "/etc/profile.d/")) {
			add(h)
		}
	}
	if len(named) > 0 {
		hits = named
	}
	if len(hits) == 0 {
		return ""
	}
	if len(hits) > 4 {
		hits = append(hits[:4], "…")
	}
	return " (" + v + " is set in " + strings.Join(hits, ", ") + ")"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// goenvFindings reports declared variables that the user's `go env -w`
// file sets otherwise: go takes them from there wherever the variable is
// not exported, and the file beats $GOROOT/go.env.
func (s *Script) goenvFindings(u, home string, r *shellResult, tilde func(string) string, seen map[string]bool) []string {
	var out []string
	for _, k := range s.envKeys() {
		got, ok := r.goenv[k]
		if !ok || seen[k] {
			continue
		}
		seen[k] = true
		want, known := expandFor(s.Env[k], u, home)
		if known && got == want {
			continue
		}
		out = append(out, fmt.Sprintf("verify: %s: %s (go env -w) sets %s=%s, profile_script sets %s: go uses the file wherever %s is not exported (non-login shells, cron, IDEs) and over $GOROOT/go.env; `go env -u %s` as %s removes it",
			u, tilde(r.goenvFile), k, show(k, got), s.Env[k], k, k, u))
	}
	return out
}

func (s *Script) envFindings(u, sh, home string, r *shellResult, where func(sh, v, needle string) string) []string {
	var out []string
	for _, k := range s.envKeys() {
		want, ok := expandFor(s.Env[k], u, home)
		if !ok {
			continue // refers to a variable only the login knows
		}
		got := r.env[k]
		switch {
		case got == nil:
			out = append(out, fmt.Sprintf("verify: %s %s: %s is not set, profile_script sets %s%s", u, sh, k, want, where(sh, k, "")))
		case *got != want:
			out = append(out, fmt.Sprintf("verify: %s %s: %s is %s, profile_script sets %s%s", u, sh, k, show(k, *got), want, where(sh, k, "")))
		}
	}
	return out
}

// pathFindings checks that path_prepend entries are on PATH in their order,
// path_append entries are there, and each command resolves where declared;
// for a command found elsewhere it names the PATH entry that shadows it.
func (s *Script) pathFindings(u, sh, home string, r *shellResult, where func(sh, v, needle string) string) []string {
	var out []string
	entries := strings.Split(r.path, ":")
	index := func(e string) int {
		for i, x := range entries {
			if x == e {
				return i
			}
		}
		return -1
	}
	last := -1
	for _, group := range [][]string{s.PathPrepend, s.PathAppend} {
		for _, e := range group {
			want, ok := expandFor(e, u, home)
			if !ok {
				continue
			}
			i := index(want)
			switch {
			case i < 0:
				out = append(out, fmt.Sprintf("verify: %s %s: PATH lacks %s%s", u, sh, want, where(sh, "PATH", "")))
			case i < last:
				out = append(out, fmt.Sprintf("verify: %s %s: PATH has %s out of the order profile_script sets%s", u, sh, want, where(sh, "PATH", "")))
			default:
				last = i
			}
		}
	}
	for _, c := range s.Verify.commandNames() {
		want, got := s.Verify.Commands[c], r.cmds[c]
		switch {
		case got == want:
		case got == "":
			out = append(out, fmt.Sprintf("verify: %s %s: %s is not found on PATH, want %s%s", u, sh, c, want, where(sh, "PATH", "")))
		case strings.HasPrefix(got, "/"):
			why, needle := "", ""
			if i, j := index(path.Dir(got)), index(path.Dir(want)); i >= 0 && (j < 0 || i < j) {
				why, needle = ": "+path.Dir(got)+" comes first on PATH", path.Dir(got)
			}
			out = append(out, fmt.Sprintf("verify: %s %s: %s resolves to %s, not %s%s%s", u, sh, c, show("PATH", got), want, why, where(sh, "PATH", needle)))
		default: // an alias or a function
			out = append(out, fmt.Sprintf("verify: %s %s: %s is an alias or function (%s), not %s", u, sh, c, show("PATH", got), want))
		}
	}
	return out
}

// diffVerify adds the check's findings to the file's change: with the
// script in place, drift is an update naming the files; while the script
// is still to be written, only the go env files are reported and the rest
// is checked after apply.
func (s *Script) diffVerify(h *resources.Host, ch resources.Change, out []byte) (resources.Change, error) {
	if s.Verify == nil || !s.Present {
		return ch, nil
	}
	if !s.verifyActive(h) {
		ch.Notes = append(ch.Notes, "verify skipped on image roots: users' login shells are checked on running hosts only")
		return ch, nil
	}
	st, err := parseVerify(out)
	if err != nil {
		return ch, err
	}
	pending := ch.Action != resources.NoOp
	findings := s.verifyFindings(st, pending)
	if pending {
		findings = append(findings, fmt.Sprintf("verify: the login shells of %s (%s) are checked after apply", strings.Join(s.Verify.Users, ", "), strings.Join(s.Verify.Shells, ", ")))
	} else if len(findings) > 0 {
		ch.Action = resources.Update // goprov rewrites nothing: apply checks again
	}
	ch.Notes = append(ch.Notes, findings...)
	return ch, nil
}

// verifyAfterApply runs the check again once the files are written; a
// finding fails the apply with the evidence. The script stays: it is
// right, and the users' own files are not goprov's to change.
func (s *Script) verifyAfterApply(ctx context.Context, h *resources.Host) error {
	if !s.verifyActive(h) {
		return nil
	}
	res, err := h.Run(ctx, transport.Cmd{Script: s.verifyProbe(), Sudo: true})
	if err != nil {
		return fmt.Errorf("verify after apply: %w", err)
	}
	st, err := parseVerify(res.Stdout)
	if err != nil {
		return fmt.Errorf("verify after apply: %w", err)
	}
	if f := s.verifyFindings(st, false); len(f) > 0 {
		return fmt.Errorf("%s is written, but not every user gets it (their own files are left as they are):\n%s", s.Path(), strings.Join(f, "\n"))
	}
	return nil
}
