package gotoolchain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/goprov/goprov/internal/shell"
	"github.com/goprov/goprov/resources"
)

// Integrity records. Each installed tree holds, next to VERSION, its
// provenance (where it came from and how it was verified) and a manifest of
// every file's SHA-256 in `sha256sum` format. Dot names in GOROOT's top
// directory are ignored by the go command. Both are written into the work
// dir before it is renamed into place, so a tree and its records appear
// together. go.env is left out of the manifest: goprov manages it itself.
const (
	ProvenanceName = ".goprov-provenance.json"
	ManifestName   = ".goprov-manifest.sha256"

	// Verify modes (attribute verify).
	VerifyExecutables = "executables"
	VerifyAll         = "all"

	provenanceFormat = 1
)

// Bounds on what the host may send back: the records are host files, so
// untrusted. A go1.22 manifest is ≈ 1 MB for 9,500 files.
const (
	maxProvenance    = 64 << 10
	maxManifest      = 8 << 20
	maxListing       = 16 << 20
	maxManifestFiles = 100000
)

// Provenance is the record written at install as ProvenanceName.
type Provenance struct {
	Format    int    `json:"format"`
	Resource  string `json:"resource"`
	Version   string `json:"version"`  // "1.22.5"
	Platform  string `json:"platform"` // "linux/amd64"
	Source    string `json:"source"`   // proxy | dl | file
	Origin    string `json:"origin"`   // module@version, archive URL (no credentials) or controller path
	ModuleSum string `json:"module_sum,omitempty"`
	// ArchiveSHA256 is the verified archive's checksum (dl, file).
	ArchiveSHA256 string `json:"archive_sha256,omitempty"`
	// Signature is "verified" (OpenPGP, gpgv on the controller) or "none".
	Signature string `json:"signature"`
	// CheckedBy is where the archive's hash was checked: controller or host.
	CheckedBy      string            `json:"checked_by"`
	InstalledAt    string            `json:"installed_at"`
	Files          int               `json:"files"`
	ManifestSHA256 string            `json:"manifest_sha256"`
	Executables    map[string]string `json:"executables"` // bin/…, pkg/tool/… => sha256
}

var (
	hex64Re     = regexp.MustCompile(`^[0-9a-f]{64}$`)
	moduleSumRe = regexp.MustCompile(`^h1:[A-Za-z0-9+/]{43}=$`)
	// GOOS/GOARCH as `go version` prints it.
	goPlatformRe = regexp.MustCompile(`^[a-z0-9]+/[a-z0-9]+$`)
)

// isExecutable: the files every plan re-hashes (what runs when go runs).
func isExecutable(rel string) bool {
	return strings.HasPrefix(rel, "bin/") || strings.HasPrefix(rel, "pkg/tool/")
}

// excluded are the top-level names the manifest does not cover.
func excluded(rel string) bool {
	return rel == "go.env" || rel == ProvenanceName || rel == ManifestName
}

