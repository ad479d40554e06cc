package pkg

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/goprov/goprov/internal/shell"
	"github.com/goprov/goprov/resources"
)

// Probe implements resources.Resource. It prints the backend ("backend
// apt" or "backend none"), then dpkg's view of this resource's packages
// and of every package of the host that is neither installed nor gone
// (half-installed, unpacked, half-configured, trigger states): a failed
// apt run leaves those, and every plan names them. Read-only and stable:
// nothing that changes by itself (the clock, the index age) is printed.
func (p *Packages) Probe(h *resources.Host) string {
	names := " " + strings.Join(p.Names, " ") + " "
	return `if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
echo 'backend apt'
dpkg-query -W -f '${Package}\t${Version}\t${Status}\n' 2>/dev/null | awk -F '\t' -v names=` + shell.Quote(names) + ` 'index(names, " " $1 " ") > 0 || $3 !~ /( installed|not-installed|config-files)$/' | LC_ALL=C sort
else echo 'backend none'; fi`
}

// entry is one line of dpkg-query: a package and its status
// ("want flag status", e.g. "install ok installed").
type entry struct {
	Name, Version, Status string
}

func (e entry) state() string {
	f := strings.Fields(e.Status)
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1]
}

func (e entry) installed() bool { return e.state() == "installed" }

// broken: dpkg has it part-way (a failed or interrupted apt run).
func (e entry) broken() bool {
	switch e.state() {
	case "installed", "not-installed", "config-files", "":
		return false
	}
	return true
}

type state struct {
	Backend string
	Entries []entry
}

func parse(out []byte) (state, error) {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	var st state
	b, ok := strings.CutPrefix(lines[0], "backend ")
	if !ok {
		return st, fmt.Errorf("package probe: unexpected output %q", lines[0])
	}
	st.Backend = b
	for _, l := range lines[1:] {
		f := strings.Split(l, "\t")
		if len(f) != 3 {
			return st, fmt.Errorf("package probe: unexpected dpkg-query line %q", l)
		}
		st.Entries = append(st.Entries, entry{Name: f[0], Version: f[1], Status: f[2]})
	}
	return st, nil
}

// find returns the entry of name dpkg counts (an installed one first,
// for a package of several architectures).
func (st state) find(name string) (entry, bool) {
	var found entry
	ok := false
	for _, e := range st.Entries {
		if e.Name == name && (!ok || e.installed() || e.broken()) {
			found, ok = e, true
		}
	}
	return found, ok
}

// plan is what apply would do: names to install (with their pin), to
// configure again (half-configured), to remove.
type plan struct {
	install, upgrade, configure, remove []string
}

func (p *Packages) decide(st state) plan {
	var pl plan
	for _, n := range p.Names {
		e, ok := st.find(n)
		switch {
		case !p.Present:
			if ok && (e.installed() || e.broken()) {
				pl.remove = append(pl.remove, n)
			}
		case ok && e.broken():
			pl.configure = append(pl.configure, n)
		case !ok || !e.installed():
			pl.install = append(pl.install, n)
		case p.Version != "" && e.Version != p.Version:
			pl.upgrade = append(pl.upgrade, fmt.Sprintf("%s %s → %s", n, e.Version, p.Version))
		}
	}
	return pl
}

func (pl plan) empty() bool {
	return len(pl.install)+len(pl.upgrade)+len(pl.configure)+len(pl.remove) == 0
}

// Diff implements resources.Resource.
func (p *Packages) Diff(h *resources.Host, probe []byte) (resources.Change, error) {
	st, err := parse(probe)
	if err != nil {
		return resources.Change{}, err
	}
	if st.Backend != "apt" {
		return resources.Change{}, fmt.Errorf("no supported package manager on this host: the package kind needs apt and dpkg (Debian and its derivatives)")
	}
	pl := p.decide(st)
	ch := resources.Change{Action: resources.NoOp, BeforeSHA256: p.digest(st), AfterSHA256: p.wantDigest()}
	var parts []string
	add := func(verb string, xs []string) {
		if len(xs) > 0 {
			parts = append(parts, verb+" "+strings.Join(xs, ", "))
		}
	}
	add("install", pl.install)
	add("install", pl.upgrade)
	add("configure", pl.configure)
	add("remove", pl.remove)
	ch.Summary = strings.Join(parts, "; ")
	switch {
	case pl.empty():
	case !p.Present:
		ch.Action = resources.Delete
	case len(pl.install) == len(p.Names):
		ch.Action = resources.Create
	default:
		ch.Action = resources.Update
	}
	if !pl.empty() && p.Present {
		rec := "without recommended packages"
		if p.Recommends {
			rec = "with recommended packages"
		}
		ch.Notes = append(ch.Notes, fmt.Sprintf("apt-get installs them and what they depend on, %s; the package index is refreshed first if missing or older than %s", rec, p.MaxAge))
	}
	for _, e := range st.Entries {
		if e.broken() {
			ch.Notes = append(ch.Notes, fmt.Sprintf("%s is %s (dpkg status %q): an earlier apt or dpkg run failed or was interrupted", e.Name, e.state(), e.Status))
		}
	}
	return ch, nil
}

// digest of what dpkg says of the managed packages, for the journal.
func (p *Packages) digest(st state) string {
	var lines []string
	for _, n := range p.Names {
		if e, ok := st.find(n); ok && e.state() != "not-installed" {
			lines = append(lines, e.Name+" "+e.Version+" "+e.Status)
		}
	}
	if len(lines) == 0 {
		return ""
	}
	sort.Strings(lines)
	return sha(strings.Join(lines, "\n"))
}

func (p *Packages) wantDigest() string {
	if !p.Present {
		return ""
	}
	names := append([]string(nil), p.Names...)
	sort.Strings(names)
	return sha(strings.Join(names, " ") + "=" + p.Version)
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
