package resources

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	udiff "github.com/aymanbagabas/go-udiff"

	"github.com/goprov/goprov/internal/shell"
	"github.com/goprov/goprov/transport"
)

// FileState is what FileProbe learns of a path.
type FileState struct {
	Exists  bool
	Regular bool // false for a symlink, directory, device…
	Kind    string
	Mode    uint32
	UID     int
	GID     int
	Content []byte
}

// MaxProbeFile is the largest managed file a probe reads. goprov manages
// small configuration files; a bigger one (a compromised host's trap to
// fill the controller's memory, or a mistake) is refused unread.
const MaxProbeFile = 16 << 20

// maxShellRead is the largest file FileProbe reads with the shell's read.
const maxShellRead = 1024

// FileProbe returns a read-only snippet that prints a path's state: a header
// line, then (for a regular file) its exact bytes. A file over MaxProbeFile
// prints only its size; head also stops one that grows while read.
//
// Every program a read starts costs the host CPU (1–3 ms each), so a small
// file (up to maxShellRead bytes, where the shell's byte-at-a-time read
// still costs less than starting head) is read with the shell's read: its
// bytes are exact when their count is stat's size, since read can only
// lose bytes (NULs; characters counted in a multibyte locale); otherwise
// head reads it. One program (stat) for a small text file.
func FileProbe(p string) string { return fileProbe(p, "") }

// FileProbes is FileProbe for several paths with one stat for all of them
// (one program instead of one per file): prelude, run before the probes in
// the same shell (outside their subshells; it prints nothing), stats every
// path that is a regular file and no symlink with one stat and hands each
// probe its line; probes[i] is then FileProbe(paths[i]) using it. Exact per
// file: stat's lines are taken only when stat answered for every file it
// was given (exit 0: one line each, in order), and a probe whose file has
// no line (stat failed, the file appeared since) stats it itself.
func FileProbes(paths ...string) (prelude string, probes []string) {
	var b strings.Builder
	b.WriteString(`gfs() { gk= go=; for gp do shift; if [ -f "$gp" ] && [ ! -L "$gp" ]; then set -- "$@" "$gp"; gk=${gk}1; else gk=${gk}0; fi; done
[ $# -eq 0 ] || go=$(stat -c '%s %a %u %g' -- "$@" 2>/dev/null) || go=; }
gfs`)
	for _, p := range paths {
		b.WriteString(" " + shell.Quote(p))
	}
	b.WriteString("\n")
	for i, p := range paths {
		v := "gf" + strconv.Itoa(i)
		// gk's i-th flag says whether path i was given to stat; each one
		// given takes the next line.
		fmt.Fprintf(&b, "%s=; case $gk in %s1*) [ -z \"$go\" ] || { %s=${go%%%%\"\n\"*}; case $go in *\"\n\"*) go=${go#*\"\n\"} ;; *) go= ;; esac; } ;; esac\n",
			v, strings.Repeat("?", i), v)
		probes = append(probes, fileProbe(p, v))
	}
	return b.String(), probes
}

// fileProbe is FileProbe; with statVar set, that variable's value (when
// not empty) stands for the file's stat line.
func fileProbe(p, statVar string) string {
	q := shell.Quote(p)
	max := strconv.Itoa(MaxProbeFile)
	st := `s=$(stat -c '%s %a %u %g' -- "$f") || exit`
	if statVar != "" {
		st = `s=$` + statVar + `; [ -n "$s" ] || { s=$(stat -c '%s %a %u %g' -- "$f") || exit; }`
	}
	return `f=` + q + `
if [ -L "$f" ]; then printf 'symlink\n'
elif [ -f "$f" ]; then ` + st + `
  n=${s%% *}
  if [ "$n" -gt ` + max + ` ]; then printf 'toolarge %s\n' "$n"
  else printf 'file %s\n' "${s#* }" || exit
    c= l=
    if [ "$n" -le ` + strconv.Itoa(maxShellRead) + ` ]; then
      { while IFS= read -r l; do c=$c$l'
'; [ ${#c} -le "$n" ] || break; done; c=$c$l; } <"$f" 2>/dev/null
    fi
    if [ "$n" -le ` + strconv.Itoa(maxShellRead) + ` ] && [ ${#c} -eq "$n" ]; then printf '%s' "$c"
    else head -c ` + strconv.Itoa(MaxProbeFile+1) + ` -- "$f"; fi
  fi
elif [ -e "$f" ]; then printf 'other\n'
else printf 'absent\n'; fi`
}

