package planner

import (
	"context"
	"fmt"

	"github.com/goprov/goprov/resources"
)

// A writeRun is a stretch of a host's changes, consecutive in apply order
// (no-ops aside), whose kinds carry them out by file writes alone
// (resources.BatchWriter): their files go in one command, in order.
type writeRun struct {
	idx   []int                   // the changes, in apply order
	files [][]resources.FileWrite // each change's files
}

// writeRuns are a host's write runs, by the index of their first change;
// inRun marks the other changes of a run, which the run carries out.
type writeRuns struct {
	start map[int]*writeRun
	inRun map[int]bool
}

// planWriteRuns groups the changes that batch. A change that needs its
// own Apply ends the run before it, so dependency order holds.
//
// Writes are computed from the apply's one read. A file that several
// resources edit (zprofile, shared by profile_scripts; written with
// IfUnchanged) may have been written by an earlier change of this apply
// since: such a change, and any whose files an earlier run writes, is
// left to its own Apply, which reads again.
func planWriteRuns(h *resources.Host, cs []*work) writeRuns {
	runs := writeRuns{start: map[int]*writeRun{}, inRun: map[int]bool{}}
	var cur *writeRun
	written := map[string]bool{} // every file batched so far
	ownApply := false            // an earlier change runs its own Apply
	for i, c := range cs {
		if c.Action == resources.NoOp {
			continue
		}
		bw, ok := c.res.(resources.BatchWriter)
		var files []resources.FileWrite
		if ok {
			var err error
			files, ok, err = bw.Writes(h, resources.Change{Action: c.Action, Summary: c.Summary, Diff: c.Diff, Notes: c.Notes, Current: c.current})
			ok = ok && err == nil && !stale(files, written, ownApply) // an error is Apply's to report
		}
		if !ok {
			cur, ownApply = nil, true
			continue
		}
		if cur == nil {
			cur = &writeRun{}
			runs.start[i] = cur
		} else {
			runs.inRun[i] = true
		}
		cur.idx = append(cur.idx, i)
		cur.files = append(cur.files, files)
		for _, f := range files {
			written[f.File.Path] = true
		}
	}
	return runs
}

// stale reports whether files may rest on a read that an earlier change
// of the apply made out of date.
func stale(files []resources.FileWrite, written map[string]bool, ownApply bool) bool {
	for _, f := range files {
		if written[f.File.Path] || ownApply && f.Opt.IfUnchanged != nil {
			return true
		}
	}
	return false
}

// applyRun writes a run's files in one command and records each change's
// outcome: applied when all its files are written, failed for the one
// whose file failed, skipped after it. It returns the failure, if any.
func applyRun(ctx context.Context, h *resources.Host, hp *HostPlan, r *writeRun) error {
	var all []resources.FileWrite
	var owner []int // index into r.idx of each file
	for k, fs := range r.files {
		all = append(all, fs...)
		for range fs {
			owner = append(owner, k)
		}
	}
	done, err := resources.WriteFiles(ctx, h, all)
	failedAt := len(r.idx)
	if err != nil {
		failedAt = owner[done]
	}
	for k, i := range r.idx {
		c := hp.Changes[i]
		switch {
		case k < failedAt:
			c.Outcome = OutcomeApplied
		case k == failedAt:
			c.Outcome, c.Error = OutcomeFailed, fmt.Sprintf("%s: %v", c.Address, err)
		default:
			c.Outcome = OutcomeSkipped
		}
	}
	if err != nil {
		return fmt.Errorf("%s: apply: %s: %v", hp.Name, hp.Changes[r.idx[failedAt]].Address, err)
	}
	return nil
}
