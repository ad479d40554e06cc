package transport

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
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

// TestLocalRootSandbox: on an image root, scripts see the image as "/"
// (an empty one too, through the static busybox), as root of a user
// namespace with a fresh PID namespace and no network; device nodes of the
// image cannot be opened; read-only runs write nothing, not even a missing
// root.
func TestLocalRootSandbox(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the sandbox needs root; CI runs as root")
		}
		t.Skip("the sandbox needs root")
	}
	run := func(t *testing.T, root string, ro bool, script string) Result {
		t.Helper()
		res, err := NewLocalRoot(root).Run(context.Background(), Cmd{Script: script, Stdin: strings.NewReader("in\n"), ReadOnly: ro})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	t.Run("empty root", func(t *testing.T) {
		root := t.TempDir()
		// The processes are the shell, ls and grep; the one interface, lo.
		res := run(t, root, false, `echo "pid $$ uid $(id -u)"; cat; ls /proc | grep -c '^[0-9]'; grep -c : /proc/net/dev; echo x > /written`)
		if got, want := string(res.Stdout), "pid 1 uid 0\nin\n3\n1\n"; got != want || res.ExitCode != 0 {
			t.Fatalf("exit %d, stdout %q, stderr %q; want %q (own PID namespace, only lo)", res.ExitCode, got, res.Stderr, want)
		}
		if b, err := os.ReadFile(root + "/written"); err != nil || string(b) != "x\n" {
			t.Fatalf("write did not land in the root: %q %v", b, err)
		}
	})
	t.Run("read-only", func(t *testing.T) {
		root := t.TempDir()
		res := run(t, root, true, "echo x > /written")
		if res.ExitCode == 0 || !strings.Contains(string(res.Stderr), "Read-only") {
			t.Fatalf("write in a read-only run: exit %d, stderr %q", res.ExitCode, res.Stderr)
		}
		if ents, _ := os.ReadDir(root); len(ents) != 0 {
			t.Fatalf("a read-only run left %v in the root", ents)
		}
		missing := root + "/not-yet"
		if res := run(t, missing, true, "ls -A /"); res.ExitCode != 0 {
			t.Fatalf("read-only run on a missing root: exit %d, %s", res.ExitCode, res.Stderr)
		}
		if _, err := os.Stat(missing); err == nil {
			t.Fatal("a read-only run created the missing root")
		}
	})
	t.Run("mount points that are links are refused", func(t *testing.T) {
		root := t.TempDir()
		if err := os.Symlink("/etc", root+"/dev"); err != nil {
			t.Fatal(err)
		}
		_, err := NewLocalRoot(root).Run(context.Background(), Cmd{Script: "true"})
		var se *SandboxError
		if !errors.As(err, &se) || !strings.Contains(se.Msg, "/dev is a link") {
			t.Fatalf("image with /dev -> /etc: %v, want a sandbox error naming /dev", err)
		}
	})
	t.Run("device nodes are inert", func(t *testing.T) {
		root := t.TempDir()
		// A copy of /dev/null's node stands for a disk's planted in an image.
		if err := unix.Mknod(root+"/node", unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
			t.Fatal(err)
		}
		res := run(t, root, false, "echo x > /node && echo opened")
		if res.ExitCode == 0 || strings.Contains(string(res.Stdout), "opened") {
			t.Fatalf("a device node in the image was opened: exit %d, %s", res.ExitCode, res.Stdout)
		}
	})
}

// BenchmarkLocalRun and BenchmarkLocalRootRun: what the sandbox adds to
// one script (the docs quote the difference).
func BenchmarkLocalRun(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := NewLocal().Run(context.Background(), Cmd{Script: "true"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLocalRootRun(b *testing.B) {
	root := b.TempDir()
	for i := 0; i < b.N; i++ {
		if _, err := NewLocalRoot(root).Run(context.Background(), Cmd{Script: "true", ReadOnly: true}); err != nil {
			b.Fatal(err)
		}
	}
}
