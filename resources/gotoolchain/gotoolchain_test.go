package gotoolchain

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/resources/resourcetest"
)

const sumA = "904b924d435eaea086515bc63235b192ea441bd8c9b198c507e85009e6e4c7f0"

func decodeValue(t *testing.T, src string) (cty.Value, hcl.Body, hcl.Diagnostics) {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "t.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	v, diags := hcldec.Decode(f.Body, kind{}.Spec(), nil)
	return v, f.Body, diags
}

func decode(t *testing.T, src string) (*Toolchain, hcl.Diagnostics) {
	t.Helper()
	v, body, diags := decodeValue(t, src)
	if diags.HasErrors() {
		return nil, diags
	}
	r, diags := kind{}.New("go_toolchain.go", v, body)
	tc, _ := r.(*Toolchain)
	return tc, diags
}

func mustDecode(t *testing.T, src string) *Toolchain {
	t.Helper()
	tc, diags := decode(t, src)
	if diags.HasErrors() {
		t.Fatalf("%s: %v", src, diags)
	}
	return tc
}

func TestValidation(t *testing.T) {
	dl := "source = \"dl\"\nsha256 = \"" + sumA + "\"\n"
	cases := []resourcetest.Case{
		{`version = "1.22.5"`, ""},
		{`version = "1.23rc1"`, ""},
		{`version = "go1.22.5"`, "Invalid Go version"},
		{`version = "1.22.5; rm -rf /"`, "Invalid Go version"},
		{`version = "1.22.5/../../etc"`, "Invalid Go version"},
		{"version = \"1.22.5\\n\"", "Invalid Go version"},
		{`version = "1.20.14"`, "Version not on the module proxy"},
		{"version = \"1.20.14\"\n" + dl, ""},
		{"version = \"1.20.14\"\n" + dl + "env = { GOPROXY = \"off\" }", "go.env needs Go 1.21"},
		{"version = \"1.22.5\"\nsource = \"git\"", "Invalid source"},
		{"version = \"1.22.5\"\nsource = \"dl\"", "Missing sha256"},
		{"version = \"1.22.5\"\nsource = \"file\"\nsha256 = \"" + sumA + "\"", "Missing path"},
		{"version = \"1.22.5\"\nsource = \"file\"\npath = \"/srv/go.tgz\"\nsha256 = \"" + sumA + "\"", ""},
		{"version = \"1.22.5\"\npath = \"/srv/go.tgz\"", "path without source = \"file\""},
		{"version = \"1.22.5\"\nsha256 = \"" + sumA + "\"", "sha256 with source = \"proxy\""},
		{"version = \"1.22.5\"\nsource = \"dl\"\nsha256 = \"ABC\"", "Invalid sha256"},
		{"version = \"1.22.5\"\nsource = \"dl\"\nsha256 = { \"linux-amd64\" = \"" + sumA + "\", \"linux-arm64\" = \"" + sumA + "\" }", ""},
		{"version = \"1.22.5\"\nsource = \"dl\"\nsha256 = { \"linux amd64\" = \"" + sumA + "\" }", "Invalid sha256"},
		{"version = \"1.22.5\"\nsource = \"dl\"\nsha256 = [\"" + sumA + "\"]", "Invalid sha256"},
		{"version = \"1.22.5\"\n" + dl + "mirror = \"ftp://x/\"", "Invalid mirror"},
		{"version = \"1.22.5\"\n" + dl + "mirror = \"https://m/dl/?x=$(id)\"", "Invalid mirror"},
		{"version = \"1.22.5\"\n" + dl + "mirror = \"https://m/a b/\"", "Invalid mirror"},
		{"version = \"1.22.5\"\n" + dl + "fetch = \"host\"", ""},
		{"version = \"1.22.5\"\nfetch = \"host\"", "Invalid fetch"},
		{"version = \"1.22.5\"\nfetch = \"carrier-pigeon\"", "Invalid fetch"},
		{"version = \"1.22.5\"\n" + dl + "signature = true", "Missing gpg_keyring"},
		{"version = \"1.22.5\"\n" + dl + "signature = true\ngpg_keyring = \"not a key\"", "Invalid gpg_keyring"},
		{"version = \"1.22.5\"\n" + dl + "fetch = \"host\"\nsignature = true\ngpg_keyring = \"x\"", "Signature needs fetch = \"controller\""},
		{"version = \"1.22.5\"\ninstall_root = \"usr/local\"", "Invalid install_root"},
		{"version = \"1.22.5\"\ninstall_root = \"/\"", "Invalid install_root"},
		{"version = \"1.22.5\"\ninstall_root = \"/usr/local/../etc\"", "Invalid install_root"},
		{"version = \"1.22.5\"\ninstall_root = \"/opt/go\\nx\"", "Invalid install_root"},
		{"version = \"1.22.5\"\ninstall_root = \"/opt/it's $(here)\"\nlink = \"/opt/go\"", ""}, // quoted, inert
		{"version = \"1.22.5\"\nlink = \"/usr/local\"", "Invalid link"},
		{"version = \"1.22.5\"\nlink = \"/usr\"", "Invalid link"},
		{"version = \"1.22.5\"\nlink = \"/usr/local/go-1.21.0\"", "Invalid link"},
		{"version = \"1.22.5\"\nlink = \"/usr/local/go-1.22.5/bin\"", "Invalid link"},
		{"version = \"1.22.5\"\nlink = \"/usr/local/go/\"", "Invalid link"},
		{"version = \"1.22.5\"\nkeep = 0", "Invalid keep"},
		{"version = \"1.22.5\"\nkeep = 1.5", "Invalid keep"},
		{"version = \"1.22.5\"\nkeep = 1", ""},
		{"version = \"1.22.5\"\nenv = { GOPROXY = \"https://p,direct\", GOTOOLCHAIN = \"local\" }", ""},
		{"version = \"1.22.5\"\nenv = { goproxy = \"x\" }", "Invalid go.env key"},
		{"version = \"1.22.5\"\nenv = { GOROOT = \"/x\" }", "Invalid go.env key"},
		{"version = \"1.22.5\"\nenv = { GOPROXY = \"a\\nGOSUMDB=off\" }", "Invalid go.env value"},
	}
	resourcetest.Validation(t, kind{}, "go_toolchain.go", cases)
}

