package planner

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/goprov/goprov/dsl"
	"github.com/goprov/goprov/resources"
)

// Lint reports settings that are valid but risky, the ones the hardening
// guides warn about, as warnings at the resource's source: they never fail
// validate or plan. It reads the evaluated values by kind and attribute
// name, so it needs no resource package (a kind it does not know, or an
// attribute a kind no longer has, is simply not linted).
func Lint(cfg *dsl.Config) hcl.Diagnostics {
	if cfg == nil {
		return nil
	}
	var diags hcl.Diagnostics
	for _, r := range cfg.Resources {
		switch r.Kind {
		case "sudoers_dropin":
			diags = append(diags, lintSudoers(r)...)
		case "go_toolchain":
			diags = append(diags, lintGoEnv(r, "go.env (env)")...)
		case "profile_script":
			diags = append(diags, lintGoEnv(r, "the login environment (env)")...)
		case "sysctl":
			diags = append(diags, lintSysctl(r)...)
		case "sshd_config":
			diags = append(diags, lintSSHD(r)...)
		}
	}
	return append(diags, lintEgress(cfg)...)
}

func warn(subject *hcl.Range, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: summary, Detail: detail, Subject: subject}
}

// attr returns v's attribute name when v is a known, non-null object that
// has it.
func attr(v cty.Value, name string) (cty.Value, bool) {
	if v == cty.NilVal || !v.IsKnown() || v.IsNull() || !v.Type().IsObjectType() || !v.Type().HasAttribute(name) {
		return cty.NilVal, false
	}
	a := v.GetAttr(name)
	if !a.IsKnown() || a.IsNull() {
		return cty.NilVal, false
	}
	return a, true
}

func attrString(v cty.Value, name string) string {
	a, ok := attr(v, name)
	if !ok || a.Type() != cty.String {
		return ""
	}
	return a.AsString()
}

func attrBool(v cty.Value, name string) (bool, bool) {
	a, ok := attr(v, name)
	if !ok || a.Type() != cty.Bool {
		return false, false
	}
	return a.True(), true
}

func attrStrings(v cty.Value, name string) []string {
	a, ok := attr(v, name)
	if !ok || !(a.Type().IsListType() || a.Type().IsTupleType() || a.Type().IsSetType()) {
		return nil
	}
	var out []string
	for it := a.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsKnown() && !e.IsNull() && e.Type() == cty.String {
			out = append(out, e.AsString())
		}
	}
	return out
}

func attrMap(v cty.Value, name string) map[string]string {
	a, ok := attr(v, name)
	if !ok || !(a.Type().IsMapType() || a.Type().IsObjectType()) {
		return nil
	}
	out := map[string]string{}
	for it := a.ElementIterator(); it.Next(); {
		k, e := it.Element()
		if e.IsKnown() && !e.IsNull() && e.Type() == cty.String {
			out[k.AsString()] = e.AsString()
		}
	}
	return out
}

// rangeOf is where attribute name is written in body (its value), else the
// block's header.
func rangeOf(body hcl.Body, name string, fallback hcl.Range) *hcl.Range {
	if body != nil {
		c, _, _ := body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: name}}})
		if c != nil {
			if a, ok := c.Attributes[name]; ok {
				return a.Expr.Range().Ptr()
			}
		}
	}
	return fallback.Ptr()
}

func present(v cty.Value) bool {
	e := attrString(v, "ensure")
	return e == "" || e == "present"
}

// sudo wildcards: sudo's fnmatch matches '*' across spaces, so
// "/usr/bin/systemctl restart *" also allows "restart x; other args".
const sudoWildcards = "*?["

