package gotoolchain

import (
	"bytes"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/goprov/goprov/internal/shell"
	"github.com/goprov/goprov/resources"
)

// Names inside install_root: versions "go-1.22.5"; goprov's work dirs
// ".goprov-go-…" (a leading dot, so nothing takes them for a version).
var dirNameRe = regexp.MustCompile(`^go-(1\.[0-9]+(\.[0-9]+)?((rc|beta)[0-9]+)?)$`)

const tempPrefix = ".goprov-go-"

// Link kinds as the probe reports them.
const (
	linkAbsent = "absent"
	linkLink   = "link"
	linkDir    = "dir"
	linkOther  = "other"
)

// Installed is a directory of install_root as the probe saw it.
type Installed struct {
	Name        string // "go-1.22.5"
	Version     string // "1.22.5" (from the name)
	HasGo       bool   // bin/go is an executable regular file
	VersionFile string // first line of its VERSION file ("go1.22.5"), "" if none
}

// State is what the probe learns of a host.
type State struct {
	LinkKind   string
	LinkTarget string // as readlink printed it
	Installed  []Installed
	Temps      []string            // leftover work dirs of interrupted applies
	DirEnv     resources.FileState // go.env in the desired version's directory
	LiveEnv    resources.FileState // go.env of what the link points to
	// The desired version directory's records and its files as hashed
	// now (executables, or every file with verify = "all"). The records
	// come from the host: untrusted, read bounded, parsed strictly.
	Provenance resources.FileState
	Manifest   resources.FileState // read only with verify = "all"
	Listing    Listing
}

// Probe implements resources.Resource: read-only, one batched snippet.
func (tc *Toolchain) Probe(h *resources.Host) string {
	manifestProbe := "true" // an empty part: not read
	if tc.Verify == VerifyAll {
		manifestProbe = boundedFileProbe(h.Path(tc.Dir()+"/"+ManifestName), maxManifest)
	}
	link := shell.Quote(h.Path(tc.Link))
	root := shell.Quote(h.Path(tc.InstallRoot))
	return resources.MultiProbe(
		`l=`+link+`
if [ -L "$l" ]; then printf 'link\n'; readlink -- "$l"
elif [ -d "$l" ]; then printf 'dir\n'
elif [ -e "$l" ]; then printf 'other\n'
else printf 'absent\n'; fi`,
		`r=`+root+`
for d in "$r"/go-* "$r"/`+tempPrefix+`*; do
  [ -d "$d" ] && [ ! -L "$d" ] || continue
  n=${d##*/}
  case $n in *[!A-Za-z0-9._-]*) continue ;; esac
  if [ -f "$d/bin/go" ] && [ -x "$d/bin/go" ]; then x=go; else x=nogo; fi
  v=
  if [ -f "$d/VERSION" ]; then v=$(head -n 1 -- "$d/VERSION" | tr -cd 'A-Za-z0-9._+-'); fi
  printf '%s %s %s\n' "$n" "$x" "${v:--}"
done
true`,
		resources.FileProbe(h.Path(tc.Dir()+"/go.env")),
		liveEnvProbe(h, tc.Link),
		boundedFileProbe(h.Path(tc.Dir()+"/"+ProvenanceName), maxProvenance),
		manifestProbe,
		listingScript(h.Path(tc.Dir()), tc.Verify == VerifyAll),
	)
}

// liveEnvProbe prints, in FileProbe's format, the go.env of the link's
// target, resolved inside the host's root (an absolute target of an image
// host must not be followed into the controller's own tree).
func liveEnvProbe(h *resources.Host, link string) string {
	root := ""
	if h.Path("/") != "/" { // scripts see the image under Root, not as "/"
		root = h.Root
	}
	return `l=` + shell.Quote(h.Path(link)) + `
root=` + shell.Quote(root) + `
f=
if [ -L "$l" ]; then
  t=$(readlink -- "$l")
  case $t in /*) f="$root$t/go.env" ;; *) f="${l%/*}/$t/go.env" ;; esac
fi
if [ -z "$f" ] || [ ! -e "$f" ]; then printf 'absent\n'
elif [ -L "$f" ]; then printf 'symlink\n'
elif [ -f "$f" ]; then printf 'file %s\n' "$(stat -c '%a %u %g' -- "$f")" && cat -- "$f"
else printf 'other\n'; fi`
}