// ParseProvenance reads a record strictly: bounded, known fields only, one
// JSON object, every field well-formed.
func ParseProvenance(b []byte) (*Provenance, error) {
	if len(b) > maxProvenance {
		return nil, fmt.Errorf("larger than %d bytes", maxProvenance)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p Provenance
	if err := dec.Decode(&p); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	switch {
	case p.Format != provenanceFormat:
		return nil, fmt.Errorf("format %d, want %d", p.Format, provenanceFormat)
	case !versionRe.MatchString(p.Version):
		return nil, fmt.Errorf("bad version %q", p.Version)
	case !goPlatformRe.MatchString(p.Platform):
		return nil, fmt.Errorf("bad platform %q", p.Platform)
	case p.Source != SourceProxy && p.Source != SourceDL && p.Source != SourceFile:
		return nil, fmt.Errorf("bad source %q", p.Source)
	case p.ModuleSum != "" && !moduleSumRe.MatchString(p.ModuleSum):
		return nil, fmt.Errorf("bad module_sum %q", p.ModuleSum)
	case p.ArchiveSHA256 != "" && !hex64Re.MatchString(p.ArchiveSHA256):
		return nil, fmt.Errorf("bad archive_sha256 %q", p.ArchiveSHA256)
	case p.Signature != "verified" && p.Signature != "none":
		return nil, fmt.Errorf("bad signature %q", p.Signature)
	case p.CheckedBy != FetchController && p.CheckedBy != FetchHost:
		return nil, fmt.Errorf("bad checked_by %q", p.CheckedBy)
	case !hex64Re.MatchString(p.ManifestSHA256):
		return nil, fmt.Errorf("bad manifest_sha256 %q", p.ManifestSHA256)
	case p.Files < 1 || p.Files > maxManifestFiles:
		return nil, fmt.Errorf("bad file count %d", p.Files)
	case len(p.Executables) == 0:
		return nil, errors.New("no executables recorded")
	}
	for rel, sum := range p.Executables {
		if err := checkRel(rel); err != nil || !isExecutable(rel) || !hex64Re.MatchString(sum) {
			return nil, fmt.Errorf("bad executables entry %q", rel)
		}
	}
	return &p, nil
}

// ParseManifest reads `sha256sum` lines ("HASH  path\n") strictly: bounded
// size and count, clean relative paths inside the tree (no "..", no
// absolute path), no duplicates.
func ParseManifest(b []byte) (map[string]string, error) {
	if len(b) > maxManifest {
		return nil, fmt.Errorf("larger than %d bytes", maxManifest)
	}
	if len(b) == 0 || b[len(b)-1] != '\n' {
		return nil, errors.New("empty, or the last line is not terminated")
	}
	m := map[string]string{}
	for i, line := range strings.Split(string(b[:len(b)-1]), "\n") {
		sum, rel, ok := strings.Cut(line, "  ")
		if !ok || !hex64Re.MatchString(sum) {
			return nil, fmt.Errorf("line %d: not \"SHA256  path\"", i+1)
		}
		if err := checkRel(rel); err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		if excluded(rel) {
			return nil, fmt.Errorf("line %d: %s is not part of the manifest", i+1, rel)
		}
		if _, dup := m[rel]; dup {
			return nil, fmt.Errorf("line %d: %s listed twice", i+1, rel)
		}
		if len(m) == maxManifestFiles {
			return nil, fmt.Errorf("more than %d files", maxManifestFiles)
		}
		m[rel] = sum
	}
	return m, nil
}

// RenderManifest is the canonical manifest text: sorted by path (byte
// order, as `LC_ALL=C sort`), `sha256sum -c` format.
func RenderManifest(m map[string]string) []byte {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	var b bytes.Buffer
	for _, n := range names {
		fmt.Fprintf(&b, "%s  %s\n", m[n], n)
	}
	return b.Bytes()
}

// Listing is the tree as the probe (or an install script) hashed it.
type Listing struct {
	Files map[string]string // regular files: path => sha256
	Other []string          // entries that are neither files nor directories
	Odd   []string          // lines with names that cannot be real paths of a tree
	Full  bool              // too large: truncated by the host
}

// ParseListing reads `sha256sum` output followed by "other NAME" lines.
// It never fails: anything unexpected is a finding, reported as such.
func ParseListing(b []byte) Listing {
	l := Listing{Files: map[string]string{}, Full: len(b) >= maxListing}
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if line == "" {
			continue
		}
		if rel, ok := strings.CutPrefix(line, "other "); ok {
			l.Other = append(l.Other, printable(rel))
			continue
		}
		sum, rel, ok := strings.Cut(line, "  ")
		if !ok || !hex64Re.MatchString(sum) || checkRel(rel) != nil {
			l.Odd = append(l.Odd, printable(line))
			continue
		}
		l.Files[rel] = sum
	}
	return l
}

