package profilescript

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// FuzzWord: a value becomes one sh word that reads back as the value with
// only $NAME/${NAME} expanded (to "" here: the environment is empty) and
// $$ as "$"; nothing is ever executed.
func FuzzWord(f *testing.F) {
	for _, s := range []string{"/opt/go", "$HOME/go", "${USER}x", "$$HOME", "$(touch pwned)", "`touch pwned`", "a'b\"c", "a\nb", "$", "${", "${1}", "$1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if strings.ContainsRune(v, 0) || checkRefs(v) != nil {
			return // rejected at validation
		}
		dir := t.TempDir()
		cmd := exec.Command("/bin/sh", "-c", "x="+Word(v)+"; printf '%s' \"$x\"")
		cmd.Dir = dir
		cmd.Env = []string{}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("sh failed on Word(%q) = %s: %v", v, Word(v), err)
		}
		if want := expand(v); string(out) != want {
			t.Fatalf("Word(%q) = %s read back as %q, want %q", v, Word(v), out, want)
		}
		if n, _ := exec.Command("ls", "-A", dir).Output(); len(n) > 0 {
			t.Fatalf("Word(%q) ran something", v)
		}
	})
}

// readBackRe is the login-time reading of a value, written from the
// documented rule rather than from the code under test: "$$" is a literal
// "$", $NAME and ${NAME} are references; the leftmost match wins, as a
// reader scanning the value left to right sees it.
var readBackRe = regexp.MustCompile(`\$\$|\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$[A-Za-z_][A-Za-z0-9_]*`)

// expand is what Word's result must read back as with every variable
// unset. It shares nothing with Word (no refAt): a bug in how Word finds
// references would otherwise be repeated here and never seen.
func expand(v string) string {
	return readBackRe.ReplaceAllStringFunc(v, func(m string) string {
		if m == "$$" {
			return "$"
		}
		return "" // a reference to an unset variable
	})
}