// ParseState reads Probe's output.
func ParseState(out []byte) (State, error) {
	parts, err := resources.SplitMulti(out, 7)
	if err != nil {
		return State{}, err
	}
	var st State
	head, rest, _ := bytes.Cut(parts[0], []byte("\n"))
	st.LinkKind = string(head)
	switch st.LinkKind {
	case linkLink:
		st.LinkTarget = strings.TrimSuffix(string(rest), "\n")
		if st.LinkTarget == "" {
			return State{}, fmt.Errorf("probe: link without a target")
		}
	case linkAbsent, linkDir, linkOther:
	default:
		return State{}, fmt.Errorf("probe: unexpected link state %q", head)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(parts[1])), "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 || (f[1] != "go" && f[1] != "nogo") {
			return State{}, fmt.Errorf("probe: unexpected directory line %q", line)
		}
		if strings.HasPrefix(f[0], tempPrefix) {
			st.Temps = append(st.Temps, f[0])
			continue
		}
		m := dirNameRe.FindStringSubmatch(f[0])
		if m == nil {
			continue // go-something that is not a release: not ours
		}
		vf := f[2]
		if vf == "-" {
			vf = ""
		}
		st.Installed = append(st.Installed, Installed{Name: f[0], Version: m[1], HasGo: f[1] == "go", VersionFile: vf})
	}
	if st.DirEnv, err = resources.ParseFileState(parts[2]); err != nil {
		return State{}, fmt.Errorf("probe go.env: %w", err)
	}
	if st.LiveEnv, err = resources.ParseFileState(parts[3]); err != nil {
		return State{}, fmt.Errorf("probe live go.env: %w", err)
	}
	if st.Provenance, err = resources.ParseFileState(parts[4]); err != nil {
		return State{}, fmt.Errorf("probe %s: %w", ProvenanceName, err)
	}
	if len(parts[5]) > 0 {
		if st.Manifest, err = resources.ParseFileState(parts[5]); err != nil {
			return State{}, fmt.Errorf("probe %s: %w", ManifestName, err)
		}
	}
	st.Listing = ParseListing(parts[6])
	return st, nil
}

// Steps are what an apply must do on a host, in this order.
type Steps struct {
	CleanTemps []string // leftover work dirs to remove first
	Install    bool     // fetch, extract into a work dir, check `go version`
	Replace    string   // why an existing directory of this version is replaced ("" if not)
	Reinstall  string   // short reason when the tree fails its records or pins ("" if not)
	Details    []string // notes on Reinstall
	WriteEnv   bool     // write go.env (into the new tree before the switch)
	Switch     bool     // point the link at the version's directory
	From       string   // what the link pointed at ("" if nothing)
	Remove     []string // directory names removed after the switch (keep)
}

// Empty reports whether there is nothing to do.
func (s *Steps) Empty() bool {
	return len(s.CleanTemps) == 0 && !s.Install && !s.WriteEnv && !s.Switch && len(s.Remove) == 0
}

