package sshdconfig

import (
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// FuzzSettings: whatever keyword and value validation accepts renders as
// "Keyword value" lines only — one per keyword (one per value for the
// repeated ones), the key itself (letters and digits), never Match or Include, no
// control characters, nothing that starts a comment — so a value can
// never add a setting of its own.
func FuzzSettings(f *testing.F) {
	for _, s := range [][2]string{
		{"PasswordAuthentication", "no"}, {"port", "22 2222"}, {"Match", "User x"}, {"include", "/etc/x"},
		{"Banner", "x\nPermitRootLogin yes"}, {"Banner", "$(touch /tmp/pwned)"}, {"AllowUsers", "a\rb"},
		{"MaxAuthTries", "#3"}, {"Port", "22 #x"}, {"AllowGroups", "a #b"}, {"UsePAM", "true"}, {"x11forwarding", "no\x00"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		v := cty.ObjectVal(map[string]cty.Value{
			"name":     cty.StringVal("50-x"),
			"settings": cty.MapVal(map[string]cty.Value{key: cty.StringVal(value)}),
			"ensure":   cty.StringVal("present"),
		})
		r, diags := kind{}.New("sshd_config.x", v, nil)
		if diags.HasErrors() {
			return
		}
		file := r.(*File)
		kw := file.Settings[0].Keyword
		// The oracle does not consult the kind's keyword table (that is
		// what is checked): the keyword is the key itself, in some case,
		// letters and digits only, never Match or Include. That the host's sshd
		// knows it is sshd -t's verdict (the lab tests).
		if !strings.EqualFold(kw, key) || !letters(kw) || strings.EqualFold(kw, "match") || strings.EqualFold(kw, "include") {
			t.Fatalf("keyword %q accepted as %q", key, kw)
		}
		lines := strings.Split(strings.TrimSuffix(file.Render(), "\n"), "\n")[1:]
		want := 1
		if repeated[kw] {
			want = len(strings.Fields(value))
		}
		if len(lines) != want {
			t.Fatalf("%q = %q rendered as %q", key, value, lines)
		}
		for _, l := range lines {
			rest, ok := strings.CutPrefix(l, kw+" ")
			if !ok || rest == "" || strings.HasPrefix(rest, "#") || rest != strings.TrimSpace(rest) || strings.Contains(rest, " #") {
				t.Fatalf("%q = %q rendered as line %q", key, value, l)
			}
			for _, c := range rest {
				if c < 0x20 || c == 0x7f {
					t.Fatalf("value %q kept control character %q", value, c)
				}
			}
		}
	})
}

func letters(s string) bool { // and digits (X11Forwarding)
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return s != ""
}
