package planner

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/goprov/goprov/internal/shell"
	"github.com/goprov/goprov/transport"
)

// FuzzBatchParse: whatever a host sends back, parsing never panics and
// never yields a section it did not frame.
func FuzzBatchParse(f *testing.F) {
	b := newBatch()
	b.add("true")
	b.add("true")
	f.Add([]byte(b.marker + " 0\neB4w\n" + b.marker + " 1\nHjA=\n"))
	f.Add([]byte(b.marker + " 0\neB4w\n" + b.marker + " 0e\nZXJy\n" + b.marker + " 1\nHjA=\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, out []byte) {
		secs, err := b.parse(out)
		if err == nil && len(secs) != 2 {
			t.Fatalf("parsed %d sections, framed 2", len(secs))
		}
	})
}

// FuzzBatchFraming: files of any bytes, including the run's own framing
// marker and header lines, read by the real batch script under sh, come
// back exactly, each in its own section, with their sections' stderr.
func FuzzBatchFraming(f *testing.F) {
	f.Add([]byte("plain\n"), []byte{}, uint8(0))
	f.Add([]byte("\x00\xff\n\x1e7"), []byte("\n\n"), uint8(3))
	f.Add([]byte("a 0\nAAAA\n"), []byte(" 1e\nZXJy"), uint8(1))
	f.Fuzz(func(t *testing.T, a, c []byte, code uint8) {
		b := newBatch()
		m := []byte(b.marker)
		// Splice the marker in as a header line would read.
		one := bytes.Join([][]byte{a, m, c}, []byte{'\n'})
		two := append(append(append([]byte{}, m...), c...), a...)
		dir := t.TempDir()
		files := [][]byte{one, two}
		for i, content := range files {
			p := filepath.Join(dir, string(rune('a'+i)))
			if err := os.WriteFile(p, content, 0o600); err != nil {
				t.Fatal(err)
			}
			b.add("cat " + shell.Quote(p) + "; cat " + shell.Quote(p) + " >&2; exit " + string(rune('0'+code%10)))
		}
		res, err := transport.NewLocal().Run(context.Background(), transport.Cmd{Script: b.script()})
		if err != nil {
			t.Fatal(err)
		}
		secs, err := b.parse(res.Stdout)
		if err != nil {
			t.Fatalf("parse: %v\nstdout: %q", err, res.Stdout)
		}
		for i, content := range files {
			// A shell's command substitution drops NULs and the trailing
			// newlines of stderr; stdout travels exactly.
			wantErr := bytes.TrimRight(bytes.ReplaceAll(content, []byte{0}, nil), "\n")
			if !bytes.Equal(secs[i].out, content) || secs[i].code != int(code%10) || !bytes.Equal(secs[i].stderr, wantErr) {
				t.Errorf("section %d: got %q/%d/%q, want %q/%d/%q", i, secs[i].out, secs[i].code, secs[i].stderr, content, code%10, wantErr)
			}
		}
	})
}
