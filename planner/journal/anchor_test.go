package journal

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// chainLines returns n genuine chained record lines; tag varies content so
// two chains of one length differ.
func chainLines(t *testing.T, n int, tag string) [][]byte {
	t.Helper()
	recs := sample(n)
	for i := range recs {
		recs[i].RunID = tag
	}
	lines, err := Chain(nil, recs)
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// layout writes lines into dir as a journal: files maps a name
// (journal.jsonl, journal.jsonl.1, …) to the indexes [from, to) of lines.
func layout(t *testing.T, lines [][]byte, files map[string][2]int) string {
	t.Helper()
	dir := t.TempDir()
	for name, r := range files {
		var b bytes.Buffer
		for _, l := range lines[r[0]:r[1]] {
			b.Write(l)
			b.WriteByte('\n')
		}
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "journal.jsonl")
}

func TestVerifyAgainstAnchor(t *testing.T) {
	lines := chainLines(t, 6, "r1")
	head := Hash(lines[5])
	anchor := Anchor{Head: head, Records: 6}
	one := func(n int) map[string][2]int { return map[string][2]int{"journal.jsonl": {0, n}} }
	extended := append(append([][]byte(nil), lines...), mustNext(t, lines[5]))
	rebuilt := chainLines(t, 6, "forged")
	cases := []struct {
		name    string
		lines   [][]byte
		files   map[string][2]int
		anchor  Anchor
		verdict string
		want    string // substring of the detail, or of a problem
	}{
		{"at head", lines, one(6), anchor, VerdictOK, ""},
		{"truncated", lines, one(4), anchor, VerdictTruncated, "records seq 5–6 are gone"},
		{"truncated, count unknown", lines, one(4), Anchor{Head: head, Records: -1}, VerdictTruncatedOrRebuilt, "-records"},
		{"emptied", lines, one(0), anchor, VerdictEmptied, "no records"},
		{"rebuilt", rebuilt, one(6), anchor, VerdictRebuilt, "record seq 6 is not the anchored one"},
		{"rebuilt longer", append(rebuilt, mustNext(t, rebuilt[5])), one(7), anchor, VerdictRebuilt, "record seq 6 is not the anchored one"},
		{"extended", extended, one(7), anchor, VerdictExtended, "1 record appended after the anchored head (seq 7)"},
		{"records mismatch", lines, one(6), Anchor{Head: head, Records: 5}, VerdictRecordsMismatch, "seq 6"},
		{"empty anchor, empty journal", lines, one(0), Anchor{Head: Genesis, Records: 0}, VerdictOK, ""},
		{"rotated chain", lines, map[string][2]int{"journal.jsonl.1": {0, 2}, "journal.jsonl.2": {2, 5}, "journal.jsonl": {5, 6}}, anchor, VerdictOK, ""},
		{"rotated, cut mid-rotation", lines, map[string][2]int{"journal.jsonl.1": {0, 2}, "journal.jsonl.2": {2, 6}}, anchor, VerdictOK, ""},
		{"rotated, file missing", lines, map[string][2]int{"journal.jsonl.1": {0, 2}, "journal.jsonl.3": {4, 5}, "journal.jsonl": {5, 6}}, anchor, VerdictOK, "journal.jsonl.2 missing"},
		{"rotated, oldest missing", lines, map[string][2]int{"journal.jsonl.2": {2, 5}, "journal.jsonl": {5, 6}}, anchor, VerdictOK, "journal.jsonl.1 missing"},
		{"rotated, newest rotated file dropped", lines, map[string][2]int{"journal.jsonl.1": {0, 2}, "journal.jsonl.2": {2, 5}}, anchor, VerdictTruncated, "record seq 6 is gone"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.anchor
			rep, err := VerifyPath(layout(t, tc.lines, tc.files), &a)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Anchor == nil || rep.Anchor.Verdict != tc.verdict {
				t.Fatalf("verdict %+v, want %s (problems %v)", rep.Anchor, tc.verdict, rep.Problems)
			}
			all := rep.Anchor.Detail
			for _, p := range rep.Problems {
				all += "\n" + p.String()
			}
			if !strings.Contains(all, tc.want) {
				t.Fatalf("want %q in:\n%s", tc.want, all)
			}
			wantIntact := !strings.Contains(tc.name, "missing")
			if (len(rep.Problems) == 0) != wantIntact {
				t.Fatalf("chain problems %v, want intact %v", rep.Problems, wantIntact)
			}
		})
	}
}

// Without an anchor, a rotated chain verifies as one, and the record count
// and head run across the files.
func TestVerifyPathAcrossRotatedFiles(t *testing.T) {
	lines := chainLines(t, 5, "r1")
	path := layout(t, lines, map[string][2]int{"journal.jsonl.1": {0, 2}, "journal.jsonl.2": {2, 4}, "journal.jsonl": {4, 5}, "journal.jsonl.tmp": {0, 1}, "journal.jsonl.03": {0, 1}, "journal.jsonl.1.gz": {0, 1}})
	rep, err := VerifyPath(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) > 0 || rep.Records != 5 || rep.Head != Hash(lines[4]) || len(rep.Files) != 3 {
		t.Fatalf("report %+v", rep)
	}
	if _, err := VerifyPath(filepath.Join(t.TempDir(), "journal.jsonl"), nil); err == nil {
		t.Fatal("a journal with no file at all verified")
	}
}