// printable bounds and neutralises a host-provided name for messages.
func printable(s string) string {
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// listingScript hashes the tree under dir (host path): the executables
// only, or every file but the excluded names. Names are printed relative
// to the tree ("bin/go"); the output is bounded.
func listingScript(dir string, all bool) string {
	where, filter := "bin pkg/tool", ""
	if all {
		where = "."
		filter = ` ! -path ./go.env ! -path ./` + ProvenanceName + ` ! -path ./` + ManifestName
	}
	return fmt.Sprintf(`d=%s
[ -d "$d" ] && [ ! -L "$d" ] && cd -P -- "$d" || exit 0
{ find %s -type f%s -exec sha256sum -- {} + 2>/dev/null | `+stripDot+` | LC_ALL=C sort
  find %s ! -type f ! -type d -print0 2>/dev/null | tr '\n\0' '?\n' | sed -e 's|^\./||' -e 's/^/other /'
} | head -c %d`, shell.Quote(dir), where, filter, where, maxListing)
}

// boundedFileProbe is FileProbe with the content capped at max+1 bytes
// (one more than allowed, so "too large" is visible).
func boundedFileProbe(p string, max int) string {
	return fmt.Sprintf(`f=%s
if [ -L "$f" ]; then printf 'symlink\n'
elif [ -f "$f" ]; then printf 'file %%s\n' "$(stat -c '%%a %%u %%g' -- "$f")" && head -c %d -- "$f"
elif [ -e "$f" ]; then printf 'other\n'
else printf 'absent\n'; fi`, shell.Quote(p), max+1)
}

// manifestScript prints the manifest of the tree in the current
// directory, as the install scripts and `sha256sum -c` see it.
const manifestScript = `find . -type f ! -path ./go.env ! -path ./` + ProvenanceName + ` ! -path ./` + ManifestName + ` -exec sha256sum -- {} + | ` + stripDot + ` | LC_ALL=C sort`

// stripDot turns sha256sum's "HASH  ./bin/go" into "HASH  bin/go". The
// scripts use only what POSIX find and busybox offer (no -printf, no
// sort -z): image roots without a shell of their own run busybox.
const stripDot = `sed 's|^\([0-9a-f]\{64\}\)  \./|\1  |'`

// problem is one finding about the installed tree.
type problem struct{ rel, what string }

// compareFiles lists how the tree's files differ from the recorded ones.
// Only recorded paths for which in(path) holds are compared.
func compareFiles(want map[string]string, l Listing, in func(string) bool) []problem {
	var ps []problem
	other := map[string]bool{}
	for _, o := range l.Other {
		other[o] = true
	}
	for rel, sum := range want {
		if !in(rel) {
			continue
		}
		switch got, ok := l.Files[rel]; {
		case !ok && other[rel]: // said once, below
		case !ok:
			ps = append(ps, problem{rel, "missing"})
		case got != sum:
			ps = append(ps, problem{rel, "differs"})
		}
	}
	for rel := range l.Files {
		if _, ok := want[rel]; !ok && in(rel) {
			ps = append(ps, problem{rel, "not in the manifest"})
		}
	}
	for _, o := range l.Other {
		ps = append(ps, problem{o, "is not a regular file"})
	}
	for _, o := range l.Odd {
		ps = append(ps, problem{o, "has an impossible name"})
	}
	if l.Full {
		ps = append(ps, problem{"the tree", fmt.Sprintf("lists more than %d bytes of files", maxListing)})
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].rel < ps[j].rel })
	return ps
}

// integrity checks the installed go-VERSION against its records and the
// declared pins. It returns "" when the tree can be relied on, else a short
// reason for the summary and notes with the details. Pure.
func (tc *Toolchain) integrity(st State, p Platform) (string, []string) {
	name := "go-" + tc.Version
	rec := st.Provenance
	switch {
	case !rec.Exists:
		return "no provenance record", []string{fmt.Sprintf("%s has no provenance record or manifest (installed by an older goprov, or by hand): it is reinstalled from a verified copy so its files can be checked from now on", name)}
	case !rec.Regular || rec.UID != 0 || rec.Mode&0o022 != 0:
		return "provenance record not trusted", []string{fmt.Sprintf("%s/%s is not a regular file owned by root and writable only by it", name, ProvenanceName)}
	}
	prov, err := ParseProvenance(rec.Content)
	if err != nil {
		return "provenance record unreadable", []string{fmt.Sprintf("%s/%s: %s", name, ProvenanceName, printable(err.Error()))}
	}
	if reason := tc.pinMismatch(prov, p); reason != "" {
		return reason, []string{fmt.Sprintf("the recorded provenance of %s does not satisfy the declared source, pin or signature", name)}
	}
	ps := compareFiles(prov.Executables, st.Listing, isExecutable)
	if tc.Verify == VerifyAll && len(ps) == 0 {
		ps = tc.compareManifest(st, prov)
	}
	if len(ps) == 0 {
		return "", nil
	}
	reason := ps[0].rel + " " + ps[0].what
	if len(ps) > 1 {
		reason += fmt.Sprintf(" (and %d more)", len(ps)-1)
	}
	notes := []string{fmt.Sprintf("%s is not the tree that was installed: it is reinstalled from a verified copy into a fresh directory", name)}
	for i, pr := range ps {
		if i == 10 {
			notes = append(notes, fmt.Sprintf("… and %d more", len(ps)-10))
			break
		}
		notes = append(notes, fmt.Sprintf("%s %s", pr.rel, pr.what))
	}
	return reason, notes
}

