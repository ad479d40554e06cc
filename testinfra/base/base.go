// Package base builds and caches the lab's host image: a Debian root
// filesystem (bookworm by default, or trixie) made by debootstrap plus
// apt-get, from the machine's own mirror.
//
// The image is built once per machine and cached under CacheRoot, keyed by the
// package list, the build script and the fixed user password, so a change to
// any of them yields a new image and an unchanged one is reused.
package base

import (
	"bufio"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

//go:embed packages.txt
var packagesTxt []byte

//go:embed build.sh
var buildSh []byte

//go:embed packages-minimal.txt
var packagesMinimalTxt []byte

// MirrorPackages are the tools the shipped baselines (modules/) install
// with package resources. A minimal image comes with the lab's mirror of
// them: every .deb the image lacks to install them (MirrorDir).
var MirrorPackages = []string{"sudo", "auditd", "ufw", "zsh"}

// completeMarker is written last inside a finished image; a directory without
// it is never used.
const completeMarker = ".goprov-base-complete"

// DefaultCacheRoot is where images live unless GOPROV_LAB_CACHE says otherwise.
const DefaultCacheRoot = "/var/cache/goprov-lab"

// Suites the lab can build. bookworm's debootstrap also knows trixie, and
// the machine's bookworm mirror serves both.
const (
	Bookworm = "bookworm" // Debian 12, the default
	Trixie   = "trixie"   // Debian 13
)

// Config describes the image.
type Config struct {
	OpsPassword string // password of the sudo-with-password user
	Suite       string // Bookworm (default, "") or Trixie
	// Minimal: debootstrap's minbase plus sshd, tini and iproute2 only
	// (packages-minimal.txt), with the lab's mirror of MirrorPackages.
	Minimal   bool
	CacheRoot string    // default DefaultCacheRoot (or $GOPROV_LAB_CACHE)
	Log       io.Writer // build output; nil discards it
}

func (c Config) cacheRoot() string {
	if c.CacheRoot != "" {
		return c.CacheRoot
	}
	if v := os.Getenv("GOPROV_LAB_CACHE"); v != "" {
		return v
	}
	return DefaultCacheRoot
}

// suite is the Debian release of the image.
func (c Config) suite() string {
	if c.Suite == "" {
		return Bookworm
	}
	return c.Suite
}

// packages is the image's package list.
func (c Config) packages() []byte {
	if c.Minimal {
		return packagesMinimalTxt
	}
	return packagesTxt
}

// Key is the cache key of the image described by c.
func (c Config) Key() string {
	h := sha256.New()
	parts := [][]byte{c.packages(), buildSh, []byte(c.OpsPassword)}
	if c.suite() != Bookworm { // bookworm keeps the key it always had
		parts = append(parts, []byte(c.suite()))
	}
	if c.Minimal {
		parts = append(parts, []byte("minimal"), []byte(strings.Join(MirrorPackages, " ")))
	}
	for _, part := range parts {
		fmt.Fprintf(h, "%d\n", len(part))
		h.Write(part)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Dir is where the image described by c lives once built.
func (c Config) Dir() string {
	if c.Minimal {
		return filepath.Join(c.cacheRoot(), "base-minimal-"+c.suite()+"-"+c.Key())
	}
	if c.suite() != Bookworm {
		return filepath.Join(c.cacheRoot(), "base-"+c.suite()+"-"+c.Key())
	}
	return filepath.Join(c.cacheRoot(), "base-"+c.Key())
}

// MirrorDir is where a minimal image's mirror lives once built: the .debs
// its hosts need to install MirrorPackages, downloaded by the image's own
// apt during the build ("" for a full image). scripts/lab-deps.sh indexes
// and signs it; testinfra's Lab.ServeDir serves it to the hosts.
func (c Config) MirrorDir() string {
	if !c.Minimal {
		return ""
	}
	return filepath.Join(c.cacheRoot(), "debs", c.suite()+"-minimal-"+c.Key())
}

// Ready reports whether the image (and a minimal image's mirror) is built.
func (c Config) Ready() bool {
	_, err := os.Stat(filepath.Join(c.Dir(), completeMarker))
	return err == nil
}

// Ensure returns the image directory, building it first if needed. Concurrent
// callers (other test processes too) wait on a file lock so the image is
// built once; it is built in a temporary directory and renamed when complete.
func Ensure(ctx context.Context, c Config) (string, error) {
	dir := c.Dir()
	if c.Ready() {
		return dir, nil
	}
	root := c.cacheRoot()
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("base: create cache root: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(root, "build.lock"))
	if err != nil {
		return "", fmt.Errorf("base: lock: %w", err)
	}
	defer unlock()
	if c.Ready() { // built by another process while we waited
		return dir, nil
	}
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return "", fmt.Errorf("base: remove stale build dir: %w", err)
	}
	if err := os.RemoveAll(dir); err != nil { // incomplete leftover without marker
		return "", fmt.Errorf("base: remove incomplete image: %w", err)
	}
	debsTmp := ""
	if c.Minimal {
		debsTmp = c.MirrorDir() + ".tmp"
		for _, d := range []string{debsTmp, c.MirrorDir()} {
			if err := os.RemoveAll(d); err != nil {
				return "", fmt.Errorf("base: remove stale mirror dir: %w", err)
			}
		}
	}
	if err := build(ctx, c, tmp, debsTmp); err != nil {
		_ = os.RemoveAll(tmp)
		if debsTmp != "" {
			_ = os.RemoveAll(debsTmp)
		}
		return "", err
	}
	// The mirror first: the image's marker is what Ready trusts.
	if debsTmp != "" {
		if err := os.Rename(debsTmp, c.MirrorDir()); err != nil {
			return "", fmt.Errorf("base: publish mirror: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, completeMarker), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("base: mark complete: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("base: publish image: %w", err)
	}
	return dir, nil
}

// build runs build.sh into target; debsOut (minimal images) receives the
// mirror's .debs.
func build(ctx context.Context, c Config, target, debsOut string) error {
	if c.suite() != Bookworm && c.suite() != Trixie {
		return fmt.Errorf("base: unknown suite %q (want %s or %s)", c.Suite, Bookworm, Trixie)
	}
	mirror, sources, err := AptSources(c.suite())
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "goprov-base-")
	if err != nil {
		return fmt.Errorf("base: temp dir: %w", err)
	}
	defer os.RemoveAll(work)
	files := map[string][]byte{"build.sh": buildSh, "packages.txt": c.packages(), "sources.list": []byte(sources)}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(work, name), data, 0o644); err != nil {
			return fmt.Errorf("base: write %s: %w", name, err)
		}
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return fmt.Errorf("base: create %s: %w", target, err)
	}
	// A private mount namespace: whatever debootstrap mounts inside the
	// target dies with the build, even when it is interrupted.
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "--",
		"/bin/bash", filepath.Join(work, "build.sh"), target, mirror,
		filepath.Join(work, "sources.list"), filepath.Join(work, "packages.txt"), c.suite())
	cmd.Env = append(os.Environ(), "OPS_PASSWORD="+c.OpsPassword)
	if debsOut != "" {
		cmd.Env = append(cmd.Env, "DEBS_OUT="+debsOut, "MIRROR_PACKAGES="+strings.Join(MirrorPackages, " "))
	}
	// On cancel, stop the whole build (apt, dpkg…), not just the shell.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var tail tailBuffer
	out := io.Writer(&tail)
	if c.Log != nil {
		out = io.MultiWriter(c.Log, &tail)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("base: build.sh failed: %w\n%s", err, tail.String())
	}
	return nil
}

// AptSources reads the machine's apt configuration: the Debian mirror of the
// "bookworm" suite (for debootstrap) and one-line sources for the image, for
// every bookworm* suite of the same origins, renamed to suite (bookworm-security
// becomes trixie-security). No mirror is hard-coded.
func AptSources(suite string) (mirror, sourcesList string, err error) {
	deb822 := map[string]string{}
	matches, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	for _, f := range matches {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", "", fmt.Errorf("base: read %s: %w", f, err)
		}
		deb822[f] = string(data)
	}
	list, _ := os.ReadFile("/etc/apt/sources.list")
	mirror, sourcesList, err = aptSources(deb822, string(list))
	if err != nil || suite == Bookworm || suite == "" {
		return mirror, sourcesList, err
	}
	return mirror, renameSuite(sourcesList, suite), nil
}

