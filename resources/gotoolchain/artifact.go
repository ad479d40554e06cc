package gotoolchain

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"

	"github.com/goprov/goprov/transport"
)

// ToolchainModule is the module path the Go module proxy serves full Go
// distributions under.
const ToolchainModule = "golang.org/toolchain"

// Artifact is a verified toolchain archive on the controller, ready to be
// streamed to hosts.
type Artifact struct {
	Kind  string // "zip" (module) or "tgz" (official archive)
	File  string // local path
	Hash  string // "h1:…" for zip, sha256 hex for tgz: what the stream is checked against
	Files int    // regular files the stream holds
	// Prefix of every zip entry ("golang.org/toolchain@VERSION/").
	Prefix string
	Origin string // for messages
	// Manifest is every file's sha256 as rendered from the verified
	// archive (go.env left out): what the host's extraction must hold.
	Manifest map[string]string

	// The host tar's entries, rendered once per process from the verified
	// archive into an unlinked temp file (it vanishes with the process):
	// serving a host is then a file read, not a decompression.
	body     *os.File
	bodySize int64
	bodySHA  [sha256.Size]byte

	// The staged image (stage.go), computed once.
	imgOnce sync.Once
	img     *stageImage
	imgErr  error
}

// render writes the tree once (verifying the archive's hash on the way).
func (a *Artifact) render() error {
	dir, err := CacheDir()
	if err != nil {
		dir = os.TempDir() // no home (a service): the body is unlinked anyway
	}
	dir = filepath.Join(dir, "tmp")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	f, err := os.CreateTemp(dir, ".stream-*")
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	os.Remove(f.Name()) // the open file lives on, nobody else can reach it by name
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(f, h), 256*1024)
	var n int
	sums := map[string]string{}
	if a.Kind == "zip" {
		n, err = writeZipTree(bw, a.File, a.Prefix, a.Hash, sums)
	} else {
		n, err = writeTarGzTree(bw, a.File, a.Hash, sums)
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		f.Close()
		return err
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		f.Close()
		return err
	}
	a.Files, a.body, a.bodySize, a.Manifest = n, f, size, sums
	copy(a.bodySHA[:], h.Sum(nil))
	return nil
}

// Stream writes the host tar: the rendered entries, re-hashed as they are
// read, and the sentinel only if they still hash to what was rendered.
func (a *Artifact) Stream(w io.Writer) (int, error) {
	if a.body == nil {
		if a.Kind == "zip" {
			return StreamZip(w, a.File, a.Prefix, a.Hash)
		}
		return StreamTarGz(w, a.File, a.Hash)
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(w, h), io.NewSectionReader(a.body, 0, a.bodySize)); err != nil {
		return 0, err
	}
	if !bytes.Equal(h.Sum(nil), a.bodySHA[:]) {
		return 0, fmt.Errorf("the rendered toolchain %s changed since it was verified", a.Origin)
	}
	return a.Files, WriteSentinel(w, a.Hash)
}

// One download and verification per artifact per process: hosts applied in
// parallel wait for the same preparation. Failures are not remembered, so
// a later apply tries again.
var (
	prepMu   sync.Mutex
	prepared = map[string]*prepEntry{}
)

type prepEntry struct {
	done chan struct{}
	art  *Artifact
	err  error
}

