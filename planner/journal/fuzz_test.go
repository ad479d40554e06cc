package journal

import (
	"bytes"
	"testing"
)

// FuzzVerify: any file content gets a verdict, never a panic; and a
// genuine chain with any one byte changed is never reported intact.
func FuzzVerify(f *testing.F) {
	lines, _ := Chain(nil, []Record{{Host: "a", Outcome: "applied"}, {Host: "b", Outcome: "applied"}, {Host: "c", Outcome: "applied"}})
	good := append(bytes.Join(lines, []byte("\n")), '\n')
	f.Add(good, 10, byte('x'))
	f.Fuzz(func(t *testing.T, data []byte, pos int, b byte) {
		Verify(bytes.NewReader(data))
		if pos < 0 || pos >= len(good)-1 {
			return
		}
		mut := append([]byte(nil), good...)
		if mut[pos] == b || mut[pos] == '\n' || b == '\n' {
			return
		}
		// Only records before the last are protected by the chain itself.
		if pos >= len(good)-len(lines[2])-1 {
			return
		}
		mut[pos] = b
		if _, probs, _ := Verify(bytes.NewReader(mut)); len(probs) == 0 {
			t.Fatalf("byte %d changed to %q, chain reported intact", pos, b)
		}
	})
}
