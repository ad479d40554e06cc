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
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/dirhash"
)

const testPrefix = "golang.org/toolchain@v0.0.1-go1.22.5.linux-amd64/"

type entry struct {
	name, body string
	mode       int64 // tar only
	typ        byte  // tar only; 0 = regular
	link       string
}

func writeZip(t *testing.T, entries []entry) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.zip")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, e := range entries {
		w, err := zw.Create(e.name)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, e.body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

func writeTarGz(t *testing.T, entries []entry) (string, string) {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		hd := &tar.Header{Name: e.name, Mode: e.mode, Size: int64(len(e.body)), Typeflag: e.typ, Linkname: e.link, ModTime: time.Unix(1700000000, 0)}
		if hd.Typeflag == 0 {
			hd.Typeflag = tar.TypeReg
		}
		if hd.Typeflag != tar.TypeReg {
			hd.Size = 0
		}
		if hd.Mode == 0 {
			hd.Mode = 0o644
		}
		if err := tw.WriteHeader(hd); err != nil {
			t.Fatal(err)
		}
		if hd.Typeflag == tar.TypeReg {
			io.WriteString(tw, e.body)
		}
	}
	tw.Close()
	gz.Close()
	p := filepath.Join(t.TempDir(), "go.tar.gz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return p, hex.EncodeToString(sum[:])
}

type tarEntry struct {
	typ  byte
	mode int64
	body string
}

func readTar(t *testing.T, b []byte) (map[string]tarEntry, []string) {
	t.Helper()
	out := map[string]tarEntry{}
	var order []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hd, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		out[hd.Name] = tarEntry{hd.Typeflag, hd.Mode, string(body)}
		order = append(order, hd.Name)
	}
	return out, order
}

var toolchainZip = []entry{
	{name: testPrefix + "VERSION", body: "go1.22.5\ntime 2024-06-27T20:11:12Z\n"},
	{name: testPrefix + "bin/go", body: "\x7fELF go"},
	{name: testPrefix + "pkg/tool/linux_amd64/compile", body: "\x7fELF compile"},
	{name: testPrefix + "lib/wasm/go_js_wasm_exec", body: "#!/bin/sh\n"},
	{name: testPrefix + "src/_go.mod", body: "module std\n"},
	{name: testPrefix + "src/cmd/_go.mod", body: "module cmd\n"},
	{name: testPrefix + "src/fmt/print.go", body: "package fmt\n"},
}

func TestStreamZip(t *testing.T) {
	zp := writeZip(t, toolchainZip)
	sum, err := dirhash.HashZip(zp, dirhash.Hash1)
	if err != nil {
		t.Fatal(err)
	}
	n, err := ZipFileCount(zp)
	if err != nil || n != 9 {
		t.Fatalf("count %d %v, want 9 (7 files + 2 go.mod copies)", n, err)
	}
	var buf bytes.Buffer
	written, err := StreamZip(&buf, zp, testPrefix, sum)
	if err != nil {
		t.Fatal(err)
	}
	if written != n {
		t.Errorf("wrote %d files, counted %d", written, n)
	}
	got, order := readTar(t, buf.Bytes())
	for name, mode := range map[string]int64{
		"go/bin/go": 0o755, "go/pkg/tool/linux_amd64/compile": 0o755, "go/lib/wasm/go_js_wasm_exec": 0o755,
		"go/VERSION": 0o644, "go/src/fmt/print.go": 0o644, "go/src/go.mod": 0o644, "go/src/_go.mod": 0o644,
		"go/": 0o755, "go/pkg/tool/linux_amd64/": 0o755,
	} {
		e, ok := got[name]
		if !ok {
			t.Errorf("missing %s", name)
			continue
		}
		if e.mode != mode {
			t.Errorf("%s mode %04o, want %04o", name, e.mode, mode)
		}
	}
	if got["go/src/cmd/go.mod"].body != "module cmd\n" {
		t.Errorf("go.mod copy: %q", got["go/src/cmd/go.mod"].body)
	}
	if last := order[len(order)-1]; last != SentinelName || got[last].body != sum+"\n" {
		t.Errorf("last entry %s %q, want the sentinel with %s", last, got[last].body, sum)
	}
	for name := range got {
		if name != SentinelName && !strings.HasPrefix(name, "go/") {
			t.Errorf("entry outside go/: %s", name)
		}
	}
}