// Plan computes the steps from a probed state. Pure.
func (tc *Toolchain) Plan(st State, p Platform) (*Steps, error) {
	s := &Steps{CleanTemps: st.Temps}
	switch st.LinkKind {
	case linkDir:
		return nil, fmt.Errorf("%s is a directory, not a symlink: goprov never replaces or extracts over a Go tree in place; move it to %s/go-<its version> (it then counts as an installed version) or choose another link", tc.Link, tc.InstallRoot)
	case linkOther:
		return nil, fmt.Errorf("%s exists and is not a symlink; move it away or choose another link", tc.Link)
	case linkLink:
		s.From = st.LinkTarget
		if !path.IsAbs(s.From) {
			s.From = path.Join(path.Dir(tc.Link), s.From)
		}
		s.From = path.Clean(s.From)
	}
	var cur *Installed
	for i := range st.Installed {
		if st.Installed[i].Name == "go-"+tc.Version {
			cur = &st.Installed[i]
		}
	}
	switch {
	case cur == nil:
		s.Install = true
	case !cur.HasGo:
		s.Install, s.Replace = true, fmt.Sprintf("%s exists but has no executable bin/go (incomplete)", cur.Name)
	case cur.VersionFile != tc.GoVersion():
		found := cur.VersionFile
		if found == "" {
			found = "no VERSION file"
		}
		s.Install, s.Replace = true, fmt.Sprintf("%s exists but holds %s", cur.Name, found)
	default:
		if why, notes := tc.integrity(st, p); why != "" {
			s.Install, s.Reinstall, s.Details = true, why, notes
			s.Replace = notes[0]
		}
	}
	want := tc.renderEnv()
	if tc.ManageEnv {
		if s.Install {
			s.WriteEnv = true
		} else {
			s.WriteEnv = !st.DirEnv.Regular || !bytes.Equal(st.DirEnv.Content, want) || st.DirEnv.Mode != 0o644 || st.DirEnv.UID != 0 || st.DirEnv.GID != 0
		}
	}
	s.Switch = s.From != tc.Dir()

	// keep counts the active version: keep-1 others stay, the one the
	// link pointed at first (the rollback target), then the newest.
	var others []Installed
	for _, in := range st.Installed {
		if in.Name != "go-"+tc.Version {
			others = append(others, in)
		}
	}
	sort.SliceStable(others, func(i, j int) bool {
		pi := tc.InstallRoot+"/"+others[i].Name == s.From
		pj := tc.InstallRoot+"/"+others[j].Name == s.From
		if pi != pj {
			return pi
		}
		return lessVersion(others[j].Version, others[i].Version)
	})
	for i, in := range others {
		if i >= tc.Keep-1 {
			s.Remove = append(s.Remove, in.Name)
		}
	}
	sort.Slice(s.Remove, func(i, j int) bool { return lessVersion(st.versionOf(s.Remove[i]), st.versionOf(s.Remove[j])) })
	return s, nil
}

func (st State) versionOf(name string) string {
	for _, in := range st.Installed {
		if in.Name == name {
			return in.Version
		}
	}
	return ""
}

// display shortens a link target inside install_root to its name.
func (tc *Toolchain) display(target string) string {
	if path.Dir(target) == tc.InstallRoot {
		return path.Base(target)
	}
	return target
}

// Diff implements resources.Resource.
func (tc *Toolchain) Diff(h *resources.Host, probe []byte) (resources.Change, error) {
	p, err := PlatformOf(h.Facts.OS, h.Facts.Arch)
	if err != nil {
		return resources.Change{}, err
	}
	st, err := ParseState(probe)
	if err != nil {
		return resources.Change{}, err
	}
	s, err := tc.Plan(st, p)
	if err != nil {
		return resources.Change{}, err
	}
	return tc.change(st, s, p), nil
}

