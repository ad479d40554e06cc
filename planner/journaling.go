package planner

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"time"

	"github.com/goprov/goprov/internal/shell"
	"github.com/goprov/goprov/planner/journal"
	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/transport"
)

// runInfo identifies one apply in journal records.
type runInfo struct {
	id, operator, controller string
}

func newRunInfo() runInfo {
	var b [8]byte
	rand.Read(b[:])
	r := runInfo{id: hex.EncodeToString(b[:]), operator: "unknown", controller: "unknown"}
	if u, err := user.Current(); err == nil {
		r.operator = u.Username
	}
	if sudoUser := os.Getenv("SUDO_USER"); sudoUser != "" {
		r.operator += " (sudo from " + sudoUser + ")"
	}
	if h, err := os.Hostname(); err == nil {
		r.controller = h
	}
	return r
}

// records turns a host's attempted changes into journal records.
func (r runInfo) records(hp *HostPlan) []journal.Record {
	var out []journal.Record
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for _, c := range hp.Changes {
		if c.Outcome == "" {
			continue
		}
		out = append(out, journal.Record{Time: now, RunID: r.id, Operator: r.operator, Controller: r.controller,
			Host: hp.Name, Address: c.Address, Action: string(c.Action), Before: c.BeforeSHA256, After: c.AfterSHA256,
			Outcome: string(c.Outcome), Error: c.Error})
	}
	return out
}

// journalHost appends hp's attempted changes to the host's journal, sets
// hp.Journal to its new head, and returns the records for the controller
// journal: the changes, then the host journal's head (or why it could not
// be written).
func (e *Engine) journalHost(ctx context.Context, run runInfo, hp *HostPlan, h *resources.Host, tail []byte) []journal.Record {
	recs := run.records(hp)
	if len(recs) == 0 {
		hp.Journal, _ = headOf(tail) // unreadable: no anchor to report
		return nil
	}
	maxSize := e.JournalMaxSize
	if maxSize == 0 {
		maxSize = journal.DefaultMaxSize
	}
	head, err := appendHostJournal(ctx, h, tail, recs, maxSize)
	hp.Journal = head
	if err != nil {
		hp.Status = StatusFailed
		msg := fmt.Sprintf("%s: journal: %v (the changes above were made; the host's journal misses them)", hp.Name, err)
		if hp.Error != "" {
			msg = hp.Error + "; " + msg
		}
		hp.Error = msg
	}
	return append(recs, run.headRecord(hp.Name, head, err))
}

// JournalHead is a host journal's head after an apply: the anchor that
// apply -json reports, to be kept off the host and checked with
// `goprov journal verify -head`.
type JournalHead struct {
	Head    string `json:"head"`
	Records int64  `json:"records"`
}

// headOf returns the head of a chain whose last line is last.
func headOf(last []byte) (*JournalHead, error) {
	last = bytes.TrimRight(last, "\n")
	if len(last) == 0 {
		return &JournalHead{Head: journal.Genesis}, nil
	}
	var r journal.Record
	if err := json.Unmarshal(last, &r); err != nil {
		return nil, fmt.Errorf("journal: last record unreadable: %w", err)
	}
	return &JournalHead{Head: journal.Hash(last), Records: r.Seq}, nil
}

// headRecord is the controller journal's record of a host journal's new
// head (or of why the host journal could not be written).
func (r runInfo) headRecord(host string, head *JournalHead, err error) journal.Record {
	rec := journal.Record{Time: time.Now().UTC().Format(time.RFC3339Nano), RunID: r.id, Operator: r.operator,
		Controller: r.controller, Host: host, Address: journal.HostPath, Action: journal.ActionHead, Outcome: string(OutcomeApplied)}
	if err != nil {
		rec.Outcome, rec.Error = string(OutcomeFailed), err.Error()
		return rec
	}
	rec.HostHead, rec.HostRecords = head.Head, head.Records
	return rec
}

