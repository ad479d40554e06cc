package gotoolchain

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/goprov/goprov/internal/ci"

	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/transport"
)

// fakeArchive is an official-layout archive whose bin/go is a script that
// prints `go version` as a real one would (printed = "" for the truth).
func fakeArchive(t *testing.T, version, printed string) (string, string) {
	t.Helper()
	if printed == "" {
		printed = fmt.Sprintf("go version go%s linux/%s", version, runtime.GOARCH)
	}
	return writeTarGz(t, []entry{
		{name: "go/", typ: '5', mode: 0o755},
		{name: "go/VERSION", body: "go" + version + "\ntime 2024-06-27T20:11:12Z\n"},
		{name: "go/go.env", body: "GOPROXY=https://proxy.golang.org,direct\nGOSUMDB=sum.golang.org\nGOTOOLCHAIN=auto\n"},
		{name: "go/bin/go", body: "#!/bin/sh\necho '" + printed + "'\n", mode: 0o755},
		{name: "go/src/fmt/print.go", body: "package fmt\n"},
	})
}

// localHost is an image-style host: commands run here, paths under root.
func localHost(t *testing.T) *resources.Host {
	t.Helper()
	ci.RequireRoot(t, "applies to a local root dir chown root:root (go.env)")
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	root := t.TempDir()
	// A shell for the fake bin/go's "#!/bin/sh": the machine's static busybox.
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/sh"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	return &resources.Host{Name: "local", Root: root, T: transport.NewLocalRoot(root), Facts: resources.Facts{OS: "linux", Arch: runtime.GOARCH}}
}

// hostPath is where the image path p lives on this machine.
func hostPath(h *resources.Host, p string) string { return filepath.Join(h.Root, p) }

func (tc *Toolchain) planOn(t *testing.T, h *resources.Host) resources.Change {
	t.Helper()
	res, err := h.Run(context.Background(), transport.Cmd{Script: tc.Probe(h), Sudo: true})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("probe: %v %s", err, res.Stderr)
	}
	ch, err := tc.Diff(h, res.Stdout)
	if err != nil {
		t.Fatalf("diff: %v", err)
	}
	return ch
}

func fileToolchain(t *testing.T, version, archive, sum string, extra string) *Toolchain {
	return mustDecode(t, fmt.Sprintf("version = %q\nsource = \"file\"\npath = %q\nsha256 = %q\nenv = { GOTOOLCHAIN = \"local\" }\n%s", version, archive, sum, extra))
}

