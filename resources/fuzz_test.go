package resources

import "testing"

// FuzzProbeParsers: probe output parsers take any bytes without panicking.
func FuzzProbeParsers(f *testing.F) {
	f.Add([]byte("file 644 0 0\ncontent"))
	f.Add([]byte("absent\n"))
	f.Add([]byte("file 9999 x y\n"))
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