// journalFuncs defines, for a script where f is the host journal's path,
// newest (the highest N of the rotated files f.N, 0 if none) and last (the
// chain's last line: the current file's, or — when it is empty or missing
// after a cut mid-rotation — the newest rotated file's).
const journalFuncs = `newest() {
  m=0
  for g in "$f".*; do
    n=${g#"$f".}
    case $n in ''|0*|*[!0-9]*) continue ;; esac
    if [ -f "$g" ] && [ "$n" -gt "$m" ]; then m=$n; fi
  done
  echo "$m"
}
last() {
  if [ -s "$f" ]; then tail -n 1 -- "$f"; return; fi
  m=$(newest)
  if [ "$m" -gt 0 ]; then tail -n 1 -- "$f.$m"; fi
}
`

// journalTailProbe prints the last line of the host's journal chain.
func journalTailProbe(h *resources.Host) string {
	return "f=" + shell.Quote(h.Path(journal.HostPath)) + "\n" + journalFuncs + "last\n"
}

// appendHostJournal appends recs to the host's journal (0600 root, in a
// 0700 directory), refusing if the chain's last line is no longer the one
// read at the start of this apply (the chain would fork). When the current
// file would grow past maxSize (<= 0: never), it is first renamed to the
// next journal.jsonl.N: one rename, so a cut at any point leaves the chain
// whole (last falls back to the rotated file) and never forks it.
func appendHostJournal(ctx context.Context, h *resources.Host, tail []byte, recs []journal.Record, maxSize int64) (*JournalHead, error) {
	last := bytes.TrimRight(tail, "\n")
	lines, err := journal.Chain(last, recs)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	for _, l := range lines {
		buf.Write(l)
		buf.WriteByte('\n')
	}
	expect := resources.SHA256(nil)
	if len(last) > 0 {
		expect = resources.SHA256(append(append([]byte(nil), last...), '\n'))
	}
	if maxSize < 0 {
		maxSize = 0
	}
	// The records land in a temp file first and are appended only when they
	// arrived whole: a cut connection ends stdin early, and half a record
	// would break the chain for good.
	script := fmt.Sprintf(`set -eu
f=%s
max=%d
add=%d
d=$(dirname -- "$f")
mkdir -p -- "$d"
chmod 0700 -- "$d"
%s
rm -f -- "$d"/.journal.??????
t=$(mktemp -- "$d/.journal.XXXXXX")
cat > "$t"
if [ "$(wc -c < "$t")" -ne "$add" ] || [ "$(sha256sum < "$t" | cut -d' ' -f1)" != %s ]; then rm -f -- "$t"; echo "journal records arrived incomplete" >&2; exit %d; fi
[ "$(last | sha256sum | cut -d' ' -f1)" = %s ] || { rm -f -- "$t"; echo "journal changed since it was read" >&2; exit %d; }
if [ "$max" -gt 0 ] && [ -s "$f" ] && [ $(( $(wc -c < "$f") + add )) -gt "$max" ]; then
  n=$(( $(newest) + 1 ))
  if [ -e "$f.$n" ] || [ -L "$f.$n" ]; then rm -f -- "$t"; echo "journal: cannot rotate, $f.$n is in the way" >&2; exit %d; fi
  mv -- "$f" "$f.$n"
  sync -- "$d" 2>/dev/null || sync
fi
if [ ! -e "$f" ]; then (umask 077; : > "$f"); fi
chown 0:0 -- "$f"
chmod 0600 -- "$f"
cat -- "$t" >> "$f"
rm -f -- "$t"
sync -- "$f" 2>/dev/null || sync
`, shell.Quote(h.Path(journal.HostPath)), maxSize, buf.Len(), journalFuncs, resources.SHA256(buf.Bytes()), resources.ExitShortWrite,
		expect, resources.ExitChanged, resources.ExitChanged)
	res, err := h.Run(ctx, transport.Cmd{Script: script, Stdin: &buf, Sudo: true})
	if err != nil {
		return nil, err
	}
	if err := res.Err("append " + journal.HostPath); err != nil {
		return nil, err
	}
	return headOf(lines[len(lines)-1])
}
