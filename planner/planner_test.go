package planner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/goprov/goprov/internal/shell"
	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/transport"
)

// Any bytes but the run's own marker (random, never on the host) come back
// exactly, among them another run's headers; output that holds this run's
// marker fails the read, never moves bytes between sections.
func TestBatchFramingSurvivesAnyBytes(t *testing.T) {
	b := newBatch()
	other := newBatch().marker
	nasty := "line\n" + other + " 0\n\x1e42\n" + other + " 0e\nx\n" + other + " end\n\x00\xff\xfe no newline at end"
	f := filepath.Join(t.TempDir(), "nasty")
	if err := os.WriteFile(f, []byte(nasty), 0o600); err != nil {
		t.Fatal(err)
	}
	b.add("cat " + shell.Quote(f))
	b.add("printf ''")
	b.add("echo to-stderr >&2; exit 7")
	b.add("printf 'x\\036'")
	res, err := transport.NewLocal().Run(context.Background(), transport.Cmd{Script: b.script()})
	if err != nil {
		t.Fatal(err)
	}
	secs, err := b.parse(res.Stdout)
	if err != nil {
		t.Fatalf("parse: %v\nstdout: %q", err, res.Stdout)
	}
	want := []section{{out: []byte(nasty)}, {out: []byte{}}, {out: []byte{}, code: 7}, {out: []byte("x\x1e")}}
	for i, w := range want {
		if !bytes.Equal(secs[i].out, w.out) || secs[i].code != w.code {
			t.Errorf("section %d: got %q/%d, want %q/%d", i, secs[i].out, secs[i].code, w.out, w.code)
		}
	}
	// A read cut short is an error, never a silently empty state.
	for n := range len(res.Stdout) {
		if _, err := b.parse(res.Stdout[:n]); err == nil {
			t.Errorf("output cut to %d bytes parsed without error", n)
		}
	}
	// The run's own marker in a file fails the read.
	if err := os.WriteFile(f, []byte("x\n"+b.marker+" 0e\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err = transport.NewLocal().Run(context.Background(), transport.Cmd{Script: b.script()})
	if err != nil {
		t.Fatal(err)
	}
	if secs, err := b.parse(res.Stdout); err == nil {
		t.Errorf("a file holding the run's marker parsed: %+v", secs)
	}
}

// fakeRes is a resource whose state is a file under the host root.
type fakeRes struct{ path, want string }

func (f *fakeRes) Probe(h *resources.Host) string { return resources.FileProbe(h.Path(f.path)) }
func (f *fakeRes) Diff(h *resources.Host, out []byte) (resources.Change, error) {
	cur, err := resources.ParseFileState(out)
	if err != nil {
		return resources.Change{}, err
	}
	return resources.FileChange(cur, &resources.DesiredFile{Path: f.path, Content: []byte(f.want), Mode: 0o644, UID: os.Getuid(), GID: os.Getgid()}, f.path), nil
}
func (f *fakeRes) Apply(ctx context.Context, h *resources.Host, ch resources.Change) error {
	h.Note("applied by fakeRes") // reaches the apply's result, not the plan
	return resources.WriteFile(ctx, h, resources.DesiredFile{Path: f.path, Content: []byte(f.want), Mode: 0o644, UID: os.Getuid(), GID: os.Getgid()}, resources.WriteOptions{MkdirMode: 0o755})
}

// countingTransport counts commands; failing hosts refuse to connect.
type countingTransport struct {
	transport.Transport
	runs *atomic.Int32
}

func (c countingTransport) Run(ctx context.Context, cmd transport.Cmd) (transport.Result, error) {
	c.runs.Add(1)
	return c.Transport.Run(ctx, cmd)
}

type fakeConnector struct {
	down map[string]bool
	runs map[string]*atomic.Int32
}

func (f *fakeConnector) Connect(ctx context.Context, h HostSpec) (transport.Transport, error) {
	if f.down[h.Name] {
		return nil, errors.New("dial tcp: connection refused")
	}
	return countingTransport{transport.NewLocal(), f.runs[h.Name]}, nil
}

func targets(t *testing.T, names []string, nres int) ([]*Target, map[string]string) {
	roots := map[string]string{}
	var ts []*Target
	for _, n := range names {
		root := t.TempDir()
		roots[n] = root
		tg := &Target{Spec: HostSpec{Name: n, Connection: "local", Root: root}}
		for i := 0; i < nres; i++ {
			tg.Resources = append(tg.Resources, &Instance{Address: fmt.Sprintf("fake.r%d", i), Kind: "fake",
				Value: cty.ObjectVal(map[string]cty.Value{"i": cty.NumberIntVal(int64(i))}),
				Res:   &fakeRes{path: fmt.Sprintf("/etc/r%d", i), want: fmt.Sprintf("content %d\n", i)}})
		}
		ts = append(ts, tg)
	}
	return ts, roots
}

func TestOneReadPerHostAndFailedHostsDoNotStopOthers(t *testing.T) {
	names := []string{"a", "b", "c", "d"}
	ts, roots := targets(t, names, 5)
	conn := &fakeConnector{down: map[string]bool{"c": true}, runs: map[string]*atomic.Int32{}}
	for _, n := range names {
		conn.runs[n] = new(atomic.Int32)
	}
	e := &Engine{Connector: conn, Parallel: 2}
	p := e.Plan(context.Background(), ts)
	for _, h := range p.Hosts {
		if h.Name == "c" {
			if h.Status != StatusFailed || !strings.Contains(h.Error, "c: connect: dial tcp") {
				t.Errorf("host c: want failed with a connect error naming it, got %s %q", h.Status, h.Error)
			}
			continue
		}
		if h.Status != StatusPlanned {
			t.Errorf("host %s: %s %s", h.Name, h.Status, h.Error)
		}
		if got := conn.runs[h.Name].Load(); got != 1 {
			t.Errorf("host %s: plan of 5 resources ran %d commands, want 1", h.Name, got)
		}
	}
	if s := p.Summary(); s.Add != 15 || s.Failed != 1 {
		t.Fatalf("summary %+v, want 15 to add and 1 failed host", s)
	}
	e.Apply(context.Background(), p)
	for _, n := range []string{"a", "b", "d"} {
		got, err := os.ReadFile(filepath.Join(roots[n], "etc/r4"))
		if err != nil || string(got) != "content 4\n" {
			t.Errorf("host %s not applied: %v %q", n, err, got)
		}
	}
	// Next plan is empty.
	p2 := (&Engine{Connector: conn}).Plan(context.Background(), ts)
	if s := p2.Summary(); s.Add+s.Change+s.Destroy != 0 {
		t.Fatalf("second plan not empty: %+v", s)
	}
}

func TestStaleSavedPlanRefusesHost(t *testing.T) {
	ts, roots := targets(t, []string{"a", "b"}, 2)
	// The fake kind must be buildable from a saved plan.
	registerFakeOnce()
	for _, tg := range ts {
		for i, in := range tg.Resources {
			in.Value = cty.ObjectVal(map[string]cty.Value{"path": cty.StringVal(fmt.Sprintf("/etc/r%d", i)), "want": cty.StringVal(fmt.Sprintf("content %d\n", i))})
		}
	}
	conn := &fakeConnector{runs: map[string]*atomic.Int32{"a": new(atomic.Int32), "b": new(atomic.Int32)}}
	p := (&Engine{Connector: conn}).Plan(context.Background(), ts)
	file := filepath.Join(t.TempDir(), "p.plan")
	if err := WritePlanFile(file, p); err != nil {
		t.Fatal(err)
	}
	// Host a changes after the plan.
	os.MkdirAll(filepath.Join(roots["a"], "etc"), 0o755)
	os.WriteFile(filepath.Join(roots["a"], "etc/r1"), []byte("hand made\n"), 0o644)
	saved, err := ReadPlanFile(file)
	if err != nil {
		t.Fatal(err)
	}
	saved = (&Engine{Connector: conn}).Apply(context.Background(), saved).Applied(saved)
	for _, h := range saved.Hosts {
		switch h.Name {
		case "a":
			if h.Status != StatusStale || !strings.Contains(h.Error, "stale plan") {
				t.Errorf("a: want stale, got %s %s", h.Status, h.Error)
			}
			if _, err := os.Stat(filepath.Join(roots["a"], "etc/r0")); !os.IsNotExist(err) {
				t.Error("a: stale host was changed")
			}
		case "b":
			if h.Status != StatusApplied {
				t.Errorf("b: want applied, got %s %s", h.Status, h.Error)
			}
		}
	}
}

var registered atomic.Bool

func registerFakeOnce() {
	if registered.CompareAndSwap(false, true) {
		resources.Register("fake", fakeKind{})
	}
}

// The plan is data: Apply returns what it did and leaves the plan it was
// given exactly as it was (every field, Diff and journal head included),
// for a fresh plan, a plan made under the lock and a saved plan alike.
func TestApplyLeavesThePlanAlone(t *testing.T) {
	registerFakeOnce()
	for _, how := range []string{"plan", "plan under the lock", "saved plan"} {
		t.Run(how, func(t *testing.T) {
			ts, _ := targets(t, []string{"a", "b"}, 3)
			for _, tg := range ts {
				for i, in := range tg.Resources {
					in.Value = cty.ObjectVal(map[string]cty.Value{"path": cty.StringVal(fmt.Sprintf("/etc/r%d", i)), "want": cty.StringVal(fmt.Sprintf("content %d\n", i))})
				}
			}
			conn := &fakeConnector{runs: map[string]*atomic.Int32{"a": new(atomic.Int32), "b": new(atomic.Int32)}}
			e := &Engine{Connector: conn}
			defer e.Close()
			var p *Plan
			switch how {
			case "plan":
				p = e.Plan(context.Background(), ts)
			case "plan under the lock":
				p = e.PlanLocked(context.Background(), ts)
			case "saved plan":
				file := filepath.Join(t.TempDir(), "p.plan")
				if err := WritePlanFile(file, e.Plan(context.Background(), ts)); err != nil {
					t.Fatal(err)
				}
				var err error
				if p, err = ReadPlanFile(file); err != nil {
					t.Fatal(err)
				}
			}
			before := snapshotPlan(t, p)
			res := e.Apply(context.Background(), p)
			if d := cmp.Diff(before, snapshotPlan(t, p)); d != "" {
				t.Fatalf("Apply changed the plan it was given (-before +after):\n%s", d)
			}
			applied := res.Applied(p)
			for _, hp := range applied.Hosts {
				if hp.Status != StatusApplied || hp.Journal == nil {
					t.Errorf("result: host %s: %s %q, journal %v", hp.Name, hp.Status, hp.Error, hp.Journal)
				}
				for _, c := range hp.Changes {
					if c.Outcome != OutcomeApplied || !slices.Contains(c.Notes, "applied by fakeRes") {
						t.Errorf("result: %s %s: outcome %q, notes %q", hp.Name, c.Address, c.Outcome, c.Notes)
					}
				}
			}
		})
	}
}

// snapshotPlan is every exported field of p, the ones JSON leaves out
// included, as plain values.
func snapshotPlan(t *testing.T, p *Plan) any {
	t.Helper()
	type host struct {
		JSON    string
		Journal *JournalHead
		Diffs   []string
	}
	var out []host
	for _, hp := range p.Hosts {
		b, err := json.Marshal(hp)
		if err != nil {
			t.Fatal(err)
		}
		h := host{JSON: string(b)}
		if hp.Journal != nil {
			j := *hp.Journal
			h.Journal = &j
		}
		for _, c := range hp.Changes {
			h.Diffs = append(h.Diffs, c.Diff)
		}
		out = append(out, h)
	}
	return out
}
