package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/planner"
	"github.com/goprov/goprov/planner/journal"
	"github.com/goprov/goprov/testinfra"
)

// hostJournalConfig manages one profile script whose content changes with
// variant, so every apply writes one journal record.
func hostJournalConfig(variant int) string {
	return fmt.Sprintf("resource \"profile_script\" \"j\" {\n  name = \"journaled\"\n  env = {\n    V = \"%d\"\n  }\n}\n", variant)
}

type journalAnchor struct {
	Head    string `json:"head"`
	Records int    `json:"records"`
}

// applyJSON runs `apply -auto-approve -json` with extra flags and returns
// the journal anchor it reports for host.
func applyJSON(t *testing.T, cfg, host string, extra ...string) journalAnchor {
	t.Helper()
	r := goprov(t, append([]string{"apply", "-auto-approve", "-json"}, append(extra, cfg)...)...)
	if r.code != 0 {
		t.Fatalf("apply: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var doc struct {
		Hosts []struct {
			Name    string         `json:"name"`
			Journal *journalAnchor `json:"journal"`
		} `json:"hosts"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("apply -json: %v\n%s", err, r.stdout)
	}
	for _, h := range doc.Hosts {
		if h.Name == host {
			if h.Journal == nil || len(h.Journal.Head) != 64 {
				t.Fatalf("apply -json reports no journal head for %s:\n%s", host, r.stdout)
			}
			return *h.Journal
		}
	}
	t.Fatalf("apply -json has no host %s:\n%s", host, r.stdout)
	return journalAnchor{}
}

// copyHostJournal copies the host's journal directory (as a pipeline would
// fetch it) and returns the path of journal.jsonl in the copy.
func copyHostJournal(t *testing.T, h *testinfra.Host) string {
	t.Helper()
	src := filepath.Join(h.RootDir, "var/log/goprov")
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dst, "journal.jsonl")
}

func verifyHead(t *testing.T, file string, a journalAnchor) result {
	t.Helper()
	return goprov(t, "journal", "verify", "-head", a.Head, "-records", fmt.Sprint(a.Records), file)
}

// The head that `apply -json` reports anchors the host journal: dropping
// its last records, emptying it, or appending to it afterwards is detected
// by `journal verify -head`, and said which.
func TestHostJournalHeadDetectsCutInLab(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	h := lab.Hosts[0]
	inv := labtest.Inventory(lab, testinfra.UserDeploy)
	var anchors []journalAnchor
	for v := 0; v < 3; v++ {
		anchors = append(anchors, applyJSON(t, labtest.Write(t, inv, hostJournalConfig(v)), h.Name))
	}
	if anchors[0].Records != 1 || anchors[2].Records != 3 {
		t.Fatalf("records after three applies of one change each: %+v", anchors)
	}
	last := anchors[2]
	if r := verifyHead(t, copyHostJournal(t, h), last); r.code != 0 || !strings.Contains(r.stdout, "chain intact") {
		t.Fatalf("verify of the untouched journal against its head: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// An older anchor: the chain was extended after it.
	if r := verifyHead(t, copyHostJournal(t, h), anchors[0]); r.code != 1 || !strings.Contains(r.stdout, "extended") {
		t.Fatalf("verify against an older head: want exit 1 and \"extended\", got %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	ctx := context.Background()
	for _, tc := range []struct{ name, script, want string }{
		{"last record dropped", "head -n -1 /var/log/goprov/journal.jsonl > /tmp/j && cat /tmp/j > /var/log/goprov/journal.jsonl", "truncated"},
		{"emptied", ": > /var/log/goprov/journal.jsonl", "emptied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := h.MustExec(ctx, tc.script); err != nil {
				t.Fatal(err)
			}
			file := copyHostJournal(t, h)
			// The chain left behind is intact in itself: only the anchor shows the cut.
			if r := goprov(t, "journal", "verify", file); r.code != 0 {
				t.Fatalf("the cut journal is no longer a valid chain in itself (the test proves nothing): %d\n%s", r.code, r.stdout)
			}
			r := verifyHead(t, file, last)
			if r.code != 1 || !strings.Contains(r.stdout, tc.want) {
				t.Fatalf("verify -head after %s: want exit 1 and %q, got %d\n%s%s", tc.name, tc.want, r.code, r.stdout, r.stderr)
			}
		})
	}
}

// With -journal-max-size, the host journal rotates into journal.jsonl.1,
// .2, …; the chain runs on across the files and verifies against the head.
// A missing rotated file is named.
func TestHostJournalRotationInLab(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	h := lab.Hosts[0]
	inv := labtest.Inventory(lab, testinfra.UserDeploy)
	var last journalAnchor
	for v := 0; v < 4; v++ {
		last = applyJSON(t, labtest.Write(t, inv, hostJournalConfig(v)), h.Name, "-journal-max-size", "1")
	}
	if last.Records != 4 {
		t.Fatalf("records after four applies: %+v", last)
	}
	for _, f := range []string{"journal.jsonl.1", "journal.jsonl.2", "journal.jsonl.3", "journal.jsonl"} {
		b, err := os.ReadFile(filepath.Join(h.RootDir, "var/log/goprov", f))
		if err != nil || strings.Count(string(b), "\n") != 1 {
			t.Fatalf("%s: want one record per file with a 1-byte limit: %v %q", f, err, b)
		}
	}
	// A cut mid-rotation, right after the current file was renamed away:
	// the next apply chains on from the rotated file, never from scratch.
	if _, err := h.MustExec(context.Background(), "mv /var/log/goprov/journal.jsonl /var/log/goprov/journal.jsonl.4"); err != nil {
		t.Fatal(err)
	}
	last = applyJSON(t, labtest.Write(t, inv, hostJournalConfig(4)), h.Name, "-journal-max-size", "1")
	if last.Records != 5 {
		t.Fatalf("records after a cut mid-rotation and one more apply: %+v", last)
	}
	// A cut after the new, still empty, file was created.
	if _, err := h.MustExec(context.Background(), "cd /var/log/goprov && mv journal.jsonl journal.jsonl.5 && : > journal.jsonl"); err != nil {
		t.Fatal(err)
	}
	last = applyJSON(t, labtest.Write(t, inv, hostJournalConfig(5)), h.Name, "-journal-max-size", "1")
	if last.Records != 6 {
		t.Fatalf("records after a cut right after the new file was created, and one more apply: %+v", last)
	}
	file := copyHostJournal(t, h)
	if r := verifyHead(t, file, last); r.code != 0 || !strings.Contains(r.stdout, "6 records in 6 files") {
		t.Fatalf("verify across rotated files: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if err := os.Remove(file + ".2"); err != nil {
		t.Fatal(err)
	}
	if r := verifyHead(t, file, last); r.code != 1 || !strings.Contains(r.stdout, "journal.jsonl.2 missing") {
		t.Fatalf("verify with a rotated file missing: want exit 1 naming it, got %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestSizeFlag(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"1", 1, true}, {"1048576", 1 << 20, true}, {"512K", 512 << 10, true}, {"512k", 512 << 10, true},
		{"4M", 4 << 20, true}, {"4MiB", 4 << 20, true}, {"4MB", 4 << 20, true}, {"1G", 1 << 30, true}, {"2GiB", 2 << 30, true},
		{"", 0, false}, {"-1", 0, false}, {"M", 0, false}, {"4T", 0, false}, {"1.5M", 0, false}, {"99999999999G", 0, false},
	} {
		var s sizeFlag
		err := s.Set(tc.in)
		if (err == nil) != tc.ok || (tc.ok && int64(s) != tc.want) {
			t.Errorf("Set(%q) = %d, %v; want %d, ok %v", tc.in, s, err, tc.want, tc.ok)
		}
	}
	for v, want := range map[sizeFlag]string{4 << 20: "4MiB", 1 << 30: "1GiB", 1536: "1536", 0: "0", 2048: "2KiB"} {
		if got := v.String(); got != want {
			t.Errorf("String(%d) = %q, want %q", int64(v), got, want)
		}
	}
}

// Bad anchors are refused before anything is read.
func TestJournalVerifyFlags(t *testing.T) {
	f := filepath.Join(t.TempDir(), "journal.jsonl")
	os.WriteFile(f, nil, 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-head", "abc"}, "expected 64 lowercase hex digits"},
		{[]string{"-head", strings.Repeat("A", 64)}, "expected 64 lowercase hex digits"},
		{[]string{"-records", "3"}, "-records needs -head"},
	} {
		r := goprov(t, append([]string{"journal", "verify", f}, tc.args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("journal verify %v: want exit 1 and %q, got %d %s%s", tc.args, tc.want, r.code, r.stdout, r.stderr)
		}
	}
	// An empty journal against the empty head: intact, at head.
	if r := goprov(t, "journal", "verify", f, "-head", strings.Repeat("0", 64), "-records", "0"); r.code != 0 {
		t.Errorf("empty journal against the empty head: %d %s", r.code, r.stdout)
	}
}

// Applies that rotate the host journal at every write are cut (network or
// sshd) at random moments, weighted to the end of the apply where the
// journal is written. After every cut the host journal, all files of it,
// is still one intact chain (never half a record, a fork or a lost file);
// the next apply chains on, and the journal ends at the head it reports.
func TestHostJournalCutAtRandomInLab(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	h := lab.Hosts[0]
	inv := labtest.Inventory(lab, testinfra.UserDeploy)
	apply := func(variant int, timeout time.Duration) *planner.Plan {
		s := labtest.Load(t, labtest.Write(t, inv, hostJournalConfig(variant)), labtest.Options{Timeout: timeout})
		s.Engine.JournalMaxSize = 1 // rotate at every write
		return s.Apply(s.Plan())
	}
	var full time.Duration
	for v := 0; v < 2; v++ {
		start := time.Now()
		labtest.RequireOK(t, apply(v, 0))
		full = time.Since(start)
	}
	t.Logf("a full apply takes %s", full.Round(time.Millisecond))
	verify := func(trial int, a *journal.Anchor) journal.Report {
		t.Helper()
		rep, err := journal.VerifyPath(copyHostJournal(t, h), a)
		if err != nil || !rep.OK() {
			t.Fatalf("trial %d: host journal: %v %+v %+v", trial, err, rep.Problems, rep.Anchor)
		}
		return rep
	}
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	const trials = 12
	failed, variant := 0, 2
	for i := 0; i < trials; i++ {
		before := verify(i, nil).Records
		delay := full/2 + time.Duration(rng.Int63n(int64(full/2)))
		cutNet := i%2 == 0
		done := make(chan *planner.Plan, 1)
		go func(v int) { done <- apply(v, 4*time.Second) }(variant)
		variant++
		time.Sleep(delay)
		fault, restore := h.KillSSHD, h.StartSSHD
		if cutNet {
			fault, restore = h.CutNetwork, h.RestoreNetwork
		}
		if err := fault(); err != nil {
			t.Fatalf("trial %d: fault: %v", i, err)
		}
		p := <-done
		if err := restore(); err != nil {
			t.Fatalf("trial %d: restore: %v", i, err)
		}
		waitReachable(t, h)
		if labtest.HostPlan(p, h.Name).Status == planner.StatusFailed {
			failed++
		}
		after := verify(i, nil).Records // intact after the cut, whatever it hit
		if after != before && after != before+1 {
			t.Fatalf("trial %d: %d records before, %d after one apply", i, before, after)
		}
		p = apply(variant, time.Minute)
		variant++
		labtest.RequireOK(t, p)
		j := labtest.HostPlan(p, h.Name).Journal
		if j == nil {
			t.Fatalf("trial %d: no journal head after the converging apply", i)
		}
		verify(i, &journal.Anchor{Head: j.Head, Records: j.Records})
	}
	t.Logf("%d of %d applies were cut before they finished", failed, trials)
	if failed < trials/4 {
		t.Fatalf("only %d of %d trials interrupted an apply: the faults came too late to test anything", failed, trials)
	}
}
