package gotoolchain

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/planner"
	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/testinfra"

	_ "github.com/goprov/goprov/resources/profilescript"
)

// The two toolchain versions the lab tests download (≈ 73 MB each, kept in
// the Go module cache between runs; scripts/go-toolchain-cache.sh warms it).
const (
	labVersion  = "1.22.5"
	labVersion2 = "1.22.4"
)

const labEnv = `{ GOPROXY = "https://goproxy.example.internal,direct", GOSUMDB = "sum.example.internal", GOTOOLCHAIN = "local" }`

func proxyConfig(version string, keep int) string {
	return fmt.Sprintf(`
resource "go_toolchain" "go" {
  version = %q
  source  = "proxy"
  keep    = %d
  env     = %s
}

resource "profile_script" "go" {
  name         = "go"
  env          = { GOROOT = go_toolchain.go.link }
  path_prepend = ["${go_toolchain.go.link}/bin"]
}
`, version, keep, labEnv)
}

func summaryOf(t *testing.T, p *planner.Plan, host, addr string) string {
	t.Helper()
	c := labtest.Change(p, host, addr)
	if c == nil {
		t.Fatalf("%s: no change for %s", host, addr)
	}
	return c.Summary
}

// installRootListing is what a failed apply must leave exactly as it was.
func installRootListing(t *testing.T, h *testinfra.Host, root, link string) string {
	return h.ShTrim(t, fmt.Sprintf("ls -A %s 2>&1; readlink %s || echo no-link", root, link))
}

// labOpts bounds one plan or apply: a toolchain install streams and hashes
// a 226 MB tree, minutes on a 2-core machine that other test processes
// share; the bound only has to end a hung run.
var labOpts = labtest.Options{Timeout: 10 * time.Minute}

func applyTimes(p *planner.Plan) string {
	var parts []string
	for _, h := range p.Hosts {
		parts = append(parts, fmt.Sprintf("%s %.1fs", h.Name, float64(h.Timings.ApplyMS)/1000))
	}
	return strings.Join(parts, ", ")
}

// TestLab runs every lab scenario on one 3-host lab (no internet on the
// hosts): the proxy source on all hosts, switches under a reader loop,
// keep, a full disk, the dl source against a local mirror (good, tampered,
// badly signed; streamed from the controller and fetched by the host).
func TestLab(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 3})
	inv := labtest.Inventory(lab, testinfra.UserDeploy)
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // the dl cache, fresh for this test

	t.Run("proxy", func(t *testing.T) { labProxy(t, lab, inv) })
	t.Run("disk-full", func(t *testing.T) { labDiskFull(t, lab, inv) })
	t.Run("connection-lost", func(t *testing.T) { labConnectionLost(t, lab, inv) })
	t.Run("dl", func(t *testing.T) { labDL(t, lab, inv) })
}

