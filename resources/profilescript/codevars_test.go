package profilescript

import (
	"strings"
	"testing"

	"github.com/goprov/goprov/resources/resourcetest"
)

// Values that are code: env keys whose value a shell, the dynamic loader
// or an interpreter runs (or takes code from) are refused at the key, with
// why; ordinary values stay allowed.
func TestCodeVarsRefused(t *testing.T) {
	cases := []struct {
		key  string
		want string // "" means allowed
	}{
		{"PROMPT_COMMAND", "prompt"},
		{"PS0", "prompt"},
		{"PS1", "prompt"},
		{"PS2", "prompt"},
		{"PS3", "prompt"},
		{"PS4", "xtrace"},
		{"PROMPT", "prompt"},
		{"RPROMPT", "prompt"},
		{"RPS1", "prompt"},
		{"SPROMPT", "prompt"},
		{"BASH_ENV", "non-interactive bash"},
		{"ENV", "interactive"},
		{"ZDOTDIR", "zsh"},
		{"SHELLOPTS", "bash"},
		{"BASHOPTS", "bash"},
		{"IFS", "split"},
		{"CDPATH", "cd"},
		{"FPATH", "function"},
		{"LD_PRELOAD", "every dynamically linked program"},
		{"LD_LIBRARY_PATH", "libraries"},
		{"LD_AUDIT", "every dynamically linked program"},
		{"GCONV_PATH", "iconv"},
		{"PYTHONSTARTUP", "python"},
		{"PERL5OPT", "perl"},
		{"RUBYOPT", "ruby"},
		// Allowed: settings, not code.
		{"GOPATH", ""},
		{"TMOUT", ""},
		{"EDITOR", ""},
		{"LANG", ""},
		{"PS", ""},
		{"PS10", ""},
		{"ps1", ""},
		{"LD_BIND_NOW", ""},
		{"JAVA_TOOL_OPTIONS", ""},
	}
	for _, tc := range cases {
		src := "name = \"x\"\nenv = {\n  GOOD = \"1\"\n  " + tc.key + " = \"v\"\n}"
		_, diags := decode(t, src)
		if tc.want == "" {
			if diags.HasErrors() {
				t.Errorf("%s: unexpected error %v", tc.key, diags)
			}
			continue
		}
		if len(diags) != 1 || diags[0].Summary != "Value that is code" {
			t.Errorf("%s: want one \"Value that is code\" error, got %v", tc.key, diags)
			continue
		}
		d := diags[0]
		if !strings.Contains(d.Detail, tc.key) || !strings.Contains(strings.ToLower(d.Detail), strings.ToLower(tc.want)) {
			t.Errorf("%s: detail does not say why (%q): %s", tc.key, tc.want, d.Detail)
		}
		// At the key itself: line 4, column 3.
		if s := d.Subject; s == nil || s.Start.Line != 4 || s.Start.Column != 3 {
			t.Errorf("%s: want the error at t.hcl:4:3 (the key), got %v", tc.key, s)
		}
	}
}

// PATH hijacking: relative, "." and empty entries (and "~/…", which the
// generated script never expands) are refused at the entry.
func TestRelativePathEntriesRefused(t *testing.T) {
	cases := []struct {
		entry string
		ok    bool
	}{
		{"/usr/local/go/bin", true},
		{"$HOME/go/bin", true},
		{"$${HOME}/bin", true},
		{"/opt/../opt/bin", true},
		{".", false},
		{"..", false},
		{"./bin", false},
		{"bin", false},
		{"node_modules/.bin", false},
		{"~/bin", false},
		{"$GOBIN", false}, // unset: an empty entry, the current directory
		{"$${GOBIN}", false},
		{"$$HOME/bin", false}, // a literal "$HOME/bin": relative
		{"$HOMEDIR-x/bin", false},
	}
	for _, attr := range []string{"path_prepend", "path_append"} {
		for _, tc := range cases {
			src := "name = \"x\"\n" + attr + " = [\n  \"/ok\",\n  \"" + tc.entry + "\",\n]"
			_, diags := decode(t, src)
			if tc.ok {
				if diags.HasErrors() {
					t.Errorf("%s %q: unexpected error %v", attr, tc.entry, diags)
				}
				continue
			}
			if !resourcetest.HasSummary(diags, "Relative PATH entry") {
				t.Errorf("%s %q: want \"Relative PATH entry\", got %v", attr, tc.entry, diags)
				continue
			}
			if s := diags[0].Subject; s == nil || s.Start.Line != 4 || s.Start.Column != 3 {
				t.Errorf("%s %q: want the error at t.hcl:4:3 (the entry), got %v", attr, tc.entry, s)
			}
		}
	}
}
