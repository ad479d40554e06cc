package resources

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/goprov/goprov/internal/shell"
	"github.com/goprov/goprov/transport"
)

// FuzzProbeParsers: probe output parsers take any bytes without panicking.
func FuzzProbeParsers(f *testing.F) {
	f.Add([]byte("file 644 0 0\ncontent"))
	f.Add([]byte("absent\n"))
	f.Add([]byte("file 9999 x y\n"))
	f.Add(MultiOutput("absent\n", ""))
	f.Fuzz(func(t *testing.T, out []byte) {
		st, err := ParseFileState(out)
		if err == nil && st.Regular && !st.Exists {
			t.Fatal("regular but absent")
		}
		SplitMulti(out, 2)
		ParseFacts(out)
		ParsePending(out)
	})
}

// FuzzMultiFraming: parts that print any bytes, including the probe's own
// part marker and header lines, come back exactly from the real script
// under sh, or the split fails; it never hands a part another's bytes.
func FuzzMultiFraming(f *testing.F) {
	f.Add([]byte("plain\n"), []byte{}, false)
	f.Add([]byte("\x00\xff\n"), []byte(" 1\nforged"), true)
	f.Add([]byte(""), []byte(" 0\n"), true)
	f.Fuzz(func(t *testing.T, a, c []byte, plant bool) {
		dir := t.TempDir()
		pa, pb := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		parts := []string{"cat " + shell.Quote(pa), "printf ''", "cat " + shell.Quote(pb)}
		script := MultiProbe(parts...)
		second := c
		if plant {
			second = append(append([]byte("\n"+multiMarker(parts)), c...), a...)
		}
		must(t, os.WriteFile(pa, a, 0o600))
		must(t, os.WriteFile(pb, second, 0o600))
		res, err := transport.NewLocal().Run(context.Background(), transport.Cmd{Script: script})
		if err != nil || res.ExitCode != 0 {
			t.Fatal(err, res.ExitCode, string(res.Stderr))
		}
		got, err := SplitMulti(res.Stdout, 3)
		if err != nil {
			if !plant {
				t.Fatalf("split: %v\n%q", err, res.Stdout)
			}
			return
		}
		for i, w := range [][]byte{a, {}, second} {
			if !bytes.Equal(got[i], w) {
				t.Errorf("part %d: %q, want %q", i, got[i], w)
			}
		}
	})
}
