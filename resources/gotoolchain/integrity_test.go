package gotoolchain

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/goprov/goprov/resources"
)

// testTree is an installed tree as its records and the probe describe it.
type testTree struct {
	files map[string]string // path => sha256 as installed (the manifest)
	now   map[string]string // path => sha256 as the probe finds it now
	other []string          // listing lines appended verbatim
}

func sum(s string) string { return resources.SHA256([]byte(s)) }

func newTestTree() *testTree {
	files := map[string]string{
		"VERSION":                      sum("go1.22.5"),
		"bin/go":                       sum("go"),
		"bin/gofmt":                    sum("gofmt"),
		"pkg/tool/linux_amd64/compile": sum("compile"),
		"pkg/tool/linux_amd64/vet":     sum("vet"),
		"src/fmt/print.go":             sum("package fmt"),
	}
	now := map[string]string{}
	for k, v := range files {
		now[k] = v
	}
	return &testTree{files: files, now: now}
}

func (tr *testTree) manifest() string { return string(RenderManifest(tr.files)) }

// record is the probe's provenance part for tc's install of this tree.
func (tr *testTree) record(t *testing.T, tc *Toolchain) string {
	t.Helper()
	art := &Artifact{Hash: "h1:" + strings.Repeat("A", 43) + "="}
	b, err := json.Marshal(tc.provenance(Platform{"linux", "amd64"}, art, tr.files, "2026-12-01T20:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	return "file 644 0 0\n" + string(b)
}

// listing is the probe's listing part: sha256sum lines, then others.
func (tr *testTree) listing(all bool) string {
	m := map[string]string{}
	for k, v := range tr.now {
		if all || isExecutable(k) {
			m[k] = v
		}
	}
	return string(RenderManifest(m)) + strings.Join(tr.other, "")
}

// TestIntegrity stays whole: one table of installed trees against
// configs, each row a case, and the loop that runs them.
func TestIntegrity(t *testing.T) {
	host := &resources.Host{Facts: resources.Facts{OS: "linux", Arch: "amd64"}}
	const installed = "link\n/usr/local/go-1.22.5\n"
	const dirs = "go-1.22.5 go go1.22.5\n"
	proxy := "version = \"1.22.5\"\n"
	dl := "version = \"1.22.5\"\nsource = \"dl\"\nsha256 = \"" + sumA + "\"\n"
	cases := []struct {
		name    string
		src     string // the config the plan is made with
		recSrc  string // the config the tree was installed with ("" = src)
		tamper  func(tr *testTree)
		rec     func(tr *testTree, rec string) string // edits the record part
		mf      func(tr *testTree) string             // the manifest part (verify = "all")
		summary string                                // "" = no-op
		notes   []string
	}{
		{name: "intact", src: proxy},
		{name: "intact dl", src: dl},
		{name: "gofmt tampered", src: proxy, tamper: func(tr *testTree) { tr.now["bin/gofmt"] = sum("evil") },
			summary: "reinstall: bin/gofmt differs", notes: []string{"go-1.22.5 is not the tree that was installed", "bin/gofmt differs"}},
		{name: "vet missing", src: proxy, tamper: func(tr *testTree) { delete(tr.now, "pkg/tool/linux_amd64/vet") },
			summary: "reinstall: pkg/tool/linux_amd64/vet missing"},
		{name: "an executable added", src: proxy, tamper: func(tr *testTree) { tr.now["bin/sudo"] = sum("x") },
			summary: "reinstall: bin/sudo not in the manifest"},
		{name: "several", src: proxy, tamper: func(tr *testTree) { tr.now["bin/go"], tr.now["bin/gofmt"] = sum("1"), sum("2") },
			summary: "reinstall: bin/go differs (and 1 more)", notes: []string{"bin/gofmt differs"}},
		{name: "a fifo in bin", src: proxy, tamper: func(tr *testTree) { tr.other = append(tr.other, "other bin/pipe\n") },
			summary: "reinstall: bin/pipe is not a regular file"},
		{name: "escaped name", src: proxy, tamper: func(tr *testTree) { tr.other = append(tr.other, "\\"+sum("x")+"  bin/a\\nb\n") },
			summary: "has an impossible name"},
		{name: "source file edited, executables only", src: proxy, tamper: func(tr *testTree) { tr.now["src/fmt/print.go"] = sum("evil") }},
		{name: "source file edited, verify all", src: proxy + "verify = \"all\"\n", tamper: func(tr *testTree) { tr.now["src/fmt/print.go"] = sum("evil") },
			summary: "reinstall: src/fmt/print.go differs"},
		{name: "source file planted, verify all", src: proxy + "verify = \"all\"\n", tamper: func(tr *testTree) { tr.now["src/runtime/zz.go"] = sum("evil") },
			summary: "reinstall: src/runtime/zz.go not in the manifest"},
		{name: "intact, verify all", src: proxy + "verify = \"all\"\n"},
		{name: "manifest missing", src: proxy + "verify = \"all\"\n", mf: func(*testTree) string { return "absent\n" },
			summary: "reinstall: " + ManifestName + " missing"},
		{name: "manifest edited", src: proxy + "verify = \"all\"\n", mf: func(tr *testTree) string { return "file 644 0 0\n" + tr.manifest() + sum("x") + "  bin/x\n" },
			summary: "reinstall: " + ManifestName + " does not match its provenance record"},
		{name: "manifest writable by others", src: proxy + "verify = \"all\"\n", mf: func(tr *testTree) string { return "file 666 0 0\n" + tr.manifest() },
			summary: "is not a root-owned regular file"},
		{name: "no record: older goprov", src: proxy, rec: func(*testTree, string) string { return "absent\n" },
			summary: "reinstall: no provenance record", notes: []string{"installed by an older goprov, or by hand"}},
		{name: "record is a symlink", src: proxy, rec: func(*testTree, string) string { return "symlink\n" },
			summary: "reinstall: provenance record not trusted"},
		{name: "record not root's", src: proxy, rec: func(_ *testTree, r string) string { return strings.Replace(r, "644 0 0", "644 1000 0", 1) },
			summary: "reinstall: provenance record not trusted"},
		{name: "record garbage", src: proxy, rec: func(*testTree, string) string { return "file 644 0 0\n{\"format\":1" },
			summary: "reinstall: provenance record unreadable"},
		{name: "record unknown field", src: proxy, rec: func(_ *testTree, r string) string {
			return strings.Replace(r, `{"format"`, `{"trusted":true,"format"`, 1)
		},
			summary: "reinstall: provenance record unreadable", notes: []string{"unknown field"}},
		{name: "record trailing data", src: proxy, rec: func(_ *testTree, r string) string { return r + "{}" },
			summary: "reinstall: provenance record unreadable"},
		{name: "record too large", src: proxy, rec: func(_ *testTree, r string) string { return r + strings.Repeat(" ", maxProvenance) },
			summary: "reinstall: provenance record unreadable", notes: []string{"larger than"}},
		{name: "record lists ../", src: proxy, rec: func(tr *testTree, r string) string {
			return strings.Replace(r, `"bin/go"`, `"bin/../../../etc/shadow"`, 1)
		}, summary: "reinstall: provenance record unreadable"},
		{name: "installed by proxy, declared dl", src: dl, recSrc: proxy,
			summary: "reinstall: installed from source \"proxy\", declared \"dl\"", notes: []string{"does not satisfy the declared source, pin or signature"}},
		{name: "pin changed", src: strings.Replace(dl, sumA, "aa"+sumA[2:], 1), recSrc: dl,
			summary: "reinstall: installed from sha256 904b924d435e…, pinned aa4b924d435e…"},
		{name: "signature now required", src: dl + "signature = true\ngpg_keyring = " + fmt.Sprintf("%q", testArmoredKey(t)) + "\n", recSrc: dl,
			summary: "reinstall: installed without a checked signature, signature = true declared"},
		{name: "record of another platform", src: proxy, rec: func(_ *testTree, r string) string { return strings.Replace(r, "linux/amd64", "linux/arm64", 1) },
			summary: "reinstall: provenance record is for go1.22.5 linux/arm64"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tc := mustDecode(t, c.src)
			recTC := tc
			if c.recSrc != "" {
				recTC = mustDecode(t, c.recSrc)
			}
			tr := newTestTree()
			rec := tr.record(t, recTC)
			if c.tamper != nil {
				c.tamper(tr)
			}
			if c.rec != nil {
				rec = c.rec(tr, rec)
			}
			mf := ""
			if tc.Verify == VerifyAll {
				mf = "file 644 0 0\n" + tr.manifest()
				if c.mf != nil {
					mf = c.mf(tr)
				}
			}
			env := "file 644 0 0\n" + string(tc.renderEnv())
			ch, err := tc.Diff(host, probeOut(installed, dirs, env, env, rec, mf, tr.listing(tc.Verify == VerifyAll)))
			if err != nil {
				t.Fatal(err)
			}
			if c.summary == "" {
				if ch.Action != resources.NoOp {
					t.Fatalf("want no-op, got %s %q %q", ch.Action, ch.Summary, ch.Notes)
				}
				return
			}
			if ch.Action != resources.Update || !strings.Contains(ch.Summary, c.summary) {
				t.Errorf("got %s %q, want an update with %q", ch.Action, ch.Summary, c.summary)
			}
			for _, n := range c.notes {
				if !strings.Contains(strings.Join(ch.Notes, "\n"), n) {
					t.Errorf("notes %q lack %q", ch.Notes, n)
				}
			}
		})
	}
}

// Host files are untrusted: the parsers refuse anything that is not
// exactly what goprov writes.
func TestParseManifestRejects(t *testing.T) {
	good := sum("x")
	for _, c := range []struct{ name, in, err string }{
		{"empty", "", "empty"},
		{"unterminated", good + "  bin/go", "not terminated"},
		{"dotdot", good + "  ../../etc/shadow\n", "escapes the tree"},
		{"inner dotdot", good + "  src/../../x\n", "not a clean"},
		{"absolute", good + "  /etc/shadow\n", "absolute"},
		{"one space", good + " bin/go\n", "not \"SHA256  path\""},
		{"upper hex", strings.ToUpper(good) + "  bin/go\n", "not \"SHA256  path\""},
		{"escaped name", "\\" + good + "  bin/a\\nb\n", "not \"SHA256  path\""},
		{"duplicate", good + "  bin/go\n" + good + "  bin/go\n", "listed twice"},
		{"excluded", good + "  go.env\n", "not part of the manifest"},
		{"too large", strings.Repeat(good+"  bin/go\n", maxManifest/72+1), "larger than"},
	} {
		if _, err := ParseManifest([]byte(c.in)); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: %v, want %q", c.name, err, c.err)
		}
	}
	m, err := ParseManifest([]byte(good + "  bin/go\n" + good + "  src/a b.go\n"))
	if err != nil || len(m) != 2 || m["src/a b.go"] != good {
		t.Errorf("good manifest: %v %v", m, err)
	}
}

