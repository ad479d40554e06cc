package ssh

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/goprov/goprov/testinfra"
	"github.com/goprov/goprov/transport"
)

// bigBatch is a script of about size bytes that prints a digest of its
// payload and of its stdin: the same output on any host.
func bigBatch(size int) string {
	line := strings.Repeat("x", 70)
	var b strings.Builder
	b.WriteString("set -eu\nn=0\n")
	for b.Len() < size {
		fmt.Fprintf(&b, "v='%s'; n=$((n+1))\n", line)
	}
	b.WriteString("echo \"lines $n\"\nprintf 'stdin %s\\n' \"$(sha256sum | cut -c1-64)\"\nexit 3\n")
	return b.String()
}

// TestLabLocalSSHParity: the same 1 MB batch, with data on stdin, gives the
// same result through the local transport and through SSH (with sudo) to
// a lab host: neither puts the script in an argv.
func TestLabLocalSSHParity(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	cfg := labConfig(lab, lab.Hosts[0], testinfra.UserDeploy)
	cfg.Become = true
	c := dialT(t, cfg)
	script := bigBatch(1 << 20)
	const data = "data on stdin\n"
	sum := sha256.Sum256([]byte(data))
	want := fmt.Sprintf("lines %d\nstdin %s\n", strings.Count(script, "v='"), hex.EncodeToString(sum[:]))

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for name, tr := range map[string]transport.Transport{"ssh": c, "local": transport.NewLocal()} {
		res, err := tr.Run(ctx, transport.Cmd{Script: script, Stdin: strings.NewReader(data), Sudo: true})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if string(res.Stdout) != want || res.ExitCode != 3 {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 3, %q", name, res.ExitCode, res.Stdout, res.Stderr, want)
		}
	}
}
