package resources

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A managed file larger than the probe's cap (16 MiB) is refused with a
// clear error, without its bytes crossing to the controller; one at the
// cap is read whole. Sparse files, so the test writes almost nothing.
func TestFileProbeRefusesHugeFile(t *testing.T) {
	const limit = 16 << 20
	h, root := testHost(t)
	for _, tc := range []struct {
		size    int64
		wantErr string
	}{
		{limit, ""},
		{limit + 1, "larger than 16777216 bytes"},
		{100 << 20, "larger than 16777216 bytes"},
	} {
		p := filepath.Join(root, "etc", "big.conf")
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.Truncate(createFile(t, p), tc.size))
		st, err := ReadFile(context.Background(), h, "/etc/big.conf")
		switch {
		case tc.wantErr == "" && (err != nil || int64(len(st.Content)) != tc.size):
			t.Errorf("size %d: read %d bytes, err %v; want it whole", tc.size, len(st.Content), err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("size %d: err %v, want %q (read %d bytes)", tc.size, err, tc.wantErr, len(st.Content))
		}
	}
}

// A file that grows past the cap between the size check and the read (a
// hostile process appending) is refused from the bytes themselves.
func TestParseFileStateRefusesOversizedContent(t *testing.T) {
	out := append([]byte("file 644 0 0\n"), make([]byte, 16<<20+1)...)
	if _, err := ParseFileState(out); err == nil || !strings.Contains(err.Error(), "larger than 16777216 bytes") {
		t.Errorf("err = %v", err)
	}
}

func createFile(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Create(p)
	must(t, err)
	must(t, f.Close())
	return p
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Endless targets are never read: a FIFO nobody writes (cat would block
// forever) and a symlink to /dev/zero (cat would never end) are reported
// by kind, so the plan replaces them rather than reading them.
func TestFileProbeDoesNotReadEndlessTargets(t *testing.T) {
	h, root := testHost(t)
	must(t, os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	must(t, syscall.Mkfifo(filepath.Join(root, "etc", "fifo.conf"), 0o644))
	must(t, os.Symlink("/dev/zero", filepath.Join(root, "etc", "zero.conf")))
	for name, kind := range map[string]string{"/etc/fifo.conf": "other", "/etc/zero.conf": "symlink"} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		st, err := ReadFile(ctx, h, name)
		cancel()
		if err != nil || !st.Exists || st.Regular || st.Kind != kind || len(st.Content) != 0 {
			t.Errorf("%s: %+v, %v; want kind %s, nothing read", name, st, err, kind)
		}
	}
}

// FileProbe's bytes are the file's, exactly, under every shell goprov
// meets (dash, bash, busybox's ash), whether the shell's read or head
// reads them: small files with what read mangles (NULs, backslashes, no
// final newline, blanks, CRs, bytes that are no UTF-8) and files around
// the size where head takes over.
func TestFileProbeExactUnderEveryShell(t *testing.T) {
	dir := t.TempDir()
	contents := map[string]string{
		"empty": "", "one newline": "\n", "no final newline": "a\nb", "blanks": "  lead\ttab \n\n\ntrail  \n",
		"backslashes": `a\nb\\c\` + "\n", "CRLF": "x\r\ny\r\n", "NUL": "a\x00b\n", "only NULs": "\x00\x00",
		"latin1": "caf\xe9\n", "utf8": "café ☃\n", "dashes": "-n\n-e\n--\n",
		"at the limit": strings.Repeat("x", maxShellRead-1) + "\n", "past the limit": strings.Repeat("y\n", maxShellRead/2+1),
	}
	for _, sh := range []string{"dash", "bash", "busybox"} {
		if _, err := exec.LookPath(sh); err != nil {
			t.Fatalf("%s: %v", sh, err)
		}
		for name, c := range contents {
			p := filepath.Join(dir, "f")
			must(t, os.WriteFile(p, []byte(c), 0o640))
			args := []string{"-c", FileProbe(p)}
			if sh == "busybox" {
				args = append([]string{"sh"}, args...)
			}
			for _, env := range [][]string{{"LC_ALL=C"}, {"LC_ALL=C.UTF-8"}} {
				cmd := exec.Command(sh, args...)
				cmd.Env = env
				out, err := cmd.Output()
				must(t, err)
				st, err := ParseFileState(out)
				if err != nil || string(st.Content) != c || st.Mode != 0o640 {
					t.Errorf("%s, %s, %s: %+v %v, want %q", sh, env[0], name, st, err, c)
				}
			}
		}
	}
}
