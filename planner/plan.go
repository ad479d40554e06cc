// Package planner turns compiled targets (internal/compile) into a plan
// (plain data: per host, per resource, an action and its before/after),
// and applies a plan across hosts with bounded parallelism. It never prints: views render
// what it returns.
package planner

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/goprov/goprov/internal/hostspec"
	"github.com/goprov/goprov/resources"
)

// FormatVersion of saved plan files and of the JSON view. Bump it on any
// incompatible change; readers refuse versions they do not know.
const FormatVersion = 1

// HostSpec is how to reach a host (see hostspec.Spec).
type HostSpec = hostspec.Spec

// Plan is the result of planning: data, renderable and savable.
type Plan struct {
	FormatVersion int         `json:"format_version"`
	CreatedAt     time.Time   `json:"created_at"`
	ConfigDir     string      `json:"config_dir,omitempty"`
	Hosts         []*HostPlan `json:"hosts"`
}

// Status is where a host is in a run, as the plan's "status" says.
type Status string

// Host statuses.
const (
	StatusPlanned Status = "planned" // read and diffed
	StatusFailed  Status = "failed"  // could not connect, read or apply
	StatusStale   Status = "stale"   // a saved plan no longer matches the host
	StatusApplied Status = "applied"
)

// HostPlan is one host's part of a plan (and, after apply, its outcome).
type HostPlan struct {
	Name    string            `json:"name"`
	Spec    HostSpec          `json:"spec"`
	Status  Status            `json:"status"`
	Error   string            `json:"error,omitempty"`
	Changes []*ResourceChange `json:"changes"`
	Timings Timings           `json:"timings"`
	// Facts are what the last read learnt of the host (nil before a read).
	Facts *resources.Facts `json:"facts,omitempty"`
	// Journal is the host journal's head after an apply (nil when apply did
	// not read or could not write it). Never saved in plan files.
	Journal *JournalHead `json:"-"`
}

// Timings of the steps on a host, in milliseconds.
type Timings struct {
	ConnectMS int64 `json:"connect_ms"`
	ReadMS    int64 `json:"read_ms"`
	ApplyMS   int64 `json:"apply_ms,omitempty"`
}

// Outcome is what apply did with one change.
type Outcome string

// Outcomes of a change at apply ("" before apply, and for no-op changes).
const (
	OutcomeApplied Outcome = "applied"
	OutcomeFailed  Outcome = "failed"
	OutcomeSkipped Outcome = "skipped"
)

// ResourceChange is one resource's planned change on one host.
type ResourceChange struct {
	Address string           `json:"address"`
	Kind    string           `json:"kind"`
	Action  resources.Action `json:"action"`
	Summary string           `json:"summary,omitempty"`
	// Diff is shown by plan and its JSON view, but never saved in plan
	// files: it holds current file content, which may be secret.
	Diff  string   `json:"diff,omitempty"`
	Notes []string `json:"notes,omitempty"`
	// BeforeDigest is the SHA-256 of what the read found; apply of a saved
	// plan refuses a host where it no longer matches.
	BeforeDigest string `json:"before_digest"`
	// SHA-256 of the content before and as desired, for the journal.
	BeforeSHA256 string `json:"before_sha256,omitempty"`
	AfterSHA256  string `json:"after_sha256,omitempty"`
	// Value is the resource's evaluated configuration (cty JSON, with its
	// type), from which apply rebuilds it.
	Value     json.RawMessage `json:"value"`
	DependsOn []string        `json:"depends_on,omitempty"`
	// KnownAfterApply is the package resource whose apply installs this
	// resource's missing tool: the change is read and diffed again after
	// it (planner/deps.go).
	KnownAfterApply string  `json:"known_after_apply,omitempty"`
	Outcome         Outcome `json:"outcome,omitempty"`
	Error           string  `json:"error,omitempty"`
}

// Summary counts changes as Terraform does.
type Summary struct {
	Add     int `json:"add"`
	Change  int `json:"change"`
	Destroy int `json:"destroy"`
	Failed  int `json:"failed_hosts"`
}

// Summary of the plan.
func (p *Plan) Summary() Summary {
	var s Summary
	for _, h := range p.Hosts {
		if h.Status == StatusFailed || h.Status == StatusStale {
			s.Failed++
		}
		for _, c := range h.Changes {
			switch c.Action {
			case resources.Create:
				s.Add++
			case resources.Update:
				s.Change++
			case resources.Delete:
				s.Destroy++
			}
		}
	}
	return s
}

// HasChanges reports whether applying the plan would change anything.
func (p *Plan) HasChanges() bool {
	s := p.Summary()
	return s.Add+s.Change+s.Destroy > 0
}

// planFile is the on-disk shape of a saved plan.
type planFile struct {
	Kind string `json:"kind"`
	*Plan
}

const planFileKind = "goprov-plan"

// WritePlanFile saves p to path (0600): no file content, no diff, no
// secret, only what apply needs to redo exactly this plan.
func WritePlanFile(path string, p *Plan) error {
	cp := *p
	cp.Hosts = make([]*HostPlan, len(p.Hosts))
	for i, h := range p.Hosts {
		hc := *h
		hc.Changes = make([]*ResourceChange, len(h.Changes))
		for j, c := range h.Changes {
			cc := *c
			cc.Diff = ""
			hc.Changes[j] = &cc
		}
		cp.Hosts[i] = &hc
	}
	b, err := json.MarshalIndent(planFile{Kind: planFileKind, Plan: &cp}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode plan: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write plan: %w", err)
	}
	return nil
}

// ReadPlanFile loads a saved plan and checks that each of its resources
// can be rebuilt from its kind and value (apply rebuilds them).
func ReadPlanFile(path string) (*Plan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	var pf planFile
	if err := json.Unmarshal(b, &pf); err != nil || pf.Plan == nil || pf.Kind != planFileKind {
		return nil, fmt.Errorf("%s is not a goprov plan file", path)
	}
	if pf.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("%s: plan format version %d, this goprov reads %d", path, pf.FormatVersion, FormatVersion)
	}
	for _, h := range pf.Hosts {
		for _, c := range h.Changes {
			if _, err := rebuild(c.Kind, c.Address, c.Value); err != nil {
				return nil, fmt.Errorf("%s: %s: %w", path, c.Address, err)
			}
		}
	}
	return pf.Plan, nil
}