func lintSudoers(r *dsl.Resource) hcl.Diagnostics {
	if !present(r.Value) {
		return nil
	}
	var diags hcl.Diagnostics
	var bodies []hcl.Body
	bodies = resources.BlockBodies(r.Body, "rule")
	if rules, ok := attr(r.Value, "rule"); ok && (rules.Type().IsListType() || rules.Type().IsTupleType()) {
		i := 0
		for it := rules.ElementIterator(); it.Next(); i++ {
			_, rule := it.Element()
			subject := r.DeclRange.Ptr()
			if i < len(bodies) {
				subject = rangeOf(bodies[i], "commands", r.DeclRange)
			}
			cmds := attrStrings(rule, "commands")
			nopasswd, _ := attrBool(rule, "nopasswd")
			for _, c := range cmds {
				if nopasswd && strings.TrimSpace(c) == "ALL" {
					diags = append(diags, warn(subject, "NOPASSWD: ALL",
						fmt.Sprintf("%s: a rule with nopasswd = true and the command ALL lets %s run anything as %s without a password: whoever takes over the account is root. List the absolute commands that are needed.",
							r.Address, strings.Join(attrStrings(rule, "users"), ", "), orDefault(attrString(rule, "runas"), "root"))))
					break
				}
			}
			if w := wildcardCommands(cmds); len(w) > 0 {
				diags = append(diags, warn(subject, "Wildcard in a sudo command",
					fmt.Sprintf("%s: %s. sudo's wildcards match spaces too, so a * in arguments also allows any extra arguments (and * in a path any program there). Spell out each allowed command line.",
						r.Address, quoteList(w))))
			}
		}
	}
	if content := attrString(r.Value, "content"); content != "" {
		subject := rangeOf(r.Body, "content", r.DeclRange)
		var all, wild []string
		for _, line := range sudoersLines(content) {
			if nopasswdAll(line) {
				all = append(all, line)
			}
			if w := wildcardCommands(sudoersCommands(line)); len(w) > 0 {
				wild = append(wild, w...)
			}
		}
		if len(all) > 0 {
			diags = append(diags, warn(subject, "NOPASSWD: ALL",
				fmt.Sprintf("%s: %s grants every command without a password: whoever takes over the account is root. List the absolute commands that are needed.", r.Address, quoteList(all))))
		}
		if len(wild) > 0 {
			diags = append(diags, warn(subject, "Wildcard in a sudo command",
				fmt.Sprintf("%s: %s. sudo's wildcards match spaces too, so a * in arguments also allows any extra arguments. Spell out each allowed command line.", r.Address, quoteList(wild))))
		}
	}
	return diags
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = strconv.Quote(x)
	}
	return strings.Join(q, ", ")
}

func wildcardCommands(cmds []string) []string {
	var out []string
	for _, c := range cmds {
		if strings.ContainsAny(c, sudoWildcards) {
			out = append(out, c)
		}
	}
	return out
}