// References such as go_toolchain.go.link must see the defaults.
func TestDefaultsAreInTheValue(t *testing.T) {
	v, _, diags := decodeValue(t, `version = "1.22.5"`)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	want := map[string]cty.Value{
		"link": cty.StringVal("/usr/local/go"), "install_root": cty.StringVal("/usr/local"),
		"keep": cty.NumberIntVal(2), "source": cty.StringVal("proxy"), "fetch": cty.StringVal("controller"),
		"mirror": cty.StringVal("https://go.dev/dl/"), "signature": cty.False,
	}
	for k, w := range want {
		if got := v.GetAttr(k); !got.RawEquals(w) {
			t.Errorf("%s = %#v, want %#v", k, got, w)
		}
	}
}

func TestPlatformNames(t *testing.T) {
	for _, c := range []struct{ os, arch, mod, archive, gover string }{
		{"linux", "amd64", "v0.0.1-go1.22.5.linux-amd64", "go1.22.5.linux-amd64.tar.gz", "linux/amd64"},
		{"linux", "arm64", "v0.0.1-go1.22.5.linux-arm64", "go1.22.5.linux-arm64.tar.gz", "linux/arm64"},
		{"linux", "armv6l", "v0.0.1-go1.22.5.linux-arm", "go1.22.5.linux-armv6l.tar.gz", "linux/arm"},
	} {
		p, err := PlatformOf(c.os, c.arch)
		if err != nil {
			t.Fatal(err)
		}
		if got := ModuleVersion("go1.22.5", p); got != c.mod {
			t.Errorf("module %s", got)
		}
		if got := ArchiveName("go1.22.5", p); got != c.archive {
			t.Errorf("archive %s", got)
		}
		if p.String() != c.gover {
			t.Errorf("platform %s", p)
		}
	}
	if _, err := PlatformOf("linux", "x86 64"); err == nil {
		t.Error("hostile arch accepted")
	}
	tc := mustDecode(t, "version = \"1.22.5\"\nsource = \"dl\"\nsha256 = { \"linux-amd64\" = \"aa"+sumA[2:]+"\", \"linux-armv6l\" = \"bb"+sumA[2:]+"\" }")
	if got := tc.sha256For(Platform{"linux", "arm"}); !strings.HasPrefix(got, "bb") {
		t.Errorf("arm sum %s", got)
	}
	if got := tc.sha256For(Platform{"linux", "arm64"}); got != "" {
		t.Errorf("arm64 sum %q, want none", got)
	}
}

func TestVersionOrder(t *testing.T) {
	in := []string{"1.9", "1.22.5", "1.22rc1", "1.21.13", "1.22.0", "1.22beta1", "1.22.10"}
	want := []string{"1.9", "1.21.13", "1.22beta1", "1.22rc1", "1.22.0", "1.22.5", "1.22.10"}
	for i := range want {
		for j := range want {
			if got := lessVersion(want[i], want[j]); got != (i < j) {
				t.Errorf("less(%s, %s) = %v", want[i], want[j], got)
			}
		}
	}
	_ = in
}

