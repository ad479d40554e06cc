// Package journal is goprov's tamper-evident change journal: JSON Lines,
// one record per applied change, each carrying the SHA-256 of the record
// before it. Editing, deleting, inserting or reordering a record breaks the
// chain at that point, and Verify says where. The same format is kept on
// each host (/var/log/goprov/journal.jsonl) and on the controller
// (-journal FILE). Records hold digests and names, never content or secrets.
package journal

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
)

// HostPath is where each host keeps its journal.
const HostPath = "/var/log/goprov/journal.jsonl"

// Genesis is the prev_sha256 of a journal's first record.
var Genesis = strings.Repeat("0", 64)

// Record is one applied (or failed) change.
type Record struct {
	Seq        int64  `json:"seq"`
	Time       string `json:"time"` // RFC 3339, UTC
	RunID      string `json:"run_id"`
	Operator   string `json:"operator"`   // user running goprov
	Controller string `json:"controller"` // machine running goprov
	Host       string `json:"host"`
	Address    string `json:"address"` // resource address
	Action     string `json:"action"`
	Before     string `json:"before_sha256"` // SHA-256 of the state before ("" when absent)
	After      string `json:"after_sha256"`  // SHA-256 of the desired state ("" when absent)
	Outcome    string `json:"outcome"`       // applied, failed, skipped
	Error      string `json:"error,omitempty"`
	// In a controller journal, a record with Action ActionHead holds a host
	// journal's head after this run's append to it.
	HostHead    string `json:"host_head,omitempty"`
	HostRecords int64  `json:"host_records,omitempty"`
	Prev        string `json:"prev_sha256"`
}

// ActionHead marks a controller journal record of a host journal's head.
const ActionHead = "journal-head"

// Hash is the SHA-256 of a record's line as written (without newline).
func Hash(line []byte) string {
	s := sha256.Sum256(line)
	return hex.EncodeToString(s[:])
}

// Chain fills Seq and Prev of recs so they follow the record whose line
// was last (nil for an empty journal), and returns their lines.
func Chain(last []byte, recs []Record) ([][]byte, error) {
	prev, seq := Genesis, int64(0)
	if len(bytes.TrimSpace(last)) > 0 {
		var r Record
		if err := json.Unmarshal(last, &r); err != nil {
			return nil, fmt.Errorf("journal: last record unreadable: %w", err)
		}
		prev, seq = Hash(last), r.Seq
	}
	lines := make([][]byte, len(recs))
	for i := range recs {
		seq++
		recs[i].Seq, recs[i].Prev = seq, prev
		b, err := json.Marshal(recs[i])
		if err != nil {
			return nil, fmt.Errorf("journal: encode: %w", err)
		}
		lines[i] = b
		prev = Hash(b)
	}
	return lines, nil
}

