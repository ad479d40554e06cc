package profilescript

import (
	"os/exec"
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

// expand is what Word's result must read back as with every variable unset.
func expand(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); {
		if v[i] == '$' {
			if _, n := refAt(v[i:]); n > 0 {
				i += n
				continue
			}
			if strings.HasPrefix(v[i:], "$$") {
				b.WriteByte('$')
				i += 2
				continue
			}
		}
		b.WriteByte(v[i])
		i++
	}
	return b.String()
}