// The SSH connection dies mid-stream (sshd and the whole session killed,
// so not even the script's trap runs): the link is never created, the
// next plan names the leftover work dir, the next apply removes it and
// installs.
func labConnectionLost(t *testing.T, lab *testinfra.Lab, inv string) {
	h3 := lab.Hosts[2]
	cfg := labtest.Write(t, inv, fmt.Sprintf(`
resource "go_toolchain" "cut" {
  version      = %q
  install_root = "/opt/cut"
  link         = "/opt/cut/go"
}
`, labVersion2))
	onH3 := labtest.Options{Limit: "host.h3", Timeout: labOpts.Timeout}
	done := make(chan *planner.Plan, 1)
	go func() { done <- labtest.Apply(t, cfg, onH3) }()
	// Wait until the stream is well under way on the host.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if n := h3.ShTrim(t, "find /opt/cut -path '*/.goprov-go-tmp-*' -type f 2>/dev/null | head -500 | wc -l"); n == "500" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stream never started on h3")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := h3.KillSSHD(); err != nil {
		t.Fatal(err)
	}
	p := <-done
	if err := h3.StartSSHD(); err != nil {
		t.Fatal(err)
	}
	if hp := labtest.HostPlan(p, "h3"); hp.Status != planner.StatusFailed {
		t.Fatalf("apply with the connection killed mid-stream: %s", hp.Status)
	} else {
		t.Logf("connection lost mid-stream: %s", hp.Error)
	}
	// KillSSHD sends SIGTERM before SIGKILL: the killed apply's trap may
	// still be removing its work dir (9,500 files; slow under load). Let the
	// host settle, then either outcome is right: the work dir is gone, or it
	// is left and the next plan says it will remove it.
	settle := time.Now().Add(time.Minute)
	for h3.ShTrim(t, "pgrep -f '/opt/cut' >/dev/null && echo busy || echo idle") == "busy" && time.Now().Before(settle) {
		time.Sleep(100 * time.Millisecond)
	}
	left := h3.ShTrim(t, "ls -A /opt/cut; readlink /opt/cut/go || echo no-link")
	leftover := strings.HasPrefix(left, ".goprov-go-tmp-1.22.4-")
	if !strings.HasSuffix(left, "no-link") || strings.Count(left, "\n") > 1 || (!leftover && left != "no-link") {
		t.Fatalf("after the cut: %q, want no link and at most the work dir", left)
	}
	p = labtest.Plan(t, cfg, onH3)
	c := labtest.Change(p, "h3", "go_toolchain.cut")
	if !strings.Contains(c.Summary, "install 1.22.4, create link go → go-1.22.4") {
		t.Errorf("plan after the cut: %s", c.Summary)
	}
	if noted := strings.Contains(strings.Join(c.Notes, " "), "left by an interrupted apply"); noted != leftover {
		t.Errorf("plan after the cut (work dir left: %v): notes %q", leftover, c.Notes)
	}
	t.Logf("after the cut the work dir was %s", map[bool]string{true: "left for the next apply to remove", false: "removed by the killed apply's own trap"}[leftover])
	labtest.RequireOK(t, labtest.Apply(t, cfg, onH3))
	labtest.RequireEmpty(t, labtest.Plan(t, cfg, onH3))
	if got := h3.ShTrim(t, "ls -A /opt/cut; /opt/cut/go/bin/go version"); got != "go\ngo-1.22.4\ngo version go1.22.4 linux/amd64" {
		t.Errorf("after the retry: %q", got)
	}
}

