package gotoolchain

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/goprov/goprov/internal/shell"
	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/transport"
)

// Apply implements resources.Resource. It reads the host again (the Change
// carries no per-host detail), fetches and verifies the archive on the
// controller BEFORE anything is written on the host, extracts into a fresh
// work dir, checks `go version` there, writes go.env into the new tree, and
// only then renames it into place and switches the link. Any failure up to
// the switch leaves the link and every installed version untouched.
func (tc *Toolchain) Apply(ctx context.Context, h *resources.Host, ch resources.Change) error {
	p, err := PlatformOf(h.Facts.OS, h.Facts.Arch)
	if err != nil {
		return err
	}
	res, err := h.Run(ctx, transport.Cmd{Script: tc.Probe(h), Sudo: true})
	if err != nil {
		return fmt.Errorf("read state: %w", err)
	}
	if err := res.Err("read state"); err != nil {
		return err
	}
	st, err := ParseState(res.Stdout)
	if err != nil {
		return err
	}
	s, err := tc.Plan(st, p)
	if err != nil {
		return err
	}
	// Never do something else than what was shown: if the host moved
	// between the planner's read and this one, stop.
	if now := tc.change(st, s, p); now.Summary != ch.Summary {
		return fmt.Errorf("the host changed since it was read (planned %q, now %q); nothing was applied, plan again", ch.Summary, now.Summary)
	}
	if s.Empty() {
		return nil
	}

	var art *Artifact
	if s.Install && tc.Fetch == FetchController {
		if art, err = tc.Prepare(ctx, p); err != nil {
			return fmt.Errorf("toolchain archive for %s: %w (nothing was changed on the host)", p, err)
		}
	}
	if len(s.CleanTemps) > 0 {
		if err := run(ctx, h, tc.cleanScript(h, s.CleanTemps), nil, "remove leftover work dirs"); err != nil {
			return err
		}
	}

	work := ""
	var listed []byte // the install script's manifest of what it extracted
	if s.Install {
		work = tc.InstallRoot + "/" + tempPrefix + "tmp-" + tc.Version + "-" + randHex()
		if sh, ok := h.T.(sftpHost); ok && art != nil && art.body != nil {
			// Over SSH: staged, resumable (stage.go).
			listed, err = tc.stagedInstall(ctx, h, sh, p, work, art)
			if errors.Is(err, errNoSFTP) {
				listed, err = tc.streamInstall(ctx, h, p, work, art) // not resumable, still verified
			}
		} else if art != nil {
			listed, err = tc.streamInstall(ctx, h, p, work, art)
		} else {
			listed, err = runOut(ctx, h, tc.hostFetchScript(h, p, work), nil, "download and extract go"+tc.Version+" on the host")
		}
		if err != nil {
			return err
		}
	}
	abandon := func(err error) error {
		if work != "" {
			if cerr := run(ctx, h, "rm -rf -- "+shell.Quote(h.Path(work)), nil, "remove work dir"); cerr != nil {
				err = errors.Join(err, cerr)
			}
		}
		return err
	}
	if s.Install {
		if err := tc.writeRecords(ctx, h, p, art, work+"/go", listed); err != nil {
			return abandon(err)
		}
	}
	if s.WriteEnv {
		dir := tc.Dir()
		if s.Install {
			dir = work + "/go"
		}
		f := resources.DesiredFile{Path: dir + "/go.env", Content: tc.renderEnv(), Mode: 0o644}
		if err := resources.WriteFile(ctx, h, f, resources.WriteOptions{}); err != nil {
			return abandon(fmt.Errorf("write go.env: %w", err))
		}
	}
	if s.Install || s.Switch {
		if err := run(ctx, h, tc.switchScript(h, work, s.Replace != ""), nil, "switch "+tc.Link); err != nil {
			return abandon(err)
		}
	}
	if len(s.Remove) > 0 {
		if err := run(ctx, h, tc.removeScript(h, s.Remove), nil, "remove old versions"); err != nil {
			return fmt.Errorf("%s now points to %s, but: %w", tc.Link, tc.Dir(), err)
		}
	}
	return nil
}

