package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/testinfra"
)

// hostileText is what a compromised or careless host may hold: sequences
// that erase and rewrite the lines above (CSI 2K, 1A), the same as an
// 8-bit C1 CSI (as a UTF-8 rune and as a raw byte), a carriage return that
// overprints a line, a bell, DEL, a right-to-left override that reorders
// what follows (trojan source), and a literal backslash sequence that must
// stay distinguishable from an escaped ESC.
const hostileText = "ok=1\x1b[2K\x1b[1A\r+export FAKE=approved\n" +
	"csi=\u009b31m and \x9b31m raw, bell\a, del\x7f, rlo\u202e tixe, lri\u2066x\u2069\n" +
	`literal='\x1b[2K'` + "\n"

// requireInert fails when text could drive a terminal: any C0 control but
// tab and newline, DEL, C1 controls (as runes or raw bytes), bytes that are
// not UTF-8, or bidi overrides and isolates.
func requireInert(t *testing.T, what, text string) {
	t.Helper()
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		bad := ""
		switch {
		case r == utf8.RuneError && size == 1:
			bad = fmt.Sprintf("raw byte %#x (not UTF-8)", text[i])
		case r < 0x20 && r != '\t' && r != '\n', r == 0x7f, r >= 0x80 && r <= 0x9f:
			bad = fmt.Sprintf("control character %U", r)
		case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			bad = fmt.Sprintf("bidi control %U", r)
		}
		if bad != "" {
			lo, hi := max(0, i-40), min(len(text), i+40)
			t.Fatalf("%s holds a %s at byte %d, which reaches the terminal raw: %q", what, bad, i, text[lo:hi])
		}
		i += size
	}
}

// A managed file and a lock holder written by the host, full of terminal
// escapes, reach the operator as visible, inert text: plan's diff, apply's
// error and the per-host summary hold no raw control bytes, and the
// escapes are shown (\x1b[2K), with a literal backslash in the file kept
// distinguishable (\\x1b).
func TestHostTextIsInert(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	h := lab.Hosts[0]
	ctx := context.Background()
	cfg := labtest.Write(t, labtest.Inventory(lab, testinfra.UserDeploy), `
resource "profile_script" "inert" {
  name = "inert"
  env  = { A = "1" }
}
`)
	// The file goes in byte for byte (printf %b would interpret backslashes).
	if _, err := h.MustExec(ctx, "printf '%s' "+shellQuote(hostileText)+" > /etc/profile.d/inert.sh"); err != nil {
		t.Fatal(err)
	}
	if got, _ := h.MustExec(ctx, "cat /etc/profile.d/inert.sh"); got != hostileText {
		t.Fatalf("setup: the file holds %q, want %q", got, hostileText)
	}

	r := goprov(t, "plan", cfg)
	if r.code != 0 {
		t.Fatalf("plan: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	requireInert(t, "plan's output", r.stdout+r.stderr)
	for _, want := range []string{`-ok=1\x1b[2K\x1b[1A\r+export FAKE=approved`, `\u009b31m`, `\x9b31m`, `bell\x07`, `del\x7f`, `rlo\u202e`, `lri\u2066x\u2069`, `-literal='\\x1b[2K'`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan's diff lacks %s:\n%s", want, r.stdout)
		}
	}

	// Another controller holds the lock; the holder text is the host's.
	if _, err := h.MustExec(ctx, `mkdir -p /var/lib/goprov && printf '%s' `+shellQuote("mallory\x1b[2K\x1b[1A\nApply complete: 7 added\u202e")+` > /var/lib/goprov/apply.holder &&
setsid flock /var/lib/goprov/apply.lock sleep 300 </dev/null >/dev/null 2>&1 & echo $! > /run/inert-holder.pid`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.MustExec(context.Background(), `kill "$(cat /run/inert-holder.pid)"`) })
	r = goprov(t, "apply", "-auto-approve", "-lock-timeout", "1s", cfg)
	if r.code != 1 || !strings.Contains(r.stdout, `mallory\x1b[2K\x1b[1A`) {
		t.Fatalf("apply on a locked host: want exit 1 naming the holder, escaped; got %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	requireInert(t, "apply's output", r.stdout+r.stderr)
	// A newline in host text never starts a line of goprov's own: it is
	// indented under the message it belongs to.
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(line, "Apply complete: 7") {
			t.Fatalf("host text printed a line of goprov's own:\n%s", r.stdout)
		}
	}
}

// shellQuote quotes s for sh, byte for byte.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
