package inert

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestText(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "export GOPATH=/opt/go\n\tx", "export GOPATH=/opt/go\n\tx"},
		{"utf-8 kept", "mode 0600 → 0644 ✓ é 日本", "mode 0600 → 0644 ✓ é 日本"},
		{"erase and cursor up", "a\x1b[2K\x1b[1Ab", `a\x1b[2K\x1b[1Ab`},
		{"carriage return", "ok\rFAKE", `ok\rFAKE`},
		{"NUL, bell, DEL", "\x00\a\x7f", `\x00\x07\x7f`},
		{"C1 CSI as a rune", "\u009b31m", `\u009b31m`},
		{"C1 CSI as a raw byte", "\x9b31m", `\x9b31m`},
		{"invalid UTF-8", "a\xff\xfeb", `a\xff\xfeb`},
		{"bidi override and isolates", "a\u202eb\u2066c\u2069\u200f", `a\u202eb\u2066c\u2069\u200f`},
		{"line separator", "a\u2028b", `a\u2028b`},
		{"U+FFFD itself is text", "\ufffd", "\ufffd"},
		{"literal backslash escape doubled", `\x1b[2K`, `\\x1b[2K`},
		{"literal \\u and \\r doubled", `\u202e \r`, `\\u202e \\r`},
		{"double backslash", `a\\b`, `a\\\b`},
		{"backslash before an escaped byte", "\\\x1b", `\\\x1b`},
		{"line continuation kept", "a \\\n  b", "a \\\n  b"},
		{"printf newline kept", `printf '%s\n'`, `printf '%s\n'`},
		{"sudoers escape kept", `/bin/x a\,b`, `/bin/x a\,b`},
		{"trailing backslash kept", `a\`, `a\`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Text(tc.in); got != tc.want {
				t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if back := unescape(tc.want); back != tc.in {
				t.Errorf("unescape(%q) = %q, want the original %q", tc.want, back, tc.in)
			}
		})
	}
}

func TestIndent(t *testing.T) {
	got := Indent("holder\x1b[1A\nApply complete: 7 added", "    ")
	want := "holder\\x1b[1A\n    Apply complete: 7 added"
	if got != want {
		t.Errorf("Indent = %q, want %q", got, want)
	}
}

// FuzzText: whatever the input, the output drives no terminal, and it is
// unambiguous: reading the escapes back gives the original bytes.
func FuzzText(f *testing.F) {
	for _, s := range []string{"", "plain\n", "\x1b[2K", `\x1b`, `\\\`, "\\\x1b", "\x9b", "\u202e", `\u00`, "a\\\n", "\\\u009b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Text(s)
		for i, r := range out {
			if r == utf8.RuneError && !strings.HasPrefix(out[i:], "\ufffd") || r < 0x20 && r != '\t' && r != '\n' || r == 0x7f || escaped(r) {
				t.Fatalf("Text(%q) = %q holds %U", s, out, r)
			}
		}
		if back := unescape(out); back != s {
			t.Fatalf("Text(%q) = %q reads back as %q", s, out, back)
		}
	})
}

// unescape reads Text's output back, as a person reading the rule would:
// \\ is a backslash, \xHH a byte, \uHHHH a rune, \r a carriage return, and
// any other backslash is itself.
func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '\\':
			b.WriteByte('\\')
			i++
			continue
		case 'r':
			b.WriteByte('\r')
			i++
			continue
		case 'x':
			if i+4 <= len(s) {
				if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
					b.WriteByte(byte(v))
					i += 3
					continue
				}
			}
		case 'u':
			if i+6 <= len(s) {
				if v, err := strconv.ParseUint(s[i+2:i+6], 16, 16); err == nil {
					b.WriteRune(rune(v))
					i += 5
					continue
				}
			}
		}
		b.WriteByte('\\')
	}
	return b.String()
}
