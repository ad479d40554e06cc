package resources

import (
	"bytes"
	"context"
	"testing"

	"github.com/goprov/goprov/transport"
)

func TestMultiProbeRoundTrip(t *testing.T) {
	script := MultiProbe(`printf 'a\nb'`, `printf ''`, `printf '\000\377\n\n'`, `true`)
	res, err := transport.NewLocal().Run(context.Background(), transport.Cmd{Script: script})
	if err != nil || res.ExitCode != 0 {
		t.Fatal(err, res.ExitCode, string(res.Stderr))
	}
	parts, err := SplitMulti(res.Stdout, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]byte{[]byte("a\nb"), {}, []byte("\x00\xff\n\n"), {}} // an empty last part too
	for i := range want {
		if !bytes.Equal(parts[i], want[i]) {
			t.Errorf("part %d: %q, want %q", i, parts[i], want[i])
		}
	}
}
