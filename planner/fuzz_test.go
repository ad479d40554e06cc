package planner

import "testing"

// FuzzBatchParse: whatever a host sends back, parsing never panics and
// never yields a section it did not frame.
func FuzzBatchParse(f *testing.F) {
	b := newBatch()
	b.add("true")
	b.add("true")
	f.Add([]byte(b.marker + " 0 eB4w\n" + b.marker + " 1 HjA=\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, out []byte) {
		secs, err := b.parse(out)
		if err == nil && len(secs) != 2 {
			t.Fatalf("parsed %d sections, framed 2", len(secs))
		}
	})
}
