package planner

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goprov/goprov/planner/journal"
	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/transport"
)

// cutStdin is the real local transport whose commands get only the first
// n bytes of their stdin, as when a connection dies mid-transfer.
type cutStdin struct {
	transport.Transport
	n int64
}

func (c cutStdin) Run(ctx context.Context, cmd transport.Cmd) (transport.Result, error) {
	if cmd.Stdin != nil {
		cmd.Stdin = io.LimitReader(cmd.Stdin, c.n)
	}
	return c.Transport.Run(ctx, cmd)
}

// Records that arrive cut short are not appended: half a record would
// break the host journal's chain for good.
func TestHostJournalAppendIsWholeOrNothing(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the host journal is root's: this test needs root, and CI runs as root")
		}
		t.Skip("needs root (the host journal is chowned to root)")
	}
	ctx := context.Background()
	root := t.TempDir()
	rec := func() []journal.Record {
		return []journal.Record{{Host: "img", Address: "profile_script.a", Action: "update", Outcome: string(OutcomeApplied)},
			{Host: "img", Address: "profile_script.b", Action: "create", Outcome: string(OutcomeApplied)}}
	}
	h := &resources.Host{Name: "img", Root: root, T: transport.NewLocal()}
	head, err := appendHostJournal(ctx, h, nil, rec(), 0)
	if err != nil || head.Records != 2 {
		t.Fatalf("first append: %+v %v", head, err)
	}
	path := filepath.Join(root, strings.TrimPrefix(journal.HostPath, "/"))
	before, _ := os.ReadFile(path)
	tail := before[bytes.LastIndexByte(before[:len(before)-1], '\n')+1:]

	h.T = cutStdin{transport.NewLocal(), 100}
	if _, err := appendHostJournal(ctx, h, tail, rec(), 0); err == nil || !strings.Contains(err.Error(), "incomplete") {
		t.Fatalf("append of records cut short: want an error saying so, got %v", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatalf("the journal changed although its records arrived cut short:\n%s", after)
	}
	if rep, err := journal.VerifyPath(path, &journal.Anchor{Head: head.Head, Records: head.Records}); err != nil || !rep.OK() {
		t.Fatalf("journal after the failed append: %v %+v", err, rep)
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("left behind in the journal directory: %v", ents)
	}
}

// After a cut mid-rotation (no journal.jsonl), the chain goes on from the
// newest rotated file, whatever else lies beside it.
func TestHostJournalChainsFromNewestRotatedFile(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the host journal is root's: this test needs root, and CI runs as root")
		}
		t.Skip("needs root (the host journal is chowned to root)")
	}
	ctx := context.Background()
	root := t.TempDir()
	h := &resources.Host{Name: "img", Root: root, T: transport.NewLocal()}
	rec := []journal.Record{{Host: "img", Address: "profile_script.a", Action: "update", Outcome: string(OutcomeApplied)}}
	readTail := func() []byte {
		t.Helper()
		res, err := h.Run(ctx, transport.Cmd{Script: journalTailProbe(h), Sudo: true})
		if err != nil || res.Err("tail") != nil {
			t.Fatalf("tail probe: %v %v %s", err, res.Err("tail"), res.Stderr)
		}
		return res.Stdout
	}
	for i := 0; i < 3; i++ {
		if _, err := appendHostJournal(ctx, h, readTail(), rec, 1); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(root, strings.TrimPrefix(journal.HostPath, "/"))
	// The cut: journal.jsonl renamed away, the next one not yet created;
	// beside the chain, files that are not part of it.
	if err := os.Rename(path, path+".3"); err != nil {
		t.Fatal(err)
	}
	for _, decoy := range []string{".x.9", ".007", ".3.gz"} {
		os.WriteFile(path+decoy, []byte("{\"seq\":99}\n"), 0o600)
	}
	head, err := appendHostJournal(ctx, h, readTail(), rec, 1)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := journal.VerifyPath(path, &journal.Anchor{Head: head.Head, Records: head.Records})
	if err != nil || !rep.OK() || rep.Records != 4 {
		t.Fatalf("chain after the cut and one more append: %v %+v %+v", err, rep.Problems, rep.Anchor)
	}
}
