package planner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/goprov/goprov/resources"
)

// fakeInstaller "installs a package": it writes the tool's file.
type fakeInstaller struct{ tool, pkg string }

func (f *fakeInstaller) Probe(h *resources.Host) string { return resources.FileProbe(h.Path(f.tool)) }
func (f *fakeInstaller) Diff(h *resources.Host, out []byte) (resources.Change, error) {
	st, err := resources.ParseFileState(out)
	if err != nil {
		return resources.Change{}, err
	}
	if st.Exists {
		return resources.Change{Action: resources.NoOp}, nil
	}
	return resources.Change{Action: resources.Create, Summary: "install " + f.pkg}, nil
}
func (f *fakeInstaller) Apply(ctx context.Context, h *resources.Host, ch resources.Change) error {
	return resources.WriteFile(ctx, h, resources.DesiredFile{Path: f.tool, Content: []byte("#!/bin/sh\n"), Mode: 0o755}, resources.WriteOptions{MkdirMode: 0o755})
}
func (f *fakeInstaller) ProvidesPackages() []string { return []string{f.pkg} }

// fakeToolUser manages a file but cannot plan without its tool, as
// audit_rules cannot without auditctl.
type fakeToolUser struct{ tool, pkg, path, needs string }

func (f *fakeToolUser) Probe(h *resources.Host) string {
	return resources.MultiProbe("if [ -e "+h.Path(f.tool)+" ]; then echo yes; else echo no; fi", resources.FileProbe(h.Path(f.path)))
}
func (f *fakeToolUser) Diff(h *resources.Host, out []byte) (resources.Change, error) {
	parts, err := resources.SplitMulti(out, 2)
	if err != nil {
		return resources.Change{}, err
	}
	if strings.TrimSpace(string(parts[0])) != "yes" {
		return resources.Change{}, fmt.Errorf("read rules: %w", &resources.ToolMissingError{Tool: "faketool", Packages: []string{f.pkg}, Then: "rules will be loaded and verified"})
	}
	st, err := resources.ParseFileState(parts[1])
	if err != nil {
		return resources.Change{}, err
	}
	return resources.FileChange(st, &resources.DesiredFile{Path: f.path, Content: []byte("rules\n"), Mode: 0o644}, f.path), nil
}
func (f *fakeToolUser) Apply(ctx context.Context, h *resources.Host, ch resources.Change) error {
	if f.needs != "" {
		// A dependency of its own (depends_on, a reference) comes first.
		if _, err := os.Stat(filepath.Join(h.Root, f.needs)); err != nil {
			return fmt.Errorf("applied before its dependency: %w", err)
		}
	}
	return resources.WriteFile(ctx, h, resources.DesiredFile{Path: f.path, Content: []byte("rules\n"), Mode: 0o644}, resources.WriteOptions{MkdirMode: 0o755})
}

func depTargets(t *testing.T, withInstaller bool, dependsOn []string) ([]*Target, string) {
	root := t.TempDir()
	tg := &Target{Spec: HostSpec{Name: "a", Connection: "local", Root: root}}
	val := cty.ObjectVal(map[string]cty.Value{"x": cty.StringVal("x")})
	// The dependent comes first: an inferred dependency orders nothing in
	// the configuration, so apply must wait for the package by itself.
	tg.Resources = append(tg.Resources, &Instance{Address: "audit_rules.base", Kind: "fake", Value: val, DependsOn: dependsOn,
		Res: &fakeToolUser{tool: "/usr/sbin/faketool", pkg: "fakepkg", path: "/etc/fake.rules"}})
	if withInstaller {
		tg.Resources = append(tg.Resources, &Instance{Address: "package.hardening", Kind: "fake", Value: val,
			Res: &fakeInstaller{tool: "/usr/sbin/faketool", pkg: "fakepkg"}})
	}
	return []*Target{tg}, root
}

