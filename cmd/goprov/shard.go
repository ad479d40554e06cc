package main

import (
	"fmt"
	"io"

	"github.com/goprov/goprov/internal/shard"
	"github.com/goprov/goprov/planner"
)

// shardTargets keeps the targets in slice spec ("K/N"; "" keeps all). The
// slice is taken after -limit, by host name alone (internal/shard), so a
// host is in the same slice whatever else is selected.
func shardTargets(spec string, targets []*planner.Target, stderr io.Writer) ([]*planner.Target, bool) {
	if spec == "" {
		return targets, true
	}
	s, err := shard.Parse(spec)
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return nil, false
	}
	var out []*planner.Target
	for _, t := range targets {
		if s.Has(t.Spec.Name) {
			out = append(out, t)
		}
	}
	fmt.Fprintf(stderr, "goprov: shard %s: %d of %d selected hosts\n", s, len(out), len(targets))
	return out, true
}

// shardOK checks -shard before anything else happens (a password prompt,
// connections), so a typo costs nothing.
func shardOK(spec string, stderr io.Writer) bool {
	if spec == "" {
		return true
	}
	if _, err := shard.Parse(spec); err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return false
	}
	return true
}
