package resources

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/goprov/goprov/internal/shell"
)

// Pending reloads survive failures. A resource whose file change only takes
// effect after a reload (augenrules --load, ufw reload, firewall-cmd
// --reload) marks the reload pending ON THE HOST before it writes, and
// clears the mark only after the reload succeeded. If the connection dies
// or the reload fails in between, the mark stays: the next plan shows
// "reload pending" (an update, even though the file is already right) and
// the next apply runs the reload. Ansible loses such handlers when a later
// task fails (ansible#10498); goprov keeps them on the host itself, so they
// survive a crashed controller too.
const PendingDir = "/var/lib/goprov/pending"

var pendingKeyRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

func pendingPath(key string) string {
	if !pendingKeyRe.MatchString(key) {
		panic("resources: bad pending key " + key) // keys are constants in code
	}
	return PendingDir + "/" + key
}

// PendingProbe prints the pending mark's content ("" when none is set).
func PendingProbe(h *Host, key string) string {
	return FileProbe(h.Path(pendingPath(key)))
}

// ParsePending reads PendingProbe's output: whether a reload is pending and
// why (what the mark says).
func ParsePending(out []byte) (bool, string, error) {
	st, err := ParseFileState(out)
	if err != nil {
		return false, "", err
	}
	return st.Exists, strings.TrimSpace(string(st.Content)), nil
}

// MarkPending records on the host that a reload must run.
func MarkPending(ctx context.Context, h *Host, key, why string) error {
	err := WriteFile(ctx, h, DesiredFile{Path: pendingPath(key), Content: []byte(why + "\n"), Mode: 0o600}, WriteOptions{MkdirMode: 0o700})
	if err != nil {
		return fmt.Errorf("record pending reload %s: %w", key, err)
	}
	return nil
}

// ClearPending removes the mark once the reload succeeded.
func ClearPending(ctx context.Context, h *Host, key string) error {
	if err := RemoveFile(ctx, h, pendingPath(key)); err != nil {
		return fmt.Errorf("clear pending reload %s: %w", key, err)
	}
	return nil
}

// MarkPendingScript is MarkPending as a sh snippet, for a caller that runs
// it as one step of a larger script: the mark is complete and fsync'ed, or
// absent (temp file, rename), before the snippet exits 0.
func MarkPendingScript(h *Host, key, why string) string {
	p := h.Path(pendingPath(key))
	return fmt.Sprintf(`set -eu
m=%s
md=$(dirname -- "$m")
[ -d "$md" ] || { mkdir -p -- "$md" && chmod 0700 -- "$md"; }
mt=$(mktemp "$md/.goprov.XXXXXXXX")
printf '%%s\n' %s > "$mt"
chmod 0600 -- "$mt"
sync -- "$mt" 2>/dev/null || sync
mv -f -- "$mt" "$m"
sync -- "$md" 2>/dev/null || sync
`, shell.Quote(p), shell.Quote(why))
}

// ClearPendingScript is ClearPending as a sh snippet.
func ClearPendingScript(h *Host, key string) string {
	p := h.Path(pendingPath(key))
	return fmt.Sprintf("m=%s\nrm -f -- \"$m\"\nsync -- \"$(dirname -- \"$m\")\" 2>/dev/null || sync\n", shell.Quote(p))
}
