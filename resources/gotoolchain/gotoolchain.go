// Package gotoolchain installs Go toolchains the way the careful guides
// describe: a verified archive (module hash against the checksum database,
// or a pinned SHA-256 plus an optional OpenPGP signature), extracted into a
// fresh versioned directory (never over an existing tree), checked by running
// its own `go version`, then switched into place by renaming a temporary
// symlink over the link, so the link always points at a complete toolchain.
//
// Hosts need no internet: by default the controller downloads and verifies
// the toolchain once, and streams it to each host as an uncompressed tar
// over the SSH connection goprov already holds.
package gotoolchain

import (
	"fmt"
	"math/big"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/goprov/goprov/resources"
)

// KindName is the resource kind's name in HCL.
const KindName = "go_toolchain"

func init() { resources.Register(KindName, kind{}) }

// Sources and fetch modes.
const (
	SourceProxy = "proxy" // golang.org/toolchain module through GOPROXY
	SourceDL    = "dl"    // official archive layout under Mirror
	SourceFile  = "file"  // an archive on the controller

	FetchController = "controller"
	FetchHost       = "host"
)

// Defaults, also documented in docs/resources/go_toolchain.md.
const (
	DefaultMirror      = "https://go.dev/dl/"
	DefaultInstallRoot = "/usr/local"
	DefaultLink        = "/usr/local/go"
	DefaultKeep        = 2
)

var (
	// 1.22.5, 1.21.0, 1.20, 1.23rc1, 1.21beta2 — what follows "go" in a
	// release's VERSION file.
	versionRe = regexp.MustCompile(`^1\.([0-9]|[1-9][0-9])(\.(0|[1-9][0-9]*))?((rc|beta)[1-9][0-9]?)?$`)
	sha256Re  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	envKeyRe  = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	// GOOS-GOARCH as used in archive names and sha256 map keys.
	platformRe = regexp.MustCompile(`^[a-z0-9]+-[a-z0-9]+$`)
)

type kind struct{}

func def(name string, ty cty.Type, v cty.Value) hcldec.Spec {
	return &hcldec.DefaultSpec{Primary: &hcldec.AttrSpec{Name: name, Type: ty}, Default: &hcldec.LiteralSpec{Value: v}}
}

// Spec gives every optional attribute its default IN the decoded value, so
// references such as go_toolchain.go.link see "/usr/local/go" even when the
// configuration leaves link out.
func (kind) Spec() hcldec.Spec {
	return &hcldec.ObjectSpec{
		"version": &hcldec.AttrSpec{Name: "version", Type: cty.String, Required: true},
		"source":  def("source", cty.String, cty.StringVal(SourceProxy)),
		"mirror":  def("mirror", cty.String, cty.StringVal(DefaultMirror)),
		// A string, or a map of "os-arch" => checksum for mixed fleets.
		"sha256":       def("sha256", cty.DynamicPseudoType, cty.StringVal("")),
		"signature":    def("signature", cty.Bool, cty.False),
		"gpg_keyring":  def("gpg_keyring", cty.String, cty.StringVal("")),
		"path":         def("path", cty.String, cty.StringVal("")),
		"fetch":        def("fetch", cty.String, cty.StringVal(FetchController)),
		"install_root": def("install_root", cty.String, cty.StringVal(DefaultInstallRoot)),
		"link":         def("link", cty.String, cty.StringVal(DefaultLink)),
		"keep":         def("keep", cty.Number, cty.NumberIntVal(DefaultKeep)),
		"env":          def("env", cty.Map(cty.String), cty.MapValEmpty(cty.String)),
		"verify":       def("verify", cty.String, cty.StringVal(VerifyExecutables)),
	}
}

// Toolchain is a decoded go_toolchain.
type Toolchain struct {
	Address     string
	Version     string // "1.22.5"
	Source      string
	Mirror      string            // ends with "/"
	SHA256      map[string]string // "os-arch" => hex; key "" applies to every platform
	Signature   bool
	Keyring     []byte // binary OpenPGP public keys (dearmored gpg_keyring)
	Path        string // controller archive for source "file"
	Fetch       string
	InstallRoot string
	Link        string
	Keep        int
	Env         map[string]string
	// Verify is how much of the installed tree every plan re-hashes:
	// "executables" (bin/, pkg/tool/) or "all" (the whole manifest).
	Verify string
	// ManageEnv: go.env is written (Go 1.21+, which reads $GOROOT/go.env).
	ManageEnv bool
}

