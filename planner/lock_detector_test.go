package planner

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/goprov/goprov/transport"
)

// The transport no longer keeps the holder session's stdout (it streams to
// the detector), so the detector keeps what lockAndRun needs — who holds a
// locked host — and bounds it, and refuses a line longer than any result.
func TestDetectorKeepsHolderBounded(t *testing.T) {
	for _, tc := range []struct {
		name, out, want string
	}{
		{"line of its own", "alice@ci pid 1\nTOK-done\n", "alice@ci pid 1"},
		{"no final newline", "alice@ci pid 1TOK-done\n", "alice@ci pid 1"},
		{"huge", strings.Repeat("x", 1<<20) + "\nTOK-done\n", strings.Repeat("x", maxPreamble)},
	} {
		d := newDetector("TOK", make(chan struct{}), func() {})
		for _, chunk := range []string{tc.out[:len(tc.out)/2], tc.out[len(tc.out)/2:]} {
			if _, err := d.Write([]byte(chunk)); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
		}
		if got := strings.TrimSpace(strings.ReplaceAll(d.preamble(), "TOK-done", "")); got != tc.want {
			t.Errorf("%s: holder %d bytes %.40q, want %d bytes", tc.name, len(got), got, len(tc.want))
		}
	}
	d := newDetector("TOK", make(chan struct{}), func() {})
	d.Write([]byte("TOK\n"))
	chunk := bytes.Repeat([]byte("A"), 1<<20)
	var err error
	for i := 0; err == nil && i <= maxHolderLine/len(chunk)+1; i++ {
		_, err = d.Write(chunk)
	}
	var over *transport.OutputLimitError
	if !errors.As(err, &over) {
		t.Fatalf("a line without end: err %v, want an OutputLimitError", err)
	}
	if len(d.buf) != 0 || len(d.pre) > maxPreamble {
		t.Errorf("after the limit the detector still keeps %d + %d bytes", len(d.buf), len(d.pre))
	}
}
