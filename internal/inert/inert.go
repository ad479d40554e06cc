// Package inert makes text that came from hosts (file contents, command
// output, lock holders) or from third-party configuration safe to print on
// an operator's terminal: nothing in it can move the cursor, erase or
// recolour lines, change the window title, or reorder what is shown.
//
// What is escaped, always in a visible form that starts with a backslash:
//
//	C0 controls but tab and newline   \x00 … \x1f (carriage return as \r)
//	DEL                               \x7f
//	C1 controls U+0080–U+009F         \u0080 … \u009f
//	bidi controls ("trojan source")   \u202a–\u202e, \u2066–\u2069, \u200e, \u200f, \u061c
//	line and paragraph separators     \u2028, \u2029
//	bytes that are not UTF-8          \x80 … \xff (a lone 0x9b is an 8-bit CSI to some terminals)
//
// A backslash of the original text is shown doubled exactly when it could
// otherwise be read as the start of one of those forms: when it is followed
// by x, u, r, another backslash, or a character that is itself escaped. So
// `\x1b` on screen is one ESC byte, `\\x1b` is the four characters \x1b,
// and every other backslash (line continuations, printf's \n, sudoers'
// \,) is shown as is. The form is reversible: Unescape gives back the
// original bytes.
package inert

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Text returns s with every character that could drive a terminal escaped.
// Tab and newline are kept; see the package comment for the rest.
func Text(s string) string {
	if clean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\' && startsEscape(s[i+1:]):
			b.WriteString(`\\`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 && r != '\t' && r != '\n', r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case escaped(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// Indent is Text with every line after the first indented by prefix, so a
// newline in host text can never start a line that looks like goprov's
// own (a host, a change, a summary).
func Indent(s, prefix string) string {
	return strings.ReplaceAll(Text(s), "\n", "\n"+prefix)
}

// clean reports whether s needs no escaping: the common case, kept cheap.
func clean(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			// Multi-byte text: decide rune by rune below.
			for _, r := range s[i:] {
				if r == utf8.RuneError || escaped(r) || r < 0x20 && r != '\t' && r != '\n' || r == 0x7f || r == '\\' {
					return false
				}
			}
			return true
		}
		if c < 0x20 && c != '\t' && c != '\n' || c == 0x7f || c == '\\' {
			return false
		}
	}
	return true
}

// escaped reports whether a rune at or above U+0080 is shown as \uXXXX.
func escaped(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f: // C1 controls
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return true // bidi embeddings, overrides, isolates and marks
	case r == 0x2028 || r == 0x2029:
		return true
	}
	return false
}

// startsEscape reports whether a backslash followed by rest would read as
// the start of an escape, and so must be shown doubled.
func startsEscape(rest string) bool {
	if rest == "" {
		return false
	}
	r, size := utf8.DecodeRuneInString(rest)
	switch {
	case r == 'x' || r == 'u' || r == 'r' || r == '\\':
		return true
	case r == utf8.RuneError && size == 1, r < 0x20 && r != '\t' && r != '\n', r == 0x7f, escaped(r):
		return true
	}
	return false
}
