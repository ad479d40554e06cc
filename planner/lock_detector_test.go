package planner

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/goprov/goprov/transport"
)

// The transport no longer keeps the holder session's stdout (it streams to
// the detector), so the detector keeps what lockAndRun needs — who holds a
// locked host — bounded, and bounds each command's result by -max-output.
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
	// Each command's output is bounded by -max-output (limit) as on an
	// exec of its own: a result line beyond it is dropped, its waiter gets
	// an OutputLimitError, and the stream goes on (the session and its
	// lock do not stall).
	d := newDetector("TOK", make(chan struct{}), func() {})
	d.limit = 1000
	d.Write([]byte("TOK\n"))
	within := "TOK-res 3 " + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("o"), 600)) + " " +
		base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("e"), 400)) + "\n"
	over := "TOK-res 0 " + strings.Repeat("QUFB", 100000) + " \n"
	for _, tc := range []struct {
		name, out string
		want      int // stdout bytes; -1: OutputLimitError
	}{
		{"at the limit", within, 600},
		{"over it", over, -1},
		{"after one over it", within, 600},
	} {
		for i := 0; i < len(tc.out); i += 4096 {
			if _, err := d.Write([]byte(tc.out[i:min(i+4096, len(tc.out))])); err != nil {
				t.Fatalf("%s: Write: %v", tc.name, err)
			}
			if len(d.buf) > d.maxLine()+4096 {
				t.Fatalf("%s: the detector keeps %d bytes of one line", tc.name, len(d.buf))
			}
		}
		res, err := parseResult(<-d.resCh, d.limit)
		var over *transport.OutputLimitError
		switch {
		case tc.want < 0 && !errors.As(err, &over):
			t.Errorf("%s: err %v, want an OutputLimitError", tc.name, err)
		case tc.want >= 0 && (err != nil || len(res.Stdout) != tc.want || res.ExitCode != 3):
			t.Errorf("%s: %d bytes, exit %d, err %v", tc.name, len(res.Stdout), res.ExitCode, err)
		}
	}
	d.Write([]byte("TOK-alive\n"))
	select {
	case <-d.aliveCh:
	default:
		t.Error("an alive line after an over-limit result was not seen")
	}
}
