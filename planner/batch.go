package planner

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// A batch joins the read-only probes of every resource of a host into one
// script, so reading a host costs one round trip whatever the number of
// resources. Each section's stdout travels base64-encoded on a line of its
// own, behind a per-run random marker, so no byte a file holds can be taken
// for framing; the section's exit status rides after a final \x1e. Its
// stderr follows on a line of its own ("MARKER Ne "), so an error quotes
// what its own section said, not the whole batch's stderr.
type batch struct {
	marker   string
	sections []string
}

func newBatch() *batch {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return &batch{marker: "GOPROV-" + hex.EncodeToString(b[:])}
}

// add appends a probe and returns its index.
func (b *batch) add(probe string) int {
	b.sections = append(b.sections, probe)
	return len(b.sections) - 1
}

func (b *batch) script() string {
	var s strings.Builder
	// fd 4 is the batch's stdout: inside each section's command
	// substitution, fd 1 (and 3) capture the section's stderr.
	s.WriteString("export LC_ALL=C\nexec 4>&1\n")
	for i, p := range b.sections {
		fmt.Fprintf(&s, "printf '%%s %d ' %s\ne=$( { { (\n%s\n) </dev/null 2>&3 3>&-; printf '\\036%%s' \"$?\"; } | base64 | tr -d '\\n' >&4; } 3>&1 )\nprintf '\\n'\n", i, b.marker, p)
		fmt.Fprintf(&s, "printf '%%s %de ' %s\nprintf '%%s' \"$e\" | base64 | tr -d '\\n'\nprintf '\\n'\n", i, b.marker)
	}
	return s.String()
}

type section struct {
	out    []byte
	code   int
	raw    []byte // exactly what was framed: the digest input
	stderr []byte // what the section printed on stderr (trailing newlines cut)
}

// parse splits the batch's stdout back into sections.
func (b *batch) parse(stdout []byte) ([]section, error) {
	out := make([]section, len(b.sections))
	seen := make([]bool, len(b.sections))
	stderr := make([][]byte, len(b.sections))
	for _, line := range bytes.Split(stdout, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, []byte(b.marker+" "))
		if !ok {
			continue
		}
		idxB, payload, _ := bytes.Cut(rest, []byte(" "))
		idxB, isErr := bytes.CutSuffix(idxB, []byte("e"))
		idx, err := strconv.Atoi(string(idxB))
		if err != nil || idx < 0 || idx >= len(out) {
			return nil, fmt.Errorf("read: bad section index %q", idxB)
		}
		raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(payload)))
		if err != nil {
			return nil, fmt.Errorf("read: section %d: %w", idx, err)
		}
		if isErr {
			stderr[idx] = raw
			continue
		}
		cut := bytes.LastIndexByte(raw, 0x1e)
		if cut < 0 {
			return nil, fmt.Errorf("read: section %d: no exit status (output cut short?)", idx)
		}
		code, err := strconv.Atoi(string(raw[cut+1:]))
		if err != nil {
			return nil, fmt.Errorf("read: section %d: bad exit status %q", idx, raw[cut+1:])
		}
		out[idx] = section{out: raw[:cut], code: code, raw: raw}
		seen[idx] = true
	}
	for i, ok := range seen {
		if !ok {
			return nil, fmt.Errorf("read: section %d missing from output (the read was cut short)", i)
		}
		out[i].stderr = stderr[i]
	}
	return out, nil
}