func (tc *Toolchain) change(st State, s *Steps, p Platform) resources.Change {
	head := fmt.Sprintf("%s at %s (%s)", tc.GoVersion(), tc.Link, p)
	if s.Empty() {
		return resources.Change{Action: resources.NoOp, Summary: head}
	}
	var parts, notes []string
	switch {
	case s.Reinstall != "":
		parts = append(parts, "reinstall: "+s.Reinstall)
		notes = append(notes, tc.sourceNote(p))
		notes = append(notes, s.Details...)
	case s.Install:
		parts = append(parts, "install "+tc.Version)
		notes = append(notes, tc.sourceNote(p))
		if s.Replace != "" {
			notes = append(notes, s.Replace+": it is reinstalled from a fresh copy")
		}
	}
	if s.WriteEnv && !s.Install {
		parts = append(parts, "write go.env")
	}
	if s.Switch {
		if s.From == "" {
			parts = append(parts, fmt.Sprintf("create link %s → %s", path.Base(tc.Link), path.Base(tc.Dir())))
		} else {
			parts = append(parts, fmt.Sprintf("switch link %s → %s", tc.display(s.From), path.Base(tc.Dir())))
		}
	}
	if len(s.Remove) > 0 {
		parts = append(parts, fmt.Sprintf("remove %s (keep=%d)", strings.Join(s.Remove, ", "), tc.Keep))
	}
	for _, t := range s.CleanTemps {
		notes = append(notes, fmt.Sprintf("remove %s/%s, left by an interrupted apply", tc.InstallRoot, t))
	}
	if len(parts) == 0 {
		parts = append(parts, "clean up")
	}
	ch := resources.Change{Action: resources.Update, Summary: head + ": " + strings.Join(parts, ", "), Notes: notes}
	if st.LinkKind == linkAbsent && len(st.Installed) == 0 {
		ch.Action = resources.Create
	}
	if s.WriteEnv {
		want := tc.renderEnv()
		to := tc.Dir() + "/go.env"
		switch {
		case !s.Install && st.DirEnv.Regular:
			ch.Diff = resources.Unified(to, to, st.DirEnv.Content, want)
		case s.From != "" && st.LiveEnv.Regular:
			ch.Diff = resources.Unified(s.From+"/go.env", to, st.LiveEnv.Content, want)
		default:
			ch.Diff = resources.Unified("/dev/null", to, nil, want)
		}
		if !s.Install && st.DirEnv.Regular && bytes.Equal(st.DirEnv.Content, want) {
			ch.Notes = append(ch.Notes, fmt.Sprintf("go.env: mode %04o, owner %d:%d → 0644 root:root", st.DirEnv.Mode, st.DirEnv.UID, st.DirEnv.GID))
		}
	}
	return ch
}

func (tc *Toolchain) sourceNote(p Platform) string {
	switch tc.Source {
	case SourceProxy:
		return fmt.Sprintf("from golang.org/toolchain@%s via GOPROXY, verified against the checksum database; streamed from the controller", ModuleVersion(tc.GoVersion(), p))
	case SourceDL:
		n := fmt.Sprintf("from %s%s, sha256 %s", tc.Mirror, ArchiveName(tc.GoVersion(), p), shortSum(tc.sha256For(p)))
		if tc.Signature {
			n += " and OpenPGP signature"
		}
		if tc.Fetch == FetchHost {
			return n + "; downloaded by the host"
		}
		return n + "; checked and streamed from the controller"
	}
	return fmt.Sprintf("from %s on the controller, sha256 %s", tc.Path, shortSum(tc.sha256For(p)))
}

func shortSum(s string) string {
	if len(s) > 12 {
		return s[:12] + "…"
	}
	if s == "" {
		return "(none for this platform)"
	}
	return s
}

// sha256For is the pinned checksum of p's archive ("" if none).
func (tc *Toolchain) sha256For(p Platform) string {
	if s, ok := tc.SHA256[p.ArchiveKey()]; ok {
		return s
	}
	if s, ok := tc.SHA256[p.Key()]; ok {
		return s
	}
	return tc.SHA256[""]
}

// Go's defaults, as every go1.21+ distribution ships them in go.env.
var envDefaults = map[string]string{
	"GOPROXY":     "https://proxy.golang.org,direct",
	"GOSUMDB":     "sum.golang.org",
	"GOTOOLCHAIN": "auto",
}

// renderEnv is the desired $GOROOT/go.env: Go's shipped defaults with env
// on top, sorted, so the same config always yields the same bytes.
func (tc *Toolchain) renderEnv() []byte {
	m := map[string]string{}
	for k, v := range envDefaults {
		m[k] = v
	}
	for k, v := range tc.Env {
		m[k] = v
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Managed by goprov (%s). Local edits are overwritten on the next apply.\n", tc.Address)
	b.WriteString("# Defaults of the go command of this toolchain; `go env -w` and the\n# environment override them.\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, m[k])
	}
	return b.Bytes()
}
