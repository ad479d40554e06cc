package profilescript

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goprov/goprov/internal/ci"

	"github.com/hashicorp/hcl/v2"

	"github.com/goprov/goprov/resources/resourcetest"
)

func decode(t *testing.T, src string) (*Script, hcl.Diagnostics) {
	t.Helper()
	r, diags := resourcetest.Decode(t, kind{}, "profile_script.t", src)
	x, _ := r.(*Script)
	return x, diags
}

func TestValidation(t *testing.T) {
	cases := []resourcetest.Case{
		{`name = "go"`, ""},
		{`name = "go-1_2"`, ""},
		{`name = "../evil"`, "Invalid profile_script name"},
		{`name = "a.b"`, "Invalid profile_script name"},
		{"name = \"a\\nb\"", "Invalid profile_script name"},
		{"name = \"x\"\nenv = { \"BAD-KEY\" = \"1\" }", "Invalid environment variable name"},
		{"name = \"x\"\nenv = { \"1X\" = \"1\" }", "Invalid environment variable name"},
		{"name = \"x\"\nenv = { PATH = \"/bin\" }", "PATH in env"},
		{"name = \"x\"\npath_prepend = [\"/a:/b\"]", "Invalid PATH entry"},
		{"name = \"x\"\npath_prepend = [\"\"]", "Empty PATH entry"},
		{"name = \"x\"\npath_prepend = [\"/a\\nb\"]", "Invalid PATH entry"},
		{"name = \"x\"\nenv = { A = \"$${HOME:-/root}\" }", "Invalid variable reference"},
		{"name = \"x\"\nensure = \"gone\"", "Invalid ensure"},
		{"name = \"x\"\nenv = { A = \"$(rm -rf /) `id` ; \\n '\" }", ""}, // inert, so allowed
	}
	resourcetest.Validation(t, kind{}, "profile_script.t", cases)
}

func TestWord(t *testing.T) {
	cases := map[string]string{
		"/opt/go":          "/opt/go",
		"":                 "''",
		"$HOME/go/bin":     `"${HOME}"/go/bin`,
		"${HOME}/x":        `"${HOME}"/x`,
		"$$HOME":           `'$HOME'`,
		"$(id)":            `'$(id)'`,
		"a'b":              `'a'\''b'`,
		"$1":               `'$1'`,
		"pre$USER.post":    `pre"${USER}".post`,
		"`id`;\n":          "'`id`;\n'",
		"cost: $5 and $":   `'cost: $5 and $'`,
		"${A}${B}":         `"${A}""${B}"`,
		"$_under_score9x/": `"${_under_score9x}"/`,
	}
	for in, want := range cases {
		if got := Word(in); got != want {
			t.Errorf("Word(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestRenderedScriptInShells sources the rendered script, twice, in every
// POSIX-ish shell installed, and checks values and PATH order.
func TestRenderedScriptInShells(t *testing.T) {
	s := &Script{Address: "profile_script.t", Name: "t", Present: true,
		Env: map[string]string{
			"PLAIN": "/opt/go",
			"EVIL":  "$(touch PWNED) `touch PWNED` ; ' \" \\ \n end",
			"EXP":   "$HOME/x",
		},
		PathPrepend: []string{"/first", "/second dir"},
		PathAppend:  []string{"/last", "$HOME/go/bin"},
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "t.sh")
	if err := os.WriteFile(file, []byte(s.Render()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("/bin/sh", "-n", file).CombinedOutput(); err != nil {
		t.Fatalf("sh -n: %v %s", err, out)
	}
	ran := 0
	for _, sh := range []string{"dash", "bash", "zsh", "busybox"} {
		path := ci.LookPath(t, sh)
		ran++
		args := []string{"-c", `. "$1"; . "$1"; printf '%s\n' "$PLAIN" "$EXP" "$PATH" "$EVIL"`, sh, file}
		switch sh {
		case "zsh": // as Debian's /etc/zsh/zprofile reads /etc/profile
			args = []string{"-c", `emulate sh -c '. "$1"; . "$1"'; printf '%s\n' "$PLAIN" "$EXP" "$PATH" "$EVIL"`, sh, file}
		case "busybox":
			args = append([]string{"sh"}, args...)
		}
		cmd := exec.Command(path, args...)
		cmd.Dir = dir
		cmd.Env = []string{"HOME=/home/u", "PATH=/usr/bin:/first:/bin"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", sh, err, out)
		}
		want := "/opt/go\n/home/u/x\n/first:/second dir:/usr/bin:/bin:/last:/home/u/go/bin\n$(touch PWNED) `touch PWNED` ; ' \" \\ \n end\n"
		if string(out) != want {
			t.Errorf("%s:\n got: %q\nwant: %q", sh, out, want)
		}
		if _, err := os.Stat(filepath.Join(dir, "PWNED")); err == nil {
			t.Fatalf("%s executed a value", sh)
		}
	}
	if ran == 0 {
		t.Fatal("no shell found to test with")
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	s := &Script{Address: "a", Name: "n", Env: map[string]string{"B": "2", "A": "1", "C": "3"}}
	first := s.Render()
	for i := 0; i < 20; i++ {
		if s.Render() != first {
			t.Fatal("Render depends on map order")
		}
	}
	if !strings.Contains(first, "export A=1\nexport B=2\nexport C=3\n") {
		t.Fatalf("env not sorted:\n%s", first)
	}
}
