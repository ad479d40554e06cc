package ssh

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/goprov/goprov/testinfra"
	"github.com/goprov/goprov/transport"
)

// TestLabStreamedStdoutIsNotKept: against a real sshd, as root and through
// sudo, a command whose stdout streams to Cmd.Stdout delivers every byte
// to the writer and keeps none in Result.Stdout, and a stream four times
// -max-output is not cut; stderr is still collected.
func TestLabStreamedStdoutIsNotKept(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	h := lab.Hosts[0]
	const size = 4 << 20
	for _, user := range []string{testinfra.UserRoot, testinfra.UserDeploy} {
		cfg := labConfig(lab, h, user)
		cfg.Become, cfg.MaxOutput = true, 1<<20
		c := dialT(t, cfg)
		got := sha256.New() // keeps nothing but a digest of every byte, in order
		res := runT(t, c, transport.Cmd{Script: "head -c 4194304 /dev/zero; echo warn >&2", Sudo: true, Stdout: got})
		if len(res.Stdout) != 0 {
			t.Errorf("%s: Result.Stdout holds %d bytes of a streamed stdout, want 0", user, len(res.Stdout))
		}
		if want := sha256.Sum256(make([]byte, size)); !bytes.Equal(got.Sum(nil), want[:]) {
			t.Errorf("%s: the writer did not get the command's stdout, every byte in order", user)
		}
		if string(res.Stderr) != "warn\n" {
			t.Errorf("%s: Result.Stderr = %q", user, res.Stderr)
		}
		var all bytes.Buffer
		res = runT(t, c, transport.Cmd{Script: "seq 1 200000", Sudo: true, Stdout: &all})
		if len(res.Stdout) != 0 || all.Len() != 1288895 || !bytes.HasSuffix(all.Bytes(), []byte("\n199999\n200000\n")) {
			t.Errorf("%s: seq streamed %d bytes (kept %d)", user, all.Len(), len(res.Stdout))
		}
	}
}
