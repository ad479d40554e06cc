package shell

import (
	"os/exec"
	"strings"
	"testing"
)

// FuzzQuote: whatever s holds, the shell reads Quote(s) back as exactly s,
// as one word, and runs nothing.
func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "plain", "a b", "$(touch pwned)", "`id`", "'", `"`, `\`, "a\nb", "*", "~", "-rf", "FOO=bar", "$HOME", "'\"'\"'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ContainsNUL(s) {
			return // cannot pass through argv at all; validation rejects it
		}
		dir := t.TempDir()
		cmd := exec.Command("/bin/sh", "-c", "printf '%s|' "+Quote(s)+" "+Quote(s))
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("sh failed on Quote(%q) = %s: %v", s, Quote(s), err)
		}
		if string(out) != s+"|"+s+"|" {
			t.Fatalf("Quote(%q) = %s read back as %q", s, Quote(s), out)
		}
		if n, _ := exec.Command("ls", "-A", dir).Output(); strings.TrimSpace(string(n)) != "" {
			t.Fatalf("Quote(%q) ran something: %s", s, n)
		}
	})
}