func TestParseProvenanceRejects(t *testing.T) {
	tc := mustDecode(t, `version = "1.22.5"`)
	tr := newTestTree()
	rec := strings.TrimPrefix(tr.record(t, tc), "file 644 0 0\n")
	if _, err := ParseProvenance([]byte(rec)); err != nil {
		t.Fatalf("own record refused: %v", err)
	}
	for _, c := range []struct{ old, new, err string }{
		{`"format":1`, `"format":2`, "format 2"},
		{`"version":"1.22.5"`, `"version":"1.22.5; id"`, "bad version"},
		{`"source":"proxy"`, `"source":"ftp"`, "bad source"},
		{`"signature":"none"`, `"signature":"trust me"`, "bad signature"},
		{`"checked_by":"controller"`, `"checked_by":"nobody"`, "bad checked_by"},
		{`"bin/go"`, `"/usr/bin/sudo"`, "bad executables entry"},
		{`"bin/go"`, `"src/go"`, "bad executables entry"},
		{`"module_sum":"h1:`, `"module_sum":"h2:`, "bad module_sum"},
	} {
		bad := strings.Replace(rec, c.old, c.new, 1)
		if bad == rec {
			t.Fatalf("%s not in %s", c.old, rec)
		}
		if _, err := ParseProvenance([]byte(bad)); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s → %s: %v, want %q", c.old, c.new, err, c.err)
		}
	}
}

