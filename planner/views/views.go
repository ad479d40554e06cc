// Package views renders plans and apply results, for people and for
// pipelines. The engine never prints; everything a user sees is here.
package views

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/goprov/goprov/internal/inert"
	"github.com/goprov/goprov/planner"
	"github.com/goprov/goprov/resources"
)

// Mode says what the document describes.
type Mode int

// Modes.
const (
	ModePlan  Mode = iota // a fresh plan: diffs available
	ModeSaved             // a saved plan file: no diffs stored
	ModeApply             // an apply's outcome
)

var symbols = map[resources.Action]string{
	resources.Create: "+",
	resources.Update: "~",
	resources.Delete: "-",
}

// Text renders for people. Every string that may come from a host or from
// configuration passes through inert first, so the only control sequences
// in the output are the colours Text itself adds (when Color is set).
type Text struct {
	Color bool // ANSI colours: for a terminal only, never for files or pipes
}

// Human writes the plan (or apply outcome) as text, without colour.
func Human(w io.Writer, p *planner.Plan, mode Mode) { Text{}.Human(w, p, mode) }

// HostSummary lists each host's outcome, without colour.
func HostSummary(w io.Writer, p *planner.Plan) { Text{}.HostSummary(w, p) }

// Human writes the plan (or apply outcome) as text.
func (t Text) Human(w io.Writer, p *planner.Plan, mode Mode) {
	for _, h := range p.Hosts {
		where := h.Spec.Connection
		if h.Spec.Connection == "local" && h.Spec.Root != "" && h.Spec.Root != "/" {
			where += ", root " + h.Spec.Root
		} else if h.Spec.Address != "" {
			where += " " + h.Spec.Address
		}
		fmt.Fprintln(w, t.paint(bold, fmt.Sprintf("Host %s (%s):", inert.Text(h.Name), inert.Text(where))))
		if h.Facts != nil {
			fmt.Fprintf(w, "  facts: %s\n", inert.Text(factsLine(h.Facts)))
		}
		if h.Status == planner.StatusFailed || h.Status == planner.StatusStale {
			fmt.Fprintf(w, "  %s %s\n", t.paint(red, "✗ "+strings.ToUpper(string(h.Status))+":"), inert.Indent(h.Error, "    "))
		}
		unchanged := 0
		for _, c := range h.Changes {
			if c.Action == resources.NoOp {
				unchanged++
			}
			t.change(w, c, mode)
		}
		if mode == ModeSaved && hasChanges(h) {
			fmt.Fprintln(w, "      (content diffs are not stored in plan files; `goprov plan` shows them)")
		}
		if h.Status == planner.StatusPlanned || h.Status == planner.StatusApplied {
			if len(h.Changes) == 0 {
				fmt.Fprintln(w, "  no resources target this host")
			} else if unchanged == len(h.Changes) {
				fmt.Fprintln(w, "  no changes")
			} else if unchanged > 0 {
				fmt.Fprintf(w, "  (%d unchanged)\n", unchanged)
			}
		}
		fmt.Fprintln(w)
	}
	t.totals(w, p, mode)
}

// factsLine is the host's facts in one line: platform, kernel, SELinux,
// AppArmor, what hardening baselines check first.
func factsLine(f *resources.Facts) string {
	unknown := func(s string) string {
		if s == "" {
			return "unknown"
		}
		return s
	}
	aa := unknown(f.AppArmor)
	if f.AppArmorProfiles != nil {
		aa += fmt.Sprintf(" (%d profiles loaded)", *f.AppArmorProfiles)
	}
	return fmt.Sprintf("%s/%s, kernel %s, SELinux %s, AppArmor %s", f.OS, f.Arch, unknown(f.Kernel), unknown(f.SELinux), aa)
}

