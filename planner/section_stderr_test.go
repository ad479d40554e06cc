package planner

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/goprov/goprov/resources"
)

// scriptRes is a resource whose probe is a given script.
type scriptRes struct{ probe string }

func (s *scriptRes) Probe(*resources.Host) string { return s.probe }
func (s *scriptRes) Diff(*resources.Host, []byte) (resources.Change, error) {
	return resources.Change{Action: resources.NoOp}, nil
}
func (s *scriptRes) Apply(context.Context, *resources.Host, resources.Change) error { return nil }

// A resource's read error quotes its own section's stderr, not what the
// other resources of the batch printed there.
func TestReadErrorQuotesOwnSectionStderr(t *testing.T) {
	tg := &Target{Spec: HostSpec{Name: "h", Connection: "local", Root: t.TempDir()}, Resources: []*Instance{
		{Address: "x.noisy", Kind: "x", Value: cty.EmptyObjectVal, Res: &scriptRes{"echo noise-of-the-other >&2; echo ok"}},
		{Address: "x.broken", Kind: "x", Value: cty.EmptyObjectVal, Res: &scriptRes{"echo own-failure >&2; exit 3"}},
	}}
	e := &Engine{Connector: &fakeConnector{runs: map[string]*atomic.Int32{"h": new(atomic.Int32)}}}
	hp := e.Plan(context.Background(), []*Target{tg}).Hosts[0]
	if hp.Status != StatusFailed || !strings.Contains(hp.Error, "x.broken: read state: exit 3: own-failure") {
		t.Fatalf("want x.broken's read to fail quoting its stderr, got %s %q", hp.Status, hp.Error)
	}
	if strings.Contains(hp.Error, "noise-of-the-other") {
		t.Fatalf("error quotes another section's stderr: %q", hp.Error)
	}
}
