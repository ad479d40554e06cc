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
	m := "\n" + b.marker + " "
	f.Add([]byte(m + "0\nx\x1e0" + m + "0e\n" + m + "1\n\x1e3" + m + "1e\nerr" + m + "end\n"))
	f.Add([]byte(m + "0\nx\x1e0" + m + "0e\n" + m + "0e\n" + m + "1\n\x1e3" + m + "1e\nerr" + m + "end\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, out []byte) {
		secs, err := b.parse(out)
		if err == nil && len(secs) != 2 {
			t.Fatalf("parsed %d sections, framed 2", len(secs))
		}
	})
}

// FuzzBatchFraming: files of any bytes read by the real batch script
// under sh come back exactly, each in its own section, with their
// sections' stderr; files that also hold the run's own marker (which the
// host never learns) come back exactly or fail the read, never swap bytes
// between sections.
func FuzzBatchFraming(f *testing.F) {
	f.Add([]byte("plain\n"), []byte{}, uint8(0), false)
	f.Add([]byte("\x00\xff\n\x1e7"), []byte("\n\n"), uint8(3), true)
	f.Add([]byte("a 0\nAAAA\n"), []byte(" 1e\nZXJy"), uint8(1), true)
	f.Add([]byte("x"), []byte(" end\n"), uint8(2), true)
	f.Fuzz(func(t *testing.T, a, c []byte, code uint8, plant bool) {
		b := newBatch()
		one, two := a, c
		if plant {
			m := []byte("\n" + b.marker)
			one = bytes.Join([][]byte{a, m, c}, nil)
			two = append(append(append([]byte{}, m...), c...), a...)
		}
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
			if !plant {
				t.Fatalf("parse: %v\nstdout: %q", err, res.Stdout)
			}
			return
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
