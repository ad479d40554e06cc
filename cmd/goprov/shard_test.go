package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// shardConfig is n local hosts (image roots), one resource each.
func shardConfig(t *testing.T, n int) (string, []string) {
	t.Helper()
	var b strings.Builder
	var names []string
	for i := range n {
		name := fmt.Sprintf("img%02d", i)
		names = append(names, name)
		fmt.Fprintf(&b, "host %q {\n  connection = \"local\"\n  root       = %q\n}\n", name, t.TempDir())
	}
	b.WriteString("resource \"profile_script\" \"go\" {\n  name = \"go\"\n  env  = { GOPATH = \"/opt/go\" }\n}\n")
	return writeConfig(t, b.String()), names
}

type shardDoc struct {
	Kind  string
	Hosts []struct {
		Name    string
		Changes []struct{ Address, Action string }
	}
	Summary struct {
		Add    int
		Failed int `json:"failed_hosts"`
	}
}

func hostNames(t *testing.T, out string) []string {
	t.Helper()
	var d shardDoc
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	var names []string
	for _, h := range d.Hosts {
		names = append(names, h.Name)
	}
	return names
}

// -shard K/N plans the K-th of N slices: together the slices are every
// selected host, each exactly once, and a host's slice does not depend on
// which other hosts exist.
func TestShardPlan(t *testing.T) {
	requireRoot(t)
	cfg, all := shardConfig(t, 12)
	seen := map[string]string{}
	dir := t.TempDir()
	var views, plans []string
	for k := 1; k <= 3; k++ {
		spec := fmt.Sprintf("%d/3", k)
		view := filepath.Join(dir, fmt.Sprintf("slice%d.json", k))
		plan := filepath.Join(dir, fmt.Sprintf("slice%d.plan", k))
		r := goprov(t, "plan", cfg, "-shard", spec, "-json", "-out", plan)
		if r.code != 0 {
			t.Fatalf("plan -shard %s: exit %d\n%s", spec, r.code, r.stderr)
		}
		if err := os.WriteFile(view, []byte(r.stdout), 0o600); err != nil {
			t.Fatal(err)
		}
		views, plans = append(views, view), append(plans, plan)
		for _, h := range hostNames(t, r.stdout) {
			if prev, dup := seen[h]; dup {
				t.Errorf("%s is in slices %s and %s", h, prev, spec)
			}
			seen[h] = spec
		}
	}
	if len(seen) != len(all) {
		t.Errorf("slices cover %d of %d hosts: %v", len(seen), len(all), seen)
	}
	// Stable: with fewer hosts (-limit), every host keeps its slice.
	r := goprov(t, "plan", cfg, "-shard", "2/3", "-limit", "host.img00,host.img01,host.img02,host.img03,host.img04", "-json")
	if r.code != 0 {
		t.Fatalf("plan -shard -limit: %d %s", r.code, r.stderr)
	}
	for _, h := range hostNames(t, r.stdout) {
		if seen[h] != "2/3" {
			t.Errorf("with -limit, %s moved to slice 2/3 (was %s)", h, seen[h])
		}
	}
	// Bad values are refused with a clear error.
	for _, bad := range []string{"0/3", "4/3", "x", "1/0"} {
		if r := goprov(t, "plan", cfg, "-shard", bad); r.code != 1 || !strings.Contains(r.stderr, "-shard") {
			t.Errorf("-shard %s: exit %d %s", bad, r.code, r.stderr)
		}
	}

	// show -json merges the slices' views, or their saved plans, into one
	// report of every host.
	for _, inputs := range [][]string{views, plans, {views[0], plans[1], views[2]}} {
		r := goprov(t, append([]string{"show", "-json"}, inputs...)...)
		if r.code != 0 {
			t.Fatalf("show -json %v: %d %s", inputs, r.code, r.stderr)
		}
		var d shardDoc
		if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
			t.Fatal(err)
		}
		got := hostNames(t, r.stdout)
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(all, ",") || d.Summary.Add != len(all) {
			t.Errorf("merged %v: hosts %v, summary %+v", inputs, got, d.Summary)
		}
	}
	// The same host in two inputs is an error (overlapping slices).
	if r := goprov(t, "show", "-json", views[0], views[0]); r.code != 1 || !strings.Contains(r.stderr, "in both") {
		t.Errorf("show -json twice the same slice: exit %d %s", r.code, r.stderr)
	}
}