// change writes one resource's line, its notes, error and diff.
func (t Text) change(w io.Writer, c *planner.ResourceChange, mode Mode) {
	if c.Action == "" {
		return // never read: the host failed first
	}
	addr := inert.Text(c.Address)
	if c.Action == resources.NoOp {
		// A no-op can still carry news: rules written but not loaded, a
		// reboot still required.
		if len(c.Notes) == 0 {
			return
		}
		fmt.Fprintf(w, "  = %s unchanged", addr)
	} else if mode == ModeApply {
		out := outcome(c)
		if c.Outcome == planner.OutcomeFailed {
			out = t.paint(red, out)
		}
		fmt.Fprintf(w, "  %s %s %s", t.paint(actionColor[c.Action], symbols[c.Action]), addr, out)
	} else {
		fmt.Fprintf(w, "  %s %s will be %s", t.paint(actionColor[c.Action], symbols[c.Action]), addr, verb(c.Action))
	}
	if c.Summary != "" {
		fmt.Fprintf(w, ": %s", inert.Indent(c.Summary, "      "))
	}
	fmt.Fprintln(w)
	for _, n := range c.Notes {
		fmt.Fprintf(w, "      note: %s\n", inert.Indent(n, "        "))
	}
	if c.Error != "" {
		fmt.Fprintf(w, "      %s %s\n", t.paint(red, "error:"), inert.Indent(c.Error, "        "))
	}
	if c.Diff != "" && mode != ModeApply {
		t.diff(w, c.Diff)
	}
}

// diff writes a unified diff, each line escaped first and then coloured by
// its first character, which is the diff's own (+, -, space, @): a host
// line that starts with "+" shows as " +…" in context or "-+…" removed.
func (t Text) diff(w io.Writer, d string) {
	for i, line := range strings.Split(strings.TrimRight(d, "\n"), "\n") {
		text := inert.Text(line)
		var c string
		switch {
		case i < 2 && (strings.HasPrefix(line, "--- ") || strings.HasPrefix(line, "+++ ")):
			c = bold
		case strings.HasPrefix(line, "@@"):
			c = cyan
		case strings.HasPrefix(line, "+"):
			c = green
		case strings.HasPrefix(line, "-"):
			c = red
		}
		fmt.Fprintf(w, "      %s\n", t.paint(c, text))
	}
}

// totals writes the closing "Plan: …" or "Apply complete: …" line.
func (t Text) totals(w io.Writer, p *planner.Plan, mode Mode) {
	s := p.Summary()
	var line string
	switch mode {
	case ModeApply:
		var a, c, d int
		for _, h := range p.Hosts {
			for _, ch := range h.Changes {
				if ch.Outcome != planner.OutcomeApplied {
					continue
				}
				switch ch.Action {
				case resources.Create:
					a++
				case resources.Update:
					c++
				case resources.Delete:
					d++
				}
			}
		}
		line = fmt.Sprintf("Apply complete: %d added, %d changed, %d destroyed.", a, c, d)
	default:
		line = fmt.Sprintf("Plan: %d to add, %d to change, %d to destroy.", s.Add, s.Change, s.Destroy)
	}
	fmt.Fprint(w, t.paint(bold, line))
	if s.Failed > 0 {
		fmt.Fprint(w, " "+t.paint(red, fmt.Sprintf("%d of %d hosts failed.", s.Failed, len(p.Hosts))))
	}
	fmt.Fprintln(w)
}

// HostSummary lists each host's outcome, one line each, failures last.
func (t Text) HostSummary(w io.Writer, p *planner.Plan) {
	hosts := append([]*planner.HostPlan(nil), p.Hosts...)
	sort.SliceStable(hosts, func(i, j int) bool { return rank(hosts[i]) < rank(hosts[j]) })
	fmt.Fprintln(w, t.paint(bold, "Hosts:"))
	for _, h := range hosts {
		// Pad before colouring: escape codes have no width on screen.
		status := fmt.Sprintf("%-20s %s", inert.Text(h.Name), h.Status)
		if rank(h) == 1 {
			status = fmt.Sprintf("%-20s %s", inert.Text(h.Name), t.paint(red, string(h.Status)))
		}
		line := "  " + status
		if h.Error != "" {
			line += "  " + inert.Indent(h.Error, "    ")
		}
		fmt.Fprintln(w, line)
	}
}

func rank(h *planner.HostPlan) int {
	if h.Status == planner.StatusFailed || h.Status == planner.StatusStale {
		return 1
	}
	return 0
}

