// Package views renders plans and apply results, for people and for
// pipelines. The engine never prints; everything a user sees is here.
package views

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

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

// Human writes the plan (or apply outcome) as text.
func Human(w io.Writer, p *planner.Plan, mode Mode) {
	for _, h := range p.Hosts {
		where := h.Spec.Connection
		if h.Spec.Connection == "local" && h.Spec.Root != "" && h.Spec.Root != "/" {
			where += ", root " + h.Spec.Root
		} else if h.Spec.Address != "" {
			where += " " + h.Spec.Address
		}
		fmt.Fprintf(w, "Host %s (%s):\n", h.Name, where)
		if h.Status == planner.StatusFailed || h.Status == planner.StatusStale {
			fmt.Fprintf(w, "  ✗ %s: %s\n", strings.ToUpper(h.Status), h.Error)
		}
		unchanged := 0
		for _, c := range h.Changes {
			if c.Action == resources.NoOp || c.Action == "" {
				if c.Action == resources.NoOp {
					unchanged++
					// A no-op can still carry news: rules written but not
					// loaded, a reboot still required.
					if len(c.Notes) > 0 {
						fmt.Fprintf(w, "  = %s unchanged", c.Address)
						if c.Summary != "" {
							fmt.Fprintf(w, ": %s", c.Summary)
						}
						fmt.Fprintln(w)
						for _, n := range c.Notes {
							fmt.Fprintf(w, "      note: %s\n", n)
						}
					}
				}
				continue
			}
			if mode == ModeApply {
				fmt.Fprintf(w, "  %s %s %s", symbols[c.Action], c.Address, outcome(c))
			} else {
				fmt.Fprintf(w, "  %s %s will be %s", symbols[c.Action], c.Address, verb(c.Action))
			}
			if c.Summary != "" {
				fmt.Fprintf(w, ": %s", c.Summary)
			}
			fmt.Fprintln(w)
			for _, n := range c.Notes {
				fmt.Fprintf(w, "      note: %s\n", n)
			}
			if c.Error != "" {
				fmt.Fprintf(w, "      error: %s\n", c.Error)
			}
			if c.Diff != "" && mode != ModeApply {
				for _, line := range strings.Split(strings.TrimRight(c.Diff, "\n"), "\n") {
					fmt.Fprintf(w, "      %s\n", line)
				}
			}
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
	s := p.Summary()
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
		fmt.Fprintf(w, "Apply complete: %d added, %d changed, %d destroyed.", a, c, d)
	default:
		fmt.Fprintf(w, "Plan: %d to add, %d to change, %d to destroy.", s.Add, s.Change, s.Destroy)
	}
	if s.Failed > 0 {
		fmt.Fprintf(w, " %d of %d hosts failed.", s.Failed, len(p.Hosts))
	}
	fmt.Fprintln(w)
}

// HostSummary lists each host's outcome, one line each, failures last.
func HostSummary(w io.Writer, p *planner.Plan) {
	hosts := append([]*planner.HostPlan(nil), p.Hosts...)
	sort.SliceStable(hosts, func(i, j int) bool { return rank(hosts[i]) < rank(hosts[j]) })
	fmt.Fprintln(w, "Hosts:")
	for _, h := range hosts {
		line := fmt.Sprintf("  %-20s %s", h.Name, h.Status)
		if h.Error != "" {
			line += "  " + h.Error
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
	Changes []jsonChange    `json:"changes"`
	// Journal: the host journal's head after an apply's writes.
	Journal *planner.JournalHead `json:"journal,omitempty"`
}

type jsonChange struct {
	Address string           `json:"address"`
	Kind    string           `json:"kind"`
	Action  resources.Action `json:"action"`
	Summary string           `json:"summary,omitempty"`
	Diff    string           `json:"diff,omitempty"`
	Notes   []string         `json:"notes,omitempty"`
	Outcome string           `json:"outcome,omitempty"`
	Error   string           `json:"error,omitempty"`
}

// JSON writes the plan (or apply outcome) as one JSON document.
func JSON(w io.Writer, p *planner.Plan, mode Mode) error {
	doc := jsonDoc{FormatVersion: planner.FormatVersion, Kind: map[Mode]string{ModePlan: "plan", ModeSaved: "saved-plan", ModeApply: "apply"}[mode], Summary: p.Summary(), Hosts: []jsonHost{}}
	for _, h := range p.Hosts {
		jh := jsonHost{Name: h.Name, Status: h.Status, Error: h.Error, Timings: h.Timings, Changes: []jsonChange{}}
		if mode == ModeApply {
			jh.Journal = h.Journal
		}
		for _, c := range h.Changes {
			if c.Action == "" {
				continue // never read: the host failed first
			}
			jh.Changes = append(jh.Changes, jsonChange{Address: c.Address, Kind: c.Kind, Action: c.Action, Summary: c.Summary,
				Diff: c.Diff, Notes: c.Notes, Outcome: c.Outcome, Error: c.Error})
		}
		doc.Hosts = append(doc.Hosts, jh)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
