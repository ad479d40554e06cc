package transport

import (
	"bytes"
	"context"
	"testing"
)

// zeroCounter counts the bytes it gets and whether all were zero: a writer
// that bounds its own memory, as the host lock's holder does.
type zeroCounter struct {
	n       int64
	nonZero bool
}

func (w *zeroCounter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	w.nonZero = w.nonZero || bytes.ContainsFunc(p, func(r rune) bool { return r != 0 })
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
	var got zeroCounter
	res, err := l.Run(context.Background(), Cmd{Script: "head -c 4194304 /dev/zero; echo warn >&2", Stdout: &got})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Stdout) != 0 {
		t.Errorf("Result.Stdout holds %d bytes of a streamed stdout, want 0", len(res.Stdout))
	}
	if got.n != size || got.nonZero {
		t.Errorf("writer got %d bytes (non-zero among them: %t), want %d zeros", got.n, got.nonZero, size)
	}
	if string(res.Stderr) != "warn\n" {
		t.Errorf("Result.Stderr = %q", res.Stderr)
	}
	if _, err := l.Run(context.Background(), Cmd{Script: "head -c 2000000 /dev/zero >&2", Stdout: &got}); err == nil {
		t.Error("stderr beyond -max-output of a streamed command: no error")
	}
}