func errTooLarge(size string) error {
	return fmt.Errorf("file probe: the file is %s bytes, larger than %d bytes; goprov manages small files and does not read it", size, MaxProbeFile)
}

// ParseFileState reads FileProbe's output.
func ParseFileState(out []byte) (FileState, error) {
	head, rest, ok := bytes.Cut(out, []byte("\n"))
	if !ok {
		return FileState{}, fmt.Errorf("file probe: truncated output %q", out)
	}
	f := strings.Fields(string(head))
	if len(f) == 0 {
		return FileState{}, fmt.Errorf("file probe: empty header")
	}
	switch f[0] {
	case "absent":
		return FileState{}, nil
	case "symlink", "other":
		return FileState{Exists: true, Kind: f[0]}, nil
	case "toolarge":
		if len(f) != 2 {
			return FileState{}, fmt.Errorf("file probe: bad header %q", head)
		}
		return FileState{}, errTooLarge(f[1])
	case "file":
		if len(f) != 4 {
			return FileState{}, fmt.Errorf("file probe: bad header %q", head)
		}
		mode, err1 := strconv.ParseUint(f[1], 8, 32)
		uid, err2 := strconv.Atoi(f[2])
		gid, err3 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil || err3 != nil {
			return FileState{}, fmt.Errorf("file probe: bad header %q", head)
		}
		if len(rest) > MaxProbeFile {
			return FileState{}, errTooLarge("over " + strconv.Itoa(MaxProbeFile))
		}
		return FileState{Exists: true, Regular: true, Kind: "file", Mode: uint32(mode), UID: uid, GID: gid, Content: rest}, nil
	}
	return FileState{}, fmt.Errorf("file probe: unknown header %q", head)
}

// DesiredFile is a file a resource wants on a host.
type DesiredFile struct {
	Path    string // absolute path on the host (before Host.Path mapping)
	Content []byte
	Mode    uint32
	UID     int
	GID     int
}

// FileChange compares a probed file with the desired one (desired nil: the
// file must be absent) and fills in action, summary and unified diff.
func FileChange(cur FileState, want *DesiredFile, displayPath string) Change {
	owner := func(uid, gid int) string {
		name := func(id int) string {
			if id == 0 {
				return "root"
			}
			return strconv.Itoa(id)
		}
		return name(uid) + ":" + name(gid)
	}
	ch := fileChange(cur, want, displayPath, owner)
	if cur.Exists {
		ch.BeforeSHA256 = SHA256(cur.Content)
	}
	if want != nil {
		ch.AfterSHA256 = SHA256(want.Content)
	}
	return ch
}

// SHA256 is the hex SHA-256 of b.
func SHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func fileChange(cur FileState, want *DesiredFile, displayPath string, owner func(uid, gid int) string) Change {
	if want == nil {
		if !cur.Exists {
			return Change{Action: NoOp, Summary: displayPath + " (absent)"}
		}
		ch := Change{Action: Delete, Summary: displayPath}
		if cur.Regular {
			ch.Diff = Unified(displayPath, "/dev/null", cur.Content, nil)
		}
		return ch
	}
	sum := fmt.Sprintf("%s (%04o %s)", displayPath, want.Mode, owner(want.UID, want.GID))
	if !cur.Exists {
		return Change{Action: Create, Summary: sum, Diff: Unified("/dev/null", displayPath, nil, want.Content)}
	}
	if !cur.Regular {
		return Change{Action: Update, Summary: sum, Notes: []string{"replaces a " + cur.Kind + " with a regular file"},
			Diff: Unified(displayPath, displayPath, nil, want.Content)}
	}
	var notes []string
	if cur.Mode != want.Mode {
		notes = append(notes, fmt.Sprintf("mode %04o → %04o", cur.Mode, want.Mode))
	}
	if cur.UID != want.UID || cur.GID != want.GID {
		notes = append(notes, fmt.Sprintf("owner %s → %s", owner(cur.UID, cur.GID), owner(want.UID, want.GID)))
	}
	same := bytes.Equal(cur.Content, want.Content)
	if same && len(notes) == 0 {
		return Change{Action: NoOp, Summary: sum}
	}
	ch := Change{Action: Update, Summary: sum, Notes: notes}
	if !same {
		ch.Diff = Unified(displayPath, displayPath, cur.Content, want.Content)
	}
	return ch
}

// Unified renders a unified diff with 3 lines of context.
func Unified(from, to string, a, b []byte) string {
	d := udiff.Unified(from, to, string(a), string(b))
	if d != "" && !strings.HasSuffix(d, "\n") {
		d += "\n"
	}
	return d
}