func prepareOnce(ctx context.Context, key string, fn func(context.Context) (*Artifact, error)) (*Artifact, error) {
	prepMu.Lock()
	e, ok := prepared[key]
	if !ok {
		e = &prepEntry{done: make(chan struct{})}
		prepared[key] = e
		prepMu.Unlock()
		e.art, e.err = fn(ctx)
		if e.err == nil {
			e.err = e.art.render()
		}
		if e.err != nil {
			prepMu.Lock()
			delete(prepared, key)
			prepMu.Unlock()
		}
		close(e.done)
		return e.art, e.err
	}
	prepMu.Unlock()
	select {
	case <-e.done:
		return e.art, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Prepare fetches and verifies tc's archive for platform p on the
// controller. Nothing reaches a host before it returns without error.
func (tc *Toolchain) Prepare(ctx context.Context, p Platform) (*Artifact, error) {
	switch tc.Source {
	case SourceProxy:
		mv := module.Version{Path: ToolchainModule, Version: ModuleVersion(tc.GoVersion(), p)}
		return prepareOnce(ctx, "proxy "+mv.String(), func(ctx context.Context) (*Artifact, error) { return prepareModule(ctx, mv) })
	case SourceDL:
		sum := tc.sha256For(p)
		if sum == "" {
			return nil, fmt.Errorf("no sha256 for %s (%s) in the sha256 map", p.ArchiveKey(), ArchiveName(tc.GoVersion(), p))
		}
		u := tc.Mirror + ArchiveName(tc.GoVersion(), p)
		key := fmt.Sprintf("dl %s %s sig=%v %x", u, sum, tc.Signature, sha256.Sum256(tc.Keyring))
		return prepareOnce(ctx, key, func(ctx context.Context) (*Artifact, error) {
			return prepareDownload(ctx, u, sum, tc.Signature, tc.Keyring)
		})
	case SourceFile:
		sum := tc.sha256For(p)
		if sum == "" {
			return nil, fmt.Errorf("no sha256 for %s (%s) in the sha256 map", p.ArchiveKey(), ArchiveName(tc.GoVersion(), p))
		}
		return prepareOnce(ctx, "file "+tc.Path+" "+sum, func(ctx context.Context) (*Artifact, error) {
			return prepareArchive(tc.Path, sum, tc.Path)
		})
	}
	return nil, fmt.Errorf("unknown source %q", tc.Source)
}

// prepareArchive checks an official archive's checksum. Its layout and
// entries are checked when it is rendered (render reads it in full).
func prepareArchive(file, sum, origin string) (*Artifact, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		return nil, fmt.Errorf("checksum mismatch: %s has sha256 %s, expected %s", file, got, sum)
	}
	return &Artifact{Kind: "tgz", File: file, Hash: sum, Origin: origin}, nil
}

// goCommand finds the controller's go command.
func goCommand() (string, error) {
	p, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("source = \"proxy\" runs the controller's `go mod download`; no go command on PATH: %w", err)
	}
	return p, nil
}

// prepareModule downloads golang.org/toolchain@VERSION with the
// controller's `go mod download`, which verifies it against go.sum and the
// checksum database (GOPROXY, GOSUMDB, GONOSUMDB… from the environment) and
// keeps it in the module cache (GOMODCACHE) for the next run. goprov then
// re-checks the zip itself: a well-formed module zip here, and (in render)
// the module hash of its content against the Sum go reported.
func prepareModule(ctx context.Context, mv module.Version) (*Artifact, error) {
	goCmd, err := goCommand()
	if err != nil {
		return nil, err
	}
	// Refuse a configuration in which go would skip the checksum database.
	envOut, err := runGo(ctx, goCmd, "env", "-json", "GOSUMDB", "GONOSUMDB", "GOPRIVATE")
	if err != nil {
		return nil, err
	}
	var env map[string]string
	if err := json.Unmarshal(envOut, &env); err != nil {
		return nil, fmt.Errorf("go env: %w", err)
	}
	if err := checkSumDBEnv(env); err != nil {
		return nil, err
	}
	out, err := runGo(ctx, goCmd, "mod", "download", "-json", mv.String())
	var dl struct {
		Path, Version, Zip, Sum, Error string
	}
	if jerr := json.Unmarshal(out, &dl); jerr != nil {
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("go mod download %s: %w", mv, jerr)
	}
	if dl.Error != "" {
		return nil, fmt.Errorf("go mod download %s: %s", mv, dl.Error)
	}
	if err != nil {
		return nil, err
	}
	if dl.Zip == "" || !strings.HasPrefix(dl.Sum, "h1:") {
		return nil, fmt.Errorf("go mod download %s: no zip or module hash reported", mv)
	}
	if _, err := modzip.CheckZip(mv, dl.Zip); err != nil {
		return nil, fmt.Errorf("%s: not a valid module zip: %w", dl.Zip, err)
	}
	// The module hash is recomputed when the zip is rendered into the host
	// tar (same h1 as dirhash.HashZip, one read instead of two); a
	// mismatch fails the preparation before anything is sent.
	n, err := ZipFileCount(dl.Zip)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dl.Zip, err)
	}
	return &Artifact{Kind: "zip", File: dl.Zip, Hash: dl.Sum, Files: n, Prefix: mv.Path + "@" + mv.Version + "/", Origin: mv.String()}, nil
}

