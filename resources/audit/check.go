package audit

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/goprov/goprov/internal/shell"
	"github.com/goprov/goprov/resources"
)

// What the plan reads, besides the file and the kernel's rules, to tell
// before writing anything whether the kernel will take every rule: the
// version of auditctl and its syscall tables (the host's ausyscall), and
// whether the paths the rules depend on exist.

// versionUnknown is factsProbe's line when auditctl printed no version
// (it is missing or failed).
const versionUnknown = "auditctl version unknown"

// depsProbe prints, for each path the rules depend on, "d" (a directory),
// "f" (something else) or "-" (missing), one per line in order; then, for
// each user or group name, "u:NAME ID" or "g:NAME ID" when the host knows
// it (getent, as auditctl resolves it through NSS; an image's own files).
func depsProbe(h *resources.Host, paths, names []string) string {
	var b strings.Builder
	b.WriteString("true\n")
	for _, p := range paths {
		fmt.Fprintf(&b, "p=%s; if [ -d \"$p\" ]; then echo d; elif [ -e \"$p\" ] || [ -L \"$p\" ]; then echo f; else echo -; fi\n", shell.Quote(h.Path(p)))
	}
	for _, n := range names {
		db, file := "passwd", "/etc/passwd"
		if strings.HasPrefix(n, "g:") {
			db, file = "group", "/etc/group"
		}
		name := n[2:]
		files := fmt.Sprintf("awk -F: -v n=%s '$1 == n' %s", shell.Quote(name), shell.Quote(h.Path(file)))
		lookup := fmt.Sprintf("{ getent %s %s || %s; }", db, shell.Quote(name), files)
		if h.Root != "" && h.Root != "/" {
			lookup = files
		}
		fmt.Fprintf(&b, "id=$(%s 2>/dev/null | head -n 1 | cut -d: -f3); [ -z \"$id\" ] || printf '%%s %%s\\n' %s \"$id\"\n", lookup, shell.Quote(n))
	}
	return b.String()
}

// othersProbe prints the other rules files augenrules reads with this one,
// each after a line "@@file NAME": the kernel refuses a rule that one of
// them already holds ("Rule exists"), and the load stops there. Their
// first 2 KiB are read with the shell's read (a program started costs more
// than that), and cat sends the rest of a longer file from where read
// stopped; only the lines matter here, so a NUL that read drops does not.
func othersProbe(h *resources.Host, own string) string {
	return fmt.Sprintf(`for f in %s/*.rules; do [ -f "$f" ] && [ "$f" != %s ] || continue; printf '@@file %%s\n' "${f##*/}"
	{ n=0 l=; while [ $n -lt 2048 ] && IFS= read -r l; do printf '%%s\n' "$l"; n=$((n+${#l}+1)); l=; done
	if [ $n -ge 2048 ]; then cat; else printf '%%s' "$l"; fi; } <"$f"; echo; done`,
		shell.Quote(h.Path(RulesDir)), shell.Quote(h.Path(own)))
}

// otherRules maps the kernel listing of each rule in the other files to
// where it is ("60-x.rules line 4").
func otherRules(l *Listing, others string) map[string]string {
	where := map[string]string{}
	file, n := "", 0
	for _, line := range strings.Split(others, "\n") {
		if f, ok := strings.CutPrefix(line, "@@file "); ok {
			file, n = f, 0
			continue
		}
		n++
		p, err := ParseRule(strings.TrimSpace(line))
		if err != nil {
			continue
		}
		if x, err := l.Of(p); err == nil {
			if _, seen := where[x.Line]; !seen {
				where[x.Line] = fmt.Sprintf("%s line %d", file, n)
			}
		}
	}
	return where
}

// names lists the user and group names the rules use, once each.
func (r *Rules) names() []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range r.Parsed {
		for _, n := range p.Names() {
			if !seen[n] {
				seen[n], out = true, append(out, n)
			}
		}
	}
	return out
}