// AppendFile appends recs to the journal at path (created 0600), under an
// exclusive lock so concurrent goprov runs on one controller keep one chain,
// and fsyncs it.
func AppendFile(path string, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("journal: lock %s: %w", path, err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	last, err := lastLine(f)
	if err != nil {
		return fmt.Errorf("journal: %s: %w", path, err)
	}
	lines, err := Chain(last, recs)
	if err != nil {
		return fmt.Errorf("journal: %s: %w", path, err)
	}
	var buf bytes.Buffer
	for _, l := range lines {
		buf.Write(l)
		buf.WriteByte('\n')
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("journal: append %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("journal: sync %s: %w", path, err)
	}
	return nil
}

// lastLine returns the last non-empty line of f.
func lastLine(f *os.File) ([]byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	const chunk = 64 << 10
	var tail []byte
	for off := size; off > 0; {
		n := int64(chunk)
		if off < n {
			n = off
		}
		off -= n
		buf := make([]byte, n)
		if _, err := f.ReadAt(buf, off); err != nil && err != io.EOF {
			return nil, err
		}
		tail = append(buf, tail...)
		t := bytes.TrimRight(tail, "\n")
		if i := bytes.LastIndexByte(t, '\n'); i >= 0 {
			return t[i+1:], nil
		}
		if off == 0 {
			return t, nil
		}
	}
	return nil, nil
}

// Problem is one break in a journal's chain.
type Problem struct {
	File string // the file (base name) when the chain spans rotated files
	Line int    // 1-based line of the record where the break shows
	What string
}

func (p Problem) String() string {
	if p.File != "" && p.Line == 0 {
		return p.File + " " + p.What // the whole file
	}
	if p.File != "" {
		return fmt.Sprintf("%s line %d: %s", p.File, p.Line, p.What)
	}
	return fmt.Sprintf("line %d: %s", p.Line, p.What)
}

// Verify checks a journal and returns every break, each saying which record
// was edited, deleted, inserted or moved as precisely as the chain allows.
func Verify(r io.Reader) (records int, problems []Problem, err error) {
	records, problems, _, err = VerifyHead(r)
	return records, problems, err
}

// VerifyHead is Verify that also returns the hash of the last record. Each
// record is protected by the one after it; the last one only by an anchor
// kept elsewhere (see Anchor and VerifyPath).
func VerifyHead(r io.Reader) (records int, problems []Problem, head string, err error) {
	v := newVerifier(nil)
	if err := v.read("", r); err != nil {
		return v.records, v.problems, "", err
	}
	return v.records, v.problems, v.prevHash, nil
}

// verifier follows a chain record by record, across files.
type verifier struct {
	prevHash string
	prevSeq  int64
	records  int
	problems []Problem
	last     []byte // the last record's line
	// anchor, when set, is looked for among the records' hashes.
	anchor   *Anchor
	foundSeq int64 // seq of the record whose hash is the anchor's; -1: not seen
}

func newVerifier(a *Anchor) *verifier {
	v := &verifier{prevHash: Genesis, anchor: a, foundSeq: -1}
	if a != nil && a.Head == Genesis {
		v.foundSeq = 0 // the anchor is the empty journal
	}
	return v
}

func (v *verifier) read(file string, r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		v.record(file, line, sc.Bytes())
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("journal: read %s: %w", file, err)
	}
	return nil
}

func (v *verifier) record(file string, line int, raw []byte) {
	if len(bytes.TrimSpace(raw)) == 0 {
		v.problems = append(v.problems, Problem{file, line, "blank line inserted"})
		return
	}
	var rec Record
	if err := json.Unmarshal(raw, &rec); err != nil {
		v.problems = append(v.problems, Problem{file, line, "not a journal record (edited or inserted): " + err.Error()})
		v.prevHash = Hash(raw)
		return
	}
	v.records++
	prevSeq := v.prevSeq
	switch {
	case rec.Prev == v.prevHash && rec.Seq == prevSeq+1:
		// intact
	case rec.Seq == prevSeq+1:
		v.problems = append(v.problems, Problem{file, line - 1, fmt.Sprintf("record seq %d was edited (record seq %d on line %d no longer matches its hash)", prevSeq, rec.Seq, line)})
	case rec.Seq > prevSeq+1:
		v.problems = append(v.problems, Problem{file, line, seqRange(prevSeq+1, rec.Seq-1) + " deleted before this line"})
	default:
		v.problems = append(v.problems, Problem{file, line, fmt.Sprintf("record seq %d inserted or moved here (expected seq %d)", rec.Seq, prevSeq+1)})
	}
	v.prevHash, v.prevSeq = Hash(raw), rec.Seq
	v.last = append(v.last[:0], raw...)
	if v.anchor != nil && v.prevHash == v.anchor.Head {
		v.foundSeq = rec.Seq
	}
}

// seqRange names records by seq: "record seq 3", "records seq 3–5".
func seqRange(from, to int64) string {
	if from == to {
		return fmt.Sprintf("record seq %d", from)
	}
	return fmt.Sprintf("records seq %d–%d", from, to)
}