// labProxy stays whole: its steps run in order on one host's install root, each on
// the state the one before left.
func labProxy(t *testing.T, lab *testinfra.Lab, inv string) {
	cfg := labtest.Write(t, inv, proxyConfig(labVersion, 2))
	p := labtest.Plan(t, cfg, labOpts)
	labtest.RequireOK(t, p)
	for _, h := range lab.Hosts {
		if s := summaryOf(t, p, h.Name, "go_toolchain.go"); s != "go1.22.5 at /usr/local/go (linux/amd64): install 1.22.5, create link go → go-1.22.5" {
			t.Errorf("%s: plan %q", h.Name, s)
		}
	}
	start := time.Now()
	p = labtest.Apply(t, cfg, labOpts)
	labtest.RequireOK(t, p)
	t.Logf("proxy install of go%s on %d hosts in parallel (verified on the controller, streamed as tar over SSH): %s; per host: %s", labVersion, len(lab.Hosts), time.Since(start).Round(time.Millisecond), applyTimes(p))
	labtest.RequireEmpty(t, labtest.Plan(t, cfg, labOpts))

	// go version and go.env on every host, offline; go run on h1 (it
	// compiles the runtime: ≈ 20 s of this machine's 2 cores per host).
	var wg sync.WaitGroup
	start = time.Now()
	for _, h := range lab.Hosts {
		wg.Add(1)
		go func(h *testinfra.Host) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			out, err := h.MustExec(ctx, `set -e
/usr/local/go/bin/go version
readlink /usr/local/go
stat -c '%a %U' /usr/local/go-1.22.5/bin/go /usr/local/go-1.22.5/pkg/tool/linux_amd64/compile /usr/local/go-1.22.5/go.env
test -f /usr/local/go-1.22.5/src/go.mod && echo src/go.mod
ip route get 192.0.2.1 >/dev/null 2>&1 && echo ONLINE || echo offline
mkdir -p /tmp/hello && cd /tmp/hello
printf 'package main\n\nimport (\n\t"fmt"\n\t"runtime"\n)\n\nfunc main() { fmt.Println("hello from", runtime.Version()) }\n' > hello.go
bash -lc 'cd /tmp/hello && echo "$GOROOT" && command -v go && go env GOPROXY GOSUMDB GOTOOLCHAIN'
if [ "$(hostname)" = h1 ]; then bash -lc 'cd /tmp/hello && GOCACHE=/tmp/gocache go run hello.go'; else echo "hello from go1.22.5"; fi`)
			if err != nil {
				t.Errorf("%s: %v\n%s", h.Name, err, out)
				return
			}
			want := strings.Join([]string{
				"go version go1.22.5 linux/amd64", "/usr/local/go-1.22.5",
				"755 root", "755 root", "644 root", "src/go.mod", "offline",
				"/usr/local/go", "/usr/local/go/bin/go",
				"https://goproxy.example.internal,direct", "sum.example.internal", "local",
				"hello from go1.22.5"}, "\n")
			if got := strings.TrimSpace(out); got != want {
				t.Errorf("%s: got\n%s\nwant\n%s", h.Name, got, want)
			}
		}(h)
	}
	wg.Wait()
	t.Logf("checks and go run hello.go on h1: %s", time.Since(start).Round(time.Millisecond))

	// Switch to another version and back while a reader loop on h1 keeps
	// resolving the link: it must never find it missing.
	h1 := lab.Hosts[0]
	h1.ShTrim(t, `rm -f /tmp/linkwatch.log
nohup sh -c 'prev=; while :; do t=$(readlink /usr/local/go) || { echo MISSING; continue; }; [ "$t" = "$prev" ] || { echo "$t"; prev=$t; }; done' >/tmp/linkwatch.log 2>&1 </dev/null &
echo $! >/tmp/linkwatch.pid`)
	stopWatch := func() string {
		return h1.ShTrim(t, `kill $(cat /tmp/linkwatch.pid); sleep 0.2; cat /tmp/linkwatch.log`)
	}

	cfg2 := labtest.Write(t, inv, proxyConfig(labVersion2, 2))
	p = labtest.Plan(t, cfg2, labOpts)
	labtest.RequireOK(t, p)
	if s := summaryOf(t, p, "h1", "go_toolchain.go"); s != "go1.22.4 at /usr/local/go (linux/amd64): install 1.22.4, switch link go-1.22.5 → go-1.22.4" {
		stopWatch()
		t.Fatalf("plan %s: %q", labVersion2, s)
	}
	if c := labtest.Change(p, "h1", "profile_script.go"); c.Action != resources.NoOp {
		t.Errorf("profile_script changes on a switch: %s", c.Summary)
	}
	start = time.Now()
	p = labtest.Apply(t, cfg2, labOpts)
	labtest.RequireOK(t, p)
	t.Logf("install + switch to go%s on %d hosts: %s; per host: %s", labVersion2, len(lab.Hosts), time.Since(start).Round(time.Millisecond), applyTimes(p))
	labtest.RequireEmpty(t, labtest.Plan(t, cfg2, labOpts))
	if got := h1.ShTrim(t, "/usr/local/go/bin/go version"); got != "go version go1.22.4 linux/amd64" {
		t.Errorf("after switch: %q", got)
	}

	p = labtest.Plan(t, cfg, labOpts)
	if s := summaryOf(t, p, "h2", "go_toolchain.go"); s != "go1.22.5 at /usr/local/go (linux/amd64): switch link go-1.22.4 → go-1.22.5" {
		t.Errorf("plan back: %q", s)
	}
	labtest.RequireOK(t, labtest.Apply(t, cfg, labOpts))
	time.Sleep(200 * time.Millisecond)
	log := stopWatch()
	if log != "/usr/local/go-1.22.5\n/usr/local/go-1.22.4\n/usr/local/go-1.22.5" {
		t.Errorf("reader loop on h1 saw:\n%s\nwant the three targets in order and never MISSING", log)
	}
	labtest.RequireEmpty(t, labtest.Plan(t, cfg, labOpts))

	// keep = 1: the other version goes, never the active one.
	cfg1 := labtest.Write(t, inv, proxyConfig(labVersion, 1))
	p = labtest.Plan(t, cfg1, labOpts)
	if s := summaryOf(t, p, "h3", "go_toolchain.go"); s != "go1.22.5 at /usr/local/go (linux/amd64): remove go-1.22.4 (keep=1)" {
		t.Errorf("plan keep=1: %q", s)
	}
	labtest.RequireOK(t, labtest.Apply(t, cfg1, labOpts))
	labtest.RequireEmpty(t, labtest.Plan(t, cfg1, labOpts))
	for _, h := range lab.Hosts {
		if got := h.ShTrim(t, "ls -A /usr/local | grep go; /usr/local/go/bin/go version"); got != "go\ngo-1.22.5\ngo version go1.22.5 linux/amd64" {
			t.Errorf("%s after keep=1: %q", h.Name, got)
		}
	}
}