func checkSumDBEnv(env map[string]string) error {
	if env["GOSUMDB"] == "off" {
		return errors.New("GOSUMDB=off: go would not check golang.org/toolchain against the checksum database, and goprov installs no unverified toolchain; unset it (a private sumdb or GOPROXY mirror is fine)")
	}
	// `go env` prints GONOSUMDB's effective value (GOPRIVATE when unset);
	// GOPRIVATE is checked too, erring on the side of refusing.
	for _, v := range []string{"GONOSUMDB", "GOPRIVATE"} {
		if pat := env[v]; pat != "" && module.MatchPrefixPatterns(pat, ToolchainModule) {
			return fmt.Errorf("%s=%s covers %s: go would not check it against the checksum database, and goprov installs no unverified toolchain", v, pat, ToolchainModule)
		}
	}
	return nil
}

// goEnvKeep is what `go mod download` needs of the controller's
// environment: Go's own settings (proxy, checksum database, caches, proxy
// credentials meant for go) and the network's (HTTP proxies, CA files).
var goEnvKeep = []string{"PATH", "HOME", "GOPATH", "GOMODCACHE", "GOCACHE", "GOENV", "GOROOT", "GOFLAGS",
	"GOPROXY", "GONOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GOINSECURE", "GOAUTH", "NETRC",
	"XDG_CONFIG_HOME", "XDG_CACHE_HOME", "TMPDIR", "GOTMPDIR",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR"}

func runGo(ctx context.Context, goCmd string, args ...string) ([]byte, error) {
	// Outside any module (a fresh temp dir), so no go.mod is read or
	// changed, and with the controller's own toolchain.
	dir, err := os.MkdirTemp("", "goprov-go-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cmd := exec.CommandContext(ctx, goCmd, args...)
	cmd.Dir = dir
	cmd.Env = append(transport.ChildEnv(goEnvKeep...), "GOTOOLCHAIN=local", "GO111MODULE=on", "GOWORK=off")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// CacheDir is where downloaded archives are kept on the controller:
// $XDG_CACHE_HOME/goprov/toolchains (~/.cache/goprov/toolchains), one
// directory per checksum. CI can cache it between runs.
func CacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("controller cache dir: %w", err)
	}
	return filepath.Join(d, "goprov", "toolchains"), nil
}

// prepareDownload serves the archive from the controller's cache when a
// cached copy verifies (checksum, signature), and otherwise downloads it,
// verifies it, and only then moves it into the cache. A cached copy that
// fails verification is deleted, never served.
func prepareDownload(ctx context.Context, url, sum string, sig bool, keyring []byte) (*Artifact, error) {
	root, err := CacheDir()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(root, sum)
	name := filepath.Base(url)
	file := filepath.Join(dir, name)
	verify := func() (*Artifact, error) {
		if sig {
			if err := VerifySignature(ctx, keyring, file, file+".asc", url); err != nil {
				return nil, err
			}
		}
		return prepareArchive(file, sum, url)
	}
	if _, err := os.Stat(file); err == nil {
		if a, err := verify(); err == nil {
			return a, nil
		}
		// Not trusted any more: drop it and fetch again.
		os.Remove(file)
		os.Remove(file + ".asc")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	tmp, got, err := download(ctx, url, dir)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp)
	if got != sum {
		return nil, fmt.Errorf("checksum mismatch: %s has sha256 %s, expected %s (corrupt download, or not the archive that was pinned); nothing was sent to any host", url, got, sum)
	}
	var tmpSig string
	if sig {
		if tmpSig, _, err = download(ctx, url+".asc", dir); err != nil {
			return nil, err
		}
		defer os.Remove(tmpSig)
		if err := VerifySignature(ctx, keyring, tmp, tmpSig, url); err != nil {
			return nil, fmt.Errorf("%w; nothing was sent to any host", err)
		}
	}
	a, err := prepareArchive(tmp, sum, url)
	if err != nil {
		return nil, err
	}
	if sig {
		if err := os.Rename(tmpSig, file+".asc"); err != nil {
			return nil, fmt.Errorf("cache: %w", err)
		}
	}
	if err := os.Rename(tmp, file); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	syncDir(dir)
	a.File = file
	return a, nil
}

// download fetches url into a new temp file in dir (fsynced) and returns
// its name and sha256.
func download(ctx context.Context, url, dir string) (string, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", "", fmt.Errorf("download %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("download %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("download %s: %s", url, resp.Status)
	}
	f, err := os.CreateTemp(dir, ".part-*")
	if err != nil {
		return "", "", fmt.Errorf("cache: %w", err)
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), resp.Body)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", "", fmt.Errorf("download %s: %w", url, err)
	}
	return f.Name(), hex.EncodeToString(h.Sum(nil)), nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
