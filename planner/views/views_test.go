package views

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/goprov/goprov/planner"
	"github.com/goprov/goprov/resources"
)

var update = flag.Bool("update", false, "rewrite golden files")

func samplePlan() *planner.Plan {
	return &planner.Plan{
		FormatVersion: planner.FormatVersion,
		CreatedAt:     time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC),
		Hosts: []*planner.HostPlan{
			{
				Name: "web1", Spec: planner.HostSpec{Name: "web1", Connection: "ssh", Address: "10.0.0.11"}, Status: planner.StatusPlanned,
				Timings: planner.Timings{ConnectMS: 90, ReadMS: 4},
				Changes: []*planner.ResourceChange{
					{Address: "profile_script.go", Kind: "profile_script", Action: resources.Create, Summary: "/etc/profile.d/go.sh (0644 root:root)",
						Diff: "--- /dev/null\n+++ /etc/profile.d/go.sh\n@@ -0,0 +1 @@\n+export GOPATH=/opt/go\n"},
					{Address: "profile_script.old", Kind: "profile_script", Action: resources.Delete, Summary: "/etc/profile.d/old.sh",
						Diff: "--- /etc/profile.d/old.sh\n+++ /dev/null\n@@ -1 +0,0 @@\n-export OLD=1\n"},
					{Address: "profile_script.same", Kind: "profile_script", Action: resources.NoOp, Summary: "/etc/profile.d/same.sh (0644 root:root)"},
				},
			},
			{
				Name: "img", Spec: planner.HostSpec{Name: "img", Connection: "local", Root: "/mnt/image"}, Status: planner.StatusPlanned,
				Changes: []*planner.ResourceChange{
					{Address: "profile_script.go", Kind: "profile_script", Action: resources.Update, Summary: "/etc/profile.d/go.sh (0644 root:root)",
						Notes: []string{"mode 0600 → 0644"}, Diff: "--- /etc/profile.d/go.sh\n+++ /etc/profile.d/go.sh\n@@ -1 +1 @@\n-export GOPATH=/srv/go\n+export GOPATH=/opt/go\n"},
				},
			},
			{
				Name: "db1", Spec: planner.HostSpec{Name: "db1", Connection: "ssh", Address: "10.0.0.21"}, Status: planner.StatusFailed,
				Error:   "db1: connect: ssh: connect 10.0.0.21:22: i/o timeout",
				Changes: []*planner.ResourceChange{{Address: "profile_script.go", Kind: "profile_script"}},
			},
		},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./planner/views -update to create it)", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s differs (-want +got):\n%s", name, d)
	}
}

func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode Mode
	}{{"plan", ModePlan}, {"saved", ModeSaved}} {
		var b bytes.Buffer
		Human(&b, samplePlan(), tc.mode)
		HostSummary(&b, samplePlan())
		golden(t, tc.name+".txt", b.Bytes())
		b.Reset()
		if err := JSON(&b, samplePlan(), tc.mode); err != nil {
			t.Fatal(err)
		}
		golden(t, tc.name+".json", b.Bytes())
	}
	p := samplePlan()
	p.Hosts[0].Status = planner.StatusApplied
	p.Hosts[0].Changes[0].Outcome = planner.OutcomeApplied
	p.Hosts[0].Changes[1].Outcome = planner.OutcomeFailed
	p.Hosts[0].Changes[1].Error = "remove /etc/profile.d/old.sh: exit status 1: rm: Read-only file system"
	p.Hosts[1].Status = planner.StatusStale
	p.Hosts[1].Error = "img: apply: stale plan: profile_script.go changed on the host since the plan was made; nothing was applied here — plan again"
	var b bytes.Buffer
	Human(&b, p, ModeApply)
	golden(t, "apply.txt", b.Bytes())
}
