package transport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"testing"
)

// With Cmd.Stdout set, the local transport streams stdout to it and does
// not also keep it: Result.Stdout stays empty, the writer gets every byte,
// and a stream far beyond -max-output is not cut (the writer bounds what it
// keeps; a long apply's holder session prints for as long as it runs).
// Stderr is still collected and capped.
func TestLocalStreamedStdoutIsNotKept(t *testing.T) {
	const size = 4 << 20
	l := NewLocal()
	l.MaxOutput = 1 << 20
	got := sha256.New() // keeps nothing but a digest of every byte, in order
	res, err := l.Run(context.Background(), Cmd{Script: "head -c 4194304 /dev/zero; echo warn >&2", Stdout: got})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Stdout) != 0 {
		t.Errorf("Result.Stdout holds %d bytes of a streamed stdout, want 0", len(res.Stdout))
	}
	if want := sha256.Sum256(make([]byte, size)); !bytes.Equal(got.Sum(nil), want[:]) {
		t.Error("the writer did not get the command's stdout, every byte in order")
	}
	if string(res.Stderr) != "warn\n" {
		t.Errorf("Result.Stderr = %q", res.Stderr)
	}
	if _, err := l.Run(context.Background(), Cmd{Script: "head -c 2000000 /dev/zero >&2", Stdout: got}); err == nil {
		t.Error("stderr beyond -max-output of a streamed command: no error")
	}
}
