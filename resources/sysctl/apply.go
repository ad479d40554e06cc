package sysctl

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/goprov/goprov/internal/shell"
	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/transport"
)

const (
	noteAbsent = "the live values stay as they are: removing the file only stops them being set at boot (the kernel has no \"previous\" value to go back to)"
	noteImage  = "image root: the file only, nothing was loaded (the kernel here is the build machine's); keys and values are checked when a system booted from this image loads it"
)

// Diff implements resources.Resource.
func (f *File) Diff(h *resources.Host, probe []byte) (resources.Change, error) {
	st, err := f.parse(probe)
	if err != nil {
		return resources.Change{}, err
	}
	ch := resources.FileChange(st.file, f.desired(), f.Path())
	if !f.Present {
		if ch.Action == resources.Delete {
			ch.Notes = append(ch.Notes, noteAbsent)
		}
		return ch, nil
	}
	if st.live == nil {
		ch.Notes = append(ch.Notes, noteImage)
	} else {
		drift, err := f.compare(st.live)
		if err != nil {
			return resources.Change{}, err
		}
		switch {
		case len(drift) == 0:
		case ch.Action == resources.NoOp:
			ch.Action = resources.Update
			for _, d := range drift {
				ch.Notes = append(ch.Notes, fmt.Sprintf("reload: %s is %s, file says %s", d.Key, d.Value, d.want))
			}
		default:
			for _, d := range drift {
				ch.Notes = append(ch.Notes, fmt.Sprintf("loads %s %s → %s", d.Key, d.Value, d.want))
			}
		}
	}
	for _, o := range Overrides(f.Name+".conf", f.Settings, st.other) {
		ch.Notes = append(ch.Notes, fmt.Sprintf("%s sets %s = %s after this file: at the next boot %s will be %s, not %s",
			o.File, o.Key, Normalize(o.Value), o.Key, Normalize(o.Value), o.Want))
	}
	return ch, nil
}

type drifted struct {
	Key, Value, want string
}

// compare checks every key against /proc/sys: keys the kernel lacks (or
// that cannot be read back, so never verified) fail the plan; values that
// differ, whitespace aside, are drift.
func (f *File) compare(live []Live) ([]drifted, error) {
	var errs []error
	var drift []drifted
	for i, s := range f.Settings {
		l := live[i]
		switch l.Status {
		case "missing":
			errs = append(errs, fmt.Errorf("%s: no such key on this kernel (/proc/sys/%s does not exist); nothing was written", s.Key, s.Path))
		case "dir":
			errs = append(errs, fmt.Errorf("%s: a group of keys (/proc/sys/%s is a directory), not a key; nothing was written", s.Key, s.Path))
		case "readonly":
			errs = append(errs, fmt.Errorf("%s: read-only here (/proc/sys/%s cannot be written: a read-only key, or a /proc/sys mounted read-only as in most containers); nothing was written", s.Key, s.Path))
		case "unreadable":
			errs = append(errs, fmt.Errorf("%s: cannot be read back (a write-only key?), so goprov could never verify it; nothing was written", s.Key))
		default:
			if got := Normalize(l.Value); got != s.Value {
				drift = append(drift, drifted{Key: s.Key, Value: got, want: s.Value})
			}
		}
	}
	return drift, errors.Join(errs...)
}

// Apply implements resources.Resource.
func (f *File) Apply(ctx context.Context, h *resources.Host, ch resources.Change) error {
	if ch.Action == resources.NoOp {
		return nil
	}
	st, err := f.parse(ch.Current)
	if err != nil {
		return fmt.Errorf("%s: %w", f.Path(), err)
	}
	want := f.desired()
	if want == nil {
		if st.file.Exists {
			if err := resources.RemoveFile(ctx, h, f.Path()); err != nil {
				return err
			}
			h.Note(noteAbsent)
		}
		return nil
	}
	fileChanges := resources.FileChange(st.file, want, f.Path()).Action != resources.NoOp
	if isImage(h) {
		if fileChanges {
			if err := resources.WriteFile(ctx, h, *want, resources.WriteOptions{MkdirMode: 0o755}); err != nil {
				return err
			}
		}
		h.Note(noteImage)
		return nil
	}
	if fileChanges {
		// The load runs with the new file in place; if it fails, WriteFile
		// puts the previous file back once the script restored the values.
		return resources.WriteFile(ctx, h, *want, resources.WriteOptions{MkdirMode: 0o755, After: f.loadScript()})
	}
	// The file is right; the kernel drifted: load it again.
	script := "set -- " + shell.Quote(h.Path(f.Path())) + "\n" + f.loadScript()
	res, err := h.Run(ctx, transport.Cmd{Script: script, Sudo: true})
	if err != nil {
		return fmt.Errorf("reload %s: %w", f.Path(), err)
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("reload %s: %s", f.Path(), strings.TrimSpace(string(res.Stderr)))
	}
	return nil
}

// loadScript loads the file "$1" with sysctl -p, then reads every key
// back. Before loading it saves the live values; when the load or the
// check fails (or a signal arrives) it writes back every value that
// changed, so the kernel is left as it was, and exits non-zero.
func (f *File) loadScript() string {
	var b strings.Builder
	b.WriteString(`s=
for c in /usr/sbin/sysctl /sbin/sysctl /usr/bin/sysctl /bin/sysctl; do if [ -x "$c" ]; then s=$c; break; fi; done
[ -n "$s" ] || { echo 'sysctl (procps) not found, nothing was loaded' >&2; exit 1; }
norm() { tr '\t\n' '  ' | tr -s ' ' | sed 's/^ //; s/ $//'; }
`)
	var restore strings.Builder
	for i, s := range f.Settings {
		p := shell.Quote("/proc/sys/" + s.Path)
		fmt.Fprintf(&b, "o%d=$(cat -- %s) || { echo %s >&2; exit 1; }\n", i, p, shell.Quote("cannot read "+s.Key+", nothing was loaded"))
		fmt.Fprintf(&restore, "  [ \"$(cat -- %s 2>/dev/null)\" = \"$o%d\" ] || printf '%%s\\n' \"$o%d\" > %s || r=1\n", p, i, i, p)
	}
	b.WriteString("restore() {\n  r=0\n" + restore.String() + "  return $r\n}\n")
	b.WriteString(`fail() {
  printf '%s\n' "$1" >&2
  if restore; then echo 'the previous live values are restored' >&2; else echo 'WARNING: some previous live values could not be restored' >&2; fi
  exit 1
}
` + resources.SignalTrap("restore") + `if ! e=$("$s" -q -p "$1" 2>&1 >/dev/null); then fail "sysctl -p refused the file: $(printf '%s' "$e" | tr '\n' ';')"; fi
`)
	for _, s := range f.Settings {
		p := shell.Quote("/proc/sys/" + s.Path)
		fmt.Fprintf(&b, "v=$(cat -- %s | norm); [ \"$v\" = %s ] || fail %s\"$v\"%s\n", p, shell.Quote(s.Value),
			shell.Quote(s.Key+": the kernel did not keep "+s.Value+", it reads back "), shell.Quote(""))
	}
	b.WriteString("trap - HUP INT TERM PIPE\n")
	return b.String()
}