// NotFileCheck is the script line that refuses a directory at $f (a symlink to one is replaced,
// not followed), with ExitNotFile.
var NotFileCheck = fmt.Sprintf(`if [ -d "$f" ] && [ ! -L "$f" ]; then echo "$f is a directory" >&2; exit %d; fi
`, ExitNotFile)

// WriteOptions tune WriteFile.
type WriteOptions struct {
	// Validate is a sh snippet run on the complete temp file ("$1") before it
	// replaces the live one, e.g. `/bin/sh -n "$1"`. Non-zero stops the write
	// and leaves the live file untouched.
	Validate string
	// After is a sh snippet run once the new file is in place; when it fails
	// the previous content is put back (or the new file removed) and the
	// write fails. "$1" is the live path.
	After string
	// MkdirMode, when non-zero, creates missing parent directories with it.
	MkdirMode uint32
	// Prepare is a sh snippet run before the temp file is written, in the
	// write's own shell: After may use the variables it sets (a state to
	// compare with, read just before the change).
	Prepare string
	// IfUnchanged, when set, makes the write a compare-and-swap: it is
	// refused (ErrChanged) unless the target still holds exactly this
	// state's content (or is still absent). For files several resources
	// edit, so that one never overwrites another's change.
	IfUnchanged *FileState
}

// ErrChanged is returned by a compare-and-swap write whose target changed
// since it was read.
var ErrChanged = errors.New("file changed on the host since it was read; nothing written")

// ErrValidation marks a write refused by its validation step.
type ErrValidation struct{ Msg string }

func (e *ErrValidation) Error() string { return "validation failed: " + e.Msg }

// WriteFile is the one safe write path every resource uses: a temp file in
// the target directory (created 0600 by mktemp, with a leading "." so
// sudo, augenrules and profile.d ignore it), content from stdin, fsync,
// owner and mode, validation, SELinux label, rename over the target, fsync
// of the directory. Interrupted at any point, the target holds its old or
// its new content, never a mix; the temp file is removed by the trap (or,
// if the connection dies with the shell, is a dot-file readers ignore).
// WriteFiles is the same path for several files in one command.
func WriteFile(ctx context.Context, h *Host, f DesiredFile, opt WriteOptions) error {
	_, err := WriteFiles(ctx, h, []FileWrite{{File: f, Opt: opt}})
	return err
}

// writeSection is the script that writes one file. Its content comes from
// stdin: all of it (cat), or with exact set, the next len(Content) bytes
// of a stream that carries several files (head -c reads no further).
func writeSection(h *Host, f DesiredFile, opt WriteOptions, exact bool) string {
	real := h.Path(f.Path)
	dir := path.Dir(real)
	var b strings.Builder
	fmt.Fprintf(&b, "set -eu\nf=%s\nd=%s\n", shell.Quote(real), shell.Quote(dir))
	if opt.MkdirMode != 0 {
		fmt.Fprintf(&b, "[ -d \"$d\" ] || { mkdir -p -- \"$d\" && chmod %04o -- \"$d\"; }\n", opt.MkdirMode)
	}
	if opt.IfUnchanged != nil {
		want := "absent"
		if opt.IfUnchanged.Exists {
			sum := sha256.Sum256(opt.IfUnchanged.Content)
			want = hex.EncodeToString(sum[:])
		}
		// Checked again right before the rename: the window left is one
		// shell statement, and a concurrent goprov is excluded by the host lock.
		fmt.Fprintf(&b, "cas() { if [ -f \"$f\" ]; then [ \"$(sha256sum < \"$f\" | cut -d' ' -f1)\" = %s ]; else [ absent = %s ]; fi; }\ncas || exit %d\n", want, want, ExitChanged)
	}
	if opt.Prepare != "" {
		b.WriteString(opt.Prepare + "\n")
	}
	b.WriteString(NotFileCheck + `# Temp files of writes killed outright (SIGKILL, power loss) never ran
# their trap; the host lock is held, so any older one is an orphan.
find "$d" -maxdepth 1 -name '.goprov.*' -type f -mmin +1 -exec rm -f -- {} + 2>/dev/null || :
t=$(mktemp "$d/.goprov.XXXXXXXX")
trap 'rm -f -- "$t"' EXIT
` + SignalTrap(""))
	if exact {
		fmt.Fprintf(&b, "head -c %d > \"$t\"\n", len(f.Content))
	} else {
		b.WriteString("cat > \"$t\"\n")
	}
	// A connection cut mid-transfer looks like EOF to cat: never let a short
	// file go further than its temp name.
	sum := sha256.Sum256(f.Content)
	fmt.Fprintf(&b, "[ \"$(wc -c < \"$t\" | tr -d ' ')\" = %d ] || { echo 'short write: content incomplete' >&2; exit %d; }\n", len(f.Content), ExitShortWrite)
	fmt.Fprintf(&b, "[ \"$(sha256sum < \"$t\" | cut -d' ' -f1)\" = %s ] || { echo 'content checksum mismatch' >&2; exit %d; }\n", hex.EncodeToString(sum[:]), ExitShortWrite)
	fmt.Fprintf(&b, "chown %d:%d -- \"$t\"\nchmod %04o -- \"$t\"\n", f.UID, f.GID, f.Mode)
	b.WriteString("sync -- \"$t\" 2>/dev/null || sync\n")
	if opt.Validate != "" {
		fmt.Fprintf(&b, "if ! ( set -- \"$t\"; %s ) >&2; then exit %d; fi\n", opt.Validate, ExitValidate)
	}
	if h.Root == "" || h.Root == "/" {
		b.WriteString(`if command -v restorecon >/dev/null 2>&1 && [ -e /sys/fs/selinux/enforce ]; then restorecon -- "$t"; fi` + "\n")
	}
	writeRename(&b, opt)
	return b.String()
}