// dependency is a path a rule needs: a directory that must exist (dir=)
// or a path whose parent directory must exist (-w, path=).
type dependency struct {
	rule  int
	path  string // the path whose existence is checked
	needs string // what is needed, for messages
	what  string // "-F dir=/x", "-w /x", …
}

// dependencies lists, in order, the paths the rules depend on.
func (r *Rules) dependencies() []dependency {
	var deps []dependency
	for i, p := range r.Parsed {
		dirs, parents := p.Paths()
		for _, d := range dirs {
			deps = append(deps, dependency{i, d, "directory " + d, "-F dir=" + d})
		}
		for _, f := range parents {
			what := "-F path=" + f
			if p.Watch {
				what = "-w " + p.Path
			}
			parent := path.Dir(f)
			deps = append(deps, dependency{i, parent, "directory " + parent, what})
		}
	}
	return deps
}

func (r *Rules) dependencyPaths() []string {
	var ps []string
	for _, d := range r.dependencies() {
		ps = append(ps, d.path)
	}
	return ps
}

// facts is what factsProbe and pathsProbe found.
type facts struct {
	listing *Listing // nil: syscalls cannot be checked (image root, no ausyscall)
	why     string   // why listing is nil
	kinds   []string // per dependency: "d", "f" or "-"
	others  string   // othersProbe's output
}

func parseFacts(factsOut, depsOut []byte, ndeps int) (facts, error) {
	var f facts
	ids := map[string]string{}
	for _, l := range strings.Split(string(depsOut), "\n") {
		if n, id, ok := strings.Cut(l, " "); ok {
			ids[n] = id
		} else if l != "" {
			f.kinds = append(f.kinds, l)
		}
	}
	if ndeps > 0 && len(f.kinds) != ndeps {
		return facts{}, fmt.Errorf("path checks: %d answers for %d paths", len(f.kinds), ndeps)
	}
	s := string(factsOut)
	if strings.HasPrefix(s, "image") {
		f.why = "an image root (its tools are not run)"
		return f, nil
	}
	head, rest, _ := strings.Cut(s, "@@table ")
	lines := strings.Split(strings.TrimSpace(head), "\n")
	if lines[0] == versionUnknown {
		f.why = "auditctl's version is unknown"
		return f, nil
	}
	major, err := auditctlMajor(lines[0])
	if err != nil {
		return facts{}, err
	}
	l := Listing{Major: major, Native: nativeArch(lines[len(lines)-1]), Tables: map[string]*SyscallTable{}}
	for _, part := range strings.Split("@@table "+rest, "@@table ")[1:] {
		arch, dump, _ := strings.Cut(part, "\n")
		if t, err := ParseAusyscall(dump); err == nil {
			l.Tables[strings.TrimSpace(arch)] = t
		}
	}
	if l.Tables[l.Native] == nil {
		f.why = "ausyscall is missing or knows no syscall table for this machine"
		return f, nil
	}
	l.IDs = ids
	f.listing = &l
	return f, nil
}

// auditctlMajor reads "auditctl version 3.0.9".
func auditctlMajor(v string) (int, error) {
	f := strings.Fields(v)
	if len(f) < 3 || f[0] != "auditctl" || f[1] != "version" {
		return 0, fmt.Errorf("auditctl -v: unrecognised answer %q", strings.TrimSpace(v))
	}
	major, _, _ := strings.Cut(f[2], ".")
	n, err := strconv.Atoi(major)
	if err != nil {
		return 0, fmt.Errorf("auditctl -v: version %q: %w", f[2], err)
	}
	return n, nil
}

func nativeArch(machine string) string {
	if a, ok := archNames[strings.TrimSpace(machine)]; ok {
		return a
	}
	return "b64"
}

