package ssh

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBecomeWriter(t *testing.T) {
	m := becomeMarkers{prompt: "PROMPT-abc", success: "OK-xyz"}
	tests := []struct {
		name       string
		chunks     []string
		wantEvents []becomeEvent
		wantStderr string
		wantSudo   string // sudoOutput: what sudo said, markers removed
	}{
		{
			name:       "NOPASSWD: success marker first",
			chunks:     []string{"OK-xyz\nscript err\n"},
			wantEvents: []becomeEvent{evStarted},
			wantStderr: "script err\n",
		},
		{
			name:       "password accepted",
			chunks:     []string{"PROMPT-abc", "OK-xyz\n", "out"},
			wantEvents: []becomeEvent{evPrompt, evStarted},
			wantStderr: "out",
		},
		{
			name:       "markers split across writes",
			chunks:     []string{"lecture\nPRO", "MPT-a", "bc", "OK-", "xy", "z", "\nrest", " more"},
			wantEvents: []becomeEvent{evPrompt, evStarted},
			wantStderr: "rest more",
			wantSudo:   "lecture",
		},
		{
			name:       "wrong password: prompted twice",
			chunks:     []string{"PROMPT-abc", "\nSorry, try again.\nPROMPT-abc"},
			wantEvents: []becomeEvent{evPrompt, evReprompt},
			wantSudo:   "Sorry, try again.",
		},
		{
			name:       "two prompts in one write",
			chunks:     []string{"PROMPT-abcSorry, try again.\nPROMPT-abc"},
			wantEvents: []becomeEvent{evPrompt, evReprompt},
			wantSudo:   "Sorry, try again.",
		},
		{
			name:       "sudo refuses",
			chunks:     []string{"deploy is not in the sudoers file.\n"},
			wantSudo:   "deploy is not in the sudoers file.",
			wantEvents: nil,
		},
		{
			name:       "the marker without newline is not the marker",
			chunks:     []string{"OK-xyzz\n"},
			wantSudo:   "OK-xyzz",
			wantEvents: nil,
		},
		{
			name:       "after start, markers are script output and kept",
			chunks:     []string{"OK-xyz\n", "PROMPT-abc OK-xyz\n"},
			wantEvents: []becomeEvent{evStarted},
			wantStderr: "PROMPT-abc OK-xyz\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newBecomeWriter(m)
			for _, c := range tt.chunks {
				if n, err := w.Write([]byte(c)); n != len(c) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			close(w.events)
			var got []becomeEvent
			for ev := range w.events {
				got = append(got, ev)
			}
			if d := cmp.Diff(tt.wantEvents, got); d != "" {
				t.Errorf("events (-want +got):\n%s", d)
			}
			if got := string(w.stderr()); got != tt.wantStderr {
				t.Errorf("stderr = %q, want %q", got, tt.wantStderr)
			}
			if got := w.sudoOutput(); got != tt.wantSudo {
				t.Errorf("sudoOutput = %q, want %q", got, tt.wantSudo)
			}
		})
	}
}

// The sudo command line, run by a real /bin/sh with a stand-in sudo that
// records its argv: the script reaches sudo as one intact argument whatever
// it contains, and the inner shell prints the marker then runs exactly it.
func TestSudoCommandQuoting(t *testing.T) {
	dir := t.TempDir()
	argvFile := filepath.Join(dir, "argv")
	fake := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\0' \"$a\"; done > " + argvFile + "\n" +
		"while [ \"$1\" != -- ]; do shift; done; shift; exec \"$@\"\n"
	must(t, os.WriteFile(filepath.Join(dir, "sudo"), []byte(fake), 0o755))

	m := newMarkers()
	script := `printf '%s|' "$0" 'a b' "it's" '$(touch /tmp/pwned)' "\"q\"" ';' '&&'; echo; cat; exit 7`
	line, prefix := remoteCommand(&m, script)
	if prefix != nil {
		t.Fatalf("small script sent on stdin")
	}
	cmd := exec.Command("/bin/sh", "-c", line)
	cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
	cmd.Stdin = strings.NewReader("stdin data\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 7 {
		t.Fatalf("run: %v (stderr %q)", err, stderr.String())
	}
	argv := strings.Split(strings.TrimSuffix(readFile(t, argvFile), "\x00"), "\x00")
	wantArgv := []string{"-S", "-p", m.prompt, "-u", "root", "--", "/bin/sh", "-c",
		"printf '%s\\n' " + m.success + ` >&2; exec /bin/sh -c "$1"`, "sh", script}
	if d := cmp.Diff(wantArgv, argv); d != "" {
		t.Errorf("sudo argv (-want +got):\n%s", d)
	}
	if got, want := stdout.String(), "/bin/sh|a b|it's|$(touch /tmp/pwned)|\"q\"|;|&&|\nstdin data\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if got, want := stderr.String(), m.success+"\n"; got != want {
		t.Errorf("stderr = %q, want the success marker line %q", got, want)
	}
	if _, err := os.Stat("/tmp/pwned"); err == nil {
		t.Error("/tmp/pwned exists")
	}
}

func TestMarkersAreRandomAndPlain(t *testing.T) {
	a, b := newMarkers(), newMarkers()
	if a == b || a.prompt == a.success {
		t.Fatalf("markers repeat: %v %v", a, b)
	}
	for _, s := range []string{a.prompt, a.success} {
		// sudo expands % escapes in -p; the marker must have none, and must
		// need no quoting.
		if strings.ContainsAny(s, "% '\"\\$") {
			t.Errorf("marker %q has special characters", s)
		}
	}
}

// bigScript is over maxArgScript (and over Linux's 128 KiB argv string
// limit), with quotes that quoting would expand.
func bigScript() string {
	var b strings.Builder
	for b.Len() < 200<<10 {
		b.WriteString("# it's a long probe, 'quoted' \"text\" $(not run) `nor this`\n")
	}
	b.WriteString("echo big; wc -c | tr -d ' '\n")
	return b.String()
}

// A script too big for argv goes ahead of the caller's stdin, read by the
// loader without consuming a byte of what follows.
func TestLargeScriptLoader(t *testing.T) {
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "sudo"), []byte("#!/bin/sh\nwhile [ \"$1\" != -- ]; do shift; done; shift; exec \"$@\"\n"), 0o755))
	script := bigScript()
	payload := binaryPayload(300 << 10)
	for _, m := range []*becomeMarkers{nil, {prompt: "P", success: "S"}} {
		line, prefix := remoteCommand(m, script)
		if string(prefix) != script || len(line) > 4096 {
			t.Fatalf("big script in argv (line %d bytes)", len(line))
		}
		cmd := exec.Command("/bin/sh", "-c", line)
		cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"), "TMPDIR="+dir)
		cmd.Stdin = io.MultiReader(bytes.NewReader(prefix), bytes.NewReader(payload))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("sudo=%t: %v", m != nil, err)
		}
		if got, want := string(out), fmt.Sprintf("big\n%d\n", len(payload)); got != want {
			t.Errorf("sudo=%t: stdout %q, want %q", m != nil, got, want)
		}
		if left, _ := filepath.Glob(filepath.Join(dir, "goprov-script.*")); len(left) != 0 {
			t.Errorf("temp script left behind: %v", left)
		}
	}
	// A truncated transfer is an error, not half a script.
	line, prefix := remoteCommand(nil, script)
	cmd := exec.Command("/bin/sh", "-c", line)
	cmd.Env = append(os.Environ(), "TMPDIR="+dir)
	cmd.Stdin = bytes.NewReader(prefix[:len(prefix)/2])
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 125 || !strings.Contains(string(out), "truncated") {
		t.Errorf("truncated: %v %q", err, out)
	}
}
