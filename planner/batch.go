package planner

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// A batch joins the read-only probes of every resource of a host into one
// script, so reading a host costs one round trip whatever the number of
// resources. It starts no program of its own: every program a read starts
// costs the host CPU (bench/README.md), and an encoder per section was
// most of them. Each section's stdout, exactly as printed and followed by
// \x1e and its exit status, comes behind a header line "\nMARKER N\n", its
// stderr (trailing newlines cut) behind "\nMARKER Ne\n", so an error quotes
// what its own section said; "\nMARKER end\n" closes the batch. MARKER is
// random per run and only ever an argument of the shell's built-in printf,
// so no file or program on the host knows it; and parse wants every header
// exactly once, in order, so output that held it anyway (a leaked marker)
// fails the read rather than moving bytes between sections.
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
		fmt.Fprintf(&s, "printf '\\n%%s %d\\n' %s\ne=$( { (\n%s\n) </dev/null 2>&3 3>&- >&4; printf '\\036%%s' \"$?\" >&4; } 3>&1 )\n", i, b.marker, p)
		fmt.Fprintf(&s, "printf '\\n%%s %de\\n%%s' %s \"$e\"\n", i, b.marker)
	}
	fmt.Fprintf(&s, "printf '\\n%%s end\\n' %s\n", b.marker)
	return s.String()
}

type section struct {
	out    []byte
	code   int
	raw    []byte // exactly what was framed: the digest input
	stderr []byte // what the section printed on stderr (trailing newlines cut)
}

// parse splits the batch's stdout back into sections. Bytes before the
// first header (none of the batch's) are ignored.
func (b *batch) parse(stdout []byte) ([]section, error) {
	sep := []byte("\n" + b.marker + " ")
	chunks := bytes.Split(stdout, sep)[1:]
	want := 2*len(b.sections) + 1
	if len(chunks) < want {
		return nil, fmt.Errorf("read: %d of %d section headers in the output (the read was cut short)", len(chunks), want)
	}
	if len(chunks) > want {
		return nil, fmt.Errorf("read: %d section headers in the output, want %d (a section printed the batch's marker)", len(chunks), want)
	}
	out := make([]section, len(b.sections))
	for j, c := range chunks {
		name, body, _ := bytes.Cut(c, []byte("\n"))
		i := j / 2
		switch {
		case j == want-1:
			if string(c) != "end\n" {
				return nil, fmt.Errorf("read: bad end of output %q", c)
			}
		case j%2 == 1:
			if string(name) != strconv.Itoa(i)+"e" {
				return nil, fmt.Errorf("read: header %q where section %de was due", name, i)
			}
			out[i].stderr = bytes.TrimRight(body, "\n")
		default:
			if string(name) != strconv.Itoa(i) {
				return nil, fmt.Errorf("read: header %q where section %d was due", name, i)
			}
			cut := bytes.LastIndexByte(body, 0x1e)
			if cut < 0 {
				return nil, fmt.Errorf("read: section %d: no exit status (output cut short?)", i)
			}
			code, err := strconv.Atoi(string(body[cut+1:]))
			if err != nil {
				return nil, fmt.Errorf("read: section %d: bad exit status %q", i, body[cut+1:])
			}
			out[i].out, out[i].code, out[i].raw = body[:cut], code, body
		}
	}
	return out, nil
}