// orderedTargets: the package first, then a resource, then the dependent
// that depends on that resource too (as profile_script refers to
// go_toolchain): it must wait for both.
func orderedTargets(t *testing.T) ([]*Target, string) {
	root := t.TempDir()
	tg := &Target{Spec: HostSpec{Name: "a", Connection: "local", Root: root}}
	val := cty.ObjectVal(map[string]cty.Value{"x": cty.StringVal("x")})
	tg.Resources = []*Instance{
		{Address: "package.hardening", Kind: "fake", Value: val, Res: &fakeInstaller{tool: "/usr/sbin/faketool", pkg: "fakepkg"}},
		{Address: "fake.toolchain", Kind: "fake", Value: val, Res: &fakeRes{path: "/etc/toolchain", want: "go\n"}},
		{Address: "audit_rules.base", Kind: "fake", Value: val, DependsOn: []string{"fake.toolchain"},
			Res: &fakeToolUser{tool: "/usr/sbin/faketool", pkg: "fakepkg", path: "/etc/fake.rules", needs: "/etc/toolchain"}},
	}
	return []*Target{tg}, root
}

// TestToolFromPackageIsKnownAfterApply: a resource whose tool a package
// resource on the same host will install is planned honestly ("known
// after apply", naming the package resource), read again after that
// package resource is applied, then diffed and applied, in one apply.
func TestToolFromPackageIsKnownAfterApply(t *testing.T) {
	for _, tc := range []struct {
		name      string
		dependsOn []string
		inferred  bool
		ordered   bool
	}{
		{"inferred from the tool's package", nil, true, false},
		{"explicit depends_on", []string{"package.hardening"}, false, false},
		{"after its other dependencies too", nil, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, root := depTargets(t, true, tc.dependsOn)
			if tc.ordered {
				ts, root = orderedTargets(t)
			}
			runs := new(atomic.Int32)
			conn := &fakeConnector{runs: map[string]*atomic.Int32{"a": runs}}
			e := &Engine{Connector: conn} // it keeps the plan's resources for Apply
			p := e.Plan(context.Background(), ts)
			hp := p.Hosts[0]
			if hp.Status != StatusPlanned {
				t.Fatalf("plan: %s %s", hp.Status, hp.Error)
			}
			if runs.Load() != 1 {
				t.Fatalf("plan ran %d commands, want 1", runs.Load())
			}
			c := change(hp, "audit_rules.base")
			notes := strings.Join(c.Notes, "; ")
			if c.Action != resources.Create || c.KnownAfterApply != "package.hardening" ||
				!strings.Contains(notes, "faketool not installed yet: rules will be loaded and verified after package.hardening") {
				t.Fatalf("dependent planned %s after %q: %q; notes %q", c.Action, c.KnownAfterApply, c.Summary, notes)
			}
			if strings.Contains(notes, "inferred") != tc.inferred {
				t.Fatalf("notes %q: inferred should be said iff inferred (%v)", notes, tc.inferred)
			}
			hp = e.Apply(context.Background(), p).Applied(p).Hosts[0]
			if hp.Status != StatusApplied {
				t.Fatalf("apply: %s %s", hp.Status, hp.Error)
			}
			for _, c := range hp.Changes {
				if c.Outcome != OutcomeApplied {
					t.Fatalf("%s: outcome %q %s", c.Address, c.Outcome, c.Error)
				}
			}
			if got, err := os.ReadFile(filepath.Join(root, "etc/fake.rules")); err != nil || string(got) != "rules\n" {
				t.Fatalf("dependent not applied: %v %q", err, got)
			}
			p2 := (&Engine{Connector: conn}).Plan(context.Background(), ts)
			if s := p2.Summary(); p2.Hosts[0].Status != StatusPlanned || s.Add+s.Change+s.Destroy != 0 {
				t.Fatalf("next plan not empty: %+v %s", s, p2.Hosts[0].Error)
			}
		})
	}
}

// TestToolMissingWithoutPackageFailsHost: no package resource installs the
// tool: the read fails naming the tool and its package, as before.
func TestToolMissingWithoutPackageFailsHost(t *testing.T) {
	ts, _ := depTargets(t, false, nil)
	conn := &fakeConnector{runs: map[string]*atomic.Int32{"a": new(atomic.Int32)}}
	p := (&Engine{Connector: conn}).Plan(context.Background(), ts)
	if hp := p.Hosts[0]; hp.Status != StatusFailed || !strings.Contains(hp.Error, "faketool is not installed on the host (package fakepkg)") {
		t.Fatalf("%s %s", hp.Status, hp.Error)
	}
}

func change(hp *HostPlan, addr string) *ResourceChange {
	for _, c := range hp.Changes {
		if c.Address == addr {
			return c
		}
	}
	return nil
}