// writeRename puts the checked temp file in place: with After, keeping the
// previous content until After has passed.
func writeRename(b *strings.Builder, opt WriteOptions) {
	if opt.After == "" {
		if opt.IfUnchanged != nil {
			b.WriteString("cas || " + Exit(ExitChanged) + "\n")
		}
		b.WriteString("mv -f -- \"$t\" \"$f\"\nsync -- \"$d\" 2>/dev/null || sync\n")
		return
	}
	// Keep the previous content so a failing After can be undone.
	b.WriteString(`b=
if [ -f "$f" ] && [ ! -L "$f" ]; then b=$(mktemp "$d/.goprov.XXXXXXXX"); cp -p -- "$f" "$b"; fi
trap 'rm -f -- "$t" ${b:+"$b"}' EXIT
# From the rename until After has passed, a signal must put the previous
# content back, not just clean up: the new file is live but not yet checked.
undo() { if [ -n "$b" ]; then mv -f -- "$b" "$f"; else rm -f -- "$f"; fi; sync -- "$d" 2>/dev/null || sync; }
` + SignalTrap("undo") + `mv -f -- "$t" "$f"
sync -- "$d" 2>/dev/null || sync
`)
	fmt.Fprintf(b, "if ! ( set -- \"$f\"; %s ) >&2; then\n", opt.After)
	fmt.Fprintf(b, "  undo\n  exit %d\nfi\n%s", ExitRestored, SignalTrap(""))
}

// writeErr turns a write script's exit status into WriteFile's error.
func writeErr(p string, code int, stderr []byte, res transport.Result) error {
	switch code {
	case 0:
		return nil
	case ExitValidate:
		return &ErrValidation{Msg: strings.TrimSpace(string(stderr))}
	case ExitRestored:
		return fmt.Errorf("write %s: check after write failed, previous content restored: %s", p, strings.TrimSpace(string(stderr)))
	case ExitChanged:
		return fmt.Errorf("write %s: %w", p, ErrChanged)
	}
	res.ExitCode, res.Stderr = code, stderr
	return res.Err("write " + p)
}

// RemoveFile deletes a file (not a directory) and fsyncs its directory.
func RemoveFile(ctx context.Context, h *Host, p string) error {
	real := h.Path(p)
	script := fmt.Sprintf("set -eu\nf=%s\n%srm -f -- \"$f\"\nd=$(dirname -- \"$f\")\nsync -- \"$d\" 2>/dev/null || sync\n", shell.Quote(real), NotFileCheck)
	res, err := h.Run(ctx, transport.Cmd{Script: script, Sudo: true})
	if err != nil {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	return res.Err("remove " + p)
}

// ReadFile reads a file's state on the host (one command), for the rare
// Apply that must see a file as it is now, e.g. one several resources edit.
func ReadFile(ctx context.Context, h *Host, p string) (FileState, error) {
	res, err := h.Run(ctx, transport.Cmd{Script: FileProbe(h.Path(p)), Sudo: true})
	if err != nil {
		return FileState{}, fmt.Errorf("read %s: %w", p, err)
	}
	if err := res.Err("read " + p); err != nil {
		return FileState{}, err
	}
	return ParseFileState(res.Stdout)
}
