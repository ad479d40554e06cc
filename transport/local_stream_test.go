package transport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"testing"
)

// countingWriter keeps only a count and a digest of what it is given: a
// writer that bounds its own memory, as the host lock's holder does.
type countingWriter struct {
	n int64
	h [32]byte
	d []byte
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	w.d = append(w.d[:0], w.h[:]...)
	w.d = append(w.d, p...)
	w.h = sha256.Sum256(w.d)
	return len(p), nil
}

// With Cmd.Stdout set, the local transport streams stdout to it and does
// not also keep it: Result.Stdout stays empty, the writer gets every byte,
// and a stream far beyond -max-output is not cut (the writer bounds what it
// keeps; a long apply's holder session prints for as long as it runs).
// Stderr is still collected and capped.
func TestLocalStreamedStdoutIsNotKept(t *testing.T) {
	const size = 4 << 20
	l := NewLocal()
	l.MaxOutput = 1 << 20
	var want countingWriter
	want.Write(bytes.Repeat([]byte{0}, size))
	var got countingWriter
	res, err := l.Run(context.Background(), Cmd{Script: "head -c 4194304 /dev/zero; echo warn >&2", Stdout: &got})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Stdout) != 0 {
		t.Errorf("Result.Stdout holds %d bytes of a streamed stdout, want 0", len(res.Stdout))
	}
	if got.n != size || got.h != want.h {
		t.Errorf("writer got %d bytes (digest equal %t), want %d", got.n, got.h == want.h, size)
	}
	if string(res.Stderr) != "warn\n" {
		t.Errorf("Result.Stderr = %q", res.Stderr)
	}
	if _, err := l.Run(context.Background(), Cmd{Script: "head -c 2000000 /dev/zero >&2", Stdout: &got}); err == nil {
		t.Error("stderr beyond -max-output of a streamed command: no error")
	}
}