// probeOut builds what Probe prints: seven base64 parts. rest are the
// provenance record, the manifest and the listing (default: no record).
func probeOut(link, dirs, dirEnv, liveEnv string, rest ...string) []byte {
	parts := []string{link, dirs, dirEnv, liveEnv, "absent\n", "", ""}
	copy(parts[4:], rest)
	return resources.MultiOutput(parts...)
}

// TestDiff stays whole: one table of probed states against configs and
// the loop that runs them.
func TestDiff(t *testing.T) {
	host := &resources.Host{Facts: resources.Facts{OS: "linux", Arch: "amd64"}}
	managed := func(tc *Toolchain) string { return "file 644 0 0\n" + string(tc.renderEnv()) }
	base := "version = \"1.22.5\"\nenv = { GOTOOLCHAIN = \"local\" }\n"
	cases := []struct {
		name            string
		src             string
		link, dirs      string
		dirEnv, liveEnv func(tc *Toolchain) string
		action          resources.Action
		summary         string   // substring
		notes           []string // substrings, in any note
		diff            []string // substrings of the unified diff
		noDiff          bool
		err             string
	}{
		{name: "fresh host", src: base, link: "absent\n", dirs: "",
			action: resources.Create, summary: "go1.22.5 at /usr/local/go (linux/amd64): install 1.22.5, create link go → go-1.22.5",
			notes: []string{"golang.org/toolchain@v0.0.1-go1.22.5.linux-amd64"}, diff: []string{"--- /dev/null", "+GOTOOLCHAIN=local", "+GOPROXY=https://proxy.golang.org,direct"}},
		{name: "upgrade with keep", src: base, link: "link\n/usr/local/go-1.21.13\n",
			dirs: "go-1.20.14 go go1.20.14\ngo-1.21.13 go go1.21.13\n",
			liveEnv: func(*Toolchain) string {
				return "file 644 0 0\nGOPROXY=https://proxy.golang.org,direct\nGOTOOLCHAIN=auto\n"
			},
			action: resources.Update, summary: "install 1.22.5, switch link go-1.21.13 → go-1.22.5, remove go-1.20.14 (keep=2)",
			diff: []string{"--- /usr/local/go-1.21.13/go.env", "+++ /usr/local/go-1.22.5/go.env", "-GOTOOLCHAIN=auto", "+GOTOOLCHAIN=local"}},
		{name: "keep prefers the previous link target over newer", src: base + "keep = 2\n", link: "link\n/usr/local/go-1.21.13\n",
			dirs:   "go-1.21.13 go go1.21.13\ngo-1.22.4 go go1.22.4\n",
			action: resources.Update, summary: "switch link go-1.21.13 → go-1.22.5, remove go-1.22.4 (keep=2)"},
		{name: "keep 1 removes all others", src: base + "keep = 1\n", link: "link\n/usr/local/go-1.22.5\n",
			dirs: "go-1.21.13 go go1.21.13\ngo-1.22.4 go go1.22.4\ngo-1.22.5 go go1.22.5\n", dirEnv: managed,
			action: resources.Update, summary: "go1.22.5 at /usr/local/go (linux/amd64): remove go-1.21.13, go-1.22.4 (keep=1)", noDiff: true},
		{name: "up to date", src: base, link: "link\n/usr/local/go-1.22.5\n",
			dirs: "go-1.22.4 go go1.22.4\ngo-1.22.5 go go1.22.5\ngo-tools nogo -\n", dirEnv: managed,
			action: resources.NoOp, summary: "go1.22.5 at /usr/local/go (linux/amd64)", noDiff: true},
		{name: "relative link target", src: base, link: "link\ngo-1.22.5\n",
			dirs: "go-1.22.5 go go1.22.5\n", dirEnv: managed, action: resources.NoOp},
		{name: "installed, link elsewhere", src: base, link: "link\n/opt/go-custom\n",
			dirs: "go-1.22.5 go go1.22.5\n", dirEnv: managed,
			action: resources.Update, summary: "switch link /opt/go-custom → go-1.22.5", noDiff: true},
		{name: "go.env edited", src: base, link: "link\n/usr/local/go-1.22.5\n", dirs: "go-1.22.5 go go1.22.5\n",
			dirEnv: func(tc *Toolchain) string { return managed(tc) + "GOFLAGS=-x\n" },
			action: resources.Update, summary: "write go.env", diff: []string{"-GOFLAGS=-x"}},
		{name: "go.env mode", src: base, link: "link\n/usr/local/go-1.22.5\n", dirs: "go-1.22.5 go go1.22.5\n",
			dirEnv: func(tc *Toolchain) string { return strings.Replace(managed(tc), "644", "666", 1) },
			action: resources.Update, summary: "write go.env", notes: []string{"mode 0666"}},
		{name: "no env managed before 1.21", src: "version = \"1.20.14\"\nsource = \"dl\"\nsha256 = \"" + sumA + "\"\n",
			link: "link\n/usr/local/go-1.20.14\n", dirs: "go-1.20.14 go go1.20.14\n", action: resources.NoOp},
		{name: "incomplete dir", src: base, link: "link\n/usr/local/go-1.21.13\n", dirs: "go-1.21.13 go go1.21.13\ngo-1.22.5 nogo go1.22.5\n",
			action: resources.Update, summary: "install 1.22.5, switch link", notes: []string{"go-1.22.5 exists but has no executable bin/go"}},
		{name: "wrong version in dir", src: base, link: "absent\n", dirs: "go-1.22.5 go go1.22.4\n",
			action: resources.Update, summary: "install 1.22.5", notes: []string{"holds go1.22.4"}},
		{name: "leftover work dir", src: base, link: "link\n/usr/local/go-1.22.5\n",
			dirs: "go-1.22.5 go go1.22.5\n.goprov-go-tmp-1.22.4-abcdef nogo -\n", dirEnv: managed,
			action: resources.Update, summary: "clean up", notes: []string{"/usr/local/.goprov-go-tmp-1.22.4-abcdef, left by an interrupted apply"}},
		{name: "link is a real directory", src: base, link: "dir\n", err: "is a directory, not a symlink"},
		{name: "link is a file", src: base, link: "other\n", err: "not a symlink"},
		{name: "dl note", src: "version = \"1.22.5\"\nsource = \"dl\"\nsha256 = \"" + sumA + "\"\nmirror = \"http://mirror.internal/go\"\n", link: "absent\n",
			action: resources.Create, notes: []string{"from http://mirror.internal/go/go1.22.5.linux-amd64.tar.gz, sha256 904b924d435e…; checked and streamed from the controller"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tc := mustDecode(t, c.src)
			env := func(f func(*Toolchain) string) string {
				if f == nil {
					return "absent\n"
				}
				return f(tc)
			}
			tree := newTestTree()
			ch, err := tc.Diff(host, probeOut(c.link, c.dirs, env(c.dirEnv), env(c.liveEnv), tree.record(t, tc), "", tree.listing(false)))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("want error %q, got %v", c.err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ch.Action != c.action {
				t.Errorf("action %s, want %s (%s)", ch.Action, c.action, ch.Summary)
			}
			if !strings.Contains(ch.Summary, c.summary) {
				t.Errorf("summary %q, want %q", ch.Summary, c.summary)
			}
			for _, n := range c.notes {
				if !strings.Contains(strings.Join(ch.Notes, "\n"), n) {
					t.Errorf("notes %q lack %q", ch.Notes, n)
				}
			}
			for _, d := range c.diff {
				if !strings.Contains(ch.Diff, d) {
					t.Errorf("diff lacks %q:\n%s", d, ch.Diff)
				}
			}
			if c.noDiff && ch.Diff != "" {
				t.Errorf("unexpected diff:\n%s", ch.Diff)
			}
		})
	}
}

// A mixed fleet: each host's facts pick its own module or archive.
func TestDiffPerArchitecture(t *testing.T) {
	proxy := mustDecode(t, `version = "1.22.5"`)
	dl := mustDecode(t, "version = \"1.22.5\"\nsource = \"dl\"\nsha256 = { \"linux-amd64\" = \""+sumA+"\", \"linux-arm64\" = \"bb"+sumA[2:]+"\" }\n")
	for _, c := range []struct {
		tc         *Toolchain
		arch, want string
	}{
		{proxy, "amd64", "golang.org/toolchain@v0.0.1-go1.22.5.linux-amd64 "},
		{proxy, "arm64", "golang.org/toolchain@v0.0.1-go1.22.5.linux-arm64 "},
		{proxy, "armv6l", "golang.org/toolchain@v0.0.1-go1.22.5.linux-arm "},
		{dl, "amd64", "go1.22.5.linux-amd64.tar.gz, sha256 904b924d435e…"},
		{dl, "arm64", "go1.22.5.linux-arm64.tar.gz, sha256 bb4b924d435e…"},
		{dl, "armv6l", "go1.22.5.linux-armv6l.tar.gz, sha256 (none for this platform)"},
	} {
		h := &resources.Host{Facts: resources.Facts{OS: "linux", Arch: c.arch}}
		ch, err := c.tc.Diff(h, probeOut("absent\n", "", "absent\n", "absent\n"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(strings.Join(ch.Notes, "\n"), c.want) {
			t.Errorf("%s %s: notes %q lack %q", c.tc.Source, c.arch, ch.Notes, c.want)
		}
	}
	if _, err := dl.Prepare(context.Background(), Platform{"linux", "arm"}); err == nil || !strings.Contains(err.Error(), "no sha256 for linux-arm") {
		t.Errorf("prepare without a checksum for the platform: %v", err)
	}
}

func TestParseStateRejectsGarbage(t *testing.T) {
	for _, out := range [][]byte{
		[]byte("not base64\n"),
		probeOut("weird\n", "", "absent\n", "absent\n"),
		probeOut("link\n", "", "absent\n", "absent\n"),
		probeOut("absent\n", "go-1.22.5 maybe go1.22.5\n", "absent\n", "absent\n"),
		probeOut("absent\n", "", "", "absent\n"),
	} {
		if _, err := ParseState(out); err == nil {
			t.Errorf("accepted %q", out)
		}
	}
}

func TestRenderEnv(t *testing.T) {
	tc := mustDecode(t, "version = \"1.22.5\"\nenv = { GOSUMDB = \"sum.example.internal\", GOPRIVATE = \"*.corp\" }\n")
	got := string(tc.renderEnv())
	want := "# Managed by goprov (go_toolchain.go). Local edits are overwritten on the next apply.\n" +
		"# Defaults of the go command of this toolchain; `go env -w` and the\n# environment override them.\n" +
		"GOPRIVATE=*.corp\nGOPROXY=https://proxy.golang.org,direct\nGOSUMDB=sum.example.internal\nGOTOOLCHAIN=auto\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// The CI cache script must warm exactly the versions the lab tests use.
func TestCacheScriptVersions(t *testing.T) {
	b, err := os.ReadFile("../../scripts/go-toolchain-cache.sh")
	if err != nil {
		t.Fatal(err)
	}
	if want := "VERSIONS=(" + labVersion + " " + labVersion2 + ")"; !strings.Contains(string(b), want) {
		t.Errorf("scripts/go-toolchain-cache.sh does not set %s", want)
	}
}

// docs/resources/go_toolchain.md documents every attribute of the schema,
// and nothing else, in rows starting with "| `name` |".
func TestDocListsEveryAttribute(t *testing.T) {
	b, err := os.ReadFile("../../docs/resources/go_toolchain.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "| `"); ok {
			if name, _, ok := strings.Cut(rest, "` |"); ok {
				documented[name] = true
			}
		}
	}
	spec := kind{}.Spec().(*hcldec.ObjectSpec)
	for name := range *spec {
		if !documented[name] {
			t.Errorf("attribute %s is not documented", name)
		}
		delete(documented, name)
	}
	for name := range documented {
		t.Errorf("documented attribute %s is not in the schema", name)
	}
}

// Saved plans store the decoded value as JSON and rebuild the resource
// without a body: the dynamic sha256 (string or map) must survive.
func TestRebuildFromSavedValue(t *testing.T) {
	for _, src := range []string{
		"version = \"1.22.5\"\nsource = \"dl\"\nsha256 = \"" + sumA + "\"\n",
		"version = \"1.22.5\"\nsource = \"dl\"\nsha256 = { \"linux-arm64\" = \"" + sumA + "\" }\n",
		"version = \"1.22.5\"\nenv = { GOTOOLCHAIN = \"local\" }\n",
	} {
		v, _, diags := decodeValue(t, src)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		b, err := ctyjson.Marshal(v, v.Type())
		if err != nil {
			t.Fatal(err)
		}
		tyJSON, _ := ctyjson.MarshalType(v.Type())
		ty, err := ctyjson.UnmarshalType(tyJSON)
		if err != nil {
			t.Fatal(err)
		}
		v2, err := ctyjson.Unmarshal(b, ty)
		if err != nil {
			t.Fatal(err)
		}
		r, diags := kind{}.New("go_toolchain.go", v2, nil)
		if diags.HasErrors() {
			t.Fatalf("%s: %v", src, diags)
		}
		orig := mustDecode(t, src)
		if got := r.(*Toolchain); got.sha256For(Platform{"linux", "arm64"}) != orig.sha256For(Platform{"linux", "arm64"}) || got.Env["GOTOOLCHAIN"] != orig.Env["GOTOOLCHAIN"] {
			t.Errorf("%s: rebuilt %+v, want %+v", src, got, orig)
		}
	}
}