// renameSuite rewrites one-line sources from bookworm* to suite*.
func renameSuite(list, suite string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSuffix(list, "\n"), "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 {
			f[2] = suite + strings.TrimPrefix(f[2], Bookworm)
		}
		b.WriteString(strings.Join(f, " ") + "\n")
	}
	return b.String()
}

// aptSources is AptSources on given file contents (deb822 files by name, and
// the one-line sources.list).
func aptSources(deb822 map[string]string, sourcesList string) (mirror, out string, err error) {
	type entry struct{ uri, suite, comps string }
	var entries []entry
	names := make([]string, 0, len(deb822))
	for n := range deb822 {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, st := range parseDeb822(deb822[n]) {
			if !strings.Contains(" "+st["types"]+" ", " deb ") || strings.EqualFold(st["enabled"], "no") {
				continue
			}
			comps := st["components"]
			if comps == "" {
				comps = "main"
			}
			for _, uri := range strings.Fields(st["uris"]) {
				for _, suite := range strings.Fields(st["suites"]) {
					entries = append(entries, entry{uri, suite, comps})
				}
			}
		}
	}
	sc := bufio.NewScanner(strings.NewReader(sourcesList))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if strings.HasPrefix(f[0], "[") { // options like [arch=amd64 signed-by=...]
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) > 0 {
				f = f[1:]
			}
		}
		if len(f) >= 3 {
			entries = append(entries, entry{f[0], f[1], strings.Join(f[2:], " ")})
		}
	}
	var b strings.Builder
	for _, e := range entries {
		if !strings.HasPrefix(e.suite, "bookworm") {
			continue
		}
		if e.suite == "bookworm" && mirror == "" {
			mirror = e.uri
		}
		fmt.Fprintf(&b, "deb %s %s %s\n", e.uri, e.suite, e.comps)
	}
	if mirror == "" {
		return "", "", errors.New("base: no Debian bookworm mirror in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list")
	}
	return mirror, b.String(), nil
}

// parseDeb822 splits an apt .sources file into stanzas of lower-cased keys.
func parseDeb822(s string) []map[string]string {
	var out []map[string]string
	cur := map[string]string{}
	last := ""
	flush := func() {
		if len(cur) > 0 {
			out = append(out, cur)
		}
		cur, last = map[string]string{}, ""
	}
	for _, line := range strings.Split(s, "\n") {
		switch {
		case strings.TrimSpace(line) == "":
			flush()
		case strings.HasPrefix(line, "#"):
		case line[0] == ' ' || line[0] == '\t':
			if last != "" {
				cur[last] += " " + strings.TrimSpace(line)
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if ok {
				last = strings.ToLower(strings.TrimSpace(k))
				cur[last] = strings.TrimSpace(v)
			}
		}
	}
	flush()
	return out
}

// lockFile takes an exclusive flock, polling so ctx can cancel the wait.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// tailBuffer keeps the last 8 KiB written, for error messages.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 8192 {
		t.b = t.b[len(t.b)-8192:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }
