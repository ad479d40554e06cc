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

// loginShells are the shells sshd may hand the exec line to. Outside CI a
// missing one is skipped; in CI (scripts/test.sh installs them) it fails.
var loginShells = []string{"sh", "dash", "bash", "zsh", "fish", "tcsh", "bsd-csh"}

func shellPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("login shell %s is not installed (scripts/test.sh installs it)", name)
		}
		t.Skipf("login shell %s is not installed", name)
	}
	return p
}

// The exec line is one fixed string: no character that any login shell
// reads differently (newline, csh's `!`, fish's backslash escapes, quotes
// inside the single-quoted word).
func TestExecLineIsFixedAndPlain(t *testing.T) {
	if strings.ContainsAny(execLine, "\n\r\\!") || strings.Count(execLine, "'") != 2 ||
		!strings.HasPrefix(execLine, "/bin/sh -c '") || !strings.HasSuffix(execLine, "'") {
		t.Errorf("exec line %q holds characters some login shell treats specially", execLine)
	}
}

// The exec line, run by each real login shell, then /bin/sh: the framed
// script runs exactly (hostile quoting included, far over argv's 128 KiB
// limit too), and what follows the frame on stdin is the script's, byte for
// byte; the sudo stage (with a stand-in sudo that records its argv) passes
// the script on only after sudo, and never through argv.
func TestExecLineUnderEveryLoginShell(t *testing.T) {
	dir := t.TempDir()
	argvFile := filepath.Join(dir, "argv")
	fake := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\0' \"$a\"; done > " + argvFile + "\n" +
		"while [ \"$1\" != -- ]; do shift; done; shift; exec \"$@\"\n"
	must(t, os.WriteFile(filepath.Join(dir, "sudo"), []byte(fake), 0o755))
	small := `printf '%s|' "$0" 'a b' "it's" '$(touch /tmp/pwned)' "\"q\"" ';' '&&' '!x' 'b\\s'; echo; wc -c | tr -d ' '; exit 7`
	payload := binaryPayload(300 << 10)
	wantSmall := "/bin/sh|a b|it's|$(touch /tmp/pwned)|\"q\"|;|&&|!x|b\\\\s|\n" + fmt.Sprint(len(payload)) + "\n"
	m := newMarkers()
	for _, name := range loginShells {
		t.Run(name, func(t *testing.T) {
			sh := shellPath(t, name)
			for _, tc := range []struct {
				name, script, want string
				code               int
			}{
				{"small", small, wantSmall, 7},
				{"big", bigScript(), fmt.Sprintf("big\n%d\n", len(payload)), 0},
			} {
				for _, sudo := range []bool{false, true} {
					stdin := frame(tc.script)
					if sudo {
						stdin = append(frame(sudoStage(m)), stdin...)
					}
					cmd := exec.Command(sh, "-c", execLine)
					cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
					cmd.Stdin = io.MultiReader(bytes.NewReader(stdin), bytes.NewReader(payload))
					var stdout, stderr bytes.Buffer
					cmd.Stdout, cmd.Stderr = &stdout, &stderr
					err := cmd.Run()
					code := 0
					if ee, ok := err.(*exec.ExitError); ok {
						code = ee.ExitCode()
					} else if err != nil {
						t.Fatal(err)
					}
					if got := stdout.String(); got != tc.want || code != tc.code {
						t.Errorf("%s sudo=%t: stdout %q exit %d, want %q exit %d (stderr %q)", tc.name, sudo, got, code, tc.want, tc.code, stderr.String())
					}
					wantErr := ""
					if sudo {
						wantErr = m.success + "\n"
					}
					if stderr.String() != wantErr {
						t.Errorf("%s sudo=%t: stderr %q, want %q", tc.name, sudo, stderr.String(), wantErr)
					}
					if !sudo {
						continue
					}
					argv := strings.Split(strings.TrimSuffix(readFile(t, argvFile), "\x00"), "\x00")
					wantArgv := []string{"-S", "-p", m.prompt, "-u", "root", "--", "/bin/sh", "-c",
						"printf '%s\\n' " + m.success + " >&2; " + bootstrap}
					if d := cmp.Diff(wantArgv, argv); d != "" {
						t.Errorf("sudo argv (-want +got):\n%s", d)
					}
				}
			}
			if _, err := os.Stat("/tmp/pwned"); err == nil {
				t.Error("/tmp/pwned exists")
			}
		})
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

// bigScript is over Linux's 128 KiB argv string limit, with quotes that
// quoting would expand.
func bigScript() string {
	var b strings.Builder
	for b.Len() < 200<<10 {
		b.WriteString("# it's a long probe, 'quoted' \"text\" $(not run) `nor this`\n")
	}
	b.WriteString("echo big; wc -c | tr -d ' '\n")
	return b.String()
}

// A frame cut short (the connection died mid-script) runs nothing of it.
func TestTruncatedFrameRunsNothing(t *testing.T) {
	dir := t.TempDir()
	script := "touch " + filepath.Join(dir, "ran") + "\n" + bigScript()
	f := frame(script)
	for _, cut := range []int{0, 3, len(f) / 2, len(f) - 1} {
		cmd := exec.Command("/bin/sh", "-c", execLine)
		cmd.Stdin = bytes.NewReader(f[:cut])
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 125 || !strings.Contains(string(out), "not received intact") {
			t.Errorf("cut at %d: %v %q", cut, err, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
			t.Fatalf("cut at %d: part of the script ran", cut)
		}
	}
}