// A stream whose content does not hash to the verified value never carries
// the sentinel, so hosts discard it.
func TestStreamZipRefuses(t *testing.T) {
	cases := map[string][]entry{
		"zip-slip":       append([]entry{{name: testPrefix + "../../etc/cron.d/x", body: "x"}}, toolchainZip...),
		"absolute":       {{name: testPrefix + "/etc/passwd", body: "x"}},
		"missing prefix": {{name: "golang.org/toolchain@v0.0.1-go1.22.4.linux-amd64/bin/go", body: "x"}},
		"dot element":    {{name: testPrefix + "bin/./go", body: "x"}},
	}
	for name, entries := range cases {
		zp := writeZip(t, entries)
		sum, _ := dirhash.HashZip(zp, dirhash.Hash1)
		var buf bytes.Buffer
		if _, err := StreamZip(&buf, zp, testPrefix, sum); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if bytes.Contains(buf.Bytes(), []byte(SentinelName)) {
			t.Errorf("%s: sentinel written", name)
		}
	}
	zp := writeZip(t, toolchainZip)
	var buf bytes.Buffer
	if _, err := StreamZip(&buf, zp, testPrefix, "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="); err == nil || !strings.Contains(err.Error(), "module hash mismatch") {
		t.Errorf("wrong hash: %v", err)
	}
	if bytes.Contains(buf.Bytes(), []byte(SentinelName)) {
		t.Error("sentinel written for a mismatching hash")
	}
}

var officialTar = []entry{
	{name: "go/", typ: tar.TypeDir, mode: 0o755},
	{name: "go/VERSION", body: "go1.22.5\n"},
	{name: "go/bin/", typ: tar.TypeDir, mode: 0o755},
	{name: "go/bin/go", body: "\x7fELF", mode: 0o755},
	{name: "go/src/run.bash", body: "#!/bin/bash\n", mode: 0o6777},
	{name: "go/src/go.mod", body: "module std\n", mode: 0o644},
}

func TestStreamTarGz(t *testing.T) {
	p, sum := writeTarGz(t, officialTar)
	var buf bytes.Buffer
	n, err := StreamTarGz(&buf, p, sum)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("files %d, want 4", n)
	}
	got, order := readTar(t, buf.Bytes())
	if got["go/bin/go"].mode != 0o755 || got["go/VERSION"].mode != 0o644 {
		t.Errorf("modes: %+v", got)
	}
	if m := got["go/src/run.bash"].mode; m != 0o755 {
		t.Errorf("setuid/world-writable not stripped: %04o", m)
	}
	if order[len(order)-1] != SentinelName {
		t.Error("no sentinel")
	}
}

func TestStreamTarGzRefuses(t *testing.T) {
	cases := map[string][]entry{
		"symlink":      append(officialTar[:2:2], entry{name: "go/bin/evil", typ: tar.TypeSymlink, link: "/etc"}),
		"hard link":    append(officialTar[:2:2], entry{name: "go/bin/evil", typ: tar.TypeLink, link: "go/VERSION"}),
		"device":       append(officialTar[:2:2], entry{name: "go/dev", typ: tar.TypeChar}),
		"dot-dot":      append(officialTar[:2:2], entry{name: "go/../../etc/passwd", body: "x"}),
		"absolute":     {{name: "/etc/passwd", body: "x"}},
		"outside go/":  {{name: "usr/bin/go", body: "x"}},
		"not official": {{name: "go1.22.5/bin/go", body: "x"}},
	}
	for name, entries := range cases {
		p, sum := writeTarGz(t, entries)
		var buf bytes.Buffer
		if _, err := StreamTarGz(&buf, p, sum); err == nil {
			t.Errorf("%s: accepted", name)
		} else if bytes.Contains(buf.Bytes(), []byte(SentinelName)) {
			t.Errorf("%s: sentinel written", name)
		}
	}
	p, _ := writeTarGz(t, officialTar)
	var buf bytes.Buffer
	if _, err := StreamTarGz(&buf, p, sumA); err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Errorf("wrong sum: %v", err)
	}
	if bytes.Contains(buf.Bytes(), []byte(SentinelName)) {
		t.Error("sentinel written for a mismatching checksum")
	}
	// Corrupt the gzip body: refused whatever the pin says.
	b, _ := os.ReadFile(p)
	b[len(b)/2] ^= 0xff
	os.WriteFile(p, b, 0o644)
	s := sha256.Sum256(b)
	if _, err := StreamTarGz(io.Discard, p, hex.EncodeToString(s[:])); err == nil {
		t.Error("corrupt gzip accepted")
	}
}

func TestH1MatchesDirhash(t *testing.T) {
	entries := append([]entry{}, toolchainZip...)
	entries = append(entries, entry{name: testPrefix + "a", body: ""}, entry{name: testPrefix + "Z/b", body: "zz"})
	zp := writeZip(t, entries)
	want, _ := dirhash.HashZip(zp, dirhash.Hash1)
	if _, err := StreamZip(io.Discard, zp, testPrefix, want); err != nil {
		t.Fatalf("streaming hash differs from dirhash.HashZip: %v", err)
	}
}