// A mirror URL with credentials never lands on a host.
func TestProvenanceDropsMirrorCredentials(t *testing.T) {
	tc := mustDecode(t, "version = \"1.22.5\"\nsource = \"dl\"\nsha256 = \""+sumA+"\"\nmirror = \"https://ci:s3cret@mirror.internal/go/\"\n")
	rec := tc.provenance(Platform{"linux", "amd64"}, nil, newTestTree().files, "t")
	if strings.Contains(rec.Origin, "s3cret") || rec.Origin != "https://mirror.internal/go/go1.22.5.linux-amd64.tar.gz" {
		t.Errorf("origin %q", rec.Origin)
	}
}

// The controller's manifest of the verified archive must match what the
// host extracted, file for file.
func TestDiffManifests(t *testing.T) {
	want := newTestTree().files
	got := map[string]string{}
	for k, v := range want {
		got[k] = v
	}
	if err := diffManifests(want, got); err != nil {
		t.Fatal(err)
	}
	got["bin/go"] = sum("short write")
	delete(got, "VERSION")
	if err := diffManifests(want, got); err == nil || !strings.Contains(err.Error(), "VERSION missing, bin/go differs") {
		t.Errorf("%v", err)
	}
}

// testArmoredKey is armor that decodes (validation checks only the armor).
func testArmoredKey(*testing.T) string {
	return "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n"
}
