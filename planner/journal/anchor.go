package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// DefaultMaxSize is the size at which a host journal rotates: the current
// file is renamed to the next free journal.jsonl.N (1 is the oldest) and a
// new journal.jsonl starts, whose first record's prev_sha256 is the hash of
// the renamed file's last record, so the chain runs on across files.
const DefaultMaxSize = 4 << 20

// Anchor is a chain's head kept off the host (apply -json prints it, the
// controller journal records it): the hash of the last record and how many
// records the chain had then (-1: unknown). The last record of a journal is
// protected by nothing else.
type Anchor struct {
	Head    string
	Records int64
}

// Verdicts of checking a chain against an anchor.
const (
	VerdictOK                 = "at head"
	VerdictExtended           = "extended"
	VerdictTruncated          = "truncated"
	VerdictEmptied            = "emptied"
	VerdictRebuilt            = "rebuilt"
	VerdictTruncatedOrRebuilt = "truncated or rebuilt"
	VerdictRecordsMismatch    = "records mismatch"
)

// AnchorCheck is how a chain relates to an anchor.
type AnchorCheck struct {
	Verdict string
	Detail  string
}

// Report of verifying a journal.
type Report struct {
	Files    []string // in chain order
	Records  int
	Problems []Problem
	Head     string // hash of the last record (Genesis when none)
	HeadSeq  int64
	Anchor   *AnchorCheck // set when an anchor was given
}

// OK reports an intact chain that (when an anchor was given) ends at it.
func (r Report) OK() bool {
	return len(r.Problems) == 0 && (r.Anchor == nil || r.Anchor.Verdict == VerdictOK)
}

// Files returns the files of the journal at path in chain order: the
// rotated ones (path.1 oldest, path.2, …) and then path itself, each only if
// present. Missing numbers among the rotated files are returned as
// problems: their records are gone.
func Files(path string) ([]string, []Problem, error) {
	matches, err := filepath.Glob(globEscape(path) + ".*")
	if err != nil {
		return nil, nil, fmt.Errorf("journal: list %s: %w", path, err)
	}
	nums := map[int]string{}
	var order []int
	for _, m := range matches {
		suffix := strings.TrimPrefix(m, path+".")
		n, err := strconv.Atoi(suffix)
		if err != nil || n < 1 || strconv.Itoa(n) != suffix {
			continue // not a rotated journal (a temp file, a compressed copy); as the append script's newest()
		}
		nums[n] = m
		order = append(order, n)
	}
	sort.Ints(order)
	var files []string
	var problems []Problem
	next := 1
	for _, n := range order {
		for ; next < n; next++ {
			problems = append(problems, Problem{filepath.Base(path) + "." + strconv.Itoa(next), 0, "missing: its records are gone"})
		}
		files = append(files, nums[n])
		next = n + 1
	}
	if _, err := os.Stat(path); err == nil {
		files = append(files, path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("journal: %w", err)
	}
	if len(files) == 0 {
		return nil, nil, fmt.Errorf("journal: %s: no such file, and no rotated %s.N", path, filepath.Base(path))
	}
	return files, problems, nil
}

func globEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`)
	return r.Replace(s)
}

// VerifyPath verifies the journal at path across its rotated files and,
// when a is not nil, checks that the chain ends at a.
func VerifyPath(path string, a *Anchor) (Report, error) {
	files, problems, err := Files(path)
	if err != nil {
		return Report{}, err
	}
	v := newVerifier(a)
	multi := len(files) > 1 || len(problems) > 0
	for _, f := range files {
		name := ""
		if multi {
			name = filepath.Base(f)
		}
		fh, err := os.Open(f)
		if err != nil {
			return Report{}, fmt.Errorf("journal: %w", err)
		}
		err = v.read(name, fh)
		fh.Close()
		if err != nil {
			return Report{}, err
		}
	}
	rep := Report{Files: files, Records: v.records, Problems: append(problems, v.problems...), Head: v.prevHash, HeadSeq: v.prevSeq}
	if a != nil {
		rep.Anchor = v.check()
	}
	return rep, nil
}

// check compares the chain just read with the anchor. A head alone cannot
// tell a chain cut short from one written anew and shorter; with the
// anchor's record count, a chain that reaches that count without the
// anchored record was rewritten.
func (v *verifier) check() *AnchorCheck {
	a, seq := v.anchor, v.prevSeq
	switch {
	case v.foundSeq == seq:
		if a.Records >= 0 && a.Records != seq {
			return &AnchorCheck{VerdictRecordsMismatch, fmt.Sprintf("the chain ends at the anchored head, which is record seq %d, not %d: the -records value does not belong to this head", seq, a.Records)}
		}
		return &AnchorCheck{VerdictOK, fmt.Sprintf("it is the last record, seq %d", seq)}
	case v.foundSeq >= 0:
		n := seq - v.foundSeq
		what := fmt.Sprintf("%d records appended", n)
		if n == 1 {
			what = "1 record appended"
		}
		return &AnchorCheck{VerdictExtended, fmt.Sprintf("%s after the anchored head (%s): by a later apply, or by someone else%s", what, strings.TrimPrefix(seqRange(v.foundSeq+1, seq), "record "), v.lastBy())}
	case v.records == 0:
		return &AnchorCheck{VerdictEmptied, fmt.Sprintf("the journal holds no records; the anchored head %s", anchorWas(a))}
	case a.Records < 0:
		return &AnchorCheck{VerdictTruncatedOrRebuilt, fmt.Sprintf("the anchored head is not in the chain, which ends at record seq %d: records were cut off the end, or the chain was rewritten; pass -records N from the same apply to tell which", seq)}
	case seq < a.Records:
		return &AnchorCheck{VerdictTruncated, fmt.Sprintf("the chain ends at record seq %d, the anchored head is record seq %d: %s %s (or the chain was rewritten shorter: a head cannot tell those apart)", seq, a.Records, seqRange(seq+1, a.Records), isAre(seq+1, a.Records)+" gone")}
	default:
		more := ""
		if seq > a.Records {
			more = fmt.Sprintf(", and the chain runs on to seq %d", seq)
		}
		return &AnchorCheck{VerdictRebuilt, fmt.Sprintf("record seq %d is not the anchored one: the chain up to it was rewritten (or cut and written again)%s", a.Records, more)}
	}
}

func isAre(from, to int64) string {
	if from == to {
		return "is"
	}
	return "are"
}

func anchorWas(a *Anchor) string {
	if a.Records >= 0 {
		return fmt.Sprintf("is record seq %d", a.Records)
	}
	return "had records"
}

// lastBy says who wrote the last record, to help judge an extension.
func (v *verifier) lastBy() string {
	var r Record
	if json.Unmarshal(v.last, &r) != nil {
		return ""
	}
	return fmt.Sprintf(" (the last at %s by %s from %s, run %s)", r.Time, r.Operator, r.Controller, r.RunID)
}