func listRoot(t *testing.T, h *resources.Host) []string {
	t.Helper()
	ents, err := os.ReadDir(hostPath(h, "/usr/local"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func linkOf(t *testing.T, h *resources.Host) string {
	t.Helper()
	l, err := os.Readlink(hostPath(h, "/usr/local/go"))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// The whole apply path (stream, go.env, switch, keep) on a local image
// root, with fake toolchains: fast, and the same scripts the lab runs.
func TestApplyLocalRoot(t *testing.T) {
	h := localHost(t)
	ctx := context.Background()
	a5, s5 := fakeArchive(t, "1.22.5", "")
	a4, s4 := fakeArchive(t, "1.22.4", "")
	a3, s3 := fakeArchive(t, "1.22.3", "")

	tc5 := fileToolchain(t, "1.22.5", a5, s5, "")
	ch := tc5.planOn(t, h)
	if ch.Action != resources.Create || !strings.Contains(ch.Summary, "install 1.22.5, create link go → go-1.22.5") {
		t.Fatalf("fresh plan: %+v", ch)
	}
	if err := tc5.Apply(ctx, h, ch); err != nil {
		t.Fatal(err)
	}
	if l := linkOf(t, h); l != "/usr/local/go-1.22.5" {
		t.Errorf("link → %s", l)
	}
	env, _ := os.ReadFile(hostPath(h, "/usr/local/go-1.22.5/go.env"))
	if !strings.Contains(string(env), "GOTOOLCHAIN=local\n") || !strings.HasPrefix(string(env), "# Managed by goprov") {
		t.Errorf("go.env:\n%s", env)
	}
	if fi, err := os.Stat(hostPath(h, "/usr/local/go-1.22.5/bin/go")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("bin/go: %v %v", fi, err)
	}
	if ch := tc5.planOn(t, h); ch.Action != resources.NoOp {
		t.Fatalf("second plan not empty: %+v", ch)
	}

	// Switch to another version, then a third with keep=2: the previous
	// link target stays (rollback), the other goes.
	tc4 := fileToolchain(t, "1.22.4", a4, s4, "")
	ch = tc4.planOn(t, h)
	if !strings.Contains(ch.Summary, "install 1.22.4, switch link go-1.22.5 → go-1.22.4") || strings.Contains(ch.Summary, "remove") {
		t.Fatalf("plan 1.22.4: %s", ch.Summary)
	}
	if err := tc4.Apply(ctx, h, ch); err != nil {
		t.Fatal(err)
	}
	tc3 := fileToolchain(t, "1.22.3", a3, s3, "keep = 2")
	ch = tc3.planOn(t, h)
	if !strings.Contains(ch.Summary, "install 1.22.3, switch link go-1.22.4 → go-1.22.3, remove go-1.22.5 (keep=2)") {
		t.Fatalf("plan 1.22.3: %s", ch.Summary)
	}
	if err := tc3.Apply(ctx, h, ch); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(listRoot(t, h), " "); got != "go go-1.22.3 go-1.22.4" {
		t.Errorf("install root holds %q", got)
	}

	// Back to an installed version: a switch only, nothing fetched (the
	// archive path is gone, so a fetch would fail).
	os.Remove(a4)
	ch = tc4.planOn(t, h)
	if ch.Summary != fmt.Sprintf("go1.22.4 at /usr/local/go (linux/%s): switch link go-1.22.3 → go-1.22.4", runtime.GOARCH) {
		t.Fatalf("plan back: %q", ch.Summary)
	}
	if err := tc4.Apply(ctx, h, ch); err != nil {
		t.Fatal(err)
	}
	if l := linkOf(t, h); l != "/usr/local/go-1.22.4" {
		t.Errorf("link → %s", l)
	}

	// Failures leave link and versions exactly as they were.
	before := strings.Join(listRoot(t, h), " ")
	bad, sbad := fakeArchive(t, "1.22.6", "go version go1.22.6-evil linux/"+runtime.GOARCH)
	tcBad := fileToolchain(t, "1.22.6", bad, sbad, "")
	err := tcBad.Apply(ctx, h, tcBad.planOn(t, h))
	if err == nil || !strings.Contains(err.Error(), "expected \"go version go1.22.6 linux/") {
		t.Errorf("wrong go version: %v", err)
	}
	// A valid archive that is not the pinned one, and a corrupted one.
	_, sum := fakeArchive(t, "1.22.7", "")
	other, _ := fakeArchive(t, "1.22.7", "go version go1.22.7 linux/"+runtime.GOARCH+" ")
	tcT := fileToolchain(t, "1.22.7", other, sum, "")
	if err := tcT.Apply(ctx, h, tcT.planOn(t, h)); err == nil || !strings.Contains(err.Error(), "checksum mismatch") || !strings.Contains(err.Error(), "nothing was changed") {
		t.Errorf("substituted archive: %v", err)
	}
	corrupt, sumC := fakeArchive(t, "1.22.8", "")
	b, _ := os.ReadFile(corrupt)
	b[len(b)/2] ^= 1
	os.WriteFile(corrupt, b, 0o644)
	tcC := fileToolchain(t, "1.22.8", corrupt, sumC, "")
	if err := tcC.Apply(ctx, h, tcC.planOn(t, h)); err == nil || !strings.Contains(err.Error(), "nothing was changed") {
		t.Errorf("corrupted archive: %v", err)
	}
	if got := strings.Join(listRoot(t, h), " "); got != before {
		t.Errorf("after failures the install root holds %q, want %q", got, before)
	}
	if l := linkOf(t, h); l != "/usr/local/go-1.22.4" {
		t.Errorf("after failures link → %s", l)
	}

	// A work dir left by an interrupted apply is planned for removal.
	os.Mkdir(hostPath(h, "/usr/local/.goprov-go-tmp-1.22.9-0123456789ab"), 0o700)
	ch = tc4.planOn(t, h)
	if ch.Action != resources.Update || !strings.Contains(strings.Join(ch.Notes, " "), "left by an interrupted apply") {
		t.Fatalf("leftover: %+v", ch)
	}
	if err := tc4.Apply(ctx, h, ch); err != nil {
		t.Fatal(err)
	}
	if ch := tc4.planOn(t, h); ch.Action != resources.NoOp {
		t.Errorf("after cleanup: %+v", ch)
	}
	if _, err := os.Stat(filepath.Join(h.Root, "usr/local/.goprov-go-tmp-1.22.9-0123456789ab")); !os.IsNotExist(err) {
		t.Errorf("leftover still there: %v", err)
	}
}

// Paths full of shell syntax are quoted and inert in every script.
func TestApplyHostilePaths(t *testing.T) {
	h := localHost(t)
	ctx := context.Background()
	a, sum := fakeArchive(t, "1.22.5", "")
	marker := filepath.Join(t.TempDir(), "pwned")
	root := "/opt/it's $(touch " + marker + ") `touch " + marker + "` ; x"
	tc := fileToolchain(t, "1.22.5", a, sum, fmt.Sprintf("install_root = %q\nlink = %q\nkeep = 1", root, root+"/go \" link"))
	ch := tc.planOn(t, h)
	if ch.Action != resources.Create {
		t.Fatalf("plan: %+v", ch)
	}
	if err := tc.Apply(ctx, h, ch); err != nil {
		t.Fatal(err)
	}
	if ch := tc.planOn(t, h); ch.Action != resources.NoOp {
		t.Errorf("second plan: %+v", ch)
	}
	if l, err := os.Readlink(hostPath(h, root+"/go \" link")); err != nil || l != root+"/go-1.22.5" {
		t.Errorf("link: %q %v", l, err)
	}
	a4, s4 := fakeArchive(t, "1.22.4", "")
	tc4 := fileToolchain(t, "1.22.4", a4, s4, fmt.Sprintf("install_root = %q\nlink = %q\nkeep = 1", root, root+"/go \" link"))
	if err := tc4.Apply(ctx, h, tc4.planOn(t, h)); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(hostPath(h, root)); len(ents) != 2 {
		t.Errorf("install root after keep=1: %v", ents)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a path was executed as shell")
	}
}

// A stream that ends without the sentinel (the archive changed on the
// controller after it was verified, or the stream was cut) is discarded by
// the host: no work dir, no version, link untouched.
func TestStreamWithoutSentinelIsDiscarded(t *testing.T) {
	h := localHost(t)
	ctx := context.Background()
	a, sum := fakeArchive(t, "1.22.5", "")
	tc := fileToolchain(t, "1.22.5", a, sum, "")
	if err := tc.Apply(ctx, h, tc.planOn(t, h)); err != nil {
		t.Fatal(err)
	}
	b4, s4 := fakeArchive(t, "1.22.4", "")
	// Verified as s4, but what is on disk when it streams is another file.
	art := &Artifact{Kind: "tgz", File: a, Hash: s4, Files: 4, Origin: b4}
	p := Platform{"linux", runtime.GOARCH}
	tc4 := fileToolchain(t, "1.22.4", b4, s4, "")
	_, err := tc4.streamInstall(ctx, h, p, "/usr/local/.goprov-go-tmp-1.22.4-test", art)
	if err == nil || !strings.Contains(err.Error(), "failed verification while streaming, the host discarded it") {
		t.Fatalf("stream of a changed archive: %v", err)
	}
	t.Logf("changed archive: %v", err)
	if got := strings.Join(listRoot(t, h), " "); got != "go go-1.22.5" {
		t.Errorf("install root holds %q", got)
	}
	// A stream cut short (here: the tar ends early) fails the same way.
	art = &Artifact{Kind: "tgz", File: a, Hash: sum, Files: 4}
	cut := &cutStream{art: art, limit: 2048}
	if err := tc.runCut(ctx, h, p, cut); err == nil {
		t.Fatal("a stream cut short was accepted")
	} else {
		t.Logf("cut stream: %v", err)
	}
	if got := strings.Join(listRoot(t, h), " "); got != "go go-1.22.5" {
		t.Errorf("after a cut stream the install root holds %q", got)
	}
}

type cutStream struct {
	art   *Artifact
	limit int64
}

// runCut runs the install script with only the first bytes of the stream.
func (tc *Toolchain) runCut(ctx context.Context, h *resources.Host, p Platform, c *cutStream) error {
	var buf strings.Builder
	c.art.Stream(&buf)
	s := buf.String()[:c.limit]
	return run(ctx, h, tc.streamScript(h, p, "/usr/local/.goprov-go-tmp-cut", c.art), strings.NewReader(s), "install")
}

// On an image host the link's absolute target is resolved inside the
// image, never in the controller's own /usr/local.
func TestLiveEnvInsideImageRoot(t *testing.T) {
	h := localHost(t)
	ctx := context.Background()
	a, sum := fakeArchive(t, "1.22.4", "")
	tc := fileToolchain(t, "1.22.4", a, sum, "")
	if err := tc.Apply(ctx, h, tc.planOn(t, h)); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(hostPath(h, "/usr/local/go-1.22.4/go.env"), []byte("GOFLAGS=-from-the-image\n"), 0o644)
	tc5 := fileToolchain(t, "1.22.5", a, sum, "")
	ch := tc5.planOn(t, h)
	if !strings.Contains(ch.Diff, "-GOFLAGS=-from-the-image") || !strings.Contains(ch.Diff, "--- /usr/local/go-1.22.4/go.env") {
		t.Errorf("go.env diff does not start from the image's live go.env:\n%s", ch.Diff)
	}
}

// Apply does what the plan showed or nothing.
func TestApplyRefusesAChangedHost(t *testing.T) {
	h := localHost(t)
	a, sum := fakeArchive(t, "1.22.5", "")
	tc := fileToolchain(t, "1.22.5", a, sum, "keep = 1")
	ch := tc.planOn(t, h)
	os.MkdirAll(hostPath(h, "/usr/local/go-1.21.0/bin"), 0o755) // appears after the plan
	err := tc.Apply(context.Background(), h, ch)
	if err == nil || !strings.Contains(err.Error(), "the host changed since it was read") {
		t.Fatalf("apply on a changed host: %v", err)
	}
	if got := strings.Join(listRoot(t, h), " "); got != "go-1.21.0" {
		t.Errorf("install root holds %q", got)
	}
}

// The integrity records on an image root, with the real probe: a tampered
// file is a reinstall, a hostile manifest is refused (never followed), and
// a reinstall brings the plan back to empty.
func TestIntegrityLocalRoot(t *testing.T) {
	h := localHost(t)
	ctx := context.Background()
	a, s := fakeArchive(t, "1.22.5", "")
	tc := fileToolchain(t, "1.22.5", a, s, "")
	all := fileToolchain(t, "1.22.5", a, s, `verify = "all"`)
	if err := tc.Apply(ctx, h, tc.planOn(t, h)); err != nil {
		t.Fatal(err)
	}
	dir := hostPath(h, "/usr/local/go-1.22.5")
	mf, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%s  VERSION\n%s  bin/go\n%s  src/fmt/print.go\n", sum("go1.22.5\ntime 2024-06-27T20:11:12Z\n"),
		sum(fmt.Sprintf("#!/bin/sh\necho 'go version go1.22.5 linux/%s'\n", runtime.GOARCH)), sum("package fmt\n")); string(mf) != want {
		t.Errorf("manifest:\n%s\nwant\n%s", mf, want)
	}
	for _, c := range []*Toolchain{tc, all} {
		if ch := c.planOn(t, h); ch.Action != resources.NoOp {
			t.Fatalf("verify = %s after install: %s", c.Verify, ch.Summary)
		}
	}

	// A source file edited: only the full check sees it; apply reinstalls.
	os.WriteFile(filepath.Join(dir, "src/fmt/print.go"), []byte("package fmt // planted\n"), 0o644)
	if ch := tc.planOn(t, h); ch.Action != resources.NoOp {
		t.Errorf("verify = executables: %s", ch.Summary)
	}
	ch := all.planOn(t, h)
	if !strings.HasSuffix(ch.Summary, ": reinstall: src/fmt/print.go differs") {
		t.Fatalf("verify = all: %s", ch.Summary)
	}
	if err := all.Apply(ctx, h, ch); err != nil {
		t.Fatal(err)
	}
	if ch := all.planOn(t, h); ch.Action != resources.NoOp {
		t.Fatalf("after the reinstall: %s %q", ch.Summary, ch.Notes)
	}
	if got := strings.Join(listRoot(t, h), " "); got != "go go-1.22.5" {
		t.Errorf("install root holds %q", got)
	}

	// A hostile manifest that names a file outside the tree, with the
	// record rewritten to match it: refused, and a reinstall.
	evil := []byte(sum("x") + "  ../../../etc/shadow\n")
	rec, _ := os.ReadFile(filepath.Join(dir, ProvenanceName))
	var p Provenance
	if err := json.Unmarshal(rec, &p); err != nil {
		t.Fatal(err)
	}
	p.ManifestSHA256 = sum(string(evil))
	rec, _ = json.Marshal(p)
	os.WriteFile(filepath.Join(dir, ManifestName), evil, 0o644)
	os.WriteFile(filepath.Join(dir, ProvenanceName), rec, 0o644)
	ch = all.planOn(t, h)
	if !strings.Contains(ch.Summary, "reinstall: "+ManifestName+" is unreadable") || !strings.Contains(ch.Summary, "escapes the tree") {
		t.Errorf("hostile manifest: %s", ch.Summary)
	}
	// The bin/go swapped for a symlink to another executable of the
	// image: not a regular file, and missing as recorded.
	os.MkdirAll(hostPath(h, "/opt"), 0o755)
	os.WriteFile(hostPath(h, "/opt/fake-go"), []byte("#!/bin/sh\n"), 0o755)
	os.Remove(filepath.Join(dir, "bin/go"))
	os.Symlink("/opt/fake-go", filepath.Join(dir, "bin/go"))
	ch = tc.planOn(t, h)
	if !strings.Contains(ch.Summary, "reinstall: bin/go is not a regular file") {
		t.Errorf("bin/go a symlink: %s %q", ch.Summary, ch.Notes)
	}
	if err := tc.Apply(ctx, h, ch); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Toolchain{tc, all} {
		if ch := c.planOn(t, h); ch.Action != resources.NoOp {
			t.Errorf("verify = %s after the reinstall: %s", c.Verify, ch.Summary)
		}
	}
}
