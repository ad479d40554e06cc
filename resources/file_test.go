package resources

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goprov/goprov/transport"
)

// cutTransport passes only the first n bytes of stdin, as a connection cut
// mid-transfer does: the remote cat sees EOF early.
type cutTransport struct {
	transport.Transport
	n int64
}

func (c cutTransport) Run(ctx context.Context, cmd transport.Cmd) (transport.Result, error) {
	if cmd.Stdin != nil {
		cmd.Stdin = io.LimitReader(cmd.Stdin, c.n)
	}
	return c.Transport.Run(ctx, cmd)
}

func testHost(t *testing.T) (*Host, string) {
	root := t.TempDir()
	return &Host{Name: "t", Root: root, T: transport.NewLocal()}, root
}

func write(h *Host, content string, opt WriteOptions) error {
	return WriteFile(context.Background(), h, DesiredFile{Path: "/etc/x.conf", Content: []byte(content), Mode: 0o640, UID: os.Getuid(), GID: os.Getgid()}, opt)
}

func assertFile(t *testing.T, root, want string) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(root, "etc/x.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("content %q, want %q", got, want)
	}
	if left, _ := filepath.Glob(filepath.Join(root, "etc/.goprov*")); len(left) > 0 {
		t.Fatalf("temp files left: %v", left)
	}
}

func TestWriteFile(t *testing.T) {
	h, root := testHost(t)
	mk := WriteOptions{MkdirMode: 0o755}
	if err := write(h, "v1\n", mk); err != nil {
		t.Fatal(err)
	}
	assertFile(t, root, "v1\n")
	if st, _ := os.Stat(filepath.Join(root, "etc/x.conf")); st.Mode().Perm() != 0o640 {
		t.Fatalf("mode %o", st.Mode().Perm())
	}

	t.Run("validation failure changes nothing", func(t *testing.T) {
		err := write(h, "bad\n", WriteOptions{Validate: `grep -q good "$1" || { echo "no good in it" >&2; exit 1; }`})
		var ve *ErrValidation
		if !errors.As(err, &ve) || !strings.Contains(ve.Msg, "no good in it") {
			t.Fatalf("want validation error with the validator's message, got %v", err)
		}
		assertFile(t, root, "v1\n")
	})
	t.Run("after failure restores previous content", func(t *testing.T) {
		err := write(h, "v2\n", WriteOptions{After: `echo "whole config broken" >&2; exit 1`})
		if err == nil || !strings.Contains(err.Error(), "previous content restored") {
			t.Fatalf("want restore error, got %v", err)
		}
		assertFile(t, root, "v1\n")
	})
	t.Run("after failure on a new file removes it", func(t *testing.T) {
		err := WriteFile(context.Background(), h, DesiredFile{Path: "/etc/new.conf", Content: []byte("n\n"), Mode: 0o600, UID: os.Getuid(), GID: os.Getgid()}, WriteOptions{After: `exit 1`})
		if err == nil {
			t.Fatal("want error")
		}
		if _, err := os.Stat(filepath.Join(root, "etc/new.conf")); !os.IsNotExist(err) {
			t.Fatal("new file left in place after a failed check")
		}
	})
	t.Run("signal during after restores previous content", func(t *testing.T) {
		err := write(h, "v3\n", WriteOptions{After: `kill -TERM $$`})
		if err == nil {
			t.Fatal("want error")
		}
		assertFile(t, root, "v1\n")
	})
	t.Run("after success keeps new content", func(t *testing.T) {
		if err := write(h, "v4\n", WriteOptions{After: `grep -q v4 "$1"`}); err != nil {
			t.Fatal(err)
		}
		assertFile(t, root, "v4\n")
	})
	t.Run("compare-and-swap refuses a changed file", func(t *testing.T) {
		stale := FileState{Exists: true, Regular: true, Content: []byte("v1\n")}
		if err := write(h, "v5\n", WriteOptions{IfUnchanged: &stale}); !errors.Is(err, ErrChanged) {
			t.Fatalf("want ErrChanged, got %v", err)
		}
		assertFile(t, root, "v4\n")
		fresh := FileState{Exists: true, Regular: true, Content: []byte("v4\n")}
		if err := write(h, "v5\n", WriteOptions{IfUnchanged: &fresh}); err != nil {
			t.Fatal(err)
		}
		assertFile(t, root, "v5\n")
	})
	t.Run("transfer cut short never reaches the target", func(t *testing.T) {
		cut := &Host{Name: "t", Root: root, T: cutTransport{transport.NewLocal(), 3}}
		err := write(cut, "a much longer new content\n", WriteOptions{})
		if err == nil || !strings.Contains(err.Error(), "short write") {
			t.Fatalf("want short write error, got %v", err)
		}
		assertFile(t, root, "v5\n")
	})
	t.Run("hostile path is quoted", func(t *testing.T) {
		err := WriteFile(context.Background(), h, DesiredFile{Path: "/etc/$(touch pwned);'x'", Content: []byte("x"), Mode: 0o600, UID: os.Getuid(), GID: os.Getgid()}, WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(root, "etc", "$(touch pwned);'x'")); err != nil {
			t.Fatalf("file with a hostile name not written literally: %v", err)
		}
		if _, err := os.Stat("pwned"); err == nil {
			t.Fatal("path executed")
		}
	})
}
