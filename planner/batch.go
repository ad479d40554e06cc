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
// resources. Each section's stdout (its exit status after a final \x1e)
// travels base64-encoded behind a header line "MARKER N", where MARKER is
// random per run: the encoding's alphabet has no '-', so no byte a file
// holds can make a line the parser takes for a header, and the payload
// runs to the next header. Its stderr, when there is any, follows behind
// "MARKER Ne", so an error quotes what its own section said, not the whole
// batch's stderr. One base64 per section and nothing else: every program
// the read starts costs the host CPU (see bench/README.md), so there is no
// `tr` to join the encoder's lines and no encoder for an empty stderr.
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
		fmt.Fprintf(&s, "printf '%%s %d\\n' %s\ne=$( { { (\n%s\n) </dev/null 2>&3 3>&-; printf '\\036%%s' \"$?\"; } | base64 >&4; } 3>&1 )\n", i, b.marker, p)
		fmt.Fprintf(&s, "[ -z \"$e\" ] || { printf '%%s %de\\n' %s; printf '%%s' \"$e\" | base64; }\n", i, b.marker)
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
	frames, err := b.frames(stdout)
	if err != nil {
		return nil, err
	}
	for _, f := range frames {
		raw, err := base64.StdEncoding.DecodeString(string(f.payload))
		if err != nil {
			return nil, fmt.Errorf("read: section %d: %w", f.idx, err)
		}
		if f.isErr {
			stderr[f.idx] = raw
			continue
		}
		cut := bytes.LastIndexByte(raw, 0x1e)
		if cut < 0 {
			return nil, fmt.Errorf("read: section %d: no exit status (output cut short?)", f.idx)
		}
		code, err := strconv.Atoi(string(raw[cut+1:]))
		if err != nil {
			return nil, fmt.Errorf("read: section %d: bad exit status %q", f.idx, raw[cut+1:])
		}
		out[f.idx] = section{out: raw[:cut], code: code, raw: raw}
		seen[f.idx] = true
	}
	for i, ok := range seen {
		if !ok {
			return nil, fmt.Errorf("read: section %d missing from output (the read was cut short)", i)
		}
		out[i].stderr = stderr[i]
	}
	return out, nil
}

type frame struct {
	idx     int
	isErr   bool
	payload []byte // base64, line breaks removed
}

// frames cuts stdout at its header lines. Lines before the first header
// (a login banner, say) are not the batch's; a header seen twice is an
// error rather than a guess at which one is real.
func (b *batch) frames(stdout []byte) ([]frame, error) {
	var frames []frame
	seen := map[string]bool{}
	for _, line := range bytes.Split(stdout, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, []byte(b.marker+" "))
		if !ok {
			if n := len(frames); n > 0 {
				frames[n-1].payload = append(frames[n-1].payload, bytes.TrimSpace(line)...)
			}
			continue
		}
		idxB, isErr := bytes.CutSuffix(rest, []byte("e"))
		idx, err := strconv.Atoi(string(idxB))
		if err != nil || idx < 0 || idx >= len(b.sections) {
			return nil, fmt.Errorf("read: bad section index %q", rest)
		}
		if seen[string(rest)] {
			return nil, fmt.Errorf("read: section %s framed twice", rest)
		}
		seen[string(rest)] = true
		frames = append(frames, frame{idx: idx, isErr: isErr})
	}
	return frames, nil
}