// sudoersLines returns the logical lines of sudoers text (continuations
// joined, comments, include directives and blank lines dropped).
func sudoersLines(content string) []string {
	var out []string
	var cur strings.Builder
	for _, l := range strings.Split(content, "\n") {
		l = strings.TrimRight(l, " \t\r")
		if strings.HasSuffix(l, "\\") {
			cur.WriteString(strings.TrimSuffix(l, "\\"))
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(l)
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		// "#1000 ALL = …" is a rule for uid 1000, not a comment.
		uid := len(line) > 1 && line[0] == '#' && line[1] >= '0' && line[1] <= '9'
		if line == "" || (strings.HasPrefix(line, "#") && !uid) || strings.HasPrefix(line, "@") {
			continue
		}
		out = append(out, line)
	}
	return out
}

var (
	tagRe    = regexp.MustCompile(`^[A-Z_]+:\s*`)
	runasRe  = regexp.MustCompile(`^\([^)]*\)\s*`)
	optionRe = regexp.MustCompile(`^[A-Z_]+=\S+\s*`) // sudo 1.9 options: ROLE=, TYPE=, CWD=, CHROOT=, ...
)

// sudoersCommands returns the commands of a user specification or
// Cmnd_Alias line ("%ops ALL = (root) NOPASSWD: /bin/a, /bin/b"); nil for
// Defaults and other aliases. A line with several "host = commands" parts
// separated by ':' is rare enough for lint to read only the first.
func sudoersCommands(line string) []string {
	fields := strings.Fields(line)
	if len(fields) == 0 || strings.HasPrefix(fields[0], "Defaults") {
		return nil
	}
	switch fields[0] {
	case "User_Alias", "Runas_Alias", "Host_Alias":
		return nil
	}
	_, rest, ok := strings.Cut(line, "=")
	if !ok {
		return nil
	}
	var out []string
	for _, part := range strings.Split(rest, ",") {
		if part = stripSpecPrefix(strings.TrimSpace(part)); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// stripSpecPrefix removes what may stand before a command in a sudoers
// line: "(runas)", tags ("NOPASSWD:") and options ("CWD=/srv").
func stripSpecPrefix(part string) string {
	for {
		switch {
		case runasRe.MatchString(part):
			part = runasRe.ReplaceAllString(part, "")
		case optionRe.MatchString(part):
			part = optionRe.ReplaceAllString(part, "")
		case tagRe.MatchString(part):
			part = tagRe.ReplaceAllString(part, "")
		default:
			return part
		}
	}
}

// nopasswdAll reports whether a sudoers line grants ALL commands under a
// NOPASSWD tag (tags carry over to the following commands of the line).
func nopasswdAll(line string) bool {
	fields := strings.Fields(line)
	if len(fields) > 0 && strings.HasPrefix(fields[0], "Defaults") {
		return false
	}
	_, rest, ok := strings.Cut(line, "=")
	if !ok {
		return false
	}
	nopasswd := false
	for _, part := range strings.Split(rest, ",") {
		part = strings.TrimSpace(part)
		for {
			if m := runasRe.FindString(part); m != "" {
				part = part[len(m):]
				continue
			}
			if m := tagRe.FindString(part); m != "" {
				switch strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(m), ":")) {
				case "NOPASSWD":
					nopasswd = true
				case "PASSWD":
					nopasswd = false
				}
				part = part[len(m):]
				continue
			}
			break
		}
		if nopasswd && part == "ALL" {
			return true
		}
	}
	return false
}

// lintGoEnv warns about go command settings that switch off module
// verification, in go_toolchain's go.env or a profile script's env.
func lintGoEnv(r *dsl.Resource, where string) hcl.Diagnostics {
	env := attrMap(r.Value, "env")
	if len(env) == 0 || (r.Kind == "profile_script" && !present(r.Value)) {
		return nil
	}
	subject := rangeOf(r.Body, "env", r.DeclRange)
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var problems []string
	for _, k := range keys {
		v := strings.TrimSpace(env[k])
		var problem string
		switch k {
		case "GOSUMDB":
			if strings.EqualFold(v, "off") {
				problem = "GOSUMDB=off turns off the checksum database: modules are no longer checked against it, so a tampered proxy or mirror goes unnoticed"
			}
		case "GONOSUMDB", "GOPRIVATE", "GOINSECURE":
			for _, p := range strings.Split(v, ",") {
				if p = strings.TrimSpace(p); p != "*" && p != "*/*" {
					continue
				}
				if k == "GOINSECURE" {
					problem = k + "=" + v + " lets every module be fetched over plain HTTP or unverified TLS"
				} else {
					problem = k + "=" + v + " exempts every module from the checksum database"
				}
			}
		case "GOFLAGS":
			for _, f := range strings.Fields(v) {
				if name, _, _ := strings.Cut(strings.TrimLeft(f, "-"), "="); name == "insecure" {
					problem = "GOFLAGS=" + v + " makes the go command fetch over plain HTTP and skip verification"
				}
			}
		}
		if problem != "" {
			problems = append(problems, problem)
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return hcl.Diagnostics{warn(subject, "Module verification turned off",
		fmt.Sprintf("%s, in %s: %s. Remove it, or narrow it to your own module paths (GOPRIVATE=git.example.internal/*).", r.Address, where, strings.Join(problems, "; ")))}
}

// lintEgress warns when a go_toolchain downloads on the host (fetch =
// "host") while that host's firewall denies outgoing traffic without an
// HTTPS allow: the apply would fail at the download.
func lintEgress(cfg *dsl.Config) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, tc := range cfg.Resources {
		if tc.Kind != "go_toolchain" || attrString(tc.Value, "fetch") != "host" {
			continue
		}
		var blocked []string
		var by string
		for _, h := range cfg.Hosts {
			if !aims(tc, h.Name) {
				continue
			}
			fw := denyingFirewall(cfg, h.Name)
			if fw == nil || httpsOut(cfg, h.Name) {
				continue
			}
			blocked = append(blocked, h.Name)
			by = fw.Address
		}
		if len(blocked) > 0 {
			diags = append(diags, warn(rangeOf(tc.Body, "fetch", tc.DeclRange), "Toolchain download blocked by the firewall",
				fmt.Sprintf(`%s downloads on the host (fetch = "host"), but %s denies outgoing traffic there and no firewall_rule allows HTTPS out (port 443, direction = "out"), on: %s. Add that rule (and DNS), or use fetch = "controller".`,
					tc.Address, by, strings.Join(blocked, ", "))))
		}
	}
	return diags
}

func aims(r *dsl.Resource, host string) bool {
	if r.Targets == nil {
		return true
	}
	for _, t := range r.Targets {
		if t == host {
			return true
		}
	}
	return false
}

// denyingFirewall returns the firewall of host that denies outgoing
// traffic (ufw: firewalld refuses such a default), or nil.
func denyingFirewall(cfg *dsl.Config, host string) *dsl.Resource {
	for _, r := range cfg.Resources {
		if r.Kind != "firewall" || !aims(r, host) {
			continue
		}
		if on, ok := attrBool(r.Value, "enabled"); ok && !on {
			continue
		}
		if b := attrString(r.Value, "backend"); b == "firewalld" {
			continue
		}
		switch attrString(r.Value, "default_outgoing") {
		case "deny", "reject":
			return r
		}
	}
	return nil
}

// httpsOut reports whether a present firewall_rule of host allows TCP 443
// out.
func httpsOut(cfg *dsl.Config, host string) bool {
	for _, r := range cfg.Resources {
		if r.Kind != "firewall_rule" || !aims(r, host) || !present(r.Value) {
			continue
		}
		v := r.Value
		if attrString(v, "direction") != "out" || orDefault(attrString(v, "action"), "allow") != "allow" {
			continue
		}
		if p := orDefault(attrString(v, "protocol"), "tcp"); p != "tcp" && p != "any" {
			continue
		}
		if attrString(v, "service") == "https" || portCovers(v, 443) {
			return true
		}
	}
	return false
}

// portCovers reports whether the rule's port (a number, "443", or a range
// "400-500" / "400:500") includes port.
func portCovers(v cty.Value, port int) bool {
	a, ok := attr(v, "port")
	if !ok {
		return false
	}
	var s string
	switch a.Type() {
	case cty.Number:
		if !a.AsBigFloat().IsInt() {
			return false
		}
		s = a.AsBigFloat().Text('f', 0)
	case cty.String:
		s = a.AsString()
	default:
		return false
	}
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		lo, hi, isRange = strings.Cut(s, ":")
	}
	if !isRange {
		hi = lo
	}
	l, err1 := strconv.Atoi(strings.TrimSpace(lo))
	h, err2 := strconv.Atoi(strings.TrimSpace(hi))
	return err1 == nil && err2 == nil && l <= port && port <= h
}

// oneWay are kernel settings whose value the kernel refuses to change
// again until reboot (Documentation/admin-guide/sysctl/kernel.rst, Yama).
var oneWay = map[string]string{
	"kernel.yama.ptrace_scope":         "3",
	"kernel.modules_disabled":          "1",
	"kernel.kexec_load_disabled":       "1",
	"kernel.unprivileged_bpf_disabled": "1",
}

func lintSysctl(r *dsl.Resource) hcl.Diagnostics {
	if !present(r.Value) {
		return nil
	}
	var diags hcl.Diagnostics
	var locked []string
	subject := rangeOf(r.Body, "values", r.DeclRange)
	for k, v := range attrMap(r.Value, "values") {
		// These keys have no dots inside a part: either spelling maps to
		// the dotted one by swapping separators.
		key, val := strings.ReplaceAll(k, "/", "."), strings.TrimSpace(v)
		if oneWay[key] == val {
			locked = append(locked, key+" = "+val)
		}
		if key == "kernel.yama.ptrace_scope" && val == "0" {
			diags = append(diags, warn(subject, "Any process may debug its user's others",
				fmt.Sprintf("%s: kernel.yama.ptrace_scope = 0 lets any process attach to (and read the memory of) every other process of the same user, so one compromised program reads the user's agent keys and tokens. 1 (Debian's default) still lets a user debug what they start (dlv debug, dlv test); use dlv attach as root.", r.Address)))
		}
	}
	if len(locked) > 0 {
		sort.Strings(locked)
		diags = append(diags, warn(subject, "One-way kernel setting",
			fmt.Sprintf("%s: %s cannot be changed again until the next reboot: the kernel refuses it, so a later apply of another value fails, and a failed load cannot put the previous value back. For ptrace_scope, 2 keeps debugging for root only and can be lowered.", r.Address, strings.Join(locked, ", "))))
	}
	return diags
}

// weakSSHD are sshd settings every hardening guide (CIS, Mozilla) turns
// off, by lower-case keyword, in sshd's spelling.
var weakSSHD = map[string]string{
	"permitrootlogin":        "PermitRootLogin",
	"permitemptypasswords":   "PermitEmptyPasswords",
	"passwordauthentication": "PasswordAuthentication",
}

func lintSSHD(r *dsl.Resource) hcl.Diagnostics {
	if !present(r.Value) {
		return nil
	}
	var weak []string
	for k, v := range attrMap(r.Value, "settings") {
		if kw, ok := weakSSHD[strings.ToLower(k)]; ok && strings.EqualFold(strings.TrimSpace(v), "yes") {
			weak = append(weak, kw+" yes")
		}
	}
	if len(weak) == 0 {
		return nil
	}
	sort.Strings(weak)
	return hcl.Diagnostics{warn(rangeOf(r.Body, "settings", r.DeclRange), "sshd setting weakens logins",
		fmt.Sprintf("%s: %s: passwords (empty ones, root's) can be guessed from anywhere sshd is reachable; keys only (PasswordAuthentication no, PermitRootLogin prohibit-password) is what the hardening guides ask.", r.Address, strings.Join(weak, ", ")))}
}
