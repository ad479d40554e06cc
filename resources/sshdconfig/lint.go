package sshdconfig

import (
	"fmt"
	"sort"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/goprov/goprov/resources"
)

// weakSSHD are sshd settings every hardening guide (CIS, Mozilla) turns
// off, by lower-case keyword, in sshd's spelling.
var weakSSHD = map[string]string{
	"permitrootlogin":        "PermitRootLogin",
	"permitemptypasswords":   "PermitEmptyPasswords",
	"passwordauthentication": "PasswordAuthentication",
}

// Lint implements resources.Linter: settings that weaken logins.
func (kind) Lint(address string, v cty.Value) []resources.Warning {
	if !resources.Present(v) {
		return nil
	}
	var weak []string
	for k, val := range resources.AttrMap(v, "settings") {
		if kw, ok := weakSSHD[strings.ToLower(k)]; ok && strings.EqualFold(strings.TrimSpace(val), "yes") {
			weak = append(weak, kw+" yes")
		}
	}
	if len(weak) == 0 {
		return nil
	}
	sort.Strings(weak)
	return []resources.Warning{{Attr: "settings", Summary: "sshd setting weakens logins",
		Detail: fmt.Sprintf("%s: %s: passwords (empty ones, root's) can be guessed from anywhere sshd is reachable; keys only (PasswordAuthentication no, PermitRootLogin prohibit-password) is what the hardening guides ask.", address, strings.Join(weak, ", "))}}
}