// A full disk during extraction: the apply fails, the link and versions
// are untouched and no work dir is left behind. (testinfra's FillDir copies
// the directory through the host's small /run, so the install root here is
// a small one with a stand-in version.)
func labDiskFull(t *testing.T, lab *testinfra.Lab, inv string) {
	h2 := lab.Hosts[1]
	h2.ShTrim(t, `set -e
mkdir -p /srv/gofull/go-1.21.0/bin
printf '#!/bin/sh\necho go version go1.21.0 linux/amd64\n' > /srv/gofull/go-1.21.0/bin/go
chmod 0755 /srv/gofull/go-1.21.0/bin/go
echo go1.21.0 > /srv/gofull/go-1.21.0/VERSION
ln -s /srv/gofull/go-1.21.0 /srv/go`)
	restore, err := h2.FillDir("/srv/gofull", "8m")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := restore(); err != nil {
			t.Error(err)
		}
	}()
	before := installRootListing(t, h2, "/srv/gofull", "/srv/go")
	if before != ".goprov-fill\ngo-1.21.0\n/srv/gofull/go-1.21.0" {
		t.Fatalf("fill: %q", before)
	}
	cfg := labtest.Write(t, inv, fmt.Sprintf(`
resource "go_toolchain" "full" {
  version      = %q
  install_root = "/srv/gofull"
  link         = "/srv/go"
}
`, labVersion))
	p := labtest.Plan(t, cfg, labtest.Options{Limit: "host.h2"})
	if s := summaryOf(t, p, "h2", "go_toolchain.full"); s != "go1.22.5 at /srv/go (linux/amd64): install 1.22.5, switch link go-1.21.0 → go-1.22.5" {
		t.Errorf("plan: %q", s)
	}
	p = labtest.Apply(t, cfg, labtest.Options{Limit: "host.h2", Timeout: labOpts.Timeout})
	hp := labtest.HostPlan(p, "h2")
	if hp.Status != planner.StatusFailed || !strings.Contains(hp.Error, "No space left") {
		t.Fatalf("apply on a full disk: %s %s", hp.Status, hp.Error)
	}
	t.Logf("full disk: %.300s…", hp.Error)
	if got := installRootListing(t, h2, "/srv/gofull", "/srv/go"); got != before {
		t.Errorf("after the failed apply:\n%s\nwant\n%s", got, before)
	}
}

// mirror serves an official-layout download site whose content the test
// can swap.
type mirror struct {
	mu    sync.Mutex
	files map[string][]byte
	hits  atomic.Int64
}

func (m *mirror) set(name string, b []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[name] = b
}

func (m *mirror) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	b, ok := m.files[path.Base(r.URL.Path)]
	m.mu.Unlock()
	if !ok || !strings.HasPrefix(r.URL.Path, "/dl/") {
		http.NotFound(w, r)
		return
	}
	m.hits.Add(1)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
}