func run(ctx context.Context, h *resources.Host, script string, stdin io.Reader, what string) error {
	_, err := runOut(ctx, h, script, stdin, what)
	return err
}

func runOut(ctx context.Context, h *resources.Host, script string, stdin io.Reader, what string) ([]byte, error) {
	res, err := h.Run(ctx, transport.Cmd{Script: script, Stdin: stdin, Sudo: true})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return res.Stdout, res.Err(what)
}

// writeRecords checks the manifest the host computed of its extraction
// (against the controller's, when the controller streamed the tree) and
// writes it and the provenance record into the new tree, before anything
// points at it.
func (tc *Toolchain) writeRecords(ctx context.Context, h *resources.Host, p Platform, art *Artifact, dir string, listed []byte) error {
	m, err := ParseManifest(listed)
	if err != nil {
		return fmt.Errorf("manifest of the extracted tree: %w", err)
	}
	if art != nil && art.Manifest != nil {
		if err := diffManifests(art.Manifest, m); err != nil {
			return err
		}
	}
	rec := tc.provenance(p, art, m, time.Now().UTC().Format(time.RFC3339))
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	for _, f := range []resources.DesiredFile{
		{Path: dir + "/" + ManifestName, Content: RenderManifest(m), Mode: 0o644},
		{Path: dir + "/" + ProvenanceName, Content: append(b, '\n'), Mode: 0o644},
	} {
		if err := resources.WriteFile(ctx, h, f, resources.WriteOptions{}); err != nil {
			return fmt.Errorf("write %s: %w", path.Base(f.Path), err)
		}
	}
	return nil
}

// streamInstall sends the verified archive as a tar on the command's stdin.
// It returns the script's output: the manifest of the extracted tree.
func (tc *Toolchain) streamInstall(ctx context.Context, h *resources.Host, p Platform, work string, art *Artifact) ([]byte, error) {
	pr, pw := io.Pipe()
	streamErr := make(chan error, 1)
	go func() {
		_, err := art.Stream(pw)
		pw.CloseWithError(err)
		streamErr <- err
	}()
	res, runErr := h.Run(ctx, transport.Cmd{Script: tc.streamScript(h, p, work, art), Stdin: pr, Sudo: true})
	// Unblock the writer if the script stopped reading early.
	pr.CloseWithError(errScriptDone)
	serr := <-streamErr
	if serr != nil && !errors.Is(serr, errScriptDone) {
		return nil, fmt.Errorf("toolchain %s failed verification while streaming, the host discarded it: %w", art.Origin, serr)
	}
	if runErr != nil {
		return nil, fmt.Errorf("install go%s: %w", tc.Version, runErr)
	}
	return res.Stdout, res.Err("install go" + tc.Version)
}

var errScriptDone = errors.New("install script finished")

func randHex() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b[:])
}

// Exit codes of the host scripts, for messages.
const (
	exitExtract  = 20
	exitSentinel = 21
	exitCount    = 22
	exitVersion  = 23
	exitChecksum = 24
	exitLayout   = 25
	exitNoFetch  = 26
)

// prologue creates install_root and the private work dir; the EXIT trap
// removes the work dir unless the script got to ok=1.
func (tc *Toolchain) prologue(h *resources.Host, work string) string {
	return fmt.Sprintf(`set -eu
umask 022
r=%s
w=%s
[ -d "$r" ] || mkdir -p -- "$r"
mkdir -m 0700 -- "$w"
ok=
trap '[ -n "$ok" ] || rm -rf -- "$w"' EXIT
%s`, shell.Quote(h.Path(tc.InstallRoot)), shell.Quote(h.Path(work)), resources.SignalTrap(""))
}

