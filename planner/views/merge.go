package views

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/goprov/goprov/planner"
)

// MergeJSON writes one JSON document (docs/json-format.md) of every host
// in files: JSON views (`plan -json`, `apply -json`, `show -json`) or saved
// plans, typically one per `-shard K/N` slice. Hosts are sorted by name and
// the summary is recomputed; a host found in two files (overlapping
// slices) and a mix of plans with apply outcomes are errors.
func MergeJSON(w io.Writer, files []string) error {
	var merged jsonDoc
	from := map[string]string{} // host -> file
	for _, f := range files {
		doc, err := readDoc(f)
		if err != nil {
			return err
		}
		kind, err := mergeKind(merged.Kind, doc.Kind)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		merged.Kind = kind
		for _, h := range doc.Hosts {
			if prev, dup := from[h.Name]; dup {
				return fmt.Errorf("host %q is in both %s and %s: slices overlap", h.Name, prev, f)
			}
			from[h.Name] = f
			merged.Hosts = append(merged.Hosts, h)
		}
	}
	merged.FormatVersion = planner.FormatVersion
	if merged.Hosts == nil {
		merged.Hosts = []jsonHost{}
	}
	sort.Slice(merged.Hosts, func(i, j int) bool { return merged.Hosts[i].Name < merged.Hosts[j].Name })
	merged.Summary = summaryOf(merged.Hosts)
	return encodeDoc(w, merged)
}

// readDoc reads a JSON view, or a saved plan as `show -json` shows it.
func readDoc(path string) (jsonDoc, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return jsonDoc{}, fmt.Errorf("read %w", err)
	}
	var head struct {
		Kind          string `json:"kind"`
		FormatVersion int    `json:"format_version"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return jsonDoc{}, fmt.Errorf("%s is not a goprov JSON view or plan file: %v", path, err)
	}
	if head.FormatVersion != planner.FormatVersion {
		return jsonDoc{}, fmt.Errorf("%s: format version %d, this goprov reads %d", path, head.FormatVersion, planner.FormatVersion)
	}
	switch head.Kind {
	case "goprov-plan":
		p, err := planner.ReadPlanFile(path)
		if err != nil {
			return jsonDoc{}, err
		}
		return docOf(p, ModeSaved), nil
	case "plan", "saved-plan", "apply":
		var d jsonDoc
		if err := json.Unmarshal(b, &d); err != nil {
			return jsonDoc{}, fmt.Errorf("%s: %w", path, err)
		}
		return d, nil
	}
	return jsonDoc{}, fmt.Errorf("%s is not a goprov JSON view or plan file (kind %q)", path, head.Kind)
}

// mergeKind: plans and saved plans merge into a plan; apply outcomes merge
// only with apply outcomes.
func mergeKind(have, next string) (string, error) {
	switch {
	case have == "" || have == next:
		return next, nil
	case have == "apply" || next == "apply":
		return "", fmt.Errorf("cannot merge an apply outcome with a plan")
	}
	return "plan", nil
}

// summaryOf is planner.Plan.Summary of the merged hosts: the status and
// actions are all the count reads, so the same code counts both.
func summaryOf(hosts []jsonHost) planner.Summary {
	var p planner.Plan
	for _, h := range hosts {
		hp := &planner.HostPlan{Name: h.Name, Status: planner.Status(h.Status)}
		for _, c := range h.Changes {
			hp.Changes = append(hp.Changes, &planner.ResourceChange{Address: c.Address, Action: c.Action})
		}
		p.Hosts = append(p.Hosts, hp)
	}
	return p.Summary()
}