// badFunc reports an invalid attribute at its source range.
type badFunc func(attr, summary, detail string)

// New decodes and validates a go_toolchain block; each check is a named
// step, run in the order its diagnostics are reported.
func (kind) New(address string, v cty.Value, body hcl.Body) (resources.Resource, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	bad := func(attr, summary, detail string) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: resources.AttrRange(body, attr)})
	}
	str := func(name string) string { return v.GetAttr(name).AsString() }
	tc := &Toolchain{
		Address:     address,
		Version:     str("version"),
		Source:      str("source"),
		Mirror:      str("mirror"),
		Signature:   v.GetAttr("signature").True(),
		Path:        str("path"),
		Fetch:       str("fetch"),
		InstallRoot: str("install_root"),
		Link:        str("link"),
		Verify:      str("verify"),
		Env:         map[string]string{},
		SHA256:      map[string]string{},
	}
	minor := tc.checkVersion(bad)
	tc.checkSourceAndFetch(minor, bad)
	tc.checkMirror(bad)
	tc.checkSHA256(v.GetAttr("sha256"), bad)
	tc.checkSignature(str("gpg_keyring"), bad)
	tc.checkPath(body, bad)
	tc.checkLayout(bad)
	tc.checkKeep(v.GetAttr("keep"), bad)
	tc.checkEnv(v.GetAttr("env"), minor, bad)
	return tc, diags
}

// checkVersion validates version and returns its minor number (-1 when
// invalid).
func (tc *Toolchain) checkVersion(bad badFunc) (minor int) {
	minor = -1
	if m := versionRe.FindStringSubmatch(tc.Version); m == nil {
		bad("version", "Invalid Go version", fmt.Sprintf("%q: write the release without the \"go\" prefix, e.g. \"1.22.5\" or \"1.23rc1\".", tc.Version))
	} else {
		minor, _ = strconv.Atoi(m[1])
	}

	return minor
}

// checkSourceAndFetch validates source, verify and fetch, and what they
// allow together.
func (tc *Toolchain) checkSourceAndFetch(minor int, bad badFunc) {
	switch tc.Source {
	case SourceProxy:
		if minor >= 0 && minor < 21 {
			bad("version", "Version not on the module proxy", fmt.Sprintf("The module proxy serves Go toolchains from 1.21.0 on; for go%s use source = \"dl\" or \"file\".", tc.Version))
		}
	case SourceDL, SourceFile:
	default:
		bad("source", "Invalid source", fmt.Sprintf(`source must be "proxy", "dl" or "file", not %q.`, tc.Source))
	}

	if tc.Verify != VerifyExecutables && tc.Verify != VerifyAll {
		bad("verify", "Invalid verify", fmt.Sprintf(`verify must be "executables" (every plan re-hashes bin/ and pkg/tool/) or "all" (every file of the manifest), not %q.`, tc.Verify))
	}

	switch tc.Fetch {
	case FetchController:
	case FetchHost:
		if tc.Source != SourceDL {
			bad("fetch", "Invalid fetch", `fetch = "host" needs source = "dl": hosts download the archive from the mirror themselves and check its pinned sha256; module-proxy and controller-file toolchains always come from the controller.`)
		}
		if tc.Signature {
			bad("signature", "Signature needs fetch = \"controller\"", `The signature is checked on the controller (with gpgv) before anything reaches a host; with fetch = "host" the pinned sha256 is what protects hosts. Use fetch = "controller" to have both.`)
		}
	default:
		bad("fetch", "Invalid fetch", fmt.Sprintf(`fetch must be "controller" or "host", not %q.`, tc.Fetch))
	}

}