// officialArchive repacks the proxy's module zip in the official layout
// (go/… entries, go.mod instead of _go.mod, exec bits) as a .tar.gz.
func officialArchive(t *testing.T, art *Artifact) []byte {
	t.Helper()
	zr, err := zip.OpenReader(art.File)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	tw := tar.NewWriter(gz)
	for _, f := range zr.File {
		rel := strings.TrimPrefix(f.Name, art.Prefix)
		if path.Base(rel) == "_go.mod" {
			rel = path.Join(path.Dir(rel), "go.mod")
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		if err := tw.WriteHeader(&tar.Header{Name: "go/" + rel, Mode: fileMode(rel, 0o644), Size: int64(f.UncompressedSize64), ModTime: f.Modified, Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, rc); err != nil {
			t.Fatal(err)
		}
		rc.Close()
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// labDL stays whole: every step runs against the one mirror, keys and repacked
// archive set up first, and the cache state the step before left.
func labDL(t *testing.T, lab *testinfra.Lab, inv string) {
	ctx := context.Background()
	proxy := mustDecode(t, `version = "`+labVersion+`"`)
	art, err := proxy.Prepare(ctx, Platform{"linux", "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	good := officialArchive(t, art)
	t.Logf("repacked the module zip as an official archive (%d MB) in %s", len(good)>>20, time.Since(start).Round(time.Millisecond))
	sum := sha256.Sum256(good)
	sumHex := hex.EncodeToString(sum[:])
	name := ArchiveName("go"+labVersion, Platform{"linux", "amd64"})

	// Sign with a throwaway key; a second key plays the attacker.
	signer, mallory := newTestKey(t, "golang-test"), newTestKey(t, "mallory")
	sigDir := t.TempDir()
	goodFile := filepath.Join(sigDir, name)
	os.WriteFile(goodFile, good, 0o644)
	signer.sign(t, goodFile)
	goodSig, _ := os.ReadFile(goodFile + ".asc")
	mallory.sign(t, goodFile)
	badSig, _ := os.ReadFile(goodFile + ".asc")
	tampered := append([]byte(nil), good...)
	tampered[len(tampered)/2] ^= 0x01

	// On the lab bridge, so hosts can fetch too (fetch = "host").
	subnet := strings.TrimSuffix(lab.Subnet(), ".0/24")
	ln, err := net.Listen("tcp", subnet+".1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &mirror{files: map[string][]byte{name + ".sha256": []byte(sumHex + "\n")}}
	srv := httptest.NewUnstartedServer(m)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	defer srv.Close()

	h3 := lab.Hosts[2]
	dlConfig := func(root, fetch string, sig bool) string {
		extra := ""
		if sig {
			extra = "signature   = true\n  gpg_keyring = file(\"golang.asc\")\n"
		}
		return fmt.Sprintf(`
resource "go_toolchain" "dl" {
  version      = %q
  source       = "dl"
  mirror       = "%s/dl/"
  sha256       = %q
  fetch        = %q
  install_root = %q
  link         = "%s/go"
  %s}
`, labVersion, srv.URL, sumHex, fetch, root, root, extra)
	}
	write := func(src string) string {
		dir := labtest.Write(t, inv, src)
		if err := os.WriteFile(filepath.Join(dir, "golang.asc"), []byte(signer.armored), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	onH3 := labtest.Options{Limit: "host.h3", Timeout: labOpts.Timeout}
	cfg := write(dlConfig("/opt/godl", "controller", true))
	mustFail := func(what, want string) {
		t.Helper()
		p := labtest.Apply(t, cfg, onH3)
		hp := labtest.HostPlan(p, "h3")
		if hp.Status != planner.StatusFailed || !strings.Contains(hp.Error, want) || !strings.Contains(hp.Error, "nothing was changed") {
			t.Errorf("%s: want a failure mentioning %q, got %s: %s", what, want, hp.Status, hp.Error)
		} else {
			t.Logf("%s refused: %s", what, hp.Error)
		}
		if got := h3.ShTrim(t, "ls -A /opt/godl 2>&1 || true; readlink /opt/godl/go || echo no-link"); !strings.HasSuffix(got, "No such file or directory\nno-link") {
			t.Errorf("%s: host changed: %q", what, got)
		}
		entries, _ := os.ReadDir(filepath.Join(os.Getenv("XDG_CACHE_HOME"), "goprov", "toolchains", sumHex))
		for _, e := range entries {
			t.Errorf("%s: the cache holds %s", what, e.Name())
		}
	}

	m.set(name, tampered)
	m.set(name+".asc", goodSig)
	mustFail("tampered archive", "checksum mismatch")

	m.set(name, good)
	m.set(name+".asc", badSig)
	mustFail("archive signed by another key", "bad OpenPGP signature")

	m.set(name+".asc", goodSig)
	p := labtest.Plan(t, cfg, onH3)
	labtest.RequireOK(t, p)
	if c := labtest.Change(p, "h3", "go_toolchain.dl"); !strings.Contains(strings.Join(c.Notes, " "), "sha256 "+sumHex[:12]+"… and OpenPGP signature; checked and streamed from the controller") {
		t.Errorf("dl notes: %q", c.Notes)
	}
	labtest.RequireOK(t, labtest.Apply(t, cfg, onH3))
	labtest.RequireEmpty(t, labtest.Plan(t, cfg, onH3))
	if got := h3.ShTrim(t, "/opt/godl/go/bin/go version; readlink /opt/godl/go; cat /opt/godl/go/go.env | grep -c GOTOOLCHAIN=auto"); got != "go version go1.22.5 linux/amd64\n/opt/godl/go-1.22.5\n1" {
		t.Errorf("dl install: %q", got)
	}

	// The controller's cache never serves an unverified file: corrupt the
	// cached archive; the next preparation drops it and downloads again.
	cached := filepath.Join(os.Getenv("XDG_CACHE_HOME"), "goprov", "toolchains", sumHex, name)
	if err := os.WriteFile(cached, tampered, 0o644); err != nil {
		t.Fatal(err)
	}
	prepMu.Lock()
	prepared = map[string]*prepEntry{}
	prepMu.Unlock()
	hits := m.hits.Load()
	dl := mustDecode(t, fmt.Sprintf("version = %q\nsource = \"dl\"\nmirror = \"%s/dl/\"\nsha256 = %q\nsignature = true\ngpg_keyring = %q\n", labVersion, srv.URL, sumHex, signer.armored))
	a2, err := dl.Prepare(ctx, Platform{"linux", "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	if m.hits.Load() != hits+2 {
		t.Errorf("the corrupt cache entry was not re-downloaded (%d requests)", m.hits.Load()-hits)
	}
	if b, _ := os.ReadFile(a2.File); !bytes.Equal(b, good) {
		t.Error("cache entry not repaired")
	}

	// fetch = "host": h3 downloads from the mirror itself (python3 here:
	// the lab image has no curl or wget) and checks the pinned sha256.
	cfgHost := write(dlConfig("/opt/gohost", "host", false))
	m.set(name, tampered)
	p = labtest.Apply(t, cfgHost, onH3)
	if hp := labtest.HostPlan(p, "h3"); hp.Status != planner.StatusFailed || !strings.Contains(hp.Error, "checksum mismatch") {
		t.Errorf("host fetch of a tampered archive: %s %s", hp.Status, hp.Error)
	}
	if got := h3.ShTrim(t, "ls -A /opt/gohost; readlink /opt/gohost/go || echo no-link"); got != "no-link" {
		t.Errorf("host fetch failure left %q", got)
	}
	m.set(name, good)
	start = time.Now()
	labtest.RequireOK(t, labtest.Apply(t, cfgHost, onH3))
	t.Logf("fetch = \"host\" install on h3: %s", time.Since(start).Round(time.Millisecond))
	labtest.RequireEmpty(t, labtest.Plan(t, cfgHost, onH3))
	if got := h3.ShTrim(t, "/opt/gohost/go/bin/go version"); got != "go version go1.22.5 linux/amd64" {
		t.Errorf("host fetch install: %q", got)
	}
}
