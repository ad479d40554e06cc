package transport

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
)

// BigBatch is a script of about size bytes (a batched read of many
// resources is that large) that prints a digest of its own payload and
// of its stdin: the same output wherever it runs.
func BigBatch(size int) (script string, want string) {
	line := strings.Repeat("x", 70)
	var b strings.Builder
	b.WriteString("set -eu\nn=0\n")
	for b.Len() < size {
		fmt.Fprintf(&b, "v='%s'; n=$((n+1))\n", line)
	}
	b.WriteString("echo \"lines $n\"\nprintf 'stdin %s\\n' \"$(sha256sum | cut -c1-64)\"\n")
	n := strings.Count(b.String(), "v='")
	sum := sha256.Sum256([]byte("data on stdin\n"))
	return b.String(), fmt.Sprintf("lines %d\nstdin %s\n", n, hex.EncodeToString(sum[:]))
}

// TestLocalScriptNotInArgv: a 1 MB batch runs (it is far beyond the 128 KiB
// a single argv string may hold), with stdin still the script's.
func TestLocalScriptNotInArgv(t *testing.T) {
	script, want := BigBatch(1 << 20)
	res, err := NewLocal().Run(context.Background(), Cmd{Script: script, Stdin: strings.NewReader("data on stdin\n")})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Stdout) != want || res.ExitCode != 0 {
		t.Fatalf("1 MB batch: exit %d, stdout %q, stderr %q; want %q", res.ExitCode, res.Stdout, res.Stderr, want)
	}
}

// TestLocalChildEnvIsMinimal: a child gets PATH and a C locale, never the
// controller's variables (secrets, agent sockets, anything else).
func TestLocalChildEnvIsMinimal(t *testing.T) {
	t.Setenv("GOPROV_BECOME_PASSWORD", "pw-Zq81")
	t.Setenv("SSH_AUTH_SOCK", "/run/agent-Zq81.sock")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "aws-Zq81")
	res, err := NewLocal().Run(context.Background(), Cmd{Script: "env"})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("env: %v %d %s", err, res.ExitCode, res.Stderr)
	}
	vars := map[string]bool{}
	for _, kv := range strings.Split(strings.TrimSpace(string(res.Stdout)), "\n") {
		k, _, _ := strings.Cut(kv, "=")
		vars[k] = true
	}
	for _, k := range []string{"GOPROV_BECOME_PASSWORD", "SSH_AUTH_SOCK", "AWS_SECRET_ACCESS_KEY"} {
		if vars[k] {
			t.Errorf("the child was given %s", k)
		}
	}
	if !vars["PATH"] {
		t.Errorf("the child has no PATH: %s", res.Stdout)
	}
	if strings.Contains(string(res.Stdout), "Zq81") {
		t.Errorf("a secret value reached the child:\n%s", res.Stdout)
	}
}

// TestLocalRootSandbox: scripts on an image root see the image as "/",
// including an empty one (static busybox) and read-only runs.
func TestLocalRootSandbox(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, ro := range []bool{false, true} {
		root := t.TempDir()
		l := NewLocalRoot(root)
		res, err := l.Run(context.Background(), Cmd{Script: "echo $$; ls -a /; id -u; cat; echo x > /probe 2>/dev/null && echo wrote", Stdin: strings.NewReader("in\n"), ReadOnly: ro})
		t.Logf("ro=%v err=%v exit=%d\n%s\n%s", ro, err, res.ExitCode, res.Stdout, res.Stderr)
		entries, _ := os.ReadDir(root)
		for _, e := range entries {
			t.Logf("  in root: %s", e.Name())
		}
	}
}