// compareManifest checks every file (verify = "all").
func (tc *Toolchain) compareManifest(st State, prov *Provenance) []problem {
	mf := st.Manifest
	switch {
	case !mf.Exists:
		return []problem{{ManifestName, "missing"}}
	case !mf.Regular || mf.UID != 0 || mf.Mode&0o022 != 0:
		return []problem{{ManifestName, "is not a root-owned regular file"}}
	case resources.SHA256(mf.Content) != prov.ManifestSHA256:
		return []problem{{ManifestName, "does not match its provenance record"}}
	}
	m, err := ParseManifest(mf.Content)
	if err != nil {
		return []problem{{ManifestName, "is unreadable: " + printable(err.Error())}}
	}
	return compareFiles(m, st.Listing, func(string) bool { return true })
}

// pinMismatch says how a record fails the declared source, pin or
// signature requirement ("" if it satisfies them).
func (tc *Toolchain) pinMismatch(prov *Provenance, p Platform) string {
	switch {
	case prov.Version != tc.Version || prov.Platform != p.String():
		return fmt.Sprintf("provenance record is for go%s %s", prov.Version, prov.Platform)
	case prov.Source != tc.Source:
		return fmt.Sprintf("installed from source %q, declared %q", prov.Source, tc.Source)
	case tc.Source == SourceProxy && (prov.Origin != ToolchainModule+"@"+ModuleVersion(tc.GoVersion(), p) || prov.ModuleSum == ""):
		return "installed from another module version"
	case tc.Source != SourceProxy && prov.ArchiveSHA256 != tc.sha256For(p):
		return fmt.Sprintf("installed from sha256 %s, pinned %s", shortSum(prov.ArchiveSHA256), shortSum(tc.sha256For(p)))
	case tc.Signature && prov.Signature != "verified":
		return "installed without a checked signature, signature = true declared"
	}
	return ""
}

// provenance builds the record of a fresh install.
func (tc *Toolchain) provenance(p Platform, art *Artifact, manifest map[string]string, at string) Provenance {
	rec := Provenance{
		Format: provenanceFormat, Resource: tc.Address, Version: tc.Version, Platform: p.String(),
		Source: tc.Source, Signature: "none", CheckedBy: tc.Fetch, InstalledAt: at,
		Files: len(manifest), ManifestSHA256: resources.SHA256(RenderManifest(manifest)),
		Executables: map[string]string{},
	}
	for rel, sum := range manifest {
		if isExecutable(rel) {
			rec.Executables[rel] = sum
		}
	}
	switch tc.Source {
	case SourceProxy:
		rec.Origin = ToolchainModule + "@" + ModuleVersion(tc.GoVersion(), p)
		if art != nil {
			rec.ModuleSum = art.Hash
		}
	case SourceDL:
		rec.Origin = tc.Mirror + ArchiveName(tc.GoVersion(), p)
		if u, err := url.Parse(rec.Origin); err == nil {
			u.User = nil // a mirror's credentials never land on hosts
			rec.Origin = u.String()
		}
		rec.ArchiveSHA256 = tc.sha256For(p)
	case SourceFile:
		rec.Origin = tc.Path
		rec.ArchiveSHA256 = tc.sha256For(p)
	}
	if tc.Signature {
		rec.Signature = "verified"
	}
	return rec
}

// diffManifests names the first paths where the host's extraction differs
// from what the controller verified.
func diffManifests(want, got map[string]string) error {
	ps := compareFiles(want, Listing{Files: got}, func(string) bool { return true })
	if len(ps) == 0 {
		return nil
	}
	var parts []string
	for i, pr := range ps {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("and %d more", len(ps)-5))
			break
		}
		parts = append(parts, pr.rel+" "+pr.what)
	}
	return fmt.Errorf("the extracted tree differs from the verified archive: %s", strings.Join(parts, ", "))
}
