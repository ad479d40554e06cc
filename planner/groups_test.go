package planner

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/goprov/goprov/resources"
)

// lineGroup is a test group: each member wants one line in one shared
// file, which the group reads and writes in one go.
type lineGroup struct{ probes, diffs, applies *atomic.Int32 }

const linesPath = "/etc/lines"

func (lineGroup) Name() string { return "lines" }
func (g lineGroup) Probe(h *resources.Host, members []resources.Resource) string {
	g.probes.Add(1)
	return "cat " + h.Path(linesPath) + " 2>/dev/null || true"
}
func (g lineGroup) Diff(h *resources.Host, members []resources.Resource, probe []byte) ([]resources.Change, []error) {
	g.diffs.Add(1)
	have := map[string]bool{}
	for _, l := range strings.Split(string(probe), "\n") {
		have[l] = true
	}
	chs := make([]resources.Change, len(members))
	for i, m := range members {
		chs[i].Action = resources.NoOp
		if !have[m.(*lineRes).line] {
			chs[i].Action = resources.Create
		}
	}
	return chs, make([]error, len(members))
}
func (g lineGroup) Apply(ctx context.Context, h *resources.Host, members []resources.Resource, chs []resources.Change) error {
	g.applies.Add(1)
	var b strings.Builder
	for _, m := range members {
		b.WriteString(m.(*lineRes).line + "\n")
	}
	return resources.WriteFile(ctx, h, resources.DesiredFile{Path: linesPath, Content: []byte(b.String()), Mode: 0o644, UID: os.Getuid(), GID: os.Getgid()}, resources.WriteOptions{MkdirMode: 0o755})
}

type lineRes struct {
	line string
	g    lineGroup
}

func (l *lineRes) Group() resources.Group { return l.g }
func (l *lineRes) Probe(h *resources.Host) string {
	return l.g.Probe(h, []resources.Resource{l})
}
func (l *lineRes) Diff(h *resources.Host, out []byte) (resources.Change, error) {
	chs, errs := l.g.Diff(h, []resources.Resource{l}, out)
	return chs[0], errs[0]
}
func (l *lineRes) Apply(ctx context.Context, h *resources.Host, ch resources.Change) error {
	return l.g.Apply(ctx, h, []resources.Resource{l}, []resources.Change{ch})
}

// The planner hands a group all its members on a host in one call per
// step (one probe, one diff, one apply), at the place of its first member,
// and every member's digest covers the group's whole read.
func TestGroupReadDiffedAppliedInOneCall(t *testing.T) {
	g := lineGroup{new(atomic.Int32), new(atomic.Int32), new(atomic.Int32)}
	root := t.TempDir()
	val := cty.ObjectVal(map[string]cty.Value{})
	tg := &Target{Spec: HostSpec{Name: "h", Connection: "local", Root: root}, Resources: []*Instance{
		{Address: "line.a", Kind: "line", Value: val, Res: &lineRes{"a", g}},
		{Address: "fake.f", Kind: "fake", Value: val, Res: &fakeRes{path: "/etc/f", want: "f\n"}},
		{Address: "line.b", Kind: "line", Value: val, Res: &lineRes{"b", g}},
	}}
	runs := new(atomic.Int32)
	e := &Engine{Connector: &fakeConnector{runs: map[string]*atomic.Int32{"h": runs}}}
	p := e.Plan(context.Background(), []*Target{tg})
	hp := p.Hosts[0]
	if hp.Status != StatusPlanned {
		t.Fatalf("plan: %s %s", hp.Status, hp.Error)
	}
	if runs.Load() != 1 || g.probes.Load() != 1 || g.diffs.Load() != 1 {
		t.Fatalf("plan: %d commands, %d group probes, %d group diffs; want 1 each", runs.Load(), g.probes.Load(), g.diffs.Load())
	}
	a, b := hp.Changes[0], hp.Changes[2]
	if a.Action != resources.Create || b.Action != resources.Create || a.BeforeDigest == "" || a.BeforeDigest != b.BeforeDigest {
		t.Fatalf("members: %s %q, %s %q; want both create with the group's one digest", a.Action, a.BeforeDigest, b.Action, b.BeforeDigest)
	}
	hp = e.Apply(context.Background(), p).Applied(p).Hosts[0]
	if hp.Status != StatusApplied || g.applies.Load() != 1 {
		t.Fatalf("apply: %s %s, %d group applies; want applied by one", hp.Status, hp.Error, g.applies.Load())
	}
	for _, c := range hp.Changes {
		if c.Outcome != OutcomeApplied {
			t.Errorf("%s: outcome %q", c.Address, c.Outcome)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(root, linesPath)); string(got) != "a\nb\n" {
		t.Fatalf("lines file %q", got)
	}
	p2 := e.Plan(context.Background(), []*Target{tg})
	if s := p2.Summary(); s.Add+s.Change+s.Destroy+s.Failed != 0 {
		t.Fatalf("second plan not empty: %+v", s)
	}
}

// A group whose read fails fails the host once, naming every member; no
// member reports that it was read out of order.
func TestGroupReadFailureNamesMembers(t *testing.T) {
	g := lineGroup{new(atomic.Int32), new(atomic.Int32), new(atomic.Int32)}
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, linesPath), 0o755); err != nil { // cat of a directory fails
		t.Fatal(err)
	}
	failing := &failingGroupRes{lineRes{"a", g}}
	tg := &Target{Spec: HostSpec{Name: "h", Connection: "local", Root: root}, Resources: []*Instance{
		{Address: "line.a", Kind: "line", Value: cty.EmptyObjectVal, Res: failing},
		{Address: "line.b", Kind: "line", Value: cty.EmptyObjectVal, Res: &failingGroupRes{lineRes{"b", g}}},
	}}
	e := &Engine{Connector: &fakeConnector{runs: map[string]*atomic.Int32{"h": new(atomic.Int32)}}}
	hp := e.Plan(context.Background(), []*Target{tg}).Hosts[0]
	if hp.Status != StatusFailed || !strings.Contains(hp.Error, "line.a, line.b: read state: exit") || strings.Contains(hp.Error, "order") {
		t.Fatalf("want a failed read naming both members, got %s %q", hp.Status, hp.Error)
	}
}

// failingGroupRes is a lineRes whose group's read exits non-zero.
type failingGroupRes struct{ lineRes }

type failingGroup struct{ lineGroup }

func (f *failingGroupRes) Group() resources.Group { return failingGroup{f.g} }
func (failingGroup) Probe(h *resources.Host, _ []resources.Resource) string {
	return "cat " + h.Path(linesPath)
}
