package planner

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
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
			Outcome: c.Outcome, Error: c.Error})
	}
	return out
}

// appendHostJournal appends recs to the host's journal (0600 root, in a
// 0700 directory), refusing if the journal's last line is no longer the
// one read at the start of this apply (the chain would fork).
func appendHostJournal(ctx context.Context, h *resources.Host, tail []byte, recs []journal.Record) error {
	last := bytes.TrimRight(tail, "\n")
	lines, err := journal.Chain(last, recs)
	if err != nil {
		return err
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
	f := h.Path(journal.HostPath)
	script := fmt.Sprintf(`set -eu
f=%s
d=$(dirname -- "$f")
mkdir -p -- "$d"
chmod 0700 -- "$d"
if [ ! -e "$f" ]; then (umask 077; : > "$f"); fi
chown 0:0 -- "$f"
chmod 0600 -- "$f"
[ "$(tail -n 1 -- "$f" | sha256sum | cut -d' ' -f1)" = %s ] || { echo "journal changed since it was read" >&2; exit 7; }
cat >> "$f"
sync -- "$f" 2>/dev/null || sync
`, shell.Quote(f), expect)
	res, err := h.Run(ctx, transport.Cmd{Script: script, Stdin: &buf, Sudo: true})
	if err != nil {
		return err
	}
	return res.Err("append " + journal.HostPath)
}
