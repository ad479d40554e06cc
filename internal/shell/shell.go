// Package shell builds POSIX sh command lines. Every value that reaches a
// remote shell goes through Quote: there is exactly one quoting function in
// goprov, so there is exactly one place to get it right.
package shell

import "strings"

// Quote returns s as a single POSIX sh word that the shell takes literally:
// single quotes, with embedded single quotes written as '\”. Inside single
// quotes nothing is special ($, `, \, newlines included), so the result is
// inert whatever s holds. NUL cannot be passed through argv at all; callers
// must reject it at validation (ContainsNUL).
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	if isSafe(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Join quotes each word and joins them with spaces.
func Join(words ...string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = Quote(w)
	}
	return strings.Join(q, " ")
}

// ContainsNUL reports whether s holds a NUL byte, which no shell word, file
// name or environment value can carry.
func ContainsNUL(s string) bool { return strings.IndexByte(s, 0) >= 0 }

func isSafe(s string) bool {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("-_./,:+@%", r): // no "=": a leading NAME=v word is an assignment
		default:
			return false
		}
	}
	return true
}
