package resources

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
)

// MultiProbe joins several read-only snippets into one probe whose output
// SplitMulti takes apart again: each part's stdout base64-encoded on its own
// line, so parts can print anything. For resources that read more than one
// thing (a file and a kernel status, say) in the same batched read.
func MultiProbe(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		fmt.Fprintf(&b, "{ (\n%s\n) </dev/null | base64 | tr -d '\\n'; printf '\\n'; }\n", p)
	}
	return b.String()
}

// SplitMulti returns the outputs of MultiProbe's parts, in order.
func SplitMulti(out []byte, n int) ([][]byte, error) {
	// Exactly one final newline: an empty last part is an empty line.
	lines := bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n"))
	if len(lines) != n {
		return nil, fmt.Errorf("probe: want %d parts, got %d", n, len(lines))
	}
	parts := make([][]byte, n)
	for i, l := range lines {
		p, err := base64.StdEncoding.DecodeString(string(l))
		if err != nil {
			return nil, fmt.Errorf("probe: part %d: %w", i, err)
		}
		parts[i] = p
	}
	return parts, nil
}
