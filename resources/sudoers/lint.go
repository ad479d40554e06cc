package sudoers

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/goprov/goprov/resources"
)

// sudo wildcards: sudo's fnmatch matches '*' across spaces, so
// "/usr/bin/systemctl restart *" also allows "restart x; other args".
const sudoWildcards = "*?["

// Lint implements resources.Linter: NOPASSWD with the command ALL, and
// wildcards in commands, in rule blocks and in raw content.
func (kind) Lint(address string, v cty.Value) []resources.Warning {
	if !resources.Present(v) {
		return nil
	}
	var out []resources.Warning
	if rules, ok := resources.Attr(v, "rule"); ok && (rules.Type().IsListType() || rules.Type().IsTupleType()) {
		i := 0
		for it := rules.ElementIterator(); it.Next(); i++ {
			_, rule := it.Element()
			out = append(out, lintRule(address, i, rule)...)
		}
	}
	if content := resources.AttrString(v, "content"); content != "" {
		out = append(out, lintContent(address, content)...)
	}
	return out
}

func lintRule(address string, i int, rule cty.Value) []resources.Warning {
	var out []resources.Warning
	at := func(summary, detail string) resources.Warning {
		return resources.Warning{Block: "rule", Index: i, Attr: "commands", Summary: summary, Detail: detail}
	}
	cmds := resources.AttrStrings(rule, "commands")
	nopasswd, _ := resources.AttrBool(rule, "nopasswd")
	for _, c := range cmds {
		if nopasswd && strings.TrimSpace(c) == "ALL" {
			out = append(out, at("NOPASSWD: ALL",
				fmt.Sprintf("%s: a rule with nopasswd = true and the command ALL lets %s run anything as %s without a password: whoever takes over the account is root. List the absolute commands that are needed.",
					address, strings.Join(resources.AttrStrings(rule, "users"), ", "), orDefault(resources.AttrString(rule, "runas"), "root"))))
			break
		}
	}
	if w := wildcardCommands(cmds); len(w) > 0 {
		out = append(out, at("Wildcard in a sudo command",
			fmt.Sprintf("%s: %s. sudo's wildcards match spaces too, so a * in arguments also allows any extra arguments (and * in a path any program there). Spell out each allowed command line.",
				address, quoteList(w))))
	}
	return out
}

func lintContent(address, content string) []resources.Warning {
	var out []resources.Warning
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
		out = append(out, resources.Warning{Attr: "content", Summary: "NOPASSWD: ALL",
			Detail: fmt.Sprintf("%s: %s grants every command without a password: whoever takes over the account is root. List the absolute commands that are needed.", address, quoteList(all))})
	}
	if len(wild) > 0 {
		out = append(out, resources.Warning{Attr: "content", Summary: "Wildcard in a sudo command",
			Detail: fmt.Sprintf("%s: %s. sudo's wildcards match spaces too, so a * in arguments also allows any extra arguments. Spell out each allowed command line.", address, quoteList(wild))})
	}
	return out
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
	tagRe       = regexp.MustCompile(`^[A-Z_]+:\s*`)
	specRunasRe = regexp.MustCompile(`^\([^)]*\)\s*`)
	optionRe    = regexp.MustCompile(`^[A-Z_]+=\S+\s*`) // sudo 1.9 options: ROLE=, TYPE=, CWD=, CHROOT=, ...
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
		case specRunasRe.MatchString(part):
			part = specRunasRe.ReplaceAllString(part, "")
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
			if m := specRunasRe.FindString(part); m != "" {
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