// epilogue checks the extracted tree by running its own go, makes it
// durable before anything points at it, and prints its manifest (every
// file's sha256, as extracted) for the controller to check and record.
func (tc *Toolchain) epilogue(p Platform) string {
	want := "go version " + tc.GoVersion() + " " + p.String()
	return fmt.Sprintf(`chmod 0755 -- "$w/go"
v=$(cd / && env -i PATH=/usr/bin:/bin HOME=/nonexistent GOTOOLCHAIN=local GOENV=off "$w/go/bin/go" version 2>&1) || { echo "the new toolchain's go version failed: $v" >&2; exit %d; }
[ "$v" = %s ] || { echo "the new toolchain's go version printed \"$v\", expected \"%s\"" >&2; exit %d; }
sync -f -- "$w/go" 2>/dev/null || sync
(cd "$w/go" && `+strings.ReplaceAll(manifestScript, "%", "%%")+`)
ok=1
`, exitVersion, shell.Quote(want), strings.ReplaceAll(want, `"`, ``), exitVersion)
}

func (tc *Toolchain) streamScript(h *resources.Host, p Platform, work string, art *Artifact) string {
	var b strings.Builder
	b.WriteString(tc.prologue(h, work))
	b.WriteString(tc.extractChecks("", art))
	b.WriteString(tc.epilogue(p))
	return b.String()
}

// extractChecks extracts the host tar (stdin, or redirected by from) into
// the work dir and checks its sentinel and file count.
func (tc *Toolchain) extractChecks(from string, art *Artifact) string {
	return fmt.Sprintf(`tar -xf - -C "$w" %s|| { echo "extracting the toolchain stream failed" >&2; exit %d; }
[ -f "$w/%s" ] && [ "$(cat -- "$w/%s")" = %s ] || { echo "the toolchain stream ended before the controller vouched for it (verification failed or connection lost)" >&2; exit %d; }
rm -f -- "$w/%s"
n=$(find "$w/go" -type f | wc -l | tr -d ' ')
[ "$n" = %d ] || { echo "the toolchain has $n files, expected %d" >&2; exit %d; }
`, from, exitExtract, SentinelName, SentinelName, shell.Quote(art.Hash), exitSentinel, SentinelName, art.Files, art.Files, exitCount)
}

// hostFetchScript downloads the official archive on the host itself
// (fetch = "host"), checks its pinned sha256, refuses links, special files
// and entries outside go/, and extracts it into the work dir.
func (tc *Toolchain) hostFetchScript(h *resources.Host, p Platform, work string) string {
	u := tc.Mirror + ArchiveName(tc.GoVersion(), p)
	var b strings.Builder
	b.WriteString(tc.prologue(h, work))
	fmt.Fprintf(&b, `u=%s
want=%s
a="$w/archive.tar.gz"
if command -v curl >/dev/null 2>&1; then curl -fsSL --proto '=http,https' -o "$a" -- "$u"
elif command -v wget >/dev/null 2>&1; then wget -q -O "$a" -- "$u"
elif command -v python3 >/dev/null 2>&1; then python3 -c 'import shutil, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=300) as r, open(sys.argv[2], "wb") as f:
    shutil.copyfileobj(r, f)' "$u" "$a"
else echo "the host has no curl, wget or python3 to download with; use fetch = \"controller\"" >&2; exit %d; fi
s=$(sha256sum < "$a" | cut -d' ' -f1)
[ "$s" = "$want" ] || { echo "checksum mismatch: $u has sha256 $s, expected $want" >&2; exit %d; }
if tar -tvzf "$a" | grep -q '^[^d-]'; then echo "$u holds links or special files: refused" >&2; exit %d; fi
if tar -tzf "$a" | grep -qv '^go/'; then echo "$u has entries outside go/: refused" >&2; exit %d; fi
tar -xzf "$a" -C "$w" --no-same-owner || { echo "extracting $u failed" >&2; exit %d; }
rm -f -- "$a"
chmod -R go-w -- "$w/go"
`, shell.Quote(u), shell.Quote(tc.sha256For(p)), exitNoFetch, exitChecksum, exitLayout, exitLayout, exitExtract)
	b.WriteString(tc.epilogue(p))
	return b.String()
}

