package resources

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
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

// FileProbes answers for each path exactly what FileProbe answers, under
// dash, bash and busybox, with one stat for all the files (counted by a stat
// on PATH that logs its calls), and stays exact when that one stat fails
// (each probe then stats its own file).
func TestFileProbesOneStatSameAnswers(t *testing.T) {
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	must(t, os.WriteFile(p("small"), []byte("a\nb"), 0o640))
	must(t, os.WriteFile(p("it's spaced"), []byte("x\n"), 0o600))
	must(t, os.WriteFile(p("empty"), nil, 0o644))
	must(t, os.WriteFile(p("large"), []byte(strings.Repeat("y\n", maxShellRead)), 0o644))
	must(t, os.Symlink(p("small"), p("link")))
	must(t, os.Mkdir(p("dir"), 0o755))
	paths := []string{p("small"), p("absent"), p("it's spaced"), p("link"), p("empty"), p("dir"), p("large")}
	realStat, err := exec.LookPath("stat")
	must(t, err)
	bin := t.TempDir()
	shim := func(body string) {
		must(t, os.WriteFile(filepath.Join(bin, "stat"), []byte("#!/bin/sh\necho \"$#\" >>"+p("calls")+"\n"+body+"\nexec "+realStat+" \"$@\"\n"), 0o755))
	}
	run := func(sh, script string) []byte {
		t.Helper()
		args := []string{"-c", script}
		if sh == "busybox" {
			args = append([]string{"sh"}, args...)
		}
		cmd := exec.Command(sh, args...)
		cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "LC_ALL=C"}
		out, err := cmd.Output()
		must(t, err)
		return out
	}
	calls := func() string {
		b, _ := os.ReadFile(p("calls"))
		must(t, os.RemoveAll(p("calls")))
		return strings.Join(strings.Fields(string(b)), " ")
	}
	for _, sh := range []string{"dash", "bash", "busybox"} {
		for _, tc := range []struct{ name, shim, calls string }{
			{"one stat", "", "7"}, // -c FORMAT -- and the 4 regular files
			{"that stat fails", `[ "$#" -le 4 ] || exit 1`, "7 4 4 4 4"},
		} {
			shim(tc.shim)
			pre, probes := FileProbes(paths...)
			parts, err := SplitMulti(run(sh, pre+MultiProbe(probes...)), len(paths))
			must(t, err)
			// busybox's sh runs its own stat applet, not the one on PATH:
			// there only the answers are compared.
			if got := calls(); sh != "busybox" && got != tc.calls {
				t.Errorf("%s, %s: stat called with %q args, want %q", sh, tc.name, got, tc.calls)
			}
			for i, path := range paths {
				if want := run(sh, FileProbe(path)); string(parts[i]) != string(want) {
					t.Errorf("%s, %s, %s: got %.80q, FileProbe says %.80q", sh, tc.name, filepath.Base(path), parts[i], want)
				}
			}
			calls()
		}
	}
}
