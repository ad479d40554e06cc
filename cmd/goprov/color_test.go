package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var sgrRe = regexp.MustCompile("\x1b\\[[0-9;]*m")

// On a real terminal (script(1) gives goprov a pty) plan, show and validate
// colour their output; NO_COLOR, -no-color, TERM=dumb and a pipe turn it
// off. Whatever the colour, the only escape sequences are goprov's own
// colours: a host file full of escapes stays inert on the terminal.
func TestColorOnATerminal(t *testing.T) {
	requireRoot(t)
	scriptBin, err := exec.LookPath("script")
	if err != nil {
		t.Fatalf("script(1) from util-linux is needed to give goprov a terminal: %v", err)
	}
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc/profile.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/profile.d/inert.sh"), []byte(hostileText), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, `
resource "profile_script" "inert" {
  name = "inert"
  env  = { A = "1" }
}
`)
	planFile := filepath.Join(t.TempDir(), "p.plan")
	if r := goprov(t, "plan", cfg, "-root", root, "-out", planFile); r.code != 0 {
		t.Fatalf("plan -out: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	warn := writeConfig(t, `
resource "sudoers_dropin" "w" {
  name = "w"
  rule {
    users    = ["deploy"]
    nopasswd = true
    commands = ["ALL"]
  }
}
`)
	plan := []string{"plan", cfg, "-root", root}
	// apply writes into its own copy of the image.
	applyRoot := t.TempDir()
	if err := os.CopyFS(applyRoot, os.DirFS(root)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		env   []string
		pty   bool
		color []string // colour sequences that must be there; none: no ESC at all
	}{
		{"plan on a terminal", plan, nil, true, []string{"\x1b[33m~\x1b[0m profile_script.inert", "\x1b[31m-ok=1\\x1b[2K", "\x1b[32m+export A=", "\x1b[1mPlan: 0 to add, 1 to change"}},
		{"plan NO_COLOR", plan, []string{"NO_COLOR=1"}, true, nil},
		{"plan -no-color", append(plan, "-no-color"), nil, true, nil},
		{"plan TERM=dumb", plan, []string{"TERM=dumb"}, true, nil},
		{"plan to a pipe", plan, nil, false, nil},
		{"show on a terminal", []string{"show", planFile}, nil, true, []string{"\x1b[33m~\x1b[0m profile_script.inert"}},
		{"show -no-color", []string{"show", "-no-color", planFile}, nil, true, nil},
		{"apply on a terminal", []string{"apply", "-auto-approve", cfg, "-root", applyRoot}, nil, true, []string{"\x1b[31m-ok=1\\x1b[2K", "\x1b[33m~\x1b[0m profile_script.inert updated", "\x1b[1mApply complete: 0 added, 1 changed"}},
		{"validate on a terminal", []string{"validate", warn}, nil, true, []string{"\x1b[1;33mwarning\x1b[0m: "}},
		{"validate NO_COLOR", []string{"validate", warn}, []string{"NO_COLOR=x"}, true, nil},
		{"validate -no-color", []string{"validate", "-no-color", warn}, nil, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := []string{"TERM=xterm-256color"}
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "NO_COLOR=") && !strings.HasPrefix(kv, "TERM=") {
					env = append(env, kv)
				}
			}
			env = append(env, tc.env...)
			var out string
			if tc.pty {
				cmd := exec.Command(scriptBin, "-qec", shellQuote(goprovBin)+" "+quoteArgs(tc.args), "/dev/null")
				cmd.Env = env
				r := runCmd(t, cmd, tc.args)
				// The pty turns \n into \r\n; script(1) prints nothing of its own with -q.
				out = strings.ReplaceAll(r.stdout+r.stderr, "\r\n", "\n")
				if r.code != 0 {
					t.Fatalf("exit %d:\n%s", r.code, out)
				}
			} else {
				cmd := exec.Command(goprovBin, tc.args...)
				cmd.Env = env
				r := runCmd(t, cmd, tc.args)
				out = r.stdout + r.stderr
			}
			for _, want := range tc.color {
				if !strings.Contains(out, want) {
					t.Errorf("want %q in the output:\n%s", want, out)
				}
			}
			if len(tc.color) == 0 && strings.Contains(out, "\x1b") {
				t.Errorf("colour (or another escape) without a terminal or against NO_COLOR/-no-color:\n%q", out)
			}
			requireInert(t, "the output minus goprov's own colours", sgrRe.ReplaceAllString(out, ""))
		})
	}
}

func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}