// switchScript renames the work tree into its versioned directory (if
// installing) and points the link at it by renaming a fresh temp symlink
// over it (`mv -T`, i.e. rename(2)): readers see the old or the new target,
// never a missing link. `ln -sf` would unlink first; plain `mv` onto a
// symlink to a directory would move INTO that directory.
func (tc *Toolchain) switchScript(h *resources.Host, work string, replace bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "set -eu\nfinal=%s\nlink=%s\nlt=%s\n",
		shell.Quote(h.Path(tc.Dir())), shell.Quote(h.Path(tc.Link)),
		shell.Quote(h.Path(path.Dir(tc.Link)+"/.goprov-link-"+randHex())))
	if work != "" {
		fmt.Fprintf(&b, "w=%s\nok=\ntrap '[ -n \"$ok\" ] || rm -rf -- \"$w\"' EXIT\n", shell.Quote(h.Path(work)))
		if replace {
			// The broken tree goes aside under a work name first.
			fmt.Fprintf(&b, "old=%s\nif [ -e \"$final\" ]; then mv -T -- \"$final\" \"$old\"; fi\n",
				shell.Quote(h.Path(tc.InstallRoot+"/"+tempPrefix+"old-"+tc.Version+"-"+randHex())))
		}
		b.WriteString(`mv -T -- "$w/go" "$final"
rmdir -- "$w" 2>/dev/null || rm -rf -- "$w"
ok=1
`)
	}
	fmt.Fprintf(&b, `[ -d "$final" ] && [ -x "$final/bin/go" ] || { echo "$final is not an installed toolchain" >&2; exit 1; }
ld=$(dirname -- "$link")
[ -d "$ld" ] || mkdir -p -- "$ld"
rm -f -- "$lt"
ln -s -- %s "$lt"
mv -T -- "$lt" "$link" || { rm -f -- "$lt"; exit 1; }
sync -- "$ld" 2>/dev/null || sync
`, shell.Quote(tc.Dir()))
	if work != "" && replace {
		b.WriteString("if [ -n \"${old:-}\" ] && [ -e \"$old\" ]; then rm -rf -- \"$old\"; fi\n")
	}
	return b.String()
}

// removeScript deletes old versions: each is first renamed to a work name
// (so a half-deleted tree never looks like a version), then removed. It
// re-checks on the host that the link does not point at it.
func (tc *Toolchain) removeScript(h *resources.Host, names []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "set -eu\nr=%s\nhr=%s\nt=$(readlink -- %s 2>/dev/null || true)\n",
		shell.Quote(h.Path(tc.InstallRoot)), shell.Quote(tc.InstallRoot), shell.Quote(h.Path(tc.Link)))
	for _, n := range names {
		fmt.Fprintf(&b, `n=%s
d="$r/$n"
if [ -d "$d" ] && [ ! -L "$d" ]; then
  case $t in
    "$hr/$n"|"$hr/$n/"|"$n"|"$n/") echo "not removing $d: the link points to it" >&2 ;;
    *) g="$r/%srm-$n-$$"; mv -T -- "$d" "$g"; rm -rf -- "$g" ;;
  esac
fi
`, shell.Quote(n), tempPrefix)
	}
	b.WriteString("sync -- \"$r\" 2>/dev/null || sync\n")
	return b.String()
}

func (tc *Toolchain) cleanScript(h *resources.Host, temps []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "set -eu\nr=%s\n", shell.Quote(h.Path(tc.InstallRoot)))
	for _, t := range temps {
		fmt.Fprintf(&b, "rm -rf -- \"$r\"/%s\n", shell.Quote(t))
	}
	return b.String()
}
