package views

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

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
				Facts:   &resources.Facts{OS: "linux", Arch: "amd64", UID: "0", Kernel: "6.1.0-28-amd64", SELinux: "disabled", AppArmor: "enabled", AppArmorProfiles: intp(34)},
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

func intp(n int) *int { return &n }

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
	p := appliedPlan()
	var b bytes.Buffer
	Human(&b, p, ModeApply)
	golden(t, "apply.txt", b.Bytes())
}

// appliedPlan is samplePlan after an apply that failed in places.
func appliedPlan() *planner.Plan {
	p := samplePlan()
	p.Hosts[0].Status = planner.StatusApplied
	p.Hosts[0].Changes[0].Outcome = planner.OutcomeApplied
	p.Hosts[0].Changes[1].Outcome = planner.OutcomeFailed
	p.Hosts[0].Changes[1].Error = "remove /etc/profile.d/old.sh: exit status 1: rm: Read-only file system"
	p.Hosts[1].Status = planner.StatusStale
	p.Hosts[1].Error = "img: apply: stale plan: profile_script.go changed on the host since the plan was made; nothing was applied here — plan again"
	return p
}

// Colour is the same document with goprov's own marks painted; the golden
// files hold the raw escape sequences (`cat -v` shows them).
func TestGoldenColor(t *testing.T) {
	color := Text{Color: true}
	var b bytes.Buffer
	color.Human(&b, samplePlan(), ModePlan)
	color.HostSummary(&b, samplePlan())
	golden(t, "plan.color.txt", b.Bytes())
	plain := b.String()
	if !strings.Contains(plain, "\x1b[32m+\x1b[0m profile_script.go") || !strings.Contains(plain, "\x1b[31m-export OLD=1\x1b[0m") {
		t.Errorf("no colour on additions or removals:\n%s", plain)
	}
	// Without the escape sequences, colour output is the plain output.
	var nc bytes.Buffer
	Human(&nc, samplePlan(), ModePlan)
	HostSummary(&nc, samplePlan())
	if got := sgr.ReplaceAllString(plain, ""); got != nc.String() {
		t.Errorf("colour output minus colours differs from plain output:\n%s", cmp.Diff(nc.String(), got))
	}
	b.Reset()
	color.Human(&b, appliedPlan(), ModeApply)
	golden(t, "apply.color.txt", b.Bytes())
}

var sgr = regexp.MustCompile("\x1b\\[[0-9;]*m")

// hostilePlan carries host text full of terminal controls in every field a
// host can reach: diff, notes, errors, summaries, names, addresses.
func hostilePlan() *planner.Plan {
	const esc = "\x1b[2K\x1b[1A"
	return &planner.Plan{
		FormatVersion: planner.FormatVersion,
		Hosts: []*planner.HostPlan{
			{
				Name: "web1" + esc, Spec: planner.HostSpec{Name: "web1", Connection: "ssh", Address: "10.0.0.11\u202e"}, Status: planner.StatusPlanned,
				Changes: []*planner.ResourceChange{
					{Address: `profile_script.x["k` + esc + `"]`, Kind: "profile_script", Action: resources.Update, Summary: "/etc/profile.d/x.sh\r(0644 root:root)",
						Notes: []string{"written, NOT loaded: " + esc + "\nApply complete: 7 added"},
						Diff:  "--- /etc/profile.d/x.sh\n+++ /etc/profile.d/x.sh\n@@ -1,3 +1,2 @@\n-ok" + esc + "\r+export FAKE=1\n-csi \u009b31m raw \x9b31m rlo \u202e\n" + ` +literal \x1b[2K` + "\n+export A=1\n"},
				},
			},
			{
				Name: "db1", Spec: planner.HostSpec{Name: "db1", Connection: "ssh", Address: "10.0.0.21"}, Status: planner.StatusFailed,
				Error:   "db1: lock: host is locked by another apply: mallory" + esc + "\nHost db1 (ssh 10.0.0.21):\n  no changes\a",
				Changes: []*planner.ResourceChange{{Address: "profile_script.x", Kind: "profile_script"}},
			},
		},
	}
}

// Host text is escaped in every field, coloured or not; JSON keeps it
// exact (encoding/json escapes C0 controls; the values read back equal).
func TestHostileGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		text Text
	}{{"hostile.txt", Text{}}, {"hostile.color.txt", Text{Color: true}}} {
		var b bytes.Buffer
		tc.text.Human(&b, hostilePlan(), ModePlan)
		tc.text.HostSummary(&b, hostilePlan())
		golden(t, tc.name, b.Bytes())
		out := sgr.ReplaceAllString(b.String(), "")
		if i := strings.IndexFunc(out, func(r rune) bool {
			return r < 0x20 && r != '\n' && r != '\t' || r == 0x7f || r >= 0x80 && r <= 0x9f || r >= 0x202a && r <= 0x202e || r == utf8.RuneError
		}); i >= 0 {
			t.Errorf("%s: raw control at byte %d: %q", tc.name, i, out[max(0, i-20):min(len(out), i+20)])
		}
		// The fake lines stay, indented under the text they came with.
		headers := 0
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "Apply complete: 7") {
				t.Errorf("%s: host text forged a line of goprov's own: %q", tc.name, line)
			}
			if strings.HasPrefix(line, "Host db1 ") {
				headers++
			}
		}
		if headers != 1 || strings.Count(out, "    Host db1 (ssh 10.0.0.21):") != 2 {
			t.Errorf("%s: want one real host header and two indented fakes:\n%s", tc.name, out)
		}
	}
	var b bytes.Buffer
	if err := JSON(&b, hostilePlan(), ModePlan); err != nil {
		t.Fatal(err)
	}
	if bytes.ContainsRune(b.Bytes(), 0x1b) || bytes.ContainsRune(b.Bytes(), '\r') {
		t.Errorf("JSON holds a raw C0 control:\n%s", b.String())
	}
	var doc jsonDoc
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	want := hostilePlan()
	// JSON strings are UTF-8: the one raw non-UTF-8 byte reads back as U+FFFD.
	wantDiff := strings.ReplaceAll(want.Hosts[0].Changes[0].Diff, "raw \x9b31m", "raw \ufffd31m")
	if got := doc.Hosts[0].Changes[0]; got.Diff != wantDiff || got.Notes[0] != want.Hosts[0].Changes[0].Notes[0] || got.Address != want.Hosts[0].Changes[0].Address {
		t.Errorf("JSON changed host text: %+v", got)
	}
	if doc.Hosts[1].Error != want.Hosts[1].Error {
		t.Errorf("JSON changed an error: %q", doc.Hosts[1].Error)
	}
}