// checkMirror refuses a mirror that is not an http(s) base URL and ends it
// with "/".
func (tc *Toolchain) checkMirror(bad badFunc) {
	// mirror matters only for "dl", but a hostile value is refused anyway.
	if u, err := url.Parse(tc.Mirror); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(tc.Mirror, " \t\r\n\x00") || u.RawQuery != "" || u.Fragment != "" {
		bad("mirror", "Invalid mirror", fmt.Sprintf("%q: mirror is an http(s) base URL such as %q, without query or fragment; archives are fetched from MIRROR/goVERSION.OS-ARCH.tar.gz.", tc.Mirror, DefaultMirror))
	} else if !strings.HasSuffix(tc.Mirror, "/") {
		tc.Mirror += "/"
	}

}

// checkSHA256 decodes sha256 (a string or an "os-arch" map) and checks it
// against source.
func (tc *Toolchain) checkSHA256(v cty.Value, bad badFunc) {
	tc.SHA256 = decodeSHA256(v, func(d string) { bad("sha256", "Invalid sha256", d) })
	switch {
	case tc.Source == SourceProxy && len(tc.SHA256) > 0:
		bad("sha256", "sha256 with source = \"proxy\"", "Module-proxy toolchains are verified by their module hash (h1:) against the Go checksum database, like `go mod download`; sha256 pins the archive of source \"dl\" or \"file\".")
	case (tc.Source == SourceDL || tc.Source == SourceFile) && len(tc.SHA256) == 0:
		bad("sha256", "Missing sha256", fmt.Sprintf("source = %q needs the archive's SHA-256 (from https://go.dev/dl/?mode=json&include=all), as a string or as a map of \"os-arch\" => checksum for mixed fleets.", tc.Source))
	}

}

// checkSignature validates signature and gpg_keyring (ASCII-armored).
func (tc *Toolchain) checkSignature(keyring string, bad badFunc) {
	if tc.Signature {
		if tc.Source != SourceDL {
			bad("signature", "Signature needs source = \"dl\"", "Detached .asc signatures are fetched from the mirror next to the archive.")
		}
		if keyring == "" {
			bad("gpg_keyring", "Missing gpg_keyring", `signature = true needs the signing keys, ASCII-armored: gpg_keyring = file("golang.gpg").`)
		}
	}
	if keyring != "" {
		kr, err := Dearmor([]byte(keyring))
		if err != nil {
			bad("gpg_keyring", "Invalid gpg_keyring", fmt.Sprintf("gpg_keyring must hold ASCII-armored OpenPGP public keys (gpg --armor --export): %v.", err))
		}
		tc.Keyring = kr
	}

}

// checkPath validates path, which only source "file" takes; a relative
// one is made absolute from the declaring file's directory.
func (tc *Toolchain) checkPath(body hcl.Body, bad badFunc) {
	if tc.Source == SourceFile {
		switch {
		case tc.Path == "":
			bad("path", "Missing path", "source = \"file\" needs the archive's path on the controller.")
		case strings.ContainsAny(tc.Path, "\x00\n"):
			bad("path", "Invalid path", "path holds a NUL byte or a newline.")
		case !filepath.IsAbs(tc.Path):
			// Relative to the file that declares the resource, like file().
			if body != nil {
				if fn := body.MissingItemRange().Filename; fn != "" {
					if abs, err := filepath.Abs(filepath.Join(filepath.Dir(fn), tc.Path)); err == nil {
						tc.Path = abs
					}
				}
			}
		}
	} else if tc.Path != "" {
		bad("path", "path without source = \"file\"", "path names an archive on the controller, used only with source = \"file\".")
	}

}

