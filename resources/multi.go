package resources

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// MultiProbe joins several read-only snippets into one probe whose output
// SplitMulti takes apart again: each part's stdout, exactly as printed,
// behind a header line "\nGOPROV-PART-<hash> <i>\n". No part's output is
// encoded (an encoder per part was two programs started per part, which is
// what a read costs the host): a header is found by its marker instead,
// and SplitMulti insists on exactly one header per part, in order, so a
// part that prints the marker (it is derived from the probe's text, so it
// is the same on every read and the read's digest with it) makes the read
// fail, never splits it wrongly. For resources that read more than one
// thing (a file and a kernel status, say) in the same batched read.
func MultiProbe(parts ...string) string {
	m := multiMarker(parts)
	var b strings.Builder
	for i, p := range parts {
		fmt.Fprintf(&b, "printf '\\n%%s %d\\n' %s\n(\n%s\n) </dev/null\n", i, m, p)
	}
	return b.String()
}

const multiPrefix = "GOPROV-PART-"

func multiMarker(parts []string) string {
	s := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return multiPrefix + hex.EncodeToString(s[:12])
}

// SplitMulti returns the outputs of MultiProbe's parts, in order.
func SplitMulti(out []byte, n int) ([][]byte, error) {
	if n < 1 {
		return nil, fmt.Errorf("probe: want %d parts", n)
	}
	// The output starts with part 0's header, which names the marker.
	rest, ok := bytes.CutPrefix(out, []byte("\n"+multiPrefix))
	if !ok || len(rest) < 24 {
		return nil, fmt.Errorf("probe: output does not start with a part header (the read was cut short?)")
	}
	if _, err := hex.DecodeString(string(rest[:24])); err != nil {
		return nil, fmt.Errorf("probe: bad part header")
	}
	sep := []byte("\n" + multiPrefix + string(rest[:24]) + " ")
	if c := bytes.Count(out, sep); c != n {
		return nil, fmt.Errorf("probe: want %d parts, got %d part headers", n, c)
	}
	chunks := bytes.Split(out, sep)[1:]
	parts := make([][]byte, n)
	for i, c := range chunks {
		idx, body, ok := bytes.Cut(c, []byte("\n"))
		if !ok || string(idx) != strconv.Itoa(i) {
			return nil, fmt.Errorf("probe: part %d: bad header %q", i, idx)
		}
		parts[i] = body
	}
	return parts, nil
}

// MultiOutput is what MultiProbe's script prints for parts that print
// outs: for tests of parsers, and anything that builds a probe's output.
func MultiOutput(outs ...string) []byte {
	m := multiMarker(outs)
	var b bytes.Buffer
	for i, o := range outs {
		fmt.Fprintf(&b, "\n%s %d\n%s", m, i, o)
	}
	return b.Bytes()
}
