package journal

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sample(n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{Time: "2026-11-24T08:00:00Z", RunID: "r1", Operator: "ops", Controller: "ctl",
			Host: "web1", Address: "profile_script.go", Action: "update", Before: strings.Repeat("a", 64), After: strings.Repeat("b", 64), Outcome: "applied"}
	}
	return recs
}

func write(t *testing.T, n int) (string, [][]byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "j.jsonl")
	// Two appends, to exercise chaining across calls.
	if err := AppendFile(path, sample(n/2)); err != nil {
		t.Fatal(err)
	}
	if err := AppendFile(path, sample(n-n/2)); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	return path, bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
}

func verify(t *testing.T, lines [][]byte) []Problem {
	t.Helper()
	_, probs, err := Verify(bytes.NewReader(append(bytes.Join(lines, []byte("\n")), '\n')))
	if err != nil {
		t.Fatal(err)
	}
	return probs
}

func TestVerifyDetectsTampering(t *testing.T) {
	path, lines := write(t, 6)
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("journal mode %o, want 0600", st.Mode().Perm())
	}
	if p := verify(t, lines); len(p) != 0 {
		t.Fatalf("intact journal reported broken: %v", p)
	}
	cp := func() [][]byte { return append([][]byte(nil), lines...) }
	cases := []struct {
		name   string
		mutate func() [][]byte
		want   string // substring of the first problem
		line   int
	}{
		{"edited", func() [][]byte {
			l := cp()
			l[2] = bytes.Replace(l[2], []byte(`"outcome":"applied"`), []byte(`"outcome":"failed"`), 1)
			return l
		}, "record seq 3 was edited", 3},
		{"deleted", func() [][]byte { l := cp(); return append(l[:2], l[3:]...) }, "record seq 3 deleted", 3},
		{"deleted two", func() [][]byte { l := cp(); return append(l[:1], l[3:]...) }, "records seq 2–3 deleted", 2},
		{"inserted copy", func() [][]byte {
			l := cp()
			return append(l[:4], append([][]byte{l[1]}, l[4:]...)...)
		}, "record seq 2 inserted or moved", 5},
		{"reordered", func() [][]byte { l := cp(); l[3], l[4] = l[4], l[3]; return l }, "deleted", 4},
		{"edited before a later append", func() [][]byte {
			l := cp()
			next := mustNext(t, l[5]) // a later apply chained to the genuine record
			l[5] = bytes.Replace(l[5], []byte(`"host":"web1"`), []byte(`"host":"web2"`), 1)
			return append(l, next)
		}, "record seq 6 was edited", 6},
		{"garbage", func() [][]byte { l := cp(); l[1] = []byte("{oops"); return l }, "not a journal record", 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			probs := verify(t, tc.mutate())
			if len(probs) == 0 {
				t.Fatal("tampering not detected")
			}
			if !strings.Contains(probs[0].What, tc.want) || probs[0].Line != tc.line {
				t.Fatalf("want line %d %q, got %v", tc.line, tc.want, probs)
			}
		})
	}
}

// mustNext chains one more genuine record after line (as a later apply
// would), so an edit of the former last record becomes detectable.
func mustNext(t *testing.T, orig []byte) []byte {
	lines, err := Chain(orig, sample(1))
	if err != nil {
		t.Fatal(err)
	}
	return lines[0]
}

func TestHeadAnchorsTheTail(t *testing.T) {
	_, lines := write(t, 3)
	_, _, head, err := VerifyHead(bytes.NewReader(append(bytes.Join(lines, []byte("\n")), '\n')))
	if err != nil || head != Hash(lines[2]) {
		t.Fatalf("head %s, want hash of the last line (%v)", head, err)
	}
}