// checkLayout validates install_root and link: absolute, clean, and the
// link never inside or in place of what goprov installs.
func (tc *Toolchain) checkLayout(bad badFunc) {
	checkAbs := func(attr, p string) {
		switch {
		case !strings.HasPrefix(p, "/"):
			bad(attr, "Invalid "+attr, fmt.Sprintf("%q: write an absolute path.", p))
		case p == "/":
			bad(attr, "Invalid "+attr, "The root directory cannot be used.")
		case path.Clean(p) != p:
			bad(attr, "Invalid "+attr, fmt.Sprintf("%q is not clean: write %q (no \"..\", \".\", double or trailing slashes).", p, path.Clean(p)))
		case strings.ContainsAny(p, "\x00\n\r"):
			bad(attr, "Invalid "+attr, fmt.Sprintf("%q holds a NUL byte or a line break.", p))
		}
	}
	checkAbs("install_root", tc.InstallRoot)
	checkAbs("link", tc.Link)
	if tc.Link == tc.InstallRoot || strings.HasPrefix(tc.InstallRoot+"/", tc.Link+"/") {
		bad("link", "Invalid link", fmt.Sprintf("link %q would replace the install root %q.", tc.Link, tc.InstallRoot))
	} else if path.Dir(tc.Link) == tc.InstallRoot && (dirNameRe.MatchString(path.Base(tc.Link)) || strings.HasPrefix(path.Base(tc.Link), ".goprov-")) {
		bad("link", "Invalid link", fmt.Sprintf("link %q has the name of a versioned directory of install_root.", tc.Link))
	} else if strings.HasPrefix(tc.Link, tc.InstallRoot+"/go-") {
		bad("link", "Invalid link", fmt.Sprintf("link %q lies inside a versioned toolchain directory.", tc.Link))
	}

}

// checkKeep validates keep, the number of versions left installed.
func (tc *Toolchain) checkKeep(keep cty.Value, bad badFunc) {
	n := keep.AsBigFloat()
	if !n.IsInt() || n.Cmp(big.NewFloat(1)) < 0 || n.Cmp(big.NewFloat(100)) > 0 {
		bad("keep", "Invalid keep", "keep is how many versions stay installed, counting the active one: a whole number from 1 to 100.")
	} else {
		k, _ := n.Int64()
		tc.Keep = int(k)
	}

}

// checkEnv validates the go.env entries (Go 1.21+ reads $GOROOT/go.env).
func (tc *Toolchain) checkEnv(env cty.Value, minor int, bad badFunc) {
	keys := make([]string, 0)
	for k := range env.AsValueMap() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		val := env.Index(cty.StringVal(k)).AsString()
		switch {
		case !envKeyRe.MatchString(k):
			bad("env", "Invalid go.env key", fmt.Sprintf("%q is not a Go environment variable name (upper-case letters, digits, '_').", k))
		case k == "GOROOT" || k == "GOENV":
			bad("env", "Invalid go.env key", fmt.Sprintf("%s cannot be set in $GOROOT/go.env (the go command derives GOROOT from its own location and reads GOENV only from the environment); set GOROOT in a profile_script.", k))
		case strings.ContainsAny(val, "\x00\n\r"):
			bad("env", "Invalid go.env value", fmt.Sprintf("The value of %s holds a NUL byte or a line break, which go.env cannot carry.", k))
		}
		tc.Env[k] = val
	}
	tc.ManageEnv = minor >= 21
	if len(tc.Env) > 0 && minor >= 0 && minor < 21 {
		bad("env", "go.env needs Go 1.21", fmt.Sprintf("go%s does not read $GOROOT/go.env (Go 1.21 and later do); set these in a profile_script instead.", tc.Version))
	}
}

func decodeSHA256(v cty.Value, bad func(string)) map[string]string {
	out := map[string]string{}
	if v.IsNull() {
		return out
	}
	check := func(key, sum string) {
		if !sha256Re.MatchString(sum) {
			bad(fmt.Sprintf("%q is not a SHA-256 checksum (64 lower-case hex digits).", sum))
			return
		}
		out[key] = sum
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		if s := v.AsString(); s != "" {
			check("", s)
		}
	case ty.IsObjectType() || ty.IsMapType():
		for k, e := range v.AsValueMap() {
			if !platformRe.MatchString(k) {
				bad(fmt.Sprintf("map key %q is not a platform such as \"linux-amd64\".", k))
				continue
			}
			if !e.Type().Equals(cty.String) || e.IsNull() {
				bad(fmt.Sprintf("the checksum for %s must be a string.", k))
				continue
			}
			check(k, e.AsString())
		}
	default:
		bad("sha256 is a checksum string or a map of \"os-arch\" => checksum.")
	}
	return out
}

// Dir is the versioned directory a release is installed in (host view).
func (tc *Toolchain) Dir() string { return tc.InstallRoot + "/go-" + tc.Version }

// GoVersion is the release as `go version` prints it: "go1.22.5".
func (tc *Toolchain) GoVersion() string { return "go" + tc.Version }