func hasChanges(h *planner.HostPlan) bool {
	for _, c := range h.Changes {
		if c.Action != resources.NoOp && c.Action != "" {
			return true
		}
	}
	return false
}

func outcome(c *planner.ResourceChange) string {
	switch c.Outcome {
	case planner.OutcomeApplied:
		return verb(c.Action)
	case planner.OutcomeFailed:
		return "FAILED (not " + verb(c.Action) + ")"
	case planner.OutcomeSkipped:
		return "skipped (an earlier change on this host failed)"
	}
	return "not applied"
}

func verb(a resources.Action) string {
	switch a {
	case resources.Create:
		return "created"
	case resources.Update:
		return "updated"
	case resources.Delete:
		return "destroyed"
	}
	return string(a)
}

// JSON document of a plan or an apply's outcome. Documented in
// docs/json-format.md; keep it stable, bump FormatVersion on breaking change.
type jsonDoc struct {
	FormatVersion int             `json:"format_version"`
	Kind          string          `json:"kind"` // "plan", "saved-plan" or "apply"
	Hosts         []jsonHost      `json:"hosts"`
	Summary       planner.Summary `json:"summary"`
}

type jsonHost struct {
	Name    string          `json:"name"`
	Status  string          `json:"status"`
	Error   string          `json:"error,omitempty"`
	Timings planner.Timings `json:"timings"`
	Facts   *jsonFacts      `json:"facts,omitempty"`
	Changes []jsonChange    `json:"changes"`
	// Journal: the host journal's head after an apply's writes.
	Journal *planner.JournalHead `json:"journal,omitempty"`
}

// jsonFacts is what the read learnt of a host; documented in
// docs/json-format.md.
type jsonFacts struct {
	OS               string `json:"os"`
	Arch             string `json:"arch"`
	Kernel           string `json:"kernel"`
	SELinux          string `json:"selinux"`
	AppArmor         string `json:"apparmor"`
	AppArmorProfiles *int   `json:"apparmor_profiles,omitempty"`
}

type jsonChange struct {
	Address string           `json:"address"`
	Kind    string           `json:"kind"`
	Action  resources.Action `json:"action"`
	Summary string           `json:"summary,omitempty"`
	Diff    string           `json:"diff,omitempty"`
	Notes   []string         `json:"notes,omitempty"`
	// KnownAfterApply: the package resource this change waits for.
	KnownAfterApply string `json:"known_after_apply,omitempty"`
	Outcome         string `json:"outcome,omitempty"`
	Error           string `json:"error,omitempty"`
}

// JSON writes the plan (or apply outcome) as one JSON document.
func JSON(w io.Writer, p *planner.Plan, mode Mode) error {
	return encodeDoc(w, docOf(p, mode))
}

func docOf(p *planner.Plan, mode Mode) jsonDoc {
	doc := jsonDoc{FormatVersion: planner.FormatVersion, Kind: map[Mode]string{ModePlan: "plan", ModeSaved: "saved-plan", ModeApply: "apply"}[mode], Summary: p.Summary(), Hosts: []jsonHost{}}
	for _, h := range p.Hosts {
		jh := jsonHost{Name: h.Name, Status: string(h.Status), Error: h.Error, Timings: h.Timings, Changes: []jsonChange{}}
		if f := h.Facts; f != nil {
			jh.Facts = &jsonFacts{OS: f.OS, Arch: f.Arch, Kernel: f.Kernel, SELinux: f.SELinux, AppArmor: f.AppArmor, AppArmorProfiles: f.AppArmorProfiles}
		}
		if mode == ModeApply {
			jh.Journal = h.Journal
		}
		for _, c := range h.Changes {
			if c.Action == "" {
				continue // never read: the host failed first
			}
			jh.Changes = append(jh.Changes, jsonChange{Address: c.Address, Kind: c.Kind, Action: c.Action, Summary: c.Summary,
				Diff: c.Diff, Notes: c.Notes, KnownAfterApply: c.KnownAfterApply, Outcome: string(c.Outcome), Error: c.Error})
		}
		doc.Hosts = append(doc.Hosts, jh)
	}
	return doc
}

func encodeDoc(w io.Writer, doc jsonDoc) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
