// Package labtest runs goprov configurations against testinfra's real SSH
// hosts through the real DSL, planner, and SSH transport — the same path
// the CLI takes, minus flag parsing — so resource kinds can prove their
// behaviour on real hosts in a few lines.
package labtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goprov/goprov/dsl"
	"github.com/goprov/goprov/internal/compile"
	"github.com/goprov/goprov/internal/connect"
	"github.com/goprov/goprov/planner"
	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/testinfra"
)

// Inventory returns host blocks for the lab's hosts (h1…hN), logging in as
// user with become = true, with the lab's key and known_hosts. Each host
// is in group "lab" and in group "<name>" for easy targeting.
func Inventory(lab *testinfra.Lab, user string) string {
	var b strings.Builder
	for _, h := range lab.Hosts {
		fmt.Fprintf(&b, "host %q {\n  address       = %q\n  user          = %q\n  identity_file = %q\n  known_hosts   = %q\n  become        = true\n  groups        = [\"lab\"]\n}\n\n",
			h.Name, h.Addr, user, lab.KeyPath(user), lab.KnownHostsPath)
	}
	return b.String()
}

// Write puts the given HCL texts into a fresh directory (main.hcl, then
// extra files f1.hcl, …) and returns it.
func Write(t testing.TB, hcl ...string) string {
	t.Helper()
	dir := t.TempDir()
	for i, src := range hcl {
		name := "main.hcl"
		if i > 0 {
			name = fmt.Sprintf("f%d.hcl", i)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Options of a run.
type Options struct {
	Vars           map[string]string
	Limit          string
	BecomePassword string
	Parallel       int
	Timeout        time.Duration // whole plan or apply; 0: 2 minutes
	RootNetwork    bool          // as -root-network: image roots' download commands may use the network
}

// Session keeps one engine (one connection per host) across a plan and
// its apply, as `goprov apply DIR` does.
type Session struct {
	Engine  *planner.Engine
	Targets []*planner.Target
	t       testing.TB
	opts    Options
}

// Load evaluates dir and opens a session; configuration errors fail t.
func Load(t testing.TB, dir string, opts Options) *Session {
	t.Helper()
	cfg, diags := dsl.Load(dir, dsl.Options{Vars: opts.Vars, Kinds: resources.Registry{}})
	if diags.HasErrors() {
		t.Fatalf("config: %s", diags.Error())
	}
	targets, diags := compile.Compile(cfg, opts.Limit)
	if diags.HasErrors() {
		t.Fatalf("compile: %s", diags.Error())
	}
	e := &planner.Engine{Connector: &connect.Connector{BecomePassword: opts.BecomePassword, RootNetwork: opts.RootNetwork}, Parallel: opts.Parallel}
	t.Cleanup(func() { e.Close() })
	return &Session{Engine: e, Targets: targets, t: t, opts: opts}
}

func (s *Session) ctx() (context.Context, context.CancelFunc) {
	d := s.opts.Timeout
	if d == 0 {
		d = 2 * time.Minute
	}
	return context.WithTimeout(context.Background(), d)
}

// Plan reads every host and returns the plan.
func (s *Session) Plan() *planner.Plan {
	ctx, cancel := s.ctx()
	defer cancel()
	return s.Engine.Plan(ctx, s.Targets)
}

// Apply applies p and, for the tests' convenience, sets *p to the plan as
// applied (outcomes, statuses); it returns p.
func (s *Session) Apply(p *planner.Plan) *planner.Plan {
	ctx, cancel := s.ctx()
	defer cancel()
	*p = *s.Engine.Apply(ctx, p).Applied(p)
	return p
}

// Plan is Load + Plan in a fresh session.
func Plan(t testing.TB, dir string, opts Options) *planner.Plan {
	t.Helper()
	return Load(t, dir, opts).Plan()
}

// Apply is Load + Plan + Apply in a fresh session.
func Apply(t testing.TB, dir string, opts Options) *planner.Plan {
	t.Helper()
	s := Load(t, dir, opts)
	return s.Apply(s.Plan())
}

// RequireOK fails t unless every host of p planned or applied cleanly.
func RequireOK(t testing.TB, p *planner.Plan) {
	t.Helper()
	for _, h := range p.Hosts {
		if h.Status == planner.StatusFailed || h.Status == planner.StatusStale {
			t.Fatalf("host %s %s: %s", h.Name, h.Status, h.Error)
		}
	}
}

// RequireEmpty fails t unless p changes nothing (and no host failed).
func RequireEmpty(t testing.TB, p *planner.Plan) {
	t.Helper()
	RequireOK(t, p)
	for _, h := range p.Hosts {
		for _, c := range h.Changes {
			if c.Action != resources.NoOp {
				t.Fatalf("host %s: %s: want no-op, got %s (%s)\n%s", h.Name, c.Address, c.Action, strings.Join(c.Notes, "; "), c.Diff)
			}
		}
	}
}

// Change returns host's planned change of address (nil if absent).
func Change(p *planner.Plan, host, address string) *planner.ResourceChange {
	for _, h := range p.Hosts {
		if h.Name != host {
			continue
		}
		for _, c := range h.Changes {
			if c.Address == address {
				return c
			}
		}
	}
	return nil
}

// HostPlan returns the named host's part of p.
func HostPlan(p *planner.Plan, host string) *planner.HostPlan {
	for _, h := range p.Hosts {
		if h.Name == host {
			return h
		}
	}
	return nil
}