// The rendered body is what hosts get; if it changes after rendering, the
// stream ends without the sentinel.
func TestArtifactRenderAndServe(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	zp := writeZip(t, toolchainZip)
	sum, _ := dirhash.HashZip(zp, dirhash.Hash1)
	a := &Artifact{Kind: "zip", File: zp, Hash: sum, Prefix: testPrefix, Origin: "test"}
	if err := a.render(); err != nil {
		t.Fatal(err)
	}
	defer a.body.Close()
	if a.Files != 9 {
		t.Errorf("files %d, want 9", a.Files)
	}
	var direct, served bytes.Buffer
	if _, err := StreamZip(&direct, zp, testPrefix, sum); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Stream(&served); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(direct.Bytes(), served.Bytes()) {
		t.Error("the served stream differs from the one built from the archive")
	}
	if ents, _ := os.ReadDir(filepath.Join(os.Getenv("XDG_CACHE_HOME"), "goprov", "toolchains", "tmp")); len(ents) != 0 {
		t.Errorf("rendered body left a name on disk: %v", ents)
	}
	a.body.WriteAt([]byte("X"), 600)
	served.Reset()
	if _, err := a.Stream(&served); err == nil || bytes.Contains(served.Bytes(), []byte(SentinelName)) {
		t.Errorf("altered body served: %v", err)
	}
	// A tampered source never renders.
	b := &Artifact{Kind: "zip", File: zp, Hash: "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", Prefix: testPrefix}
	if err := b.render(); err == nil {
		t.Error("rendered an archive whose hash does not match")
	}
}

// fakeGo puts a `go` command on PATH that answers `go env -json` with env
// and `go mod download -json` with download.
func fakeGo(t *testing.T, env, download string) {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "env.json"), []byte(env), 0o644)
	os.WriteFile(filepath.Join(dir, "dl.json"), []byte(download), 0o644)
	script := "#!/bin/sh\ncase \"$1\" in env) cat " + filepath.Join(dir, "env.json") + " ;; mod) cat " + filepath.Join(dir, "dl.json") + " ;; esac\n"
	if err := os.WriteFile(filepath.Join(dir, "go"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
}

func TestPrepareModule(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	zp := writeZip(t, toolchainZip)
	sum, _ := dirhash.HashZip(zp, dirhash.Hash1)
	p := Platform{"linux", "amd64"}
	tc := &Toolchain{Source: SourceProxy, Version: "1.22.5"}
	dl := func(s string) string {
		return fmt.Sprintf(`{"Path":"golang.org/toolchain","Version":"v0.0.1-go1.22.5.linux-amd64","Zip":%q,"Sum":%q}`, zp, s)
	}
	okEnv := `{"GOSUMDB":"sum.golang.org","GONOSUMDB":"*.corp.example","GOPRIVATE":"*.corp.example"}`
	reset := func() {
		prepMu.Lock()
		prepared = map[string]*prepEntry{}
		prepMu.Unlock()
	}

	fakeGo(t, okEnv, dl(sum))
	reset()
	a, err := tc.Prepare(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if a.Files != 9 || a.Hash != sum || a.Prefix != testPrefix {
		t.Errorf("artifact %+v", a)
	}
	var buf bytes.Buffer
	if _, err := a.Stream(&buf); err != nil || !bytes.Contains(buf.Bytes(), []byte(sum)) {
		t.Errorf("stream: %v", err)
	}

	for name, c := range map[string]struct{ env, dl, want string }{
		"tampered module cache": {okEnv, dl("h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="), "module hash mismatch"},
		"sumdb off":             {`{"GOSUMDB":"off"}`, dl(sum), "GOSUMDB=off"},
		"nosumdb covers it":     {`{"GOSUMDB":"sum.golang.org","GONOSUMDB":"golang.org"}`, dl(sum), "GONOSUMDB=golang.org covers golang.org/toolchain"},
		"private covers it":     {`{"GOSUMDB":"sum.golang.org","GOPRIVATE":"golang.org/toolchain"}`, dl(sum), "GOPRIVATE"},
		"download error":        {okEnv, `{"Path":"golang.org/toolchain","Error":"410 Gone"}`, "410 Gone"},
	} {
		fakeGo(t, c.env, c.dl)
		reset()
		if _, err := tc.Prepare(context.Background(), p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: want an error with %q, got %v", name, c.want, err)
		}
	}
}