// verdict is the plan's judgement of each rule on one host.
type verdict struct {
	keep    []int    // indexes of the rules written to the file
	listed  []Listed // their kernel listings (when exact)
	refused []string // "line N: `rule`: why", for the plan's error
	notes   []string // skipped rules, names resolved on the host
	exact   bool     // the host's listings are known
	why     string   // why not exact
}

// judge decides, for each rule, whether the kernel will take it on this
// host: its paths exist, auditctl can parse it, its syscalls are known for
// its arch, and it is not the same kernel rule as another.
func (r *Rules) judge(f facts) verdict {
	v := verdict{exact: f.listing != nil, why: f.why}
	missing := map[int]string{}
	for i, d := range r.dependencies() {
		if i < len(f.kinds) && f.kinds[i] != "d" {
			if _, seen := missing[d.rule]; !seen {
				missing[d.rule] = fmt.Sprintf("%s needs the %s, which does not exist on this host", d.what, d.needs)
			}
		}
	}
	seen := map[string]int{}
	var elsewhere map[string]string
	if f.listing != nil {
		elsewhere = otherRules(f.listing, f.others)
	}
	line := 2 // the header is line 1
	for i, p := range r.Parsed {
		if why, ok := missing[i]; ok {
			if r.SkipMissing {
				v.notes = append(v.notes, fmt.Sprintf("left out for this host (skip_missing_paths): %q: %s", r.Lines[i], why))
				continue
			}
			v.refused = append(v.refused, fmt.Sprintf("line %d: %q: %s", line, r.Lines[i], why))
			line++
			continue
		}
		var l Listed
		if f.listing != nil {
			var err error
			if l, err = f.listing.Of(p); err != nil {
				v.refused = append(v.refused, fmt.Sprintf("line %d: %q: %v", line, r.Lines[i], err))
				line++
				continue
			}
			if j, dup := seen[l.Line]; dup {
				v.refused = append(v.refused, fmt.Sprintf("line %d: %q is the same kernel rule as %q (auditctl: Rule exists)", line, r.Lines[i], r.Lines[j]))
				line++
				continue
			}
			if w, dup := elsewhere[l.Line]; dup {
				v.refused = append(v.refused, fmt.Sprintf("line %d: %q is already a rule of %s in %s (auditctl: Rule exists; the load would stop there)", line, r.Lines[i], w, RulesDir))
				line++
				continue
			}
			seen[l.Line] = i
			if len(l.Names) > 0 {
				v.notes = append(v.notes, fmt.Sprintf("%q: the host resolves %s to ids; it is compared with any id there", r.Lines[i], strings.Join(l.Names, ", ")))
			}
		}
		v.keep, v.listed = append(v.keep, i), append(v.listed, l)
		line++
	}
	return v
}

// refusal is the plan's error when the kernel would refuse rules.
func (r *Rules) refusal(v verdict) error {
	return fmt.Errorf("%s: the kernel would refuse %d of its rules on this host; nothing is written:\n  %s",
		r.Path(), len(v.refused), strings.Join(v.refused, "\n  "))
}

// Missing returns the expected listings that are not among the loaded
// lines of auditctl -l.
func Missing(want []Listed, loaded []string) []Listed {
	var out []Listed
	for _, w := range want {
		found := false
		for _, g := range loaded {
			if w.Matches(g) {
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

// ParseLoaded splits `auditctl -l` output into rule lines, kept as they
// are: a rule whose perm comes before its path is listed with a leading
// blank (" -p x-w /usr/bin/yum -k k": auditctl prints a watch's fields in
// their order).
func ParseLoaded(out string) []string {
	var rules []string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimRight(line, " \r")
		if strings.TrimSpace(line) == "" || line == "No rules" {
			continue
		}
		rules = append(rules, line)
	}
	return rules
}

func describeMissing(miss []Listed) string {
	s := fmt.Sprintf("%q", miss[0].Line)
	if len(miss) > 1 {
		s += fmt.Sprintf(" and %d more rules are", len(miss)-1)
	} else {
		s += " is"
	}
	return s
}
